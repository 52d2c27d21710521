"""`autoglm-tui replay` as a user runs it, in tmux at 80x24: the timeline, its keys, `:goto`,
the markers on cluster rows and the Diagnosis screen over a scenario of the corpus."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.test_local_tmux import CLI, Tmux, tmux

pytestmark = pytest.mark.e2e

__all__ = ["tmux"]

ROW = re.compile(r" [A-Z]+( ◆\d+)? +mix-[01] ")  # a node row of the table
SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def bar(screen: str) -> str:
    """The timeline line, above the footer."""
    return screen.splitlines()[22]


def test_replay_at_80x24_pause_seek_goto_and_diagnosis(tmux: Tmux, tmp_path: Path) -> None:
    for suffix in ("", ".idx"):  # a copy: nothing is written next to the corpus
        shutil.copy(SCENARIOS / f"mixed_leak_and_straggler.jsonl.gz{suffix}", tmp_path)
    rec = tmp_path / "mixed_leak_and_straggler.jsonl.gz"
    tmux.start(80, 24, ["env", "TZ=UTC", str(CLI), "replay", str(rec), "--paused",
                        "--warmup", "10m"])
    screen = tmux.wait_for(lambda s: "0:00/9:55" in bar(s) and " mix-1 " in s, "the replay")
    assert bar(screen).split()[:4] == ["||", "paused", "1x", "00:00:05"]
    assert screen.splitlines()[0].strip() == "cluster"

    tmux.keys("]")
    screen = tmux.wait_for(lambda s: bar(s).rstrip().endswith("0:10/9:55"), "10 s on")
    assert bar(screen).split()[:4] == ["||", "paused", "1x", "00:00:15"]
    tmux.keys("}")
    tmux.wait_for(lambda s: bar(s).rstrip().endswith("1:10/9:55"), "a minute on")
    tmux.keys("+", "+")
    tmux.wait_for(lambda s: bar(s).split()[2:3] == ["4x"], "4x")

    tmux.keys(":")
    tmux.keys("goto 00:09:30", literal=True)
    tmux.keys("Enter")

    def marked(s: str) -> bool:
        rows = [line for line in s.splitlines() if ROW.match(line)]
        return len(rows) == 2 and all(line.split()[:2] == ["UP", "◆1"] for line in rows)

    screen = tmux.wait_for(lambda s: bar(s).rstrip().endswith("9:24/9:55") and marked(s),
                           "00:09:30 with both nodes' findings marked", timeout=30)
    assert bar(screen).split()[3] == "00:09:30"
    assert "!" in bar(screen)  # where the replay's alerts fired

    tmux.keys("d")
    screen = tmux.wait_for(lambda s: "Diagnosis  fleet  2 findings" in s, "the Diagnosis screen")
    lines = screen.splitlines()
    leak = next(i for i, line in enumerate(lines) if "gpu_memory_leak" in line)
    straggler = next(i for i, line in enumerate(lines) if "straggler_gpu" in line)
    assert leak < straggler
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "What to do" in s and "out of memory in about" in s, "the evidence")

    tmux.keys("Escape")
    tmux.keys("Space")
    tmux.wait_for(lambda s: bar(s).split()[:2] == ["▶", "4x"], "playing at 4x")
    tmux.keys("Space")
    tmux.wait_for(lambda s: bar(s).split()[:2] == ["||", "paused"], "paused again")
    tmux.keys("q")
    assert tmux.wait_exit() == 0
