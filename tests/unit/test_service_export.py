"""Inference services out and back in, pure parts: the exporter's autoglm_service_* families
(raw gauges, counters and histograms, one label set per service), the Prometheus source reading
those series back into the same ServiceSamples, the InfluxDB autoglm_service measurement, and a
history backfill that derives the services' figures over its points."""

from __future__ import annotations

from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.prometheus import queries as q
from autoglm_tui.cluster.prometheus.services import node_services, services_query
from autoglm_tui.events import HistoryBackfill, NodeJoined
from autoglm_tui.exporter import names as n
from autoglm_tui.exporter.influx_services import ServiceLines
from autoglm_tui.exporter.server import Exposition, Latest, SampleCollector
from autoglm_tui.model import Histogram, Sample, ServiceSample
from tests.unit.samples import hello, sample

E2E = Histogram((0.5, 1.0, 2.5, 5.0), (10.0, 40.0, 90.0, 99.0, 100.0), 123.5)
TTFT = Histogram((0.05, 0.1), (80.0, 99.0, 100.0), 6.25)
AVG = Histogram((), (30.0,), 45.0)  # an averages-only server's count and sum


def chat(t: float = 100.0, **kw: object) -> ServiceSample:
    base: dict[str, object] = dict(
        url="http://127.0.0.1:8000/metrics", kind="vllm", ok=True, name="chat",
        model="org/chat-7b", pid=4242, port=8000, t=t, running=3.0, waiting=2.0,
        kv_cache_usage=0.61, prompt_tokens=5000.0, generation_tokens=20000.0,
        requests_finished=100.0, requests_error=2.0, requests_aborted=1.0, e2e=E2E, ttft=TTFT,
        itl=AVG, queue=None, source="option")
    base.update(kw)
    return ServiceSample(**base)  # type: ignore[arg-type]


def with_services(*services: ServiceSample, t: float = 100.0) -> Sample:
    return replace(sample(t, 1), services=services)


class _Source:
    def __init__(self, s: Sample) -> None:
        self.latest = Latest(1, hello(), s)


def page_text(s: Sample, node: str = "gpu-7", collector: SampleCollector | None = None) -> str:
    src = _Source(s)
    col = collector or SampleCollector(src, node)  # type: ignore[arg-type]
    col.source = src  # type: ignore[assignment]
    body, _ = Exposition(src, col).page(None, False)  # type: ignore[arg-type]
    return body.decode()


