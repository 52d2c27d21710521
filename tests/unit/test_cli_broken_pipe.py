"""A reader that stops early (``autoglm-tui rules list | head -3``) is not an error: no
traceback, exit status 0; a broken pipe that is not standard output still raises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoglm_tui import stdio

COMMANDS = (
    ["rules", "list"],  # many print() calls: the first to the closed pipe fails
    ["config", "show"],
    ["snapshot"],
)


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_closed_reader_ends_quietly(argv: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data")}
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        proc = subprocess.run([sys.executable, "-m", "autoglm_tui", *argv], stdout=write_end,
                              stderr=subprocess.PIPE, env=env, timeout=120, check=False)
    finally:
        os.close(write_end)
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 0, err


class _Out:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


def test_reader_gone_is_told_from_a_pipe_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    read_end, write_end = os.pipe()
    try:
        monkeypatch.setattr(sys, "stdout", _Out(write_end))
        assert stdio.stdout_reader_gone() is False  # read end open: a broken pipe elsewhere
        os.close(read_end)
        read_end = -1
        assert stdio.stdout_reader_gone() is True
    finally:
        os.close(write_end)
        if read_end >= 0:
            os.close(read_end)


def test_other_broken_pipes_still_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    """A BrokenPipeError from a socket inside a command is an error, not a closed `| head`."""
    from autoglm_tui import cli
    from autoglm_tui.commands import rules

    def broken(_args: object) -> int:
        raise BrokenPipeError("a socket")

    monkeypatch.setattr(rules, "run", broken)
    read_end, write_end = os.pipe()
    try:
        monkeypatch.setattr(sys, "stdout", _Out(write_end))
        with pytest.raises(BrokenPipeError):
            cli.main(["rules", "list"])
    finally:
        os.close(read_end)
        os.close(write_end)
