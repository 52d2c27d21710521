"""IO correlation: Pearson over aligned windows with gaps, and the seed's scenario hints."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from autoglm_tui.analysis.correlation import (
    aligned,
    correlate,
    describe_r,
    io_window,
    pearson,
    scenario_hints,
)
from autoglm_tui.analysis.history import NodeHistory

from .alertseries import _Counters, build_sample, expand


def test_pearson_known_values() -> None:
    assert pearson([1, 2, 3, 4], [2, 4, 6, 8]) == 1.0
    assert pearson([1, 2, 3, 4], [8, 6, 4, 2]) == -1.0
    r = pearson([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    assert r is not None and abs(r - 0.8) < 1e-12
    assert pearson([1, 1, 1], [1, 2, 3]) is None  # flat: undefined, not 0
    assert pearson([1], [2]) is None


def test_aligned_drops_gaps_on_either_side() -> None:
    a = [(1.0, 1.0), (2.0, None), (3.0, 3.0), (4.0, 4.0), (5.0, float("nan"))]
    b = [(1.0, 10.0), (2.0, 20.0), (3.0, None), (4.0, 40.0), (5.0, 50.0), (6.0, 60.0)]
    assert aligned(a, b) == ([1.0, 4.0], [10.0, 40.0])
    assert correlate(a, b) == (None, 2)  # fewer than 5 aligned points: no r


def _history(series: dict[str, str]) -> NodeHistory:
    """A node history built through derive() from value tokens (counters integrated)."""
    from autoglm_tui.analysis.derive import derive

    h = NodeHistory(300)
    c = _Counters()
    toks = {k: expand(v) for k, v in series.items()}
    n = max(len(v) for v in toks.values())
    prev = None
    for i in range(n):
        t = 1000.0 + i
        vals = {(k, None): v[i] for k, v in toks.items()}
        s = build_sample(t, c, vals, 1.0)
        h.append(t, derive(s, prev))
        prev = s
    return h


def test_io_window_correlates_network_and_disk() -> None:
    net = "10 20 30 40 50 60 70 80 85 90"
    wait = "5 6 7 8 9 10 11 12 13 14"
    h = _history({"net.util_pct": net, "disk.await_ms": wait})
    w = io_window(h, 1000.0, 1009.0, link_mbps=1000)
    assert len(w.times) == 10
    assert w.net_util_pct[0] is None  # first sample: no rate yet
    assert w.net_util_pct[1] is not None and abs(w.net_util_pct[1] - 20) < 1e-6
    assert w.r_net_await is not None and w.r_net_await > 0.99
    assert w.disk_await_ms[-1] == 14.0
    assert describe_r(w.r_net_await) == "strong +"


def test_write_amplification_hint() -> None:
    iops = [100.0] * 10 + [900.0]
    hints = scenario_hints([20.0] * 11, iops, [2.0] * 10 + [60.0])
    assert [h.name for h in hints] == ["write amplification"]
    assert "900 IOPS" in hints[0].evidence and "60 ms" in hints[0].evidence
    # the network being busy, or the disk being fast, is not this pattern
    assert scenario_hints([70.0] * 11, iops, [2.0] * 10 + [60.0]) == []
    assert scenario_hints([20.0] * 11, iops, [2.0] * 11) == []


def test_saturation_hint_needs_rising_latency() -> None:
    util = [95.0] * 12
    rising = [5, 5, 6, 5, 8, 10, 14, 18, 25, 30, 32, 35]
    hints = scenario_hints(util, [200.0] * 12, rising)
    assert [h.name for h in hints] == ["saturation"]
    assert "->" in hints[0].evidence
    flat = [5.0] * 12
    assert scenario_hints(util, [200.0] * 12, flat) == []
    assert scenario_hints([50.0] * 12, [200.0] * 12, rising) == []


def test_hints_with_no_data_are_empty() -> None:
    assert scenario_hints([], [], []) == []
    assert scenario_hints([None, None], [None], [None]) == []


finite = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(finite, finite), max_size=60))
def test_correlation_never_raises_and_stays_in_range(pairs: list) -> None:  # type: ignore[type-arg]
    a = [(float(i), x) for i, (x, _) in enumerate(pairs)]
    b = [(float(i), y) for i, (_, y) in enumerate(pairs)]
    r, n = correlate(a, b, min_points=2)
    assert n <= len(pairs)
    assert r is None or (-1.0 <= r <= 1.0 and not math.isnan(r))
    scenario_hints([x for x, _ in pairs], [y for _, y in pairs], [x for x, _ in pairs])
