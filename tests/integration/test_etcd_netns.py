"""A silently dead etcd: etcd runs in a network namespace the test makes, and its link is taken
down while etcd stays up, so packets vanish with no reset. The monitor must say "degraded"
within 3 heartbeat intervals, mark no node LEFT or FAILED meanwhile or after, and recover once
the link is back (agents re-register; the monitor lists again)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from autoglm_tui.events import HeartbeatLost, NodeForgotten, NodeLeft, NodeStatus, RegistryChanged
from tests.integration.discovery_helpers import AgentPool
from tests.integration.etcd_fixture import EtcdServer, etcd_missing
from tests.integration.member_rig import MonitorRig
from tests.integration.netns import TestNet, netns_missing

pytestmark = [pytest.mark.integration, pytest.mark.netns]

INTERVAL = 2.0  # the agents' heartbeat interval; TTL is 3 of them
NODES = ("n1", "n2", "n3")


@pytest.fixture
def silent_etcd(tmp_path: Path):
    for reason in (netns_missing(), etcd_missing()):
        if reason is not None:
            pytest.skip(reason)
    net = TestNet(1)
    server = EtcdServer(tmp_path / "etcd", host=net.address(0), netns=net.namespace(0))
    try:
        server.start()
        yield net, server
    finally:
        server.stop()
        net.close()


async def test_silent_etcd_is_degraded_within_3_intervals_and_nothing_is_marked_left(
    silent_etcd: tuple[TestNet, EtcdServer], agents: AgentPool
) -> None:
    net, server = silent_etcd
    procs = [
        agents.start(server.endpoint, node_id, interval=INTERVAL, ttl=int(3 * INTERVAL))
        for node_id in NODES
    ]
    async with MonitorRig(server.config(), for_s=1.0) as rig:
        assert await rig.until(lambda: set(rig.watcher.known()) == set(NODES), 30), (
            rig.describe()
        )
        assert rig.state.registry_ok is True

        cut_at = time.time()
        net.cut(0)  # etcd keeps running; its packets are dropped
        # The check is about order, on this clock: "degraded" must be among the events that
        # happened before 3 heartbeat intervals had passed since the cut. The watcher probes
        # every interval and gives up after one interval plus max(2 s, one interval) of
        # silence, so on a healthy machine it says so after 2-4 s.
        await rig.run_until(cut_at + 3 * INTERVAL)
        health = [e for e in rig.events if isinstance(e, RegistryChanged)]
        assert [e.ok for e in health][-1] is False, rig.describe()
        assert health[-1].t <= cut_at + 3 * INTERVAL
        assert "unreachable" in (rig.state.registry_reason or "")
        # Hold the cut past a TTL, so every lease lapses inside etcd meanwhile.
        await rig.run_until(cut_at + 5 * INTERVAL)
        for node_id in NODES:
            assert rig.status(node_id) == NodeStatus.CONNECTING, rig.describe()

        net.heal(0)
        assert await rig.until(lambda: rig.state.registry_ok is True, 30), rig.describe()
        # The agents register again; after the re-list's grace the set is whole, and no node
        # was called LEFT or FAILED at any point.
        assert await rig.until(lambda: set(rig.watcher.known()) == set(NODES), 30), (
            rig.describe()
        )
        await rig.run_until(time.time() + 2 * INTERVAL)
    assert not [
        e for e in rig.events if isinstance(e, (NodeLeft, HeartbeatLost, NodeForgotten))
    ], rig.describe()
    for node_id in NODES:
        assert all(new not in (NodeStatus.LEFT, NodeStatus.FAILED)
                   for _, new in rig.changes_of(node_id)), rig.describe()
    assert [e.ok for e in rig.events if isinstance(e, RegistryChanged)] == [True, False, True]
    assert not rig.alert_events
    # The leases did lapse inside etcd during the cut (so "no FAILED" is not for lack of it).
    assert all("registering again" in p.stderr() for p in procs), procs[0].stderr()[-2000:]
