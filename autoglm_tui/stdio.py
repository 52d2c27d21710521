"""Standard output: its width when it is a terminal, and a reader that closed it early
(``autoglm-tui rules list | head -3``)."""

from __future__ import annotations

import os
import select
import shutil
import sys


def terminal_width() -> int | None:
    """The terminal's columns when standard output is one; None for a pipe or a file (print
    one line per item there, for grep)."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def stdout_reader_gone() -> bool:
    """Whether standard output is a pipe or socket whose reading end has closed (a write
    would fail with a broken pipe), as opposed to one still read."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _fd, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the exit flush cannot complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
