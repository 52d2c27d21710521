"""Per-service alert rules and trend rules, with series through the real FleetState."""

from __future__ import annotations

import math
import random

import pytest

from autoglm_tui.alerting.restore import event_from_record
from autoglm_tui.alerting.rule_files import default_rules
from autoglm_tui.alerting.silences import SilenceStore
from autoglm_tui.analysis.alerts import AlertEngine, AlertState, Target, parse_rules
from autoglm_tui.analysis.alerts.windows import Slope
from autoglm_tui.metrics import Scope

from .alertseries import play

MODELS = {"chat": "acme/llm-70b", "code": "acme/coder-7b"}
SLOW = """
[[rule]]
name = "slow"
metric = "svc.latency_p95_s"
threshold = 2
for = "2s"
"""


def events(p):  # type: ignore[no-untyped-def]
    return [(round(e.t - 1000), e.state.value, e.rule, str(e.target), e.reason)
            for e in p.all_events()]


def test_one_alert_per_service_naming_service_and_model() -> None:
    p = play(SLOW, {("n1", "svc.latency_p95_s", "chat"): "3x6",
                    ("n1", "svc.latency_p95_s", "code"): "0.5x6"}, models=MODELS)
    # the first scrape gives no quantile yet (no step between two scrapes)
    assert events(p) == [(1, "pending", "slow", "n1 chat", None),
                         (3, "firing", "slow", "n1 chat", None)]
    fired = p.all_events()[1]
    assert fired.target == Target("n1", service="chat")
    assert fired.summary == ("svc.latency_p95_s of vllm service chat (acme/llm-70b) on n1 is "
                             "3s > 2s")
    assert ("service", "chat") in fired.labels
    assert dict(fired.annotations) == {"model": "acme/llm-70b", "service_kind": "vllm"}
    line = fired.to_dict()
    assert line["service"] == "chat" and line["annotations"]["model"] == "acme/llm-70b"
    assert line["id"] == "slow|n1||" + "|service=chat"


def test_the_alert_ends_when_its_service_goes() -> None:
    p = play(SLOW, {("n1", "svc.latency_p95_s", "chat"): "3x5 - -",
                    ("n1", "svc.latency_p95_s", "code"): "3 3 3 0.5 0.5 0.5 0.5"},
             models=MODELS)
    assert events(p) == [
        (1, "pending", "slow", "n1 chat", None),
        (1, "pending", "slow", "n1 code", None),
        (3, "firing", "slow", "n1 chat", None),
        (3, "inactive", "slow", "n1 code", "condition cleared"),
        (5, "resolved", "slow", "n1 chat", "service gone"),
    ]


def test_an_unknown_latency_neither_fires_nor_resolves() -> None:
    """A latency that becomes unknown (no requests in the window) is no data."""
    p = play(SLOW, {("n1", "svc.latency_p95_s", "chat"): "3x3 _ _ _ 3"}, models=MODELS)
    assert [e[1] for e in events(p)] == ["pending", "firing"]
    assert p.active[1006.0] == {("slow", "n1 chat", "firing")}


def test_match_on_the_service_model_and_on_node_labels() -> None:
    rules = SLOW + 'match = { model = "acme/coder-7b", zone = "a" }\n'
    series = {(node, "svc.latency_p95_s", sid): "3x4" for node in ("n1", "n2")
              for sid in ("chat", "code")}
    p = play(rules, series, models=MODELS, labels={"n1": {"zone": "a"}, "n2": {"zone": "b"}})
    assert {e[3] for e in events(p)} == {"n1 code"}
    (rule,) = parse_rules(rules)[0]
    assert rule.describe() == ("svc.latency_p95_s > 2 per service where model=acme/coder-7b, "
                               "zone=a for 2s")


