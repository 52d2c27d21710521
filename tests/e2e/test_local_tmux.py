"""The real `autoglm-tui` in tmux: what a person sees, hostile command lines included."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CLI = Path(sys.executable).with_name("autoglm-tui")
EVIL_ARG = "\x1b]0;pwned\x07[red]x[/red]"
ENV = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
XDG_VARS = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")


@pytest.fixture(scope="module", autouse=True)
def _private_xdg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The alert log and silences land in pytest's own temporary folder (removed with it),
    not in $HOME."""
    base = tmp_path_factory.mktemp("xdg")
    ENV.update({v: str(base / v.lower()) for v in XDG_VARS})
    yield
    for v in XDG_VARS:
        ENV.pop(v, None)


class Tmux:
    """One private tmux server (its own -L socket) running one program in one pane."""

    def __init__(self) -> None:
        self.socket = f"autoglm-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-u", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True, text=True, env=ENV, timeout=20,
        )
        if out.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {out.stderr.strip()}")
        return out.stdout

    def start(self, width: int, height: int, command: list[str]) -> None:
        """Run `command` in a pane; a wrapping shell reports its exit status on the screen."""
        wrapper = ["sh", "-c", '"$@"; echo "autoglm-exit=$?"; sleep 30', "sh", *command]
        self.run(
            "new-session", "-d", "-x", str(width), "-y", str(height), "-s", "main", "--",
            *wrapper,
        )

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "main")

    def pane(self, fmt: str) -> str:
        return self.run("display-message", "-p", "-t", "main", fmt).strip()

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", "main", *(["-l"] if literal else []), *keys)

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; the screen was:\n{text}")

    def wait_exit(self, timeout: float = 10.0) -> int:
        """The program's exit status, once it has exited."""
        # The status line the wrapper prints, not its own command line (which the process
        # table of a still-running view may show, "autoglm-exit=$?").
        status = re.compile(r"autoglm-exit=(\d+)")
        screen = self.wait_for(lambda s: status.search(s) is not None, "the program to exit",
                               timeout)
        match = status.search(screen)
        assert match is not None
        return int(match.group(1))

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=10)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/test.sh installs it)")
    if not CLI.exists():
        pytest.skip(f"{CLI} is missing: install the package into this venv (pip install -e .)")
    t = Tmux()
    try:
        yield t
    finally:
        t.kill()


@pytest.fixture
def evil() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line holds a title-setting escape and Rich markup."""
    # argv[0] "python3" keeps the command short enough to show whole in the COMMAND column.
    proc = subprocess.Popen(
        ["python3", "-c", "import time; time.sleep(60)", EVIL_ARG], executable=sys.executable
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=5)


def test_hostile_command_line_shows_literally(tmux: Tmux, evil: subprocess.Popen[bytes]) -> None:
    tmux.start(120, 40, [str(CLI), "--top", "0"])
    title_before = tmux.pane("#{pane_title}")
    tmux.wait_for(lambda s: "Processes" in s and "COMMAND" in s and " root " in s,
                  "the process table")
    tmux.keys("/")
    # Type only once the filter box is open and focused, or the letters hit the sort keys.
    tmux.wait_for(lambda s: "filter by user, command or pid" in s, "the filter box")
    tmux.keys("pwned", literal=True)
    screen = tmux.wait_for(
        lambda s: "[red]x[/red]" in s and "filter 'pwned'" in s, "the filtered hostile process"
    )
    row = next(line for line in screen.splitlines() if "[red]x[/red]" in line)
    assert str(evil.pid) in row
    assert "pwned" in row and "\x1b" not in screen and "\x07" not in screen
    assert "filter 'pwned'" in screen
    title_after = tmux.pane("#{pane_title}")
    assert title_after == title_before and "pwned" not in title_after

    tmux.keys("Escape")  # clears the filter; the app still answers keys
    tmux.wait_for(lambda s: "filter 'pwned'" not in s, "the filter to clear")
    tmux.keys("?")
    tmux.wait_for(lambda s: "Sort by CPU%" in s and "Quit" in s, "the help screen")
    tmux.keys("Escape")
    tmux.wait_for(lambda s: "Sort by CPU%" not in s, "the help screen to close")
    tmux.keys("q")
    assert tmux.wait_exit() == 0


def test_small_terminal_shows_every_pane(tmux: Tmux) -> None:
    tmux.start(80, 24, [str(CLI)])
    screen = tmux.wait_for(
        lambda s: all(t in s for t in ("GPUs", "Host", "IO", "Processes", "PID")) and "%" in s,
        "the four panes at 80x24",
    )
    assert "Traceback" not in screen
    tmux.keys("q")
    assert tmux.wait_exit() == 0


def test_header_tells_the_sampler_from_the_tui(tmux: Tmux) -> None:
    """Issue 15 item 7: the local view's sampler runs inside the TUI; the header gives the
    sampler's own CPU and, labelled apart, the TUI process's (the sampler's is part of it)."""
    tmux.start(120, 40, [str(CLI)])
    pattern = re.compile(r"sampler (\d+\.\d)% CPU\s+│\s+TUI (\d+\.\d)% CPU (\S+) RSS")
    screen = tmux.wait_for(lambda s: pattern.search(s.splitlines()[0]) is not None,
                           "the sampler's and the TUI's cost in the header", timeout=30)
    sampler, tui, rss = pattern.search(screen.splitlines()[0]).groups()  # type: ignore[union-attr]
    assert float(sampler) <= float(tui) + 1.0  # a part of the whole (readings 1 s apart)
    assert rss.endswith(("M", "G"))
