"""Property tests: random series with gaps and stale points never make the engine raise, and
every alert moves only along Prometheus' states."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoglm_tui.alerting.rule_files import default_rules
from autoglm_tui.analysis.alerts import AlertEngine

from .alertseries import play

RULES = """
[[rule]]
name = "gpu_hot"
metric = "gpu.util_pct"
threshold = 80
for = "2s"
keep_firing_for = "1s"

[[rule]]
name = "gpu_anomaly"
kind = "zscore"
metric = "gpu.util_pct"
window = "8s"
min_samples = 3
min_std = 0.5

[[rule]]
name = "gpu_peer"
kind = "peer"
metric = "gpu.util_pct"
group = "node"
min_peers = 1
min_std = 1

[[rule]]
name = "fleet_cpu_peer"
kind = "peer"
metric = "cpu.util_pct"
group = "fleet"
min_peers = 1

[[rule]]
name = "proc_hot"
metric = "proc.cpu_pct"
threshold = 50
for = "1s"

[[rule]]
name = "proc_anomaly"
kind = "zscore"
metric = "proc.cpu_pct"
window = "5s"
min_samples = 2

[[rule]]
name = "node_max"
metric = "gpu.util_pct"
scope = "node"
agg = "avg"
op = "<="
threshold = 10

[[rule]]
name = "io"
kind = "joint"
when = ["net.util_pct > 50", "disk.await_ms > 20", "gpu.util_pct > 30"]