def test_a_quantile_on_few_requests_is_no_data_unless_min_requests_says() -> None:
    series = {("n1", "svc.latency_p95_s", "chat"): "3x5", ("n1", "svc.requests", "chat"): "10x5"}
    assert events(play(SLOW, series, models=MODELS)) == []  # 10 < 20 requests: few
    p = play(SLOW + "min_requests = 5\n", series, models=MODELS)
    assert [e[1] for e in events(p)] == ["pending", "firing"]
    p = play(SLOW + "min_requests = 50\n", {("n1", "svc.latency_p95_s", "chat"): "3x5",
                                           ("n1", "svc.requests", "chat"): "40x5"})
    assert events(p) == []


def test_min_requests_on_the_error_rate() -> None:
    rule = '[[rule]]\nname = "errors"\nmetric = "svc.error_rate"\nthreshold = 1\n'
    series = {("n1", "svc.error_rate", "chat"): "50x3", ("n1", "svc.requests", "chat"): "1x3"}
    # 10 finished requests a step (the helper finishes 10 per histogram request)
    assert [e[1] for e in events(play(rule, series))] == ["firing"]
    assert events(play(rule + "min_requests = 20\n", series)) == []


def test_node_scope_aggregates_the_services_as_the_node_value_does() -> None:
    rules = """
[[rule]]
name = "node_slow"
metric = "svc.latency_p95_s"
scope = "node"
threshold = 2

[[rule]]
name = "node_kv"
metric = "svc.kv_cache_pct"
scope = "node"
agg = "avg"
threshold = 60
"""
    parsed = {r.name: r for r in parse_rules(rules)[0]}
    assert parsed["node_slow"].agg == "max" and parsed["node_slow"].scope is Scope.NODE
    assert parsed["node_slow"].describe() == "max(svc.latency_p95_s) > 2"
    p = play(rules, {("n1", "svc.latency_p95_s", "chat"): "3 3", ("n1", "svc.latency_p95_s",
                     "code"): "0.1 0.1", ("n1", "svc.kv_cache_pct", "chat"): "90 90",
                     ("n1", "svc.kv_cache_pct", "code"): "10 50"})
    assert [(e[2], e[3]) for e in events(p)] == [("node_slow", "n1"), ("node_kv", "n1")]
    assert p.all_events()[1].value == pytest.approx(70.0)  # avg of 90 and 50 at step 1
    tokens = parse_rules('[[rule]]\nname = "t"\nmetric = "svc.tokens_per_s"\nscope = "node"\n'
                         'op = "<"\nthreshold = 1\n')[0][0]
    assert tokens.agg == "sum"  # rates sum over the node's services


def test_the_default_rule_pages_for_a_service_down_30s_with_the_reason() -> None:
    (down,) = [r for r in default_rules() if r.name == "service_down"]
    up_down_up = "1x3 " + "0 " * 40 + "1 1"
    p = play("", {("n1", "svc.up", "chat"): up_down_up,  # down 40 s, then back
                  ("n1", "svc.up", "code"): "1 1 0 0 1 1",  # a blip: never fires
                  ("n1", "svc.up", "gone"): "1x3 " + "0 " * 35 + "- - -"},  # then unlisted
             engine=AlertEngine([down]), models=MODELS)
    assert events(p) == [
        (2, "pending", "service_down", "n1 code", None),
        (3, "pending", "service_down", "n1 chat", None),
        (3, "pending", "service_down", "n1 gone", None),
        (4, "inactive", "service_down", "n1 code", "condition cleared"),
        (33, "firing", "service_down", "n1 chat", None),
        (33, "firing", "service_down", "n1 gone", None),
        (38, "resolved", "service_down", "n1 gone", "service gone"),
        (43, "resolved", "service_down", "n1 chat", "condition cleared"),
    ]
    fired = next(e for e in p.all_events() if e.state is AlertState.FIRING)
    assert down.severity == "critical" and down.scope is Scope.SERVICE
    assert fired.summary == ("vllm service chat (acme/llm-70b) on n1 is down: connection "
                             "refused (nothing listening)")


