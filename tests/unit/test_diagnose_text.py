"""`autoglm-tui diagnose` as text: wrapped under its indents on a terminal, one line per item
in a pipe, and nothing from the fleet printed raw."""

from __future__ import annotations

from autoglm_tui.analysis.diagnosis.model import Evidence, Finding, Severity, Subject
from autoglm_tui.commands.diagnose import render

LEAK = Finding(
    "host_memory_leak", Severity.CRITICAL, Subject("process", "gpu-7", pid=4600),
    "pid 4600 (trainer\x1b[2J) host memory keeps growing: +240.0 MiB/min, out of memory in "
    "about 16m31s",
    (Evidence("grew", 2.2e9, "bytes", "grew 2.1G over 9 min"),),
    (1000.0, 1540.0),
    ("profile its allocations (tracemalloc, heaptrack) between two points in time",),
)


def test_a_terminal_gets_lines_that_fit_under_their_indents() -> None:
    text = render([LEAK], 1540.0, width=60)
    lines = text.splitlines()
    assert all(len(line) <= 60 for line in lines), lines
    assert lines[1] == "CRITICAL host_memory_leak  gpu-7 pid 4600  (window 9m00s)"
    verdict = lines.index(next(line for line in lines if line.startswith("  pid 4600")))
    assert lines[verdict + 1].startswith("  ") and not lines[verdict + 1].startswith("    ")
    step = next(i for i, line in enumerate(lines) if line.startswith("  next: "))
    assert lines[step + 1].startswith(" " * 8) and lines[step + 1].strip()
    assert "about 16m31s" in " ".join(text.split())


def test_a_pipe_gets_one_line_per_item_and_no_control_characters() -> None:
    text = render([LEAK], 1540.0)
    assert text.splitlines()[2].startswith("  pid 4600 (trainer [2J) host memory")
    assert text.splitlines()[2].endswith("out of memory in about 16m31s")
    assert "\x1b" not in text
    assert "    - grew 2.1G over 9 min" in text.splitlines()
    assert "  next: profile its allocations (tracemalloc, heaptrack) between two points in " \
           "time" in text.splitlines()
