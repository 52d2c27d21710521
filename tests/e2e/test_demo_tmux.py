"""`autoglm-tui cluster --demo` as a user runs it, in tmux with an empty home directory: it
runs, quits on `q`, and leaves the home directory (and the XDG directories) empty."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.test_local_tmux import CLI, Tmux, tmux

pytestmark = pytest.mark.e2e

__all__ = ["tmux"]


def test_demo_leaves_home_empty(tmux: Tmux, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = ["env", "-u", "XDG_CONFIG_HOME", "-u", "XDG_DATA_HOME", "-u", "XDG_STATE_HOME",
           "-u", "XDG_CACHE_HOME", f"HOME={home}"]
    tmux.start(120, 40, [*env, str(CLI), "cluster", "--demo", "8x4"])
    tmux.wait_for(lambda s: "node-00" in s, "the demo fleet")
    time.sleep(5)  # let it run: samples, ticks and alert evaluations, as a user would watch
    tmux.keys("q")
    assert tmux.wait_exit() == 0
    assert [str(p) for p in home.rglob("*")] == []
