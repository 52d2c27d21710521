"""`rules list` on a terminal of any width, and in a pipe."""

from __future__ import annotations

from autoglm_tui.commands.rules import table

ROWS = [
    ("NAME", "KIND", "SEVERITY", "FOR", "CHECKS", "FROM"),
    ("gpu_util_high", "threshold", "warning", "3m00s", "gpu.util_pct > 85", "<defaults>"),
    ("queue_growing", "trend", "warning", "30s",
     "slope of svc.queue_len over 1m > 1/min with R² >= 0.3 per service", "<defaults>"),
    ("gpu_mem_high", "threshold", "critical", "-", "gpu.mem_used_pct > 90", "rules.toml:4"),
]


def test_a_pipe_gets_one_line_a_rule() -> None:
    lines = table(ROWS).splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("queue_growing  trend ") and lines[2].endswith("<defaults>")
    assert "slope of svc.queue_len over 1m > 1/min with R² >= 0.3 per service" in lines[2]


def test_a_narrower_terminal_wraps_the_checks_under_themselves() -> None:
    lines = table(ROWS, 100).splitlines()
    assert all(len(line) <= 100 for line in lines), lines
    at = lines[0].index("CHECKS")
    first = next(i for i, line in enumerate(lines) if line.startswith("queue_growing"))
    assert lines[first].endswith("<defaults>")
    assert lines[first + 1][:at].strip() == "" and lines[first + 1][at:].strip()
    text = " ".join(lines[first][at:].replace("<defaults>", "").split() + lines[first + 1].split())
    assert text == "slope of svc.queue_len over 1m > 1/min with R² >= 0.3 per service"
    assert lines[-1].startswith("gpu_mem_high") and lines[-1].endswith("rules.toml:4")


def test_on_a_narrow_terminal_each_rule_is_a_block() -> None:
    lines = table(ROWS, 60).splitlines()
    assert all(len(line) <= 60 for line in lines), lines
    assert lines[:2] == ["gpu_util_high  threshold, warning, for 3m00s  <defaults>",
                         "    gpu.util_pct > 85"]
    assert lines[-2:] == ["gpu_mem_high  threshold, critical  rules.toml:4",
                          "    gpu.mem_used_pct > 90"]
    assert "NAME" not in "".join(lines)
