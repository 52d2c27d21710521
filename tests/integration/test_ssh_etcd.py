"""Nodes from the etcd registry, reached over SSH: registration data is never a command, a node
that leaves has its sampler stopped, a moved node is reconnected."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from autoglm_tui.cluster.runner import RunnerConfig
from autoglm_tui.events import HeartbeatLost, NodeStatus
from tests.fakes.metrics_http import MetricsHttp
from tests.fakes.service_pages import FakeServer
from tests.integration.discovery_helpers import AgentPool, etcd, registration
from tests.integration.etcd_fixture import EtcdServer
from tests.integration.fleet_watch import FleetWatch
from tests.integration.sshd_fixture import (
    SshdSet,
    async_wait_for,
    pid_alive,
    sshd_missing,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sshd_missing() is not None, reason=str(sshd_missing())),
]

PREFIX = "/autoglm/nodes/"


@pytest.fixture
def servers(tmp_path: Path):
    with SshdSet(tmp_path / "ssh") as made:
        yield made


async def test_snapshot_from_etcd_runs_nothing_from_the_registry(
    etcd_server: EtcdServer, servers: SshdSet, tmp_path: Path
) -> None:
    node = servers.start()
    marker = tmp_path / "owned"
    async with etcd(etcd_server.config()) as client:
        await client.put(
            f"{PREFIX}good".encode(),
            registration("good", ssh_port=node.port, labels={"rack": "r1"}),
        )
        await client.put(
            f"{PREFIX}evil-addr".encode(),
            registration("evil-addr", address=f"$(touch {marker})", ssh_port=node.port),
        )
        await client.put(
            f"{PREFIX}evil-label".encode(),
            registration("evil-label", ssh_port=node.port, labels={"x": f"; touch {marker}"}),
        )
        await client.put(
            f"{PREFIX}evil-host".encode(),
            registration("evil-host", ssh_port=node.port, hostname=f"`touch {marker}`"),
        )
    proc = subprocess.run(
        [
            sys.executable, "-m", "autoglm_tui", "snapshot", "--etcd", etcd_server.endpoint,
            *servers.cli_args(), "--interval", "0.5", "--wait", "30",
        ],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1, proc.stderr  # not every node is UP
    doc = json.loads(proc.stdout)
    nodes = {n["node_id"]: n for n in doc["nodes"]}
    assert doc["registry"]["ok"] is True
    good = nodes["good"]
    assert good["status"] == "UP" and good["source"] == "etcd"
    assert good["labels"] == {"rack": "r1"}
    assert 0.0 <= good["last_sample"]["cpu"]["util_pct"] <= 100.0
    for bad in ("evil-addr", "evil-label", "evil-host"):
        assert nodes[bad]["status"] == "INVALID", nodes[bad]
        assert nodes[bad]["reason"]
        assert nodes[bad]["last_sample"] is None
    assert not marker.exists()
    # Only the good node was ever logged into.
    assert node.log_path.read_text().count("Accepted publickey") == 1


async def test_registry_changes_start_restart_and_stop_streams(
    etcd_server: EtcdServer, servers: SshdSet
) -> None:
    first = servers.start()
    second = servers.start()
    key = f"{PREFIX}gpu1".encode()
    config = RunnerConfig(etcd=etcd_server.config(), ssh=servers.ssh_options())
    async with etcd(etcd_server.config()) as client, FleetWatch(config) as watch:
        await client.put(key, registration("gpu1", ssh_port=first.port))
        assert await watch.until(lambda: watch.status("gpu1") == NodeStatus.UP), watch.describe()
        on_first = first.sampler_pids()
        assert on_first

        # The node re-registers elsewhere (a new port): its stream moves there.
        await client.put(key, registration("gpu1", ssh_port=second.port))
        assert await watch.until(lambda: bool(second.sampler_pids())), watch.describe()
        assert await async_wait_for(lambda: not any(pid_alive(p) for p in on_first), 10)
        assert await watch.until(lambda: watch.status("gpu1") == NodeStatus.UP)

        # It leaves: LEFT, and its sampler is stopped.
        on_second = second.sampler_pids()
        await client.delete(key)
        assert await watch.until(lambda: watch.status("gpu1") == NodeStatus.LEFT)
        assert await async_wait_for(lambda: not any(pid_alive(p) for p in on_second), 10)
        assert "gpu1" not in watch.runner.streams


async def test_agent_killed_while_its_sampler_streams_is_up_with_agent_lost_then_failed(
    etcd_server: EtcdServer, servers: SshdSet, agents: AgentPool
) -> None:
    """Heartbeat and samples are two signals: losing the first alone is not a failure."""
    node = servers.start()
    agent = agents.start(etcd_server.endpoint, "gpu7", "--ssh-port", str(node.port), ttl=2)
    config = RunnerConfig(etcd=etcd_server.config(), ssh=servers.ssh_options(), interval_s=0.5)
    async with FleetWatch(config) as watch:
        assert await watch.until(lambda: watch.status("gpu7") == NodeStatus.UP), watch.describe()
        agent.signal(signal.SIGKILL)
        agent.wait(5)
        assert await watch.until(lambda: any(
            isinstance(e, HeartbeatLost) and e.node_id == "gpu7" for e in watch.events
        ), 15), watch.describe()
        before = watch.samples("gpu7")
        assert await watch.until(lambda: watch.samples("gpu7") >= before + 4), watch.describe()
        gpu7 = watch.state.nodes["gpu7"]
        assert gpu7.status == NodeStatus.UP and gpu7.agent_lost
        assert "gpu7" in watch.runner.streams  # its stream was not stopped
        assert not [c for c in watch.changes if c.node_id == "gpu7" and c.new in (
            NodeStatus.LEFT, NodeStatus.FAILED
        )]
        # Now the samples stop too (sshd and its sessions gone): FAILED, not STALE.
        node.kill_all()
        assert await watch.until(lambda: watch.status("gpu7") == NodeStatus.FAILED, 20), (
            watch.describe()
        )
        assert watch.state.nodes["gpu7"].last_sample is not None  # last figures kept


async def test_registered_services_reach_the_nodes_sampler_and_its_service_view(
    etcd_server: EtcdServer, servers: SshdSet
) -> None:
    """The registration's ``services`` go to the node's sampler as a control line (its
    discovery is off, so only the registration can name the page); the node's ServiceView
    shows the service; an address that is not the node's is refused on the node's row; a
    registration update changes the list without restarting the sampler."""
    fake = FakeServer("vllm", model="org/chat-7b")
    fake.request(0.0, 0.5)
    fake.load(3, 2, 0.4)
    http = MetricsHttp()
    url = http.route("/engine/v1/prom", fake.page)
    node = servers.start()
    key = f"{PREFIX}gpu1".encode()
    options = servers.ssh_options(
        push="never",
        remote_command="python3 -m autoglm_tui sample --interval 0.5 --no-service-discovery "
        "--service-interval 0.5",
    )
    config = RunnerConfig(etcd=etcd_server.config(), ssh=options)
    services = [{"url": url, "name": "chat", "kind": "vllm"},
                {"url": "http://203.0.113.7:8000/metrics", "name": "far"}]
    try:
        async with etcd(etcd_server.config()) as client, FleetWatch(config) as watch:
            await client.put(key, registration("gpu1", ssh_port=node.port, services=services))

            def chat() -> Any:
                gpu1 = watch.state.nodes.get("gpu1")
                view = gpu1.services.get("chat") if gpu1 is not None else None
                return view if view is not None and view.up else None

            assert await watch.until(lambda: chat() is not None, 30), watch.describe()
            view = chat()
            assert (view.kind, view.source, view.url, view.port) == (
                "vllm", "registration", url, http.port)
            assert (view.running, view.waiting, view.kv_cache_pct) == (3, 2, 40.0)
            assert view.model == "org/chat-7b"
            assert view.pid == os.getpid()  # the node's process that serves it (this test)
            gpu1 = watch.state.nodes["gpu1"]
            assert list(gpu1.services) == ["chat"] and gpu1.status == NodeStatus.UP
            assert gpu1.last_sample is not None
            (refusal,) = [e for e in gpu1.last_sample.errors if "control services" in e]
            assert refusal.startswith("control services[1] refused: http://203.0.113.7:8000/")
            assert "not an address of this node" in refusal
            pids = node.sampler_pids()
            assert pids

            # The node re-registers without services: the sampler forgets it, not restarted.
            await client.put(key, registration("gpu1", ssh_port=node.port))
            assert await watch.until(lambda: not watch.state.nodes["gpu1"].services, 20), (
                watch.describe()
            )
            assert node.sampler_pids() == pids
            last = watch.state.nodes["gpu1"].last_sample
            assert last is not None and not [e for e in last.errors if "control services" in e]
    finally:
        http.close()


async def test_an_agents_service_option_reaches_the_sampler(
    etcd_server: EtcdServer, servers: SshdSet, agents: AgentPool
) -> None:
    """`autoglm-tui agent --service URL,name=N` registers it; the monitor hands it on."""
    fake = FakeServer("sglang")
    fake.load(1, 4, 0.5)
    http = MetricsHttp()
    url = http.route("/sglang/metrics", fake.page)
    node = servers.start()
    far = "http://203.0.113.7:8000/metrics"
    agent = agents.start(etcd_server.endpoint, "gpu2", "--ssh-port", str(node.port),
                         "--service", f"{url},name=router", "--service", f"{far},name=far")
    options = servers.ssh_options(
        push="never",
        remote_command="python3 -m autoglm_tui sample --interval 0.5 --no-service-discovery "
        "--service-interval 0.5",
    )
    config = RunnerConfig(etcd=etcd_server.config(), ssh=options)
    try:
        async with FleetWatch(config) as watch:
            def router() -> Any:
                gpu2 = watch.state.nodes.get("gpu2")
                view = gpu2.services.get("router") if gpu2 is not None else None
                return view if view is not None and view.up else None

            assert await watch.until(lambda: router() is not None, 30), watch.describe()
            view = router()
            assert (view.kind, view.source, view.waiting) == ("sglang", "registration", 4)
            gpu2 = watch.state.nodes["gpu2"]
            assert list(gpu2.services) == ["router"]
            assert gpu2.last_sample is not None
            assert [e for e in gpu2.last_sample.errors if "control services" in e] == [
                f"control services[1] refused: {far}: 203.0.113.7 is not an address of this "
                "node (only its own addresses are scraped)"]
        # The agent said so when it started, on the node where it can be fixed.
        assert (f"--service {far}: this node's sampler will not scrape it: 203.0.113.7 is not "
                "an address of this node") in agent.stderr()
    finally:
        http.close()
