"""Inference services through our exporter, end to end with real parts: a vLLM-shaped page
(prometheus_client with vLLM V1's names, labels and buckets) scraped by the exporter's sampler,
passed through raw on /metrics, scraped by Debian's real Prometheus, and read back by the
Prometheus source.

- Prometheus' own ``histogram_quantile`` over our re-exported histogram lands in the same
  bucket as the requests' true P95, as the quantile over vLLM's own page (Prometheus scrapes it
  too), and as the P95 our monitor derives from the series read back.
- ``cluster --prometheus`` (the source and the state) shows the service: ``node.services``
  with its kind, model, gauges, tokens/s and quantiles, the per-service ``svc.*`` values, the
  node-level ``svc.*`` figures; the history of a service's P95 comes back from range queries.
- The session recorded (``--record``) replays with the same figures, the ones Prometheus
  computed included.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.prometheus.client import ClientConfig
from autoglm_tui.cluster.prometheus.source import PrometheusSource, PromSourceConfig
from autoglm_tui.events import Event
from autoglm_tui.recording.reader import Recording
from autoglm_tui.recording.writer import RecordingWriter
from autoglm_tui.requests import HistoryWanted
from tests.fakes.metrics_http import MetricsHttp
from tests.fakes.service_pages import FakeServer
from tests.integration.exporter_fleet import ExporterFleet
from tests.integration.prometheus_fixture import PROMETHEUS, Job, PrometheusServer, missing
from tests.integration.service_load import (
    P95_BUCKET,
    RATE,
    TOKENS,
    Load,
    bucket_of,
    in_bucket,
    true_p95,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing(PROMETHEUS) is not None, reason=str(missing(PROMETHEUS))),
]

def test_services_round_trip_through_prometheus(tmp_path: Path) -> None:
    assert bucket_of(true_p95()) == P95_BUCKET
    server = FakeServer("vllm", model="meta-llama/Llama-3.1-8B-Instruct")
    http = MetricsHttp()
    page_url = http.route("/metrics", server.page)
    fleet = ExporterFleet(tmp_path / "exporters")
    prom = None
    try:
        with Load(server):
            exp = fleet.start("127.0.0.2", gpus=[{"util": 55}], extra=[
                "--service", f"{page_url},name=chat", "--no-service-discovery",
                "--service-interval", "1"])
            prom = PrometheusServer(tmp_path / "prom", [
                Job("gpu", [exp.address]), Job("vllm", [f"127.0.0.1:{http.port}"])])
            prom.start()
            prom.wait_up("gpu", 1)
            prom.wait_scrapes(12)

            # Prometheus' quantile over our re-exported histogram, and over vLLM's own page
            ours = prom.query('histogram_quantile(0.95, sum by (le) (rate('
                              'autoglm_service_e2e_latency_seconds_bucket{service="chat"}[10s])))')
            theirs = prom.query('histogram_quantile(0.95, sum by (le) (rate('
                                '{__name__=~"vllm[:_]e2e_request_latency_seconds_bucket"}[10s])))')
            assert in_bucket(float(ours[0]["value"][1])), ours
            assert in_bucket(float(theirs[0]["value"][1])), theirs
            labels = prom.query("autoglm_service_up")[0]["metric"]
            assert (labels["service"], labels["kind"], labels["model"], labels["node"]) == (
                "chat", "vllm", "meta-llama/Llama-3.1-8B-Instruct", labels["node"])
            rate = prom.query('sum(rate(autoglm_service_generation_tokens_total[10s]))')
            assert float(rate[0]["value"][1]) == pytest.approx(RATE * TOKENS, rel=0.3)

            # the cluster view's source: services, their figures, the node's figures
            source = PrometheusSource(PromSourceConfig(
                ClientConfig(prom.url), jobs=("gpu",), service_window_s=10))
            state = FleetState(service_window_s=10)
            recording = RecordingWriter(tmp_path / "session.jsonl.gz", source="cluster",
                                        t=time.time())

            def apply(event: Event) -> None:  # the view, recording (--record)
                state.apply(event)
                recording.add_event(event)

            for _ in range(5):
                asyncio.run(source.refresh(apply))
                time.sleep(1.1)
            recording.close()
            node = state.nodes["127.0.0.2"]
            view = node.services["chat"]
            assert (view.kind, view.model, view.up, view.port) == (
                "vllm", "meta-llama/Llama-3.1-8B-Instruct", True, http.port)
            assert view.url == page_url and view.source == "option"
            assert (view.running, view.waiting) == (3, 2)
            assert view.kv_cache_pct == pytest.approx(61)
            assert view.tokens_per_s == pytest.approx(RATE * TOKENS, rel=0.35)
            assert view.e2e is not None and view.e2e.p95 is not None
            assert in_bucket(view.e2e.p95.value), view.e2e
            assert view.error_rate_pct == pytest.approx(2, abs=2)
            m = node.metric
            assert in_bucket(m("svc.latency_p95_s", "chat"))
            assert in_bucket(m("svc.latency_p95_s"))  # the node's (Prometheus' figure)
            assert m("svc.tokens_per_s") == pytest.approx(RATE * TOKENS, rel=0.3)
            assert (m("svc.requests_running"), m("svc.queue_len")) == (3, 2)
            assert m("svc.kv_cache_pct") == pytest.approx(61)
            assert m("svc.up") == 1
            assert m("svc.ttft_p95_s") == pytest.approx(0.06, abs=0.021)  # in (0.04, 0.06]

            # the recorded session replays with the same figures: the server's (derived) and
            # the services' (derived again from the raw series on the samples)
            replayed = FleetState(service_window_s=10)
            for event in Recording.open(tmp_path / "session.jsonl.gz").events():
                replayed.apply(event)
            again = replayed.nodes["127.0.0.2"]
            assert again.metrics == node.metrics
            assert again.services == node.services
            assert again.metric("svc.latency_p95_s") == m("svc.latency_p95_s")

            # 15 minutes of history asked for: the service's P95 computed over the points
            event = asyncio.run(source.history(HistoryWanted("127.0.0.2", 60)))
            assert event is not None
            state.apply(event)
            points = [v for _t, v in node.history.points(("svc.latency_p95_s", "chat"))
                      if v is not None and v == v]
            assert len(points) >= 5 and all(in_bucket(v) for v in points[-5:]), points

            # the service goes down: up 0 with the reason, no figures, the node stays UP
            http.route("/metrics", "500")
            time.sleep(4)
            for _ in range(2):
                asyncio.run(source.refresh(state.apply))
                time.sleep(1.1)
            view = node.services["chat"]
            assert not view.up and "500" in (view.error or ""), view
            assert view.tokens_per_s is None and node.metric("svc.up") == 0
            assert node.status.name == "UP"
    finally:
        if prom is not None:
            prom.stop()
        fleet.close()
        http.close()
