"""Forgetting a node from the UI, for real: agents heartbeat into a real etcd, the cluster app
runs the SSH runner's source (``commands/cluster.py:RunnerSource``, the registry watcher
included), and a person presses keys (Textual's Pilot).

An agent killed with kill -9 leaves a FAILED node; ctrl+d on its row asks first with Cancel
focused (Enter keeps it, the member record stays in etcd); choosing Forget hands a ForgetNode to
the source, which forgets it in etcd as ``members forget`` does; the registry watcher then sees
the mark, the row goes with "forgotten by operator", and etcd has no record of the node. A
node that still heartbeats is not offered; a LEFT node (records gone) is forgotten by this
monitor only.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.analysis.alerts import AlertEngine
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.members import FORGOTTEN_BY_OPERATOR
from autoglm_tui.cluster.runner import RunnerConfig
from autoglm_tui.cluster.ssh import SshOptions
from autoglm_tui.commands.cluster import RunnerSource
from autoglm_tui.events import NodeStatus
from autoglm_tui.monitor import Monitor
from autoglm_tui.tui.cluster_app import ClusterApp
from autoglm_tui.tui.screens.cluster import ClusterScreen
from autoglm_tui.tui.screens.forget_dialog import ForgetDialog
from tests.integration.discovery_helpers import AgentPool, etcd
from tests.integration.etcd_fixture import EtcdServer
from tests.integration.member_rig import node_not_up
from tests.tui.cluster_kit import record_notifications
from tests.tui.terminal import screen_text

pytestmark = pytest.mark.integration
TTL = 2


def closed_port() -> int:
    """A loopback port nobody listens on (the agents advertise it: SSH is refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(pilot: Any, app: ClusterApp, predicate: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.repaint(force=True)
        await pilot.pause(0.1)
        if predicate():
            return True
    return False


def table_rows(app: ClusterApp) -> list[list[str]]:
    """(status, node) of the node table's rows as the screen shows them."""
    words = (ln.split() for ln in screen_text(app).splitlines())
    return [w[:2] for w in words if w[:1] in (["UP"], ["FAILED"], ["LEFT"], ["UNREACHABLE"],
                                              ["CONNECTING"], ["STALE"])]


def status(app: ClusterApp, node_id: str) -> NodeStatus | None:
    node = app.monitor.state.nodes.get(node_id)
    return node.status if node is not None else None


async def test_forget_a_failed_node_from_the_ui(
    etcd_server: EtcdServer, agents: AgentPool, tmp_path: Path
) -> None:
    ep = etcd_server.endpoint
    config = etcd_server.config()
    port = str(closed_port())
    agents.start(ep, "alive", "--ssh-port", port, ttl=TTL)
    crashed = agents.start(ep, "crashed", "--ssh-port", port, ttl=TTL)
    leaver = agents.start(ep, "leaver", "--ssh-port", port, ttl=30)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    ssh = SshOptions(known_hosts=(str(known_hosts),), connect_timeout_s=2.0)
    source = RunnerSource(RunnerConfig(etcd=config, ssh=ssh))
    monitor = Monitor(FleetState(left_linger_s=600))
    pipeline = AlertPipeline(AlertEngine([node_not_up(0.0)])).install(monitor)
    app = ClusterApp(monitor, [source], gc_tuning=False)
    shown = record_notifications(app)
    async with app.run_test(size=(160, 44)) as pilot:
        assert await until(pilot, app, lambda: len(app.monitor.state.nodes) == 3), \
            screen_text(app)
        crashed.signal(signal.SIGKILL)
        crashed.wait(5)
        leaver.signal(signal.SIGTERM)
        assert leaver.wait(10) == 0
        assert await until(pilot, app, lambda: status(app, "crashed") == NodeStatus.FAILED
                           and status(app, "leaver") == NodeStatus.LEFT), screen_text(app)
        assert await until(pilot, app, lambda: "crashed" in [a.target.node
                                                             for a in pipeline.firing()])
        rows = table_rows(app)
        assert ["FAILED", "crashed"] in rows and ["LEFT", "leaver"] in rows

        # Rows by name: alive, crashed, leaver (the cursor follows its row as rows come in,
        # so go to the top first). ctrl+d on crashed; Enter hits Cancel.
        await pilot.press("home", "down")
        await pilot.pause()
        await pilot.press("ctrl+d")
        assert await until(pilot, app, lambda: isinstance(app.screen, ForgetDialog))
        assert "Forget node crashed?" in screen_text(app)
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("enter")
        assert await until(pilot, app, lambda: isinstance(app.screen, ClusterScreen))
        await asyncio.sleep(0.5)
        async with etcd(config) as client:
            assert await client.get(b"/autoglm/members/crashed") is not None
        assert status(app, "crashed") == NodeStatus.FAILED

        # ctrl+d again, Forget: the registry forgets it, and so does this monitor.
        await pilot.press("ctrl+d")
        assert await until(pilot, app, lambda: isinstance(app.screen, ForgetDialog))
        await pilot.press("left", "enter")
        assert await until(pilot, app, lambda: "crashed" not in app.monitor.state.nodes), \
            (shown, screen_text(app))
        assert await until(pilot, app, lambda: any("forgot crashed in the registry" in m
                                                   for m in shown)), shown
        async with etcd(config) as client:
            assert await client.get(b"/autoglm/members/crashed") is None
            assert await client.get(b"/autoglm/nodes/crashed") is None
            assert await client.get(b"/autoglm/members/alive") is not None
        assert [r for r in table_rows(app) if r[1] == "crashed"] == []
        assert status(app, "alive") is not None

        # A live node is not offered (it still heartbeats): refused in the UI, etcd untouched.
        await pilot.press("up")
        await pilot.pause()
        await pilot.press("ctrl+d")
        await pilot.pause()
        assert isinstance(app.screen, ClusterScreen)
        assert "only a FAILED or LEFT node can be forgotten" in shown[-1]

        # The LEFT node's records are gone from etcd: forgotten by this monitor alone.
        await pilot.press("colon", *"forget leaver", "enter")
        assert await until(pilot, app, lambda: isinstance(app.screen, ForgetDialog))
        await pilot.press("left", "enter")
        assert await until(pilot, app, lambda: "leaver" not in app.monitor.state.nodes)
        assert await until(pilot, app, lambda: any("removed from this monitor" in m
                                                   for m in shown)), shown
    ended = [a for a in pipeline.engine.alerts() if a.target.node == "crashed"]
    assert [(a.state.value, a.reason) for a in ended] == [("resolved", FORGOTTEN_BY_OPERATOR)]