def test_the_default_service_rules_are_per_service() -> None:
    rules = {r.name: r for r in default_rules()}
    for name in ("service_down", "latency_p95_high", "error_rate_high", "kv_cache_full",
                 "queue_growing"):
        assert rules[name].scope is Scope.SERVICE, name
    assert rules["queue_growing"].kind == "trend" and rules["queue_growing"].metric == \
        "svc.queue_len"


# ---------------------------------------------------------------------------- trend rules

GROWING = """
[[rule]]
name = "growing"
kind = "trend"
metric = "svc.queue_len"
window = "10s"
threshold = 30
for = "2s"
"""


def test_trend_fires_on_a_growing_queue_and_clears_when_it_levels() -> None:
    # +1 a second = 60 a minute; the slope is known once the points span 5 s (half the window)
    queue = " ".join(str(i) for i in range(12)) + " 11x12"
    p = play(GROWING, {("n1", "svc.queue_len", "chat"): queue}, models=MODELS)
    ev = events(p)
    assert ev[0] == (5, "pending", "growing", "n1 chat", None)
    assert ev[1] == (7, "firing", "growing", "n1 chat", None)
    assert ev[2][1:] == ("resolved", "growing", "n1 chat", "condition cleared")
    fired = p.all_events()[1]
    assert fired.value == pytest.approx(60.0)
    assert fired.summary == ("svc.queue_len of vllm service chat (acme/llm-70b) on n1 changes "
                             "by +60/min over 10s (> +30/min)")


def test_trend_ends_when_the_service_goes_and_a_gap_moves_nothing() -> None:
    queue = " ".join(str(i) for i in range(9)) + " _ _ - -"
    p = play(GROWING, {("n1", "svc.queue_len", "chat"): queue}, models=MODELS)
    assert [(e[1], e[4]) for e in events(p)] == [("pending", None), ("firing", None),
                                                ("resolved", "service gone")]
    assert events(p)[-1][0] == 11


