"""autoglm_tui.actions.send_signal: checks before a signal, real signals to test processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest

from autoglm_tui.actions import send_signal, signal_name


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "1000"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=5)


def _started(pid: int) -> float:
    return psutil.Process(pid).create_time()


def test_signal_names() -> None:
    assert signal_name("sigterm") == "TERM"
    assert signal_name(" KILL ") == "KILL"
    with pytest.raises(ValueError, match="unsupported signal"):
        signal_name("STOP")


def test_int_is_delivered(sleeper: subprocess.Popen[bytes]) -> None:
    result = send_signal(sleeper.pid, "INT", _started(sleeper.pid))
    assert result.ok and result.message == f"sent SIGINT to {sleeper.pid}"
    assert sleeper.wait(timeout=5) == -signal.SIGINT


@pytest.mark.parametrize("pid", [-1, 0, 1])
def test_process_groups_and_init_are_refused(pid: int) -> None:
    result = send_signal(pid, "TERM", 0.0)
    assert not result.ok and "refusing" in result.message


def test_own_pid_is_refused() -> None:
    result = send_signal(os.getpid(), "KILL", _started(os.getpid()))
    assert not result.ok and "autoglm-tui itself" in result.message


def test_unknown_start_time_is_refused(sleeper: subprocess.Popen[bytes]) -> None:
    result = send_signal(sleeper.pid, "TERM", None)
    assert not result.ok and "start time unknown" in result.message
    assert sleeper.poll() is None


def test_recycled_pid_is_refused(sleeper: subprocess.Popen[bytes]) -> None:
    result = send_signal(sleeper.pid, "KILL", _started(sleeper.pid) - 3600)
    assert not result.ok and "different process" in result.message
    with pytest.raises(subprocess.TimeoutExpired):
        sleeper.wait(timeout=0.2)


def test_exited_process(sleeper: subprocess.Popen[bytes]) -> None:
    started = _started(sleeper.pid)
    sleeper.kill()
    sleeper.wait(timeout=5)
    result = send_signal(sleeper.pid, "TERM", started)
    assert not result.ok
    assert "already exited" in result.message or "different process" in result.message


def test_unsupported_signal_is_refused(sleeper: subprocess.Popen[bytes]) -> None:
    result = send_signal(sleeper.pid, "STOP", _started(sleeper.pid))
    assert not result.ok and "unsupported" in result.message
    assert sleeper.poll() is None


@pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: a process this user may not signal must be made"
)
def test_permission_denied_names_the_fix(sleeper: subprocess.Popen[bytes]) -> None:
    # A child that drops to 'nobody' may not signal the root-owned sleeper. It imports first:
    # the interpreter's files may not be readable by 'nobody'.
    code = (
        "import json, os, sys\n"
        "from autoglm_tui.actions import send_signal\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "r = send_signal(int(sys.argv[1]), 'TERM', float(sys.argv[2]))\n"
        "print(json.dumps([r.ok, r.message]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(sleeper.pid), repr(_started(sleeper.pid))],
        capture_output=True, text=True, timeout=30, check=True,
    )
    ok, message = json.loads(out.stdout)
    assert not ok
    assert message == "permission denied: run as the process owner or root"
    assert sleeper.poll() is None
