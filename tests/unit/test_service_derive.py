"""Service figures from raw scrapes: quantiles, windows, restarts, node-level values (pure)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from autoglm_tui.analysis.quantiles import histogram_quantile, quantile, quantiles
from autoglm_tui.analysis.services import ServiceTracker, gpus_of
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived
from autoglm_tui.model import Histogram, ProcGpuUse, ProcSample, ServiceSample

from .samples import hello, sample

BOUNDS = (0.1, 0.5, 1.0)


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    counts = (10.0, 60.0, 90.0, 100.0)
    assert histogram_quantile(0.5, BOUNDS, counts) == (pytest.approx(0.42), False)
    assert histogram_quantile(0.9, BOUNDS, counts) == (1.0, False)
    assert histogram_quantile(0.05, BOUNDS, counts) == (pytest.approx(0.05), False)  # from 0
    assert histogram_quantile(0.95, BOUNDS, counts) == (1.0, True)  # in +Inf: "> 1.0"
    assert histogram_quantile(0.5, BOUNDS, (0.0, 0.0, 0.0, 0.0)) is None  # nothing observed
    assert histogram_quantile(0.5, (), (5.0,)) is None  # averages only: no quantile
    assert histogram_quantile(0.5, (0.0, 1.0), (6.0, 8.0, 10.0)) == (0.0, False)
    # A dip in cumulative counts (torn read) is flattened, never a negative bucket.
    assert histogram_quantile(0.5, BOUNDS, (10.0, 5.0, 90.0, 100.0))[0] == pytest.approx(0.75)


def test_quantiles_at_once_are_each_quantile() -> None:
    """`quantiles` checks the counts once and gives what `quantile` gives for each q, also for
    dipping counts, a NaN among them, nothing observed, no bounds and a q out of range."""
    qs = (0.0, 0.05, 0.5, 0.9, 0.95, 0.99, 1.0, 1.5, -0.1)
    cases = [((10.0, 60.0, 90.0, 100.0), BOUNDS), ((10.0, 5.0, 90.0, 100.0), BOUNDS),
             ((10.0, math.nan, 90.0, 100.0), BOUNDS), ((0.0, 0.0, 0.0, 0.0), BOUNDS),
             ((5.0,), ()), ((6.0, 8.0, 10.0), (0.0, 1.0)), ((1.0, 2.0), BOUNDS)]
    for counts, bounds in cases:  # (repr: a NaN value is the same NaN on both sides)
        assert repr(quantiles(qs, bounds, counts)) == repr([quantile(q, bounds, counts)
                                                            for q in qs])


def svc(t: float, n: float, *, ok: bool = True, gen: float | None = None,
        err: float = 0.0, bounds: tuple[float, ...] = BOUNDS,
        counts: tuple[float, ...] | None = None, **kw: object) -> ServiceSample:
    """A vLLM-like scrape after `n` requests, all of them in the 0.1-0.5 s bucket."""
    if not ok:
        return ServiceSample("http://127.0.0.1:8000/metrics", "vllm", False,
                             error="connection refused (nothing listening)", port=8000, t=t)
    if counts is None:
        counts = (0.0, n, n, n)
    kw.setdefault("waiting", 1.0)
    return ServiceSample(
        "http://127.0.0.1:8000/metrics", "vllm", True, model="m", port=8000, pid=10, t=t,
        running=2.0, kv_cache_usage=0.25,
        generation_tokens=100.0 * n if gen is None else gen, prompt_tokens=10.0 * n,
        requests_finished=n, requests_error=err, requests_aborted=0.0,
        e2e=Histogram(bounds, counts, 0.3 * n), **kw,  # type: ignore[arg-type]
    )


def feed(tracker: ServiceTracker, scrapes: list[ServiceSample], every: float = 1.0) -> None:
    """Each scrape repeated in samples every second until the next one (as the sampler does)."""
    t = 0.0
    for i, s in enumerate(scrapes):
        end = scrapes[i + 1].t if i + 1 < len(scrapes) else (s.t or 0.0) + every
        while t < (end or 0.0):
            tracker.update(dataclasses.replace(sample(t, int(t) + 1), services=(s,)), t)
            t += every


def test_rates_error_rate_and_quantiles_over_windows() -> None:
    tr = ServiceTracker(window_s=60, rate_window_s=15)
    feed(tr, [svc(5.0 * i, 20.0 * i, err=float(i // 2)) for i in range(20)])
    v = tr.views["vllm:8000"]
    assert v.up and v.model == "m" and v.kv_cache_pct == 25.0 and v.running == 2.0
    assert v.tokens_per_s == pytest.approx(400.0)  # 20 requests x 100 tokens per 5 s
    assert v.prompt_tokens_per_s == pytest.approx(40.0)
    assert v.requests_per_s == pytest.approx(4.0)
    # 6 errors over the 240 requests of the last 60 s
    assert v.error_rate_pct == pytest.approx(100.0 * 6 / 240)
    assert v.e2e.count == 240 and not v.e2e.few
    assert 0.1 < v.e2e.p50.value < v.e2e.p95.value <= 0.5 and not v.e2e.p95.above
    assert v.e2e.avg == pytest.approx(0.3)
    assert v.window_s == 60.0
    values, gone = tr.update(dataclasses.replace(sample(99.0, 200),
                                                 services=(svc(95.0, 380.0),)), 99.0)
    assert gone == set()
    assert values[("svc.tokens_per_s", "vllm:8000")] == values[("svc.tokens_per_s", None)]


def test_only_the_window_counts_old_slow_requests_age_out() -> None:
    tr = ServiceTracker(window_s=60, rate_window_s=15)
    # 100 slow requests (in +Inf) early, then only fast ones for over a minute.
    scrapes = [svc(0.0, 0.0, counts=(0.0, 0.0, 0.0, 0.0))]
    scrapes.append(svc(5.0, 100.0, counts=(0.0, 0.0, 0.0, 100.0)))
    for i in range(2, 20):
        n = 100.0 + 10 * (i - 1)
        scrapes.append(svc(5.0 * i, n, counts=(n - 100.0, n - 100.0, n - 100.0, n)))
    feed(tr, scrapes[:3])
    early = tr.views["vllm:8000"].e2e
    assert early.p95.above and early.p95.value == 1.0  # shown as "> 1 s"
    feed(tr, scrapes)
    late = tr.views["vllm:8000"].e2e
    assert not late.p95.above and late.p95.value <= 0.1 and late.count == 120


def test_a_restart_is_no_spike_and_no_negative() -> None:
    tr = ServiceTracker(window_s=60, rate_window_s=15)
    scrapes = [svc(5.0 * i, 20.0 * i) for i in range(10)]
    # The server restarts between 45 s and 50 s: its counters start again from zero.
    scrapes += [svc(50.0 + 5.0 * i, 20.0 * (i + 1)) for i in range(10)]
    seen: list[float] = []
    t = 0.0
    for i, s in enumerate(scrapes):
        end = scrapes[i + 1].t if i + 1 < len(scrapes) else s.t + 1
        while t < end:
            values, _ = tr.update(dataclasses.replace(sample(t, int(t) + 1), services=(s,)), t)
            rate = values[("svc.tokens_per_s", "vllm:8000")]
            if rate is not None:
                seen.append(rate)
            t += 1.0
    assert min(seen) >= 0 and max(seen) <= 400.0 + 1e-6
    v = tr.views["vllm:8000"]
    assert v.tokens_per_s == pytest.approx(400.0) and v.e2e.count == 240


def test_new_bucket_bounds_start_the_histogram_afresh() -> None:
    tr = ServiceTracker()
    feed(tr, [svc(0.0, 0.0), svc(5.0, 50.0),
              svc(10.0, 10.0, bounds=(1.0, 2.0), counts=(0.0, 10.0, 10.0))])
    v = tr.views["vllm:8000"]
    assert v.e2e.count == 10 and 1.0 < v.e2e.p50.value <= 2.0


def test_few_requests_are_marked_and_none_is_no_figure() -> None:
    tr = ServiceTracker(min_requests=20)
    feed(tr, [svc(0.0, 0.0), svc(5.0, 3.0)])
    e2e = tr.views["vllm:8000"].e2e
    assert e2e.few and e2e.count == 3 and e2e.p95 is not None
    feed(tr, [svc(0.0, 0.0), svc(5.0, 0.0)])
    idle = ServiceTracker()
    feed(idle, [svc(0.0, 5.0), svc(5.0, 5.0)])
    v = idle.views["vllm:8000"]
    assert v.e2e.p95 is None and v.error_rate_pct is None  # no request finished: unknown
    assert v.tokens_per_s == 0.0  # but the counters did not move: zero is true here


def test_first_scrape_has_gauges_but_no_rates() -> None:
    tr = ServiceTracker()
    values, _ = tr.update(dataclasses.replace(sample(0.0, 1), services=(svc(0.0, 5.0),)), 0.0)
    assert values[("svc.up", "vllm:8000")] == 1.0
    assert values[("svc.requests_running", "vllm:8000")] == 2.0
    assert values[("svc.tokens_per_s", "vllm:8000")] is None


def test_a_down_service_has_a_reason_and_no_figures_and_rates_resume_across_the_gap() -> None:
    tr = ServiceTracker(rate_window_s=15)
    feed(tr, [svc(0.0, 0.0), svc(5.0, 20.0), svc(10.0, 0.0, ok=False)])
    v = tr.views["vllm:8000"]
    assert not v.up and "refused" in v.error and v.tokens_per_s is None
    assert v.model == "m"  # still named after its last good scrape
    values, _ = tr.update(dataclasses.replace(sample(11.0, 12), services=(v_ := svc(10.0, 0.0,
                                              ok=False),)), 11.0)
    assert values[("svc.up", "vllm:8000")] == 0.0 and values[("svc.up", None)] == 0.0
    assert values[("svc.latency_p95_s", "vllm:8000")] is None and v_.error
    feed(tr, [svc(15.0, 60.0), svc(20.0, 80.0)])  # 20 requests per 5 s all along
    assert tr.views["vllm:8000"].up
    assert tr.views["vllm:8000"].tokens_per_s == pytest.approx(400.0)


def test_node_values_sum_rates_and_take_the_worst_latency() -> None:
    tr = ServiceTracker()
    a = [svc(5.0 * i, 20.0 * i, name="a") for i in range(4)]
    b = [svc(5.0 * i, 10.0 * i, name="b", counts=(0.0, 0.0, 10.0 * i, 10.0 * i))
         for i in range(4)]
    for i in range(4):
        values, _ = tr.update(dataclasses.replace(sample(5.0 * i, i + 1),
                                                  services=(a[i], b[i])), 5.0 * i)
    assert list(tr.views) == ["a", "b"]
    assert values[("svc.tokens_per_s", None)] == pytest.approx(
        values[("svc.tokens_per_s", "a")] + values[("svc.tokens_per_s", "b")])
    assert values[("svc.latency_p95_s", None)] == values[("svc.latency_p95_s", "b")] > 0.5
    assert values[("svc.queue_len", None)] == 2.0 and values[("svc.up", None)] == 1.0


def test_unchanged_scrapes_cost_no_derivation() -> None:
    tr = ServiceTracker()
    s = svc(0.0, 5.0)
    first, _ = tr.update(dataclasses.replace(sample(0.0, 1), services=(s,)), 0.0)
    version = tr.version
    again, _ = tr.update(dataclasses.replace(sample(1.0, 2), services=(s,)), 1.0)
    assert again is first and tr.version == version


def test_duplicate_ids_are_made_unique() -> None:
    tr = ServiceTracker()
    tr.update(dataclasses.replace(sample(0.0, 1), services=(svc(0.0, 1.0), svc(0.0, 2.0))), 0.0)
    assert list(tr.views) == ["vllm:8000", "vllm:8000#2"]


def test_gpus_of_a_server_are_its_descendants_gpus() -> None:
    def proc(pid: int, ppid: int, *gpus: int) -> ProcSample:
        return ProcSample(pid, ppid, "u", "python", "x", 1.0, 1, 1.0,
                          gpus=tuple(ProcGpuUse(g, 1) for g in gpus))

    procs = (proc(10, 1), proc(11, 10, 0), proc(12, 10, 1, 2), proc(13, 12, 3), proc(20, 1, 5))
    assert gpus_of(10, procs) == (0, 1, 2, 3)
    assert gpus_of(20, procs) == (5,) and gpus_of(None, procs) == () and gpus_of(99, procs) == ()


def test_fleet_state_keeps_per_service_history_and_forgets_a_vanished_service() -> None:
    st = FleetState()
    st.apply(NodeJoined(0.0, "n1"))
    st.apply(HelloReceived(0.0, "n1", hello("n1")))
    for i in range(12):
        s = svc(5.0 * (i // 5), 20.0 * (i // 5))
        st.apply(SampleReceived(float(i), "n1", dataclasses.replace(sample(float(i), i + 1),
                                                                    services=(s,))))
    node = st.nodes["n1"]
    assert node.services["vllm:8000"].up
    points = node.history.points(("svc.tokens_per_s", "vllm:8000"))
    assert [v for _, v in points][-1] == pytest.approx(400.0)
    assert node.metric("svc.requests_running", "vllm:8000") == 2.0
    st.apply(SampleReceived(12.0, "n1", sample(12.0, 13)))  # the service is gone
    assert node.services == {}
    kept = node.history.keys()
    assert ("svc.tokens_per_s", "vllm:8000") not in kept
    assert node.metric("svc.tokens_per_s") is None


def test_metric_names_are_declared_for_every_value() -> None:
    from autoglm_tui.metrics import METRICS, Scope, scope_of

    tr = ServiceTracker()
    values, _ = tr.update(dataclasses.replace(sample(0.0, 1), services=(svc(0.0, 1.0),)), 0.0)
    for name, _ in values:
        assert METRICS[name].scope is Scope.SERVICE
        assert scope_of(name) is Scope.SERVICE  # rules evaluate them per service
    assert not math.isnan(values[("svc.kv_cache_pct", None)])


def test_queries_read_service_figures() -> None:
    from autoglm_tui.analysis.query import NodeSubject, parse

    st = FleetState()
    st.apply(NodeJoined(0.0, "n1"))
    for i in range(3):
        s = svc(5.0 * i, 20.0 * i)
        st.apply(SampleReceived(5.0 * i, "n1", dataclasses.replace(sample(5.0 * i, i + 1),
                                                                   services=(s,))))
    node = NodeSubject(st.nodes["n1"])
    assert parse("kv>20 & queue>=1 & svc.tokens_per_s>100").matches(node)
    assert not parse("svc.kv_cache_pct>90").matches(node)
    assert parse("svc.up=1 & latency<0.5").matches(node)


def test_figures_that_appear_later_count_from_zero() -> None:
    """TGI's Rust exporter writes a counter or histogram only after its first event."""
    tr = ServiceTracker()
    first = dataclasses.replace(svc(0.0, 0.0), e2e=None, generation_tokens=None)
    feed(tr, [first, svc(5.0, 10.0), svc(10.0, 20.0)])
    v = tr.views["vllm:8000"]
    assert v.e2e.count == 20 and v.tokens_per_s == pytest.approx(200.0)


