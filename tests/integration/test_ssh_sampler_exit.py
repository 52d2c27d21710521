"""A remote sampler killed with kill -9 on the node (real sshd on loopback): the SSH source says
so (``SamplerExited`` with the reason), the node counts the restart and keeps the reason, and it
recovers on its own with a new sampler."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from autoglm_tui.cluster.runner import RunnerConfig
from autoglm_tui.events import NodeStatus, SampleReceived, SamplerExited
from tests.integration.fleet_watch import FleetWatch
from tests.integration.sshd_fixture import SshdSet, sshd_missing

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sshd_missing() is not None, reason=str(sshd_missing())),
]


async def test_a_sampler_killed_on_the_node_is_counted_and_the_node_recovers(
    tmp_path: Path,
) -> None:
    with SshdSet(tmp_path / "ssh") as servers:
        node = servers.start()
        spec = node.spec()
        nid = spec.node_id
        async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=servers.ssh_options())) as watch:
            assert await watch.until(lambda: watch.samples(nid) >= 2), watch.describe()
            state = watch.state.nodes[nid]
            assert state.sampler_restarts == 0 and state.sampler_exit is None
            [pid] = node.sampler_pids()
            before = watch.samples(nid)
            os.kill(pid, signal.SIGKILL)
            assert await watch.until(lambda: state.sampler_restarts == 1), watch.describe()
            assert state.sampler_exit == "sampler stopped (killed by signal KILL)"
            exits = [e for e in watch.events if isinstance(e, SamplerExited)]
            assert [(e.node_id, e.reason) for e in exits] == [(nid, state.sampler_exit)]
            # It recovers on its own: a new sampler, samples again, UP, nothing else counted.
            assert await watch.until(
                lambda: watch.samples(nid) >= before + 2 and state.status == NodeStatus.UP
            ), watch.describe()
            assert pid not in node.sampler_pids() and node.sampler_pids()
            last = [e for e in watch.events if isinstance(e, SampleReceived)][-1]
            assert last.t >= exits[0].t
            assert state.sampler_restarts == 1
            notes = [(n.node_id, n.what, n.reason) for n in watch.state.notes]
            assert notes == [(nid, "sampler_exited", state.sampler_exit)]
