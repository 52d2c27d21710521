"""Actions the UI asks for on this machine (sending a signal), kept out of the UI (no Textual).

The UI only posts an intent; this module checks it is still about the process the user saw
(same pid *and* same start time, so a recycled pid is never signalled) and reports back a
short message for the status line.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

import psutil

# The signals the confirmation dialog offers, by their short name.
SIGNALS: dict[str, signal.Signals] = {
    "TERM": signal.SIGTERM,
    "INT": signal.SIGINT,
    "KILL": signal.SIGKILL,
}

# psutil derives create_time from the boot time and clock ticks; allow for float rounding.
CREATE_TIME_TOLERANCE_S = 0.05


@dataclass(frozen=True, slots=True)
class SignalResult:
    """What happened to a signal request; `message` is ready to show to the user."""

    ok: bool
    message: str


def signal_name(sig: str) -> str:
    """'sigterm', 'TERM' -> 'TERM'; ValueError for anything the dialog does not offer."""
    name = sig.strip().upper().removeprefix("SIG")
    if name not in SIGNALS:
        raise ValueError(f"unsupported signal {sig!r}: use one of {', '.join(SIGNALS)}")
    return name


def send_signal(pid: int, sig: str, create_time: float | None) -> SignalResult:
    """Send `sig` (TERM, INT or KILL) to `pid` if it is still the process that started at
    `create_time`; never raises for an ordinary failure."""
    try:
        name = signal_name(sig)
    except ValueError as exc:
        return SignalResult(False, str(exc))
    if not isinstance(pid, int) or pid <= 1:
        return SignalResult(False, f"refusing to signal pid {pid}")
    if pid == os.getpid():
        return SignalResult(False, f"pid {pid} is autoglm-tui itself: press q to quit")
    if create_time is None:
        return SignalResult(
            False, f"cannot tell whether pid {pid} is the process shown (start time unknown)"
        )
    try:
        proc = psutil.Process(pid)
        started = proc.create_time()
    except psutil.NoSuchProcess:
        return SignalResult(False, f"process {pid} has already exited")
    except psutil.AccessDenied:
        return SignalResult(False, f"permission denied reading pid {pid}: run as root")
    if abs(started - create_time) > CREATE_TIME_TOLERANCE_S:
        when = time.strftime("%H:%M:%S", time.localtime(started))
        return SignalResult(
            False, f"pid {pid} is now a different process (started {when}): not signalled"
        )
    try:
        proc.send_signal(SIGNALS[name])  # psutil re-checks the identity before sending
    except psutil.NoSuchProcess:
        return SignalResult(False, f"process {pid} has already exited")
    except (psutil.AccessDenied, PermissionError):
        return SignalResult(False, "permission denied: run as the process owner or root")
    except OSError as exc:
        return SignalResult(False, f"could not signal {pid}: {exc.strerror or exc}")
    return SignalResult(True, f"sent SIG{name} to {pid}")
