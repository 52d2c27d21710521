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


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 50)])
def test_the_command_line_shows_its_input_and_completions(
    tmux: Tmux, tmp_path: Path, size: tuple[int, int],
) -> None:
    """Issue 15's report, replayed: `:`, `node node-00`, Tab on the demo's cluster screen."""
    tmux.start(*size, ["env", f"HOME={tmp_path}", str(CLI), "cluster", "--demo", "64x8"])
    tmux.wait_for(lambda s: "node-00" in s, "the demo fleet")
    tmux.keys(":")
    tmux.keys("node node-00", literal=True)
    tmux.wait_for(lambda s: s.splitlines()[size[1] - 2].strip().startswith(":node node-00"),
                  "the typed command above the footer")
    tmux.keys("Tab")  # (the grey suggestion already reads node-000: wait for the list)
    screen = tmux.wait_for(
        lambda s: s.splitlines()[size[1] - 3].split()[:3] == ["node-000", "node-001", "node-002"],
        "the candidates listed above the input")
    assert screen.splitlines()[size[1] - 2].strip() == ":node node-000"
    tmux.keys("Tab", "Enter")
    tmux.wait_for(lambda s: s.splitlines()[0].strip() == "cluster › node-001", "node-001")
    tmux.keys("q")
    assert tmux.wait_exit() == 0
