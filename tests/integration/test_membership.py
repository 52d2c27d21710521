"""Membership that outlives the lease, with real agents (processes), a real etcd and a monitor
made of the real watcher, fleet state and alert engine (member_rig.py).

A crash (kill -9) is FAILED and stays, with node_not_up firing; a graceful leave is LEFT and
lingers out; a monitor started after a crash knows the failed node; ``members forget`` and
``agent --leave`` / ``--deregister`` take a node out for every monitor, with their reasons.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from autoglm_tui.analysis.alerts import AlertState
from autoglm_tui.cluster.members import (
    DEREGISTERED,
    FORGOTTEN_BY_OPERATOR,
    LEFT_GRACEFUL,
)
from autoglm_tui.events import HeartbeatLost, NodeForgotten, NodeStatus
from tests.integration.discovery_helpers import REPO, AgentPool, etcd
from tests.integration.etcd_fixture import EtcdServer
from tests.integration.member_rig import MonitorRig

pytestmark = pytest.mark.integration
TTL = 2
LINGER_S = 2.0


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autoglm_tui", *args],
        cwd=REPO, input=stdin, capture_output=True, text=True, timeout=60,
    )


async def wait_gone(config, key: bytes, timeout: float = 15.0) -> bool:
    """Poll etcd until `key` is gone (a lease lapsed)."""
    deadline = time.monotonic() + timeout
    async with etcd(config) as client:
        while time.monotonic() < deadline:
            if await client.get(key) is None:
                return True
            time.sleep(0.05)
    return False


async def test_kill_9_is_failed_within_ttl_kept_past_the_linger_and_keeps_firing(
    etcd_server: EtcdServer, agents: AgentPool
) -> None:
    ep = etcd_server.endpoint
    doomed = agents.start(ep, "doomed", "--label", "rack=r9", ttl=TTL)
    agents.start(ep, "steady", ttl=TTL)
    async with MonitorRig(etcd_server.config(), left_linger_s=LINGER_S, for_s=1.0) as rig:
        assert await rig.until(
            lambda: rig.status("doomed") == rig.status("steady") == NodeStatus.CONNECTING
        ), rig.describe()
        killed_at = time.time()
        doomed.signal(signal.SIGKILL)
        doomed.wait(5)
        # The lease lapses at most TTL after the kill (the last refresh was before it); the
        # monitor must have said FAILED by TTL + 1 s on this clock.
        await rig.run_until(killed_at + TTL + 1.0)
        assert rig.status("doomed") == NodeStatus.FAILED, rig.describe()
        node = rig.state.nodes["doomed"]
        assert node.agent_lost and node.labels == {"rack": "r9"}
        assert node.reason and node.reason.startswith("lost heartbeat")
        # Long past the linger time, it is still listed and its alert still fires.
        await rig.run_until(killed_at + TTL + 1.0 + LINGER_S + 2.0)
        assert rig.status("doomed") == NodeStatus.FAILED, rig.describe()
        assert rig.firing() == {"doomed"}
        assert rig.alerts_of("doomed") == [AlertState.PENDING, AlertState.FIRING]
        assert rig.changes_of("doomed") == [
            (None, NodeStatus.CONNECTING), (NodeStatus.CONNECTING, NodeStatus.FAILED)
        ]
        assert rig.status("steady") == NodeStatus.CONNECTING and not rig.alerts_of("steady")


async def test_sigterm_is_left_then_removed_after_the_linger(
    etcd_server: EtcdServer, agents: AgentPool
) -> None:
    # A long TTL: only the graceful leave can explain LEFT within the wait below.
    leaver = agents.start(etcd_server.endpoint, "leaver", ttl=30)
    async with MonitorRig(etcd_server.config(), left_linger_s=LINGER_S) as rig:
        assert await rig.until(lambda: rig.status("leaver") == NodeStatus.CONNECTING)
        leaver.signal(signal.SIGTERM)
        assert leaver.wait(10) == 0
        assert await rig.until(lambda: rig.status("leaver") == NodeStatus.LEFT, 5), rig.describe()
        assert rig.state.nodes["leaver"].reason == LEFT_GRACEFUL
        assert not rig.state.nodes["leaver"].agent_lost
        assert await rig.until(lambda: rig.removed("leaver"), 10), rig.describe()
        assert rig.changes_of("leaver") == [
            (None, NodeStatus.CONNECTING),
            (NodeStatus.CONNECTING, NodeStatus.LEFT),
            (NodeStatus.LEFT, None),
        ]
        left, removed = [c for c in rig.changes if c.node_id == "leaver"][1:]
        assert removed.t - left.t >= LINGER_S
        assert not [e for e in rig.events if isinstance(e, HeartbeatLost)]


async def test_a_monitor_started_after_the_crash_shows_it_failed_and_forget_removes_it(
    etcd_server: EtcdServer, agents: AgentPool
) -> None:
    ep = etcd_server.endpoint
    config = etcd_server.config()
    crashed = agents.start(ep, "crashed", "--label", "role=train", ttl=TTL)
    agents.start(ep, "alive", ttl=TTL)
    async with etcd(config) as client:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len((await client.get_prefix(b"/autoglm/"))[1]) < 4:
            time.sleep(0.05)
    crashed.signal(signal.SIGKILL)
    crashed.wait(5)
    assert await wait_gone(config, b"/autoglm/nodes/crashed")

    listing = cli("members", "list", "--etcd", ep, "--json")
    assert listing.returncode == 0, listing.stderr
    views = {m["node_id"]: m for m in json.loads(listing.stdout)}
    assert views["crashed"]["view"] == "failed" and views["alive"]["view"] == "alive"
    assert views["crashed"]["labels"] == {"role": "train"}
    table = cli("members", "list", "--etcd", ep)
    assert "crashed" in table.stdout and "failed" in table.stdout
    bare = cli("members", "--etcd", ep)  # no subcommand: list
    assert bare.returncode == 0, bare.stderr
    assert bare.stdout.splitlines()[0] == table.stdout.splitlines()[0]  # the same table
    assert "crashed" in bare.stdout and "failed" in bare.stdout

    async with MonitorRig(config) as rig:
        assert await rig.until(lambda: rig.status("crashed") == NodeStatus.FAILED), rig.describe()
        assert rig.state.nodes["crashed"].labels == {"role": "train"}
        assert rig.status("alive") == NodeStatus.CONNECTING

        # Without a terminal and without --yes, nothing is forgotten.
        refused = cli("members", "forget", "crashed", "--etcd", ep, stdin="y\n")
        assert refused.returncode == 2 and "--yes" in refused.stderr
        # A node that still heartbeats is not failed: refused.
        live = cli("members", "forget", "alive", "--etcd", ep, "--yes")
        assert live.returncode == 1 and "still heartbeats" in live.stderr
        assert rig.status("crashed") == NodeStatus.FAILED and rig.status("alive")

        done = cli("members", "forget", "crashed", "--etcd", ep, "--yes")
        assert done.returncode == 0, done.stderr
        assert await rig.until(lambda: rig.removed("crashed"), 10), rig.describe()
        assert "crashed" not in rig.state.nodes
        assert [(c.old, c.reason) for c in rig.removed("crashed")] == [
            (NodeStatus.FAILED, FORGOTTEN_BY_OPERATOR)
        ]
        assert [e.reason for e in rig.events if isinstance(e, NodeForgotten)] == [
            FORGOTTEN_BY_OPERATOR
        ]
        assert rig.status("alive") == NodeStatus.CONNECTING
    after = json.loads(cli("members", "list", "--etcd", ep, "--json").stdout)
    assert [m["node_id"] for m in after] == ["alive"]
    again = cli("members", "forget", "crashed", "--etcd", ep, "--yes")
    assert again.returncode == 1 and "not in the registry" in again.stderr


async def test_agent_leave_and_deregister_take_a_failed_node_out(
    etcd_server: EtcdServer, agents: AgentPool
) -> None:
    ep = etcd_server.endpoint
    config = etcd_server.config()
    one = agents.start(ep, "one", ttl=TTL)
    two = agents.start(ep, "two", ttl=TTL)
    async with MonitorRig(config, left_linger_s=60) as rig:
        assert await rig.until(lambda: rig.status("one") == rig.status("two") is not None)
        for agent in (one, two):
            agent.signal(signal.SIGKILL)
            agent.wait(5)
        assert await rig.until(
            lambda: rig.status("one") == rig.status("two") == NodeStatus.FAILED, 15
        ), rig.describe()
        left = cli("agent", "--etcd", ep, "--node-id", "one", "--leave")
        assert left.returncode == 0, left.stderr
        assert await rig.until(lambda: rig.status("one") == NodeStatus.LEFT, 10), rig.describe()
        assert rig.state.nodes["one"].reason == LEFT_GRACEFUL
        dereg = cli("agent", "--etcd", ep, "--node-id", "two", "--deregister")
        assert dereg.returncode == 0, dereg.stderr
        assert await rig.until(lambda: rig.removed("two"), 10), rig.describe()
        assert [c.reason for c in rig.removed("two")] == [DEREGISTERED]
        assert "two" not in rig.state.nodes
    async with etcd(config) as client:
        assert (await client.get_prefix(b"/autoglm/"))[1] == []
    nothing = cli("agent", "--etcd", ep, "--node-id", "one", "--leave")
    assert nothing.returncode == 0 and "not in the registry" in nothing.stderr