[[rule]]
name = "down"
kind = "node"
for = "2s"
"""

value = st.one_of(
    st.integers(min_value=0, max_value=100).map(str),
    st.sampled_from(["_", "stale", "0", "100", "1e9"]),
)
proc_value = st.one_of(value, st.just("-"))
series_text = st.lists(value, min_size=1, max_size=30).map(" ".join)
proc_text = st.lists(proc_value, min_size=1, max_size=30).map(" ".join)
keys = st.sampled_from([
    ("n1", "gpu.util_pct", 0), ("n1", "gpu.util_pct", 1), ("n2", "gpu.util_pct", 0),
    ("n1", "cpu.util_pct", None), ("n2", "cpu.util_pct", None), ("n1", "net.util_pct", None),
    ("n1", "disk.await_ms", None), ("n1", "svc.error_rate", None),
    ("n2", "svc.latency_p95_s", None), ("n2", "gpu.mem_used_pct", 3),
])

ALLOWED = {
    None: {"pending", "firing"},
    "pending": {"firing", "inactive"},
    "firing": {"resolved"},
    "inactive": {"pending", "firing"},
    "resolved": {"pending", "firing"},
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(keys, series_text, min_size=1, max_size=6),
    st.dictionaries(st.integers(min_value=1, max_value=4), proc_text, max_size=3),
    st.floats(min_value=0.25, max_value=5),
)
def test_random_series_never_raise_and_states_are_valid(
    series: dict, procs: dict[int, str], interval: float  # type: ignore[type-arg]
) -> None:
    series = dict(series)
    for pid, text in procs.items():
        series[("n1", "proc.cpu_pct", pid)] = text
    from autoglm_tui.analysis.alerts import parse_rules

    rules = parse_rules(RULES)[0] + default_rules()
    p = play("", series, interval=interval, engine=AlertEngine(rules))
    last: dict[str, str | None] = {}
    for e in p.all_events():
        prev = last.get(e.fingerprint)
        assert e.state.value in ALLOWED[prev], (e.fingerprint, prev, e.state.value)
        last[e.fingerprint] = e.state.value
        assert e.started_at <= e.t
        if e.state.value == "firing":
            assert e.fired_at is not None and e.t - e.started_at >= 0
        assert "\x1b" not in e.summary
        e.to_dict()  # JSON-ready
    # what the views report agrees with the last event of each alert
    for a in p.engine.active():
        assert last.get(a.fingerprint) == a.state.value


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=5), st.floats(min_value=-1e12, max_value=1e12)),
        min_size=1, max_size=120,
    ),
    st.floats(min_value=1, max_value=60),
    st.floats(min_value=0, max_value=100),
)
def test_window_matches_brute_force(
    steps: list[tuple[float, float]], window_s: float, phase: float
) -> None:
    import math

    from autoglm_tui.analysis.alerts.windows import Window

    w = Window(window_s, nb=6, phase=phase)
    width = window_s / 6
    seen: list[tuple[int, float]] = []
    t = 1000.0
    for dt, v in steps:
        t += dt
        b = int((t + w.phase) // width)
        n = w.push(t, v)
        base = [x for bid, x in seen if b - 6 + 1 <= bid < b]
        assert n == len(base)
        if base:
            mean = sum(base) / len(base)
            std = math.sqrt(sum((x - mean) ** 2 for x in base) / len(base))
            recent = [abs(x) for bid, x in seen if bid >= b - 2 * 6]
            scale = max(1.0, *recent)
            assert abs(w.mean - mean) <= 1e-6 * scale
            assert abs(w.std - std) <= 1e-4 * scale
        seen.append((b, v))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=4),
                  st.lists(st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6)),
                           min_size=3, max_size=3),
                  st.integers(min_value=0, max_value=5)),
        min_size=1, max_size=100,
    ),
    st.floats(min_value=1, max_value=60),
    st.integers(min_value=1, max_value=4),
    st.floats(min_value=0, max_value=10),
    st.sampled_from(["both", "above", "below"]),
)
def test_block_window_matches_brute_force(
    steps: list, window_s: float, min_samples: int, min_std: float,  # type: ignore[type-arg]
    direction: str,
) -> None:
    """Counts, mean, deviation and bands against a recount from scratch; each row is added
    as a reference into a column shared with other nodes (at an offset in it)."""
    import math

    from autoglm_tui.analysis.alerts import Rule
    from autoglm_tui.analysis.alerts.windows import Block

    rule = Rule(name="z", kind="zscore", metric="gpu.util_pct", min_samples=min_samples,
                min_std=min_std, z=2.5, direction=direction)
    blk = Block((0, 1, 2), window_s, rule, phase=0.0, nb=6)
    width = window_s / 6
    seen: list[tuple[int, list[float | None]]] = []
    t = 1000.0
    for dt, row, offset in steps:
        t += dt
        b = int((t + blk.phase) // width)
        if not blk.start <= t < blk.end:
            blk.roll(t)
        blk.add([7.0] * offset + row + [None], offset)
        for i in range(3):
            base = [r[i] for bid, r in seen if b - 6 < bid < b and r[i] is not None]
            assert blk.n[i] == len(base)
            if not base:
                assert (blk.lo[i], blk.hi[i]) == (-math.inf, math.inf)
                continue
            mean = sum(base) / len(base)
            std = math.sqrt(sum((x - mean) ** 2 for x in base) / len(base))
            recent = [abs(r[i]) for bid, r in seen if bid >= b - 12 and r[i] is not None]
            # The sums hold values shifted by the subject's first value, so rounding follows
            # the shifted values (a first value of -8e5, then values near 0: errors of 1e-4)
            scale = max(1.0, *recent, abs(blk.k[i] or 0.0))
            assert abs(blk.mean[i] - mean) <= 1e-6 * scale
            assert abs(blk.std[i] - std) <= 1e-4 * scale
            sd = max(blk.std[i], min_std)
            if len(base) < min_samples or sd <= 0:
                assert (blk.lo[i], blk.hi[i]) == (-math.inf, math.inf)
            else:
                hi = blk.mean[i] + 2.5 * sd if direction != "below" else math.inf
                lo = blk.mean[i] - 2.5 * sd if direction != "above" else -math.inf
                assert (blk.lo[i], blk.hi[i]) == (lo, hi)
        seen.append((b, row))
