"""`agent --metrics-listen`: one process registers the node in a real etcd and serves its
metrics, which a real Prometheus scrapes; SIGTERM stops both; the systemd unit keeps the
option (and never a password)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.integration.discovery_helpers import AgentPool
from tests.integration.etcd_fixture import EtcdServer, etcd_server
from tests.integration.prometheus_fixture import (
    PROMETHEUS,
    Job,
    PrometheusServer,
    free_port,
    http_get,
    missing,
    wait_until,
)

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(missing(PROMETHEUS) is not None,
                                 reason=str(missing(PROMETHEUS)))]
__all__ = ["etcd_server"]  # a fixture used here, defined elsewhere (agents: conftest)


def test_agent_serves_metrics(etcd_server: EtcdServer, agents: AgentPool, tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port("127.0.0.2")
    agent = agents.start(etcd_server.endpoint, "gpu-m", "--metrics-listen",
                         f"127.0.0.2:{port}", "--metrics-interval", "1")
    page = wait_until(lambda: http_get(f"http://127.0.0.2:{port}/metrics").decode(),
                      "the agent's /metrics", timeout=30)
    assert 'autoglm_node_info{' in page and 'node="gpu-m"' in page
    prom = PrometheusServer(tmp_path / "prom", [Job("agents", [f"127.0.0.2:{port}"])])
    try:
        prom.start()
        got = wait_until(lambda: prom.query('autoglm_sample_timestamp_seconds{node="gpu-m"}'),
                         "the sample time scraped", timeout=30)
        assert got[0]["metric"]["job"] == "agents"
    finally:
        prom.stop()
    agent.signal(signal.SIGTERM)
    assert agent.wait(15) == 0
    with pytest.raises(OSError):
        http_get(f"http://127.0.0.2:{port}/metrics", timeout=2)


def test_systemd_unit_keeps_the_output_options() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "autoglm_tui", "agent", "--etcd", "10.0.0.5:2379", "--node-id",
         "n1", "--metrics-listen", ":9401", "--influx", "http://db:8086", "--influx-user", "w",
         "--influx-rp-for", "gpu=gpu_7d", "--print-systemd-unit"],
        capture_output=True, text=True, timeout=30, env={"AUTOGLM_INFLUX_PASSWORD": "s3cret",
                                                        "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "--metrics-listen :9401" in out.stdout and "--influx-rp-for gpu=gpu_7d" in out.stdout
    assert "s3cret" not in out.stdout