def series(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            if smp.name.startswith("autoglm_service"):
                out[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
    return out


def labels(service: str = "chat", **extra: str) -> tuple:
    base = {"node": "gpu-7", "service": service, "kind": "vllm", "model": "org/chat-7b"}
    return tuple(sorted({**base, **extra}.items()))


def test_service_series_pass_through_raw() -> None:
    got = series(page_text(with_services(chat())))
    L = labels()
    assert got[("autoglm_service_up", L)] == 1
    assert got[("autoglm_service_scrape_timestamp_seconds", L)] == 100.0
    assert got[("autoglm_service_requests_running", L)] == 3
    assert got[("autoglm_service_requests_waiting", L)] == 2
    assert got[("autoglm_service_kv_cache_usage_ratio", L)] == 0.61
    assert got[("autoglm_service_generation_tokens_total", L)] == 20000
    assert got[("autoglm_service_prompt_tokens_total", L)] == 5000
    assert got[("autoglm_service_requests_finished_total", L)] == 100
    assert got[("autoglm_service_requests_errors_total", L)] == 2
    assert got[("autoglm_service_requests_aborted_total", L)] == 1
    buckets = {dict(k[1])["le"]: v for k, v in got.items()
               if k[0] == "autoglm_service_e2e_latency_seconds_bucket"}
    assert buckets == {"0.5": 10, "1.0": 40, "2.5": 90, "5.0": 99, "+Inf": 100}  # the server's
    assert got[("autoglm_service_e2e_latency_seconds_count", L)] == 100
    assert got[("autoglm_service_e2e_latency_seconds_sum", L)] == 123.5
    assert got[("autoglm_service_itl_seconds_bucket", (*L[:1], ("le", "+Inf"), *L[1:]))] == 30
    assert not any(k[0].startswith("autoglm_service_queue_time") for k in got)  # not exported
    info = next(dict(k[1]) for k in got if k[0] == n.SERVICE_INFO)
    assert (info["url"], info["pid"], info["port"], info["source"], info["error"]) == (
        "http://127.0.0.1:8000/metrics", "4242", "8000", "option", "")


def test_a_down_service_keeps_its_labels_and_has_no_figures() -> None:
    src = _Source(with_services(chat()))
    col = SampleCollector(src, "gpu-7")  # type: ignore[arg-type]
    page_text(with_services(chat()), collector=col)
    down = chat(t=None, ok=False, error="HTTP 500 Internal Server Error", model=None,
                running=None, generation_tokens=None, e2e=None)
    got = series(page_text(with_services(down), collector=col))
    assert got == {
        (n.SERVICE_UP, labels()): 0.0,
        (n.SERVICE_INFO, labels(url="http://127.0.0.1:8000/metrics", pid="4242", port="8000",
                                source="option", error="HTTP 500 Internal Server Error")): 1.0,
    }


def test_hostile_and_repeated_service_labels() -> None:
    evil = chat(name="a\x1b[31m\"b\"\n[bold]", model="m\u202e\x07")
    got = series(page_text(with_services(evil, chat(), chat())))
    ids = sorted({dict(k[1])["service"] for k in got})
    assert ids == ['a [31m"b" [bold]', "chat", "chat#2"]
    assert all("\x1b" not in v and "\u202e" not in v for k in got for _, v in k[1])


def prometheus_answer(text: str, instance: str = "10.0.0.7:9400") -> list[dict]:
    """The exporter's service series as an instant query returns them (labels + instance)."""
    out = []
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            if smp.name.startswith("autoglm_service_"):
                out.append({"metric": {"__name__": smp.name, **smp.labels,
                                       "instance": instance, "job": "gpu"},
                            "value": [100.0, repr(smp.value)]})
    return out


def test_the_source_reads_back_the_samples_the_exporter_wrote() -> None:
    original = (chat(), chat(name=None, port=9000, kind="sglang", e2e=None, ttft=None),
                chat(ok=False, error="timed out after 0.5 s", name="down", t=None,
                     running=None, waiting=None, kv_cache_usage=None, prompt_tokens=None,
                     generation_tokens=None, requests_finished=None, requests_error=None,
                     requests_aborted=None, e2e=None, ttft=None, itl=None))
    answer = prometheus_answer(page_text(with_services(*original)))
    results = q.Results()
    services_query('job="gpu"').parse(answer, results, q.NodeKey())
    back = node_services(results.services["10.0.0.7"])
    by_id = {s.service_id: s for s in back}
    assert set(by_id) == {"chat", "sglang:9000", "down"}
    assert by_id["chat"] == original[0]
    assert by_id["sglang:9000"] == original[1]
    assert by_id["down"] == replace(original[2], model="org/chat-7b", source="option")
    assert not by_id["down"].ok and by_id["down"].error == "timed out after 0.5 s"


def test_bad_series_from_prometheus_are_skipped() -> None:
    answer = prometheus_answer(page_text(with_services(chat())))
    answer += [
        {"metric": {"__name__": n.SERVICE_UP, "instance": "10.0.0.7:1"}, "value": [1, "1"]},
        {"metric": {"__name__": "autoglm_service_e2e_latency_seconds_bucket", "le": "x",
                    "service": "chat", "instance": "10.0.0.7:9400"}, "value": [1, "5"]},
        {"metric": {"__name__": n.SERVICE_UP, "service": "half", "instance": "10.0.0.7:9400",
                    "kind": "\x1b]0;evil\x07"}, "value": [1, "NaN"]},
        {"metric": {"__name__": "autoglm_service_requests_running", "service": "lonely",
                    "instance": "10.0.0.7:9400"}, "value": [1, "3"]},
    ]
    results = q.Results()
    services_query("x").parse(answer, results, q.NodeKey())
    back = node_services(results.services["10.0.0.7"])
    assert [s.service_id for s in back] == ["chat"]  # no up series: not a service
    assert back[0] == chat()


def test_influx_service_lines_once_per_scrape() -> None:
    lines = ServiceLines()
    first = list(lines.lines(with_services(chat(t=100.0), t=100.0), "gpu 7"))
    assert len(first) == 1 and first[0][0] == "service"
    text = first[0][1]
    assert text.startswith("autoglm_service,kind=vllm,model=org/chat-7b,node=gpu\\ 7,"
                           "service=chat ")
    assert text.endswith(" 100000")
    assert "up=1i" in text and "kv_cache_pct=61.0" in text and "generation_tokens=20000.0" in text
    # the first scrape: nothing to take a rate or a window over yet
    assert "tokens_per_s" not in text and "latency_p95_s" not in text
    assert not list(lines.lines(with_services(chat(t=100.0), t=101.0), "gpu 7"))  # same scrape
    later = chat(t=105.0, generation_tokens=21000.0, requests_finished=200.0,
                 requests_error=4.0, e2e=Histogram(E2E.bounds, (20.0, 80.0, 180.0, 196.0,
                                                              200.0), 250.0))
    (_, text), = lines.lines(with_services(later, t=105.0), "gpu 7")
    fields = dict(f.split("=") for f in text.rsplit(" ", 2)[1].split(","))
    assert float(fields["tokens_per_s"]) == pytest.approx(200.0)
    assert float(fields["error_rate_pct"]) == pytest.approx(2.0)
    assert float(fields["requests_window"]) == 100.0
    assert 2.5 < float(fields["latency_p95_s"]) <= 5.0
    assert "latency_p99_s" not in fields  # in the +Inf bucket: no upper bound, left out
    down = chat(t=None, ok=False, error="HTTP 500")
    (_, text), = lines.lines(with_services(down, t=106.0), "gpu 7")
    assert 'up=0i,error="HTTP 500"' in text and text.endswith(" 106000")


def test_history_backfill_derives_the_services_figures() -> None:
    state = FleetState(service_window_s=30)
    state.apply(NodeJoined(0.0, "gpu-7", source="prometheus"))
    points = []
    for k in range(10):
        t = 1000.0 + 5 * k
        e2e = Histogram(E2E.bounds, tuple(c * (k + 1) for c in E2E.counts), E2E.sum)
        s = with_services(chat(t=t, generation_tokens=1000.0 * k, e2e=e2e), t=t)
        points.append((t, s, {("svc.latency_p95_s", None): 9.0}))
    state.apply(HistoryBackfill(2000.0, "gpu-7", tuple(points)))
    node = state.nodes["gpu-7"]
    rates = [v for _t, v in node.history.points(("svc.tokens_per_s", "chat"))]
    assert rates[0] is None or rates[0] != rates[0]  # one scrape: no rate yet
    assert rates[-1] == pytest.approx(200.0)
    p95 = [v for _t, v in node.history.points(("svc.latency_p95_s", "chat"))]
    assert 2.5 < p95[-1] <= 5.0
    node_p95 = [v for _t, v in node.history.points(("svc.latency_p95_s", None))]
    assert node_p95[-1] == 9.0  # the source's own figure wins at node level
