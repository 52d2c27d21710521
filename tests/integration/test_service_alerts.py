"""Per-service alert rules on a real sampler's output: two vLLM pages made with
prometheus_client under vLLM's own names and buckets (tests/fakes/service_pages.py), served on
loopback while `autoglm-tui sample --service ...` scrapes them; its JSON lines go through the
wire decoder, FleetState and the alert engine with the built-in rules. The slow service's
latency alert names the service and its model; the fast one raises nothing."""

from __future__ import annotations

import random
import subprocess
import threading

import pytest

from autoglm_tui import wire
from autoglm_tui.alerting.rule_files import default_rules
from autoglm_tui.analysis.alerts import AlertEngine, AlertState, Target, parse_rules
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived
from autoglm_tui.model import Hello, Sample
from tests.fakes import metrics_http as mh
from tests.fakes.service_pages import FakeServer
from tests.integration.test_sampler_cli import CLI, env
from tests.integration.test_services_histograms import http

pytestmark = pytest.mark.integration

PICK_FAST = """
[[rule]]
name = "fast_model_slowish"
metric = "svc.latency_p95_s"
threshold = 0.05
match = { model = "acme/llm-8b" }
"""


def test_a_slow_service_alerts_by_name_and_model(http: mh.MetricsHttp) -> None:
    slow = FakeServer("vllm", model="acme/llm-70b")
    fast = FakeServer("vllm", model="acme/llm-8b")
    slow_url = http.route("/slow/metrics", slow.page)
    fast_url = http.route("/fast/metrics", fast.page)
    stop = threading.Event()

    def traffic() -> None:  # requests keep finishing while the sampler runs
        rng = random.Random(7)
        while not stop.wait(0.2):
            for _ in range(2):
                slow.request(0.0, rng.uniform(2.6, 4.0))
                fast.request(0.0, rng.uniform(0.1, 0.4))

    feeder = threading.Thread(target=traffic, daemon=True)
    feeder.start()
    try:
        done = subprocess.run(
            [*CLI, "--interval", "0.5", "--count", "30", "--no-service-discovery",
             "--service-interval", "0.5", "--service", f"{slow_url},name=slow",
             "--service", f"{fast_url},name=fast"],
            stdin=subprocess.DEVNULL, capture_output=True, env=env(), timeout=60,
        )
    finally:
        stop.set()
        feeder.join(5)
    assert done.returncode == 0, done.stderr.decode()[-2000:]

    custom, errors, _ = parse_rules(PICK_FAST, "<test>")
    assert not errors
    rules = [r for r in default_rules() if r.name == "latency_p95_high"] + custom
    engine = AlertEngine(rules)
    state = FleetState()
    state.apply(NodeJoined(0.0, "n1"))
    events = []
    for line in done.stdout.splitlines():
        msg = wire.decode(line)
        if isinstance(msg, Hello):
            state.apply(HelloReceived(0.0, "n1", msg))
        elif isinstance(msg, Sample):
            changes = state.apply(SampleReceived(msg.t, "n1", msg))
            events += engine.evaluate(state, msg.t, changes)
    views = state.nodes["n1"].services
    assert set(views) == {"slow", "fast"} and views["slow"].model == "acme/llm-70b"

    firing = [e for e in events if e.state is AlertState.FIRING]
    by_rule = {e.rule: e for e in firing}
    assert {(e.rule, e.target) for e in firing} == {
        ("latency_p95_high", Target("n1", service="slow")),
        ("fast_model_slowish", Target("n1", service="fast")),
    }
    lat = by_rule["latency_p95_high"]
    assert lat.fired_at is not None and lat.fired_at - lat.started_at >= 10.0  # for = "10s"
    assert lat.summary.startswith(
        "P95 latency of vllm service slow (acme/llm-70b) on n1 is ")
    assert lat.value is not None and lat.value > 2.0
    assert ("service", "slow") in lat.labels
    assert dict(lat.annotations) == {"model": "acme/llm-70b", "service_kind": "vllm"}
    line = lat.to_dict()
    assert line["service"] == "slow" and line["annotations"]["model"] == "acme/llm-70b"


__all__ = ["http"]
