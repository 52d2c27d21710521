"""Several real hosts, each in its own network namespace with its own address and sshd: a cut
link is reported within seconds while the others keep streaming, and it heals on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoglm_tui.cluster.runner import RunnerConfig
from autoglm_tui.events import NodeStatus
from tests.integration.fleet_watch import FleetWatch
from tests.integration.netns import TestNet, netns_missing
from tests.integration.sshd_fixture import SshdSet, sshd_missing

pytestmark = [
    pytest.mark.integration,
    pytest.mark.netns,
    pytest.mark.skipif(sshd_missing() is not None, reason=str(sshd_missing())),
]


@pytest.fixture
def net():
    reason = netns_missing()
    if reason is not None:
        pytest.skip(reason)
    made = TestNet(3)
    try:
        yield made
    finally:
        made.close()


async def test_cut_link_is_unreachable_others_stream_then_it_heals(
    net: TestNet, tmp_path: Path
) -> None:
    with SshdSet(tmp_path / "ssh") as servers:
        nodes = [
            servers.start(host=net.address(i), port=22, netns=net.namespace(i))
            for i in range(net.count)
        ]
        specs = tuple(n.spec(name=f"node{i}") for i, n in enumerate(nodes))
        options = servers.ssh_options(connect_timeout_s=2.0)
        async with FleetWatch(RunnerConfig(hosts=specs, ssh=options)) as watch:
            ids = [s.node_id for s in specs]
            assert await watch.until(
                lambda: all(watch.status(i) == NodeStatus.UP for i in ids)
            ), watch.describe()
            for i, node in enumerate(nodes):  # each node is its own address
                assert watch.state.nodes[ids[i]].address == node.host

            net.cut(1)
            before = {i: watch.samples(i) for i in ids}
            assert await watch.until(
                lambda: watch.status("node1") == NodeStatus.UNREACHABLE, 15
            ), watch.describe()
            reason = watch.reason("node1")
            assert "keepalive" in reason or "timed out" in reason or "lost" in reason, reason
            # The others kept streaming through the outage.
            for other in ("node0", "node2"):
                assert watch.samples(other) > before[other] + 2
                assert watch.status(other) == NodeStatus.UP

            net.heal(1)
            assert await watch.until(lambda: watch.status("node1") == NodeStatus.UP, 30), (
                watch.describe()
            )
            assert all(watch.status(i) == NodeStatus.UP for i in ids)
