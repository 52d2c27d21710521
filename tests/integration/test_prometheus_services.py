"""An inference server Prometheus already scrapes (a vLLM-shaped page: vLLM's names, labels
and buckets), on the same host as our exporter, read by the Prometheus source: tokens/s, P95
from the histogram's buckets (Prometheus' interpolation), queue, running, KV cache and the
share of aborted requests land on the node as the svc.* figures."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.prometheus.client import ClientConfig
from autoglm_tui.cluster.prometheus.source import PrometheusSource, PromSourceConfig
from tests.fakes.vllm_page import VllmPage
from tests.integration.exporter_fleet import ExporterFleet
from tests.integration.prometheus_fixture import PROMETHEUS, Job, PrometheusServer, missing

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing(PROMETHEUS) is not None, reason=str(missing(PROMETHEUS))),
]


def test_vllm_figures_on_the_node(tmp_path: Path) -> None:
    fleet = ExporterFleet(tmp_path / "exporters")
    vllm = VllmPage()
    stop = threading.Event()
    prom = None
    try:
        exp = fleet.start("127.0.0.2", gpus=[{"util": 70}])
        port = vllm.serve("127.0.0.2")
        vllm.set_load(running=3, waiting=5, kv=0.42)

        def feed() -> None:
            i = 0
            while not stop.wait(0.1):  # 10 requests a second, every one 1.2 s long
                vllm.requests([1.2], tokens_each=50, reason="abort" if i % 10 == 0 else "stop")
                i += 1

        threading.Thread(target=feed, daemon=True).start()
        prom = PrometheusServer(tmp_path / "prom", [Job("gpu", [exp.address]),
                                                    Job("llm", [f"127.0.0.2:{port}"])])
        prom.start()
        prom.wait_up("llm", 1)
        prom.wait_scrapes(8)
        source = PrometheusSource(PromSourceConfig(ClientConfig(prom.url), service_window_s=5))
        state = FleetState()
        asyncio.run(source.refresh(state.apply))
        (node,) = state.nodes.values()
        assert node.node_id == "127.0.0.2" and node.labels["job"] == "gpu"  # llm: not a node
        m = node.metric
        # every request in (1.0, 1.5]: histogram_quantile interpolates 1.0 + 0.5 * 0.95
        assert m("svc.latency_p95_s") == pytest.approx(1.475, abs=1e-6)
        assert m("svc.ttft_p95_s") == pytest.approx(0.1 + 0.15 * (0.95 * 1), abs=0.05)
        assert m("svc.tokens_per_s") == pytest.approx(500, rel=0.25)
        assert m("svc.requests_per_s") == pytest.approx(10, rel=0.25)
        assert m("svc.error_rate") == pytest.approx(10, abs=5)
        assert (m("svc.requests_running"), m("svc.queue_len")) == (3, 5)
        assert m("svc.kv_cache_pct") == pytest.approx(42)
        assert node.last_sample.gpus[0].util_pct == 70
    finally:
        stop.set()
        if prom is not None:
            prom.stop()
        vllm.close()
        fleet.close()
