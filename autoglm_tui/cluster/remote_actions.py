"""Signals to processes on remote nodes: the intent the UI posts, and its delivery over SSH.

The UI builds a :class:`SignalIntent` (node, pid, the start time it saw, signal) after the user
confirmed it; :class:`SshSignaller` carries it out on a fresh SSH connection to that node, made
by the same ``cluster.ssh.connect`` as the node's data stream (its ``SshTarget``: options,
verified host keys, bounded handshakes). The
command it runs is a constant script plus three validated arguments (an integer pid, a number,
a signal name from a fixed list): nothing from the node, the registry or a host list is ever
put into it. On the node, the script signals the pid only if that process still started at the
time the UI saw, so a recycled pid is never signalled.
"""

from __future__ import annotations

import asyncio
import math
import shlex
from dataclasses import dataclass
from typing import Any

from autoglm_tui.actions import SIGNALS, SignalResult, signal_name

START_TOLERANCE_S = 0.5  # psutil and /proc may round the start time differently
TIMEOUT_S = 15.0

# Runs on the node with its python3; argv: pid, expected start time, signal name.
REMOTE_SCRIPT = r"""
import os, signal, sys
pid, want, name = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
sigs = {"TERM": signal.SIGTERM, "INT": signal.SIGINT, "KILL": signal.SIGKILL}
def started(pid):
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:
            raise FileNotFoundError(pid)
        except psutil.AccessDenied:
            pass
    with open("/proc/" + str(pid) + "/stat") as f:
        data = f.read()
    ticks = int(data[data.rindex(")") + 2:].split()[19])
    with open("/proc/stat") as f:
        btime = next(int(line.split()[1]) for line in f if line.startswith("btime"))
    return btime + ticks / os.sysconf("SC_CLK_TCK")
try:
    got = started(pid)
except (FileNotFoundError, ProcessLookupError):
    print("gone"); sys.exit(3)
if abs(got - want) > TOLERANCE:
    print("reused " + str(got)); sys.exit(4)
try:
    os.kill(pid, sigs[name])
except ProcessLookupError:
    print("gone"); sys.exit(3)
except PermissionError:
    print("denied"); sys.exit(5)
print("ok")
""".replace("TOLERANCE", repr(START_TOLERANCE_S))


@dataclass(frozen=True, slots=True)
class SignalIntent:
    """The user confirmed: send `signal` to `pid` on `node_id` if it started at `create_time`."""

    node_id: str
    pid: int
    create_time: float | None
    signal: str  # TERM, INT or KILL
    command: str = ""  # what the dialog showed (for logs), never executed


def remote_command(python: str, intent: SignalIntent) -> str:
    """The command line to run on the node; ValueError when the intent is not sendable."""
    name = signal_name(intent.signal)
    if not isinstance(intent.pid, int) or isinstance(intent.pid, bool) or intent.pid <= 1:
        raise ValueError(f"refusing to signal pid {intent.pid}")
    if intent.create_time is None or not math.isfinite(intent.create_time):
        raise ValueError(f"cannot tell whether pid {intent.pid} is the process shown "
                         "(start time unknown)")
    return shlex.join([python, "-c", REMOTE_SCRIPT, str(intent.pid),
                       f"{intent.create_time:.6f}", name])


def outcome(intent: SignalIntent, exit_status: int | None, stdout: str) -> SignalResult:
    """What the script's exit status means, as a message for the user."""
    pid, sig = intent.pid, signal_name(intent.signal)
    if exit_status == 0:
        return SignalResult(True, f"sent SIG{sig} to {pid}")
    if exit_status == 3:
        return SignalResult(False, f"process {pid} has already exited")
    if exit_status == 4:
        return SignalResult(False, f"pid {pid} is now a different process: not signalled")
    if exit_status == 5:
        return SignalResult(False, "permission denied: log in as the process owner or root")
    first = stdout.strip().splitlines()[:1]
    detail = "".join(ch for ch in (first[0] if first else "") if ch.isprintable())[:120]
    return SignalResult(False, f"the node could not run the signal command "
                               f"(exit {exit_status}{': ' + detail if detail else ''})")


class SshSignaller:
    """Delivers intents over SSH to nodes that the runner streams from."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner

    async def __call__(self, intent: SignalIntent) -> SignalResult:
        if intent.signal.strip().upper().removeprefix("SIG") not in SIGNALS:
            return SignalResult(False, f"unsupported signal {intent.signal!r}")
        # asyncssh is imported only when a signal is sent
        from autoglm_tui.cluster.ssh import SshTarget, connect

        stream = getattr(self.runner, "streams", {}).get(intent.node_id)
        target = getattr(getattr(stream, "source", None), "target", None)
        if not isinstance(target, SshTarget):
            return SignalResult(False, "this node is not reached over SSH: nothing sent")
        try:
            command = remote_command(target.options.remote_python, intent)
        except ValueError as exc:
            return SignalResult(False, str(exc))
        try:
            # a fresh connection, made as the stream's (same options, keys and handshake slots)
            async with connect(target, timeout=TIMEOUT_S) as connection:
                exit_status, stdout = await connection.run(command, TIMEOUT_S)
        except asyncio.TimeoutError:
            return SignalResult(False, "the node did not answer in time: not known if sent")
        except ConnectionError as exc:
            return SignalResult(False, f"could not reach the node: {str(exc)[:200]}")
        return outcome(intent, exit_status, stdout)
