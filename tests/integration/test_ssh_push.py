"""Agentless push: a node with nothing but a bare python3 (no autoglm_tui, no psutil)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import autoglm_tui
from autoglm_tui.cluster.runner import RunnerConfig
from autoglm_tui.events import NodeStatus
from tests.fakes.metrics_http import MetricsHttp
from tests.fakes.service_pages import FakeServer
from tests.integration.fleet_watch import FleetWatch
from tests.integration.sshd_fixture import SshdSet, pid_alive, sshd_missing, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sshd_missing() is not None, reason=str(sshd_missing())),
]


@pytest.fixture(scope="module")
def bare_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A clean venv's bin directory: python3 there has neither autoglm_tui nor psutil."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python3"
    probe = subprocess.run(
        [str(python), "-c", "import importlib.util as u; "
         "print(u.find_spec('autoglm_tui'), u.find_spec('psutil'))"],
        capture_output=True, text=True, check=True, cwd=str(venv),
    )
    assert probe.stdout.split() == ["None", "None"], probe.stdout
    return str(venv / "bin")


@pytest.fixture
def servers(tmp_path: Path):
    with SshdSet(tmp_path / "ssh") as made:
        yield made


async def test_without_push_the_node_shows_pythons_error(servers: SshdSet, bare_bin: str) -> None:
    node = servers.start(path_dirs=(bare_bin,))
    spec = node.spec()
    options = servers.ssh_options(push="never")
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=options)) as watch:
        assert await watch.until(lambda: watch.status(spec.node_id) == NodeStatus.UNREACHABLE)
        assert "No module named autoglm_tui" in watch.reason(spec.node_id)


async def test_push_is_used_when_the_package_is_missing(servers: SshdSet, bare_bin: str) -> None:
    node = servers.start(path_dirs=(bare_bin,))
    spec = node.spec()
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=servers.ssh_options())) as watch:
        assert await watch.until(lambda: watch.samples(spec.node_id) >= 2), watch.describe()
        state = watch.state.nodes[spec.node_id]
        assert state.status == NodeStatus.UP
        assert state.hello is not None
        assert state.hello.sampler_version == autoglm_tui.__version__
        assert state.hello.static.collector == "procfs"  # no psutil on the node
        assert state.last_sample is not None
        assert 0.0 <= state.last_sample.cpu.util_pct <= 100.0
        running = node.sampler_pids()
        assert running
    assert wait_for(lambda: not any(pid_alive(p) for p in running), 10), "sampler left behind"


async def test_push_sampler_option_on_a_node_with_psutil(servers: SshdSet) -> None:
    node = servers.start()  # this venv's python3: psutil installed
    spec = node.spec()
    options = servers.ssh_options(push="always")
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=options)) as watch:
        assert await watch.until(lambda: watch.samples(spec.node_id) >= 1), watch.describe()
        state = watch.state.nodes[spec.node_id]
        assert state.hello is not None and state.hello.static.collector == "psutil"
        running = node.sampler_pids()
        assert running
    assert wait_for(lambda: not any(pid_alive(p) for p in running), 10), "sampler left behind"


async def test_a_pushed_sampler_takes_the_registered_services(
    servers: SshdSet, bare_bin: str
) -> None:
    """The services control line reaches a pushed sampler on a bare python3 (no psutil: this
    node's addresses come from /proc), after the bootstrap has read the code."""
    fake = FakeServer("vllm")
    fake.request(0.0, 0.5)
    fake.load(2, 1, 0.3)
    http = MetricsHttp()
    url = http.route("/pushed/metrics", fake.page)
    node = servers.start(path_dirs=(bare_bin,))
    spec = node.spec()
    try:
        async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=servers.ssh_options())) as watch:
            assert await watch.until(lambda: watch.samples(spec.node_id) >= 1), watch.describe()
            source = watch.runner.streams[spec.node_id].source
            assert source is not None
            source.request_services([{"url": url, "name": "pushed"}])
            state = watch.state.nodes[spec.node_id]
            assert await watch.until(lambda: "pushed" in state.services, 20), watch.describe()
            view = state.services["pushed"]
            assert (view.kind, view.source, view.up, view.running) == (
                "vllm", "registration", True, 2)
    finally:
        http.close()
