"""Remote signals (cluster mode's `k`) delivered over a real sshd on loopback."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from autoglm_tui.cluster.remote_actions import SignalIntent, SshSignaller
from autoglm_tui.cluster.runner import RunnerConfig
from tests.integration.fleet_watch import FleetWatch
from tests.integration.sshd_fixture import SshdSet, sshd_missing

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sshd_missing() is not None, reason=str(sshd_missing())),
]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[SshdSet]:
    with SshdSet(tmp_path / "ssh") as made:
        yield made


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "120"], stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)


@asynccontextmanager
async def streaming(servers: SshdSet) -> AsyncIterator[tuple[Any, str, SshSignaller]]:
    """One node streaming over SSH: (its sshd, its node id, a signaller for it)."""
    node = servers.start()
    spec = node.spec()
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=servers.ssh_options())) as watch:
        assert await watch.until(lambda: watch.samples(spec.node_id) >= 1), watch.describe()
        yield node, spec.node_id, SshSignaller(watch.runner)


async def test_signal_reaches_the_process_only_while_it_is_the_one_shown(
    servers: SshdSet, victim: subprocess.Popen[bytes]
) -> None:
    started = psutil.Process(victim.pid).create_time()
    async with streaming(servers) as (_node, node_id, send):

        # the start time the UI saw does not match: a recycled pid is never signalled
        wrong = SignalIntent(node_id, victim.pid, started - 100.0, "TERM")
        result = await send(wrong)
        assert not result.ok and "different process" in result.message
        assert victim.poll() is None

        result = await send(SignalIntent(node_id, victim.pid, started, "TERM"))
        assert result.ok, result.message
        assert result.message == f"sent SIGTERM to {victim.pid}"
        assert victim.wait(timeout=10) == -signal.SIGTERM

        result = await send(SignalIntent(node_id, victim.pid, started, "KILL"))
        assert not result.ok and "already exited" in result.message


async def test_unknown_node_and_unreachable_node_send_nothing(
    servers: SshdSet, victim: subprocess.Popen[bytes]
) -> None:
    started = psutil.Process(victim.pid).create_time()
    async with streaming(servers) as (node, node_id, send):

        result = await send(SignalIntent("no-such-node", victim.pid, started, "TERM"))
        assert not result.ok and "not reached over SSH" in result.message

        node.stop()  # sshd gone: the stream breaks and a fresh connection is refused
        result = await send(SignalIntent(node_id, victim.pid, started, "TERM"))
        assert not result.ok and "could not reach the node" in result.message
        assert victim.poll() is None
