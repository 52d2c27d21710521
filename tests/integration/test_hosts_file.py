"""Hosts-file mode keeps the membership rules: a listed host is a member until it is removed from
the file (a graceful leave: LEFT, its sampler stopped); an unreachable listed host is never
FAILED or dropped; a file that does not parse keeps the last good list and says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoglm_tui.cluster.hosts import read_hosts_file
from autoglm_tui.cluster.runner import LEFT_HOSTS_FILE, RunnerConfig
from autoglm_tui.events import NodeStatus, RegistryChanged
from tests.integration.fleet_watch import FleetWatch
from tests.integration.sshd_fixture import SshdSet, async_wait_for, pid_alive, sshd_missing

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sshd_missing() is not None, reason=str(sshd_missing())),
]


async def test_hosts_file_edits_join_and_leave_gracefully(tmp_path: Path) -> None:
    with SshdSet(tmp_path / "ssh") as servers:
        a, b = servers.start(), servers.start()
        path = tmp_path / "hosts"
        path.write_text(f"{a.entry()} name=a rack=r1\n{b.entry()} name=b\n")
        specs = tuple(read_hosts_file(str(path)))
        config = RunnerConfig(
            hosts=specs,
            ssh=servers.ssh_options(),
            hosts_file=str(path),
            hosts_from_file=frozenset(s.node_id for s in specs),
            hosts_poll_s=0.2,
        )
        async with FleetWatch(config) as watch:
            assert await watch.until(
                lambda: watch.status("a") == watch.status("b") == NodeStatus.UP
            ), watch.describe()
            on_b = b.sampler_pids()
            assert on_b

            # b is taken out of the file: it left (gracefully), and its sampler is stopped.
            path.write_text(f"{a.entry()} name=a rack=r2\n")
            assert await watch.until(lambda: watch.status("b") == NodeStatus.LEFT), (
                watch.describe()
            )
            assert watch.reason("b") == LEFT_HOSTS_FILE
            assert await async_wait_for(lambda: not any(pid_alive(p) for p in on_b), 10)
            assert "b" not in watch.runner.streams
            assert watch.state.nodes["a"].labels == {"rack": "r2"}  # an edit updates labels
            assert watch.status("a") == NodeStatus.UP

            # A broken edit: the last good list stays, and the reason is shown.
            path.write_text(f"{a.entry()} name=a\nnot a host entry $(reboot)\n")
            assert await watch.until(lambda: watch.state.registry_ok is False), watch.describe()
            assert "line 2" in (watch.state.registry_reason or "")
            assert watch.status("a") == NodeStatus.UP and "a" in watch.runner.streams

            # Fixed, with b back: it rejoins and streams again.
            path.write_text(f"{a.entry()} name=a\n{b.entry()} name=b\n")
            assert await watch.until(lambda: watch.status("b") == NodeStatus.UP), (
                watch.describe()
            )
            assert watch.state.registry_ok is True
            assert [e.ok for e in watch.events if isinstance(e, RegistryChanged)] == [False, True]

            # A listed host that cannot be reached stays a member: UNREACHABLE, never FAILED.
            a.kill_all()
            assert await watch.until(lambda: watch.status("a") == NodeStatus.UNREACHABLE, 20), (
                watch.describe()
            )
            assert not watch.state.nodes["a"].agent_lost
            assert all(c.new is not NodeStatus.FAILED for c in watch.changes)