def test_finished_requests_behind_the_error_rate() -> None:
    """The view says how many finished requests the error rate rests on (rules with
    `min_requests` read it)."""
    tr = ServiceTracker(window_s=60)
    feed(tr, [svc(5.0 * i, 20.0 * i) for i in range(4)])
    v = tr.views["vllm:8000"]
    assert v.finished is not None and v.finished > 0
    assert v.error_rate_pct is not None


def test_rules_on_service_figures_per_service_and_per_node() -> None:
    """A threshold rule on a svc.* metric alerts per service; a joint rule mixing a service
    and a GPU metric is checked per node, each over its members."""
    from .alertseries import play

    rules = """
[[rule]]
name = "slow"
metric = "svc.latency_p95_s"
op = ">"
threshold = 2
for = "3s"

[[rule]]
name = "slow_and_busy"
kind = "joint"
when = ["svc.latency_p95_s > 2", "gpu.util_pct > 90"]
"""
    p = play(rules, {("n1", "svc.latency_p95_s", None): "0.5 3x8",
                     ("n1", "gpu.util_pct", 0): "50x5 95x4"})
    firing = {name: t for t, active in p.active.items() for name, _, state in active
              if state == "firing"}
    assert {n for n, _, _ in set().union(*p.active.values())} == {"slow", "slow_and_busy"}
    first = {name: min(t for t, active in p.active.items()
                       if any(a[0] == name and a[2] == "firing" for a in active))
             for name in firing}
    assert first["slow"] == 1004.0  # above from step 1, held for 3 s
    assert first["slow_and_busy"] == 1005.0  # both hold from step 5 (the GPU at 95%)
    targets = {(n, target) for active in p.active.values() for n, target, _ in active}
    assert targets == {("slow", "n1 vllm:8000"), ("slow_and_busy", "n1")}


def test_a_copy_of_the_state_goes_on_as_the_original_would() -> None:
    """A replay checkpoint (FleetState.clone) holds each node's service windows too: fed the
    same scrapes afterwards, the copy and the original show the same figures, and what the
    original is fed after the copy never shows in the copy."""
    def fed(st: FleetState, steps: range) -> None:
        for i in steps:
            s = svc(5.0 * (i // 5), 20.0 * (i // 5) + (30.0 if i >= 40 else 0.0))
            st.apply(SampleReceived(float(i), "n1", dataclasses.replace(
                sample(float(i), i + 1), services=(s,))))

    st = FleetState()
    st.apply(NodeJoined(0.0, "n1"))
    st.apply(HelloReceived(0.0, "n1", hello("n1")))
    fed(st, range(30))
    copy = st.clone()
    before = copy.nodes["n1"].services["vllm:8000"]
    fed(st, range(30, 60))
    assert copy.nodes["n1"].services["vllm:8000"] == before
    fed(copy, range(30, 60))
    a, b = st.nodes["n1"], copy.nodes["n1"]
    assert b.services == a.services and b.metrics == a.metrics
    key = ("svc.requests_per_s", "vllm:8000")
    assert b.history.points(key) == a.history.points(key)