def test_the_default_queue_rule() -> None:
    engine = AlertEngine([r for r in default_rules() if r.name == "queue_growing"])
    # 1 more every 5 s (12 a minute) for two minutes, then flat
    queue = " ".join(str(i // 5) for i in range(120)) + " 24x90"
    p = play("", {("n1", "svc.queue_len", None): queue}, engine=engine)
    ev = events(p)
    assert ev[0][:4] == (30, "pending", "queue_growing", "n1 vllm:8000")
    assert ev[1][:2] == (60, "firing")
    assert ev[2][1] == "resolved" and 150 <= ev[2][0] <= 180
    assert "growing by 12.0 requests a minute over the last 1m" in p.all_events()[1].summary


def test_the_default_queue_rule_takes_a_busy_queue_for_noise_and_growth_for_growth() -> None:
    """A busy queue swinging between 0 and 5 (a new scrape every 5 s) has slopes of a few
    requests a minute both ways over one minute: it must not page. The same queue climbing by
    8 a minute pages, as it did without noise."""
    engine = AlertEngine([r for r in default_rules() if r.name == "queue_growing"])
    rng = random.Random(11)
    swings = [rng.randrange(0, 6) for _ in range(360)]  # half an hour of scrapes
    noise = " ".join(str(v) for v in swings for _ in range(5))
    p = play("", {("n1", "svc.queue_len", None): noise}, engine=engine)
    assert [e for e in events(p) if e[1] == "firing"] == []
    climb = " ".join(str(v + k * 2 // 3) for k, v in enumerate(swings[:60]) for _ in range(5))
    p = play("", {("n1", "svc.queue_len", None): climb}, engine=AlertEngine(
        [r for r in default_rules() if r.name == "queue_growing"]))
    assert [e[1] for e in events(p)][:2] == ["pending", "firing"]
    # the rule alone, without min_r2, paged on the noise: what min_r2 is for
    bare = parse_rules('[[rule]]\nname = "q"\nkind = "trend"\nmetric = "svc.queue_len"\n'
                       'window = "1m"\nthreshold = 1\nfor = "30s"\n')[0]
    p = play("", {("n1", "svc.queue_len", None): noise}, engine=AlertEngine(bare))
    assert len([e for e in events(p) if e[1] == "firing"]) >= 2


def test_trend_on_a_node_metric_and_per_gpu() -> None:
    rules = """
[[rule]]
name = "cpu_climbing"
kind = "trend"
metric = "cpu.util_pct"
window = "1m"
threshold = 5

[[rule]]
name = "gpu_cooling"
kind = "trend"
metric = "gpu.temp_c"
window = "20s"
op = "<"
threshold = -20
"""
    cpu = " ".join(str(10 + i / 6) for i in range(60))  # +10 a minute
    temp = " ".join(str(80 - i) for i in range(20))  # -60 a minute
    p = play(rules, {("n1", "cpu.util_pct", None): cpu, ("n1", "gpu.temp_c", 1): temp,
                     ("n1", "gpu.temp_c", 0): "50x20"})
    first = {}
    for e in p.all_events():
        first.setdefault((e.rule, str(e.target)), e)
    assert set(first) == {("cpu_climbing", "n1"), ("gpu_cooling", "n1 gpu1")}
    assert first[("cpu_climbing", "n1")].value == pytest.approx(10.0)
    assert first[("cpu_climbing", "n1")].t == 1030.0  # half the window of points
    assert first[("gpu_cooling", "n1 gpu1")].value == pytest.approx(-60.0)


def test_slope_matches_least_squares_over_a_long_run() -> None:
    rng = random.Random(3)
    w = Slope(30.0)
    pts: list[tuple[float, float]] = []
    t = 1.7e9
    for i in range(5000):
        t += rng.uniform(0.5, 1.5)
        v = 1e9 + 3.0 * (t - 1.7e9) + rng.gauss(0, 50)
        got = w.push(t, v)
        pts = [(a, b) for a, b in [*pts, (t, v)] if a > t - 30.0]
        if i % 97 == 0 and got is not None:
            n = len(pts)
            mt = math.fsum(a for a, _ in pts) / n
            mv = math.fsum(b for _, b in pts) / n
            want = math.fsum((a - mt) * (b - mv) for a, b in pts) / math.fsum(
                (a - mt) ** 2 for a, _ in pts)
            assert got == pytest.approx(want, rel=1e-6, abs=1e-6)
            var_v = math.fsum((b - mv) ** 2 for _, b in pts)
            var_t = math.fsum((a - mt) ** 2 for a, _ in pts)
            assert w.r2() == pytest.approx(want * want * var_t / var_v, rel=1e-6)
    assert w.n == len(pts)
    flat = Slope(10.0)
    for k in range(12):
        flat.push(float(k), 7.0)
    assert flat.slope() == 0.0 and flat.r2() == 0.0  # a level line explains nothing
    assert Slope(10.0).push(1.0, 5.0) is None  # one point: no slope


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(("text", "line", "message"), [
    ('[[rule]]\nname = "a"\nkind = "trend"\nmetric = "svc.queue_len"\n', 1,
     "missing 'threshold'"),
    ('[[rule]]\nname = "a"\nkind = "trend"\nmetric = "svc.queue_len"\nthreshold = 1\n'
     'window = "0s"\n', 6, "'window': must be above 0"),
    ('[[rule]]\nname = "a"\nkind = "trend"\nmetric = "svc.queue_len"\nthreshold = 1\n'
     'min_r2 = 1.5\n', 6, "'min_r2' must be a number from 0 up to (not including) 1"),
    ('[[rule]]\nname = "a"\nmetric = "gpu.util_pct"\nthreshold = 1\nmin_r2 = 0.5\n', 5,
     "min_r2"),
    ('[[rule]]\nname = "a"\nmetric = "gpu.util_pct"\nthreshold = 1\nmin_requests = 5\n', 5,
     "'min_requests' applies to service latency and error-rate metrics"),
    ('[[rule]]\nname = "a"\nmetric = "svc.latency_p95_s"\nthreshold = 1\n'
     'min_requests = -1\n', 5, "'min_requests' must be a whole number"),
    ('[[rule]]\nname = "a"\nmetric = "gpu.util_pct"\nthreshold = 1\nscope = "service"\n', 5,
     "a gpu metric can be checked per gpu or per node, not per service"),
    ('[[rule]]\nname = "a"\nmetric = "svc.up"\nthreshold = 1\nscope = "pods"\n', 5,
     "'scope' must be \"node\", \"gpu\", \"proc\" or \"service\""),
    ('[[rule]]\nname = "a"\nmetric = "svc.up"\nthreshold = 1\nagg = "sum"\n', 5,
     "'agg' needs scope = \"node\""),
    ('[[rule]]\nname = "a"\nmetric = "svc.up"\nthreshold = 1\nlabels = { service = "x" }\n',
     5, "'service' is set by the engine"),
])
def test_errors_point_at_their_line(text: str, line: int, message: str) -> None:
    _, errors, _ = parse_rules(text, "f.toml")
    assert errors and errors[0].line == line and message in errors[0].message, errors


# ---------------------------------------------------------------------------- sinks


def test_a_service_alert_round_trips_through_the_log_and_silences() -> None:
    p = play(SLOW, {("n1", "svc.latency_p95_s", "chat"): "3x4",
                    ("n1", "svc.latency_p95_s", "code"): "3x4"}, models=MODELS)
    fired = [e for e in p.all_events() if e.state is AlertState.FIRING]
    back = event_from_record(fired[0].to_dict())
    assert back is not None and back.target == fired[0].target
    assert back.annotations == fired[0].annotations
    # restored into a new engine: kept under its service, not re-raised
    engine = AlertEngine(parse_rules(SLOW)[0])
    assert engine.restore([back], 2000.0) == []
    (alert,) = engine.active()
    assert alert.target == Target("n1", service="chat") and alert.state is AlertState.FIRING
    store = SilenceStore(None)
    s = store.silence("slow", fired[0].target, 60.0, 0.0)
    assert store.silenced("slow", Target("n1", service="chat"), 1.0) is s
    assert store.silenced("slow", Target("n1", service="code"), 1.0) is None
    assert s.describe() == "slow on n1 chat"


def test_a_source_with_node_level_service_figures_only_is_watched_per_node() -> None:
    """The Prometheus source lists no services, only the node's svc.* values: the service
    rules still watch them, attached to the node."""
    from autoglm_tui.analysis.state import FleetState
    from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived

    from .samples import hello, sample

    engine = AlertEngine([r for r in default_rules() if r.name == "latency_p95_high"])
    state = FleetState()
    state.apply(NodeJoined(0.0, "n1"))
    state.apply(HelloReceived(0.0, "n1", hello("n1", gpus=0)))
    out = []
    for i in range(12):
        t = 10.0 + i
        changes = state.apply(SampleReceived(t, "n1", sample(t, i + 1, gpus=0),
                                             derived={("svc.latency_p95_s", None): 2.5}))
        out += engine.evaluate(state, t, changes)
    assert state.nodes["n1"].services == {}
    assert [(e.state.value, e.target) for e in out] == [("pending", Target("n1")),
                                                        ("firing", Target("n1"))]
    assert out[1].summary == ("P95 latency of inference service (all) (?) on n1 is 2.50s "
                              "(> 2s)")
    # a service down there pages as well, saying the source gives no reason
    down = AlertEngine([r for r in default_rules() if r.name == "service_down"])
    paged = []
    for i in range(12, 50):
        t = 10.0 + i
        changes = state.apply(SampleReceived(t, "n1", sample(t, i + 1, gpus=0),
                                             derived={("svc.up", None): 0.0}))
        paged += [e for e in down.evaluate(state, t, changes) if e.state is AlertState.FIRING]
    assert [e.target for e in paged] == [Target("n1")]
    assert paged[0].summary == ("inference service (all) (?) on n1 is down: reported down, no "
                                "reason given by the source")
