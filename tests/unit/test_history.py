"""Two-tier history: full-resolution newest points, older ones as bucket mean and max."""

import math
import random
from array import array

import pytest

from autoglm_tui.analysis.history import NodeHistory, SplitHistory

K = ("gpu.util_pct", 0)
J = ("gpu.power_w", 0)


def tiered(capacity: int = 4, bucket_s: float = 10.0, buckets: int = 3) -> NodeHistory:
    return NodeHistory(capacity, bucket_s, buckets)


def test_full_fine_ring_moves_its_oldest_bucket_to_one_coarse_point() -> None:
    h = tiered(capacity=4)
    for t, v in [(10.0, 1.0), (12.0, 5.0), (14.0, 3.0), (21.0, 7.0)]:
        h.append(t, {K: v})
    assert len(h) == 4 and h.fine_since == 10.0  # nothing consolidated yet
    h.append(22.0, {K: 8.0})  # ring full: the points of bucket [10, 20) leave together
    assert h.fine_since == 21.0
    assert h.points(K) == [(10.0, 3.0), (21.0, 7.0), (22.0, 8.0)]  # mean of 1, 5, 3
    assert h.points(K, peak=True) == [(10.0, 5.0), (21.0, 7.0), (22.0, 8.0)]
    assert len(h) == 3
    assert h.latest(K) == 8.0


def test_mean_and_max_leave_gaps_out_and_an_all_gap_bucket_stays_a_gap() -> None:
    h = tiered(capacity=4)
    h.append(0.0, {K: 10.0, J: 300.0})
    h.append(1.0, {J: 310.0})  # K missing: a gap, not zero
    h.append(2.0, {K: 40.0, J: 320.0})
    h.append(10.0, {K: 90.0})  # J missing for all of bucket [10, 20)
    h.append(11.0, {K: 95.0})
    h.append(20.0, {K: 1.0})
    h.append(30.0, {K: 2.0})
    h.append(40.0, {K: 3.0})  # ring full again: bucket [10, 20) leaves
    assert h.points(K) == [(0.0, 25.0), (10.0, 92.5), (20.0, 1.0), (30.0, 2.0), (40.0, 3.0)]
    assert h.points(K, peak=True)[:2] == [(0.0, 40.0), (10.0, 95.0)]
    assert h.points(J) == [(0.0, 310.0), (10.0, None), (20.0, None), (30.0, None),
                           (40.0, None)]
    assert h.points(J, peak=True)[:2] == [(0.0, 320.0), (10.0, None)]
    assert h.values(J) == [310.0]


def test_fine_gaps_stay_gaps_and_a_silent_stretch_makes_no_coarse_point() -> None:
    h = tiered(capacity=3, buckets=5)
    h.append(0.0, {K: 1.0})
    h.append(1.0, {K: 2.0})
    h.append(50.0, {})  # the node was silent for 49 s, then sent a sample without K
    h.append(51.0, {K: 4.0})
    # the silent buckets [10, 50) made nothing: the time axis jumps, as in the fine tier
    assert h.points(K) == [(0.0, 1.5), (50.0, None), (51.0, 4.0)]


def test_series_that_starts_late_has_gaps_in_the_coarse_tier() -> None:
    h = tiered(capacity=2)
    h.append(0.0, {J: 1.0})
    h.append(10.0, {J: 1.0})
    h.append(20.0, {J: 1.0, K: 5.0})  # K appears after bucket [0, 10) was consolidated
    h.append(30.0, {J: 1.0, K: 6.0})
    assert h.points(K) == [(0.0, None), (10.0, None), (20.0, 5.0), (30.0, 6.0)]
    assert h.tail(K, 3) == [None, 5.0, 6.0]


def test_out_of_order_points_are_dropped_in_both_tiers() -> None:
    h = tiered(capacity=3)
    for t in (0.0, 5.0, 10.0, 15.0):
        h.append(t, {K: t})
    h.append(12.0, {K: 99.0})  # older than the newest point: dropped
    h.append(2.0, {K: 99.0})  # older than the fine tier, inside a coarse bucket: dropped too
    assert 99.0 not in h.values(K) and 99.0 not in [v for _, v in h.points(K, peak=True)]
    assert [t for t, _ in h.points(K)] == [0.0, 10.0, 15.0]
    h.append(15.0, {K: 7.0})  # the same time again is accepted
    assert h.points(K)[-2:] == [(15.0, 15.0), (15.0, 7.0)]


def test_coarse_ring_wraps_keeping_the_newest_buckets_in_order() -> None:
    h = tiered(capacity=2, buckets=3)
    for k in range(10):  # one point per bucket: each leaves the fine ring alone
        h.append(10.0 * k, {K: float(k)})
    assert h.points(K) == [(50.0, 5.0), (60.0, 6.0), (70.0, 7.0), (80.0, 8.0), (90.0, 9.0)]
    assert len(h) == 5
    assert h.tail(K, 4) == [6.0, 7.0, 8.0, 9.0]
    assert h.tail(K, 100) == [5.0, 6.0, 7.0, 8.0, 9.0]


def test_since_until_window_spans_both_tiers() -> None:
    h = tiered(capacity=5, buckets=10)
    for t in range(0, 60, 2):  # 2 s apart: five points per bucket
        h.append(float(t), {K: float(t)})
    assert h.fine_since == 50.0
    pts = h.points(K, since=20.0, until=54.0)
    # coarse points stand at their first point's time: buckets from 20 to 40, then fine points
    assert pts == [(20.0, 24.0), (30.0, 34.0), (40.0, 44.0), (50.0, 50.0), (52.0, 52.0),
                   (54.0, 54.0)]
    assert h.points(K, since=21.0, until=31.0, peak=True) == [(30.0, 38.0)]
    assert h.values(K, since=45.0) == [50.0, 52.0, 54.0, 56.0, 58.0]
    assert h.points(K, until=-1.0) == []


def test_single_tier_without_buckets_drops_the_oldest_point() -> None:
    h = NodeHistory(3)
    for t in range(5):
        h.append(float(t), {K: float(t)})
    assert h.points(K) == [(2.0, 2.0), (3.0, 3.0), (4.0, 4.0)]
    assert h.points(K, peak=True) == h.points(K)
    assert h.nbytes() == 3 * 8 + 3 * 4


def test_one_bucket_fuller_than_the_ring_still_keeps_time_moving_forward() -> None:
    h = tiered(capacity=3, bucket_s=10.0, buckets=4)
    for k in range(8):  # eight points in one bucket: more than the fine ring holds
        h.append(k * 0.5, {K: float(k)})
    times = [t for t, _ in h.points(K)]
    assert times == sorted(times) and times[-1] == 3.5
    assert h.points(K)[0] == (0.0, 1.0)  # the first three points: mean of 0, 1, 2
    assert h.latest(K) == 7.0


def test_forget_keys_and_nbytes_cover_both_tiers() -> None:
    h = tiered(capacity=4, buckets=6)
    for t in range(5):  # one point per bucket: the fifth moves the first to the coarse tier
        h.append(10.0 * t, {("proc.cpu_pct", 5): 1.0, ("proc.cpu_pct", 6): 2.0})
    # fine: a time and two floats per point; coarse: a time, two means and two maxima
    assert h.nbytes() == 4 * (8 + 2 * 4) + 1 * (8 + 2 * 2 * 4)
    h.forget(lambda k: k[1] == 5)
    assert h.keys() == [("proc.cpu_pct", 6)]
    assert h.points(("proc.cpu_pct", 5)) == []


def test_bad_tier_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        NodeHistory(0)
    with pytest.raises(ValueError):
        NodeHistory(4, 0.0, 3)
    with pytest.raises(ValueError):
        NodeHistory(4, 10.0, -1)


def reference(
    stream: list[tuple[float, dict]], capacity: int, step: float, buckets: int, key: tuple
) -> tuple[list[tuple[float, float | None]], list[tuple[float, float | None]]]:
    """A plain-list model of the two tiers: (mean points, peak points) of `key`."""
    fine: list[tuple[float, dict]] = []
    coarse: list[tuple[float, float | None, float | None]] = []
    for t, values in stream:
        if fine and t < fine[-1][0]:
            continue
        if len(fine) == capacity:
            b = math.floor(fine[0][0] / step)
            group = [p for p in fine if math.floor(p[0] / step) == b]
            fine = fine[len(group):]
            known = [p[1][key] for p in group if p[1].get(key) is not None]
            known32 = [float(_f32(v)) for v in known]
            mean = _f32(sum(known32) / len(known32)) if known32 else None
            peak = max(known32) if known32 else None
            coarse = [*coarse, (group[0][0], mean, peak)][-buckets:]
        fine.append((t, values))
    tail = [(t, None if v.get(key) is None else _f32(v[key])) for t, v in fine]
    return ([(t, m) for t, m, _ in coarse] + tail, [(t, p) for t, _, p in coarse] + tail)


def _f32(v: float) -> float:
    """`v` as the 32-bit float the history stores."""
    return array("f", [v])[0]


@pytest.mark.parametrize("seed", range(6))
def test_matches_a_plain_list_model_on_random_streams(seed: int) -> None:
    rng = random.Random(seed)
    capacity, step, buckets = rng.randint(2, 12), rng.choice([5.0, 10.0]), rng.randint(1, 6)
    h = NodeHistory(capacity, step, buckets)
    stream: list[tuple[float, dict]] = []
    t = 0.0
    for _ in range(300):
        t += rng.choice([0.5, 1.0, 1.0, 2.0, 37.0])
        at = t - 20.0 if rng.random() < 0.05 else t  # now and then an out-of-order point
        values = {K: rng.uniform(0, 100)} if rng.random() < 0.8 else {}
        stream.append((at, values))
        h.append(at, values)
    means, peaks = reference(stream, capacity, step, buckets, K)
    assert h.points(K) == means
    assert h.points(K, peak=True) == peaks
    assert h.tail(K, 7) == [v for _, v in means[-7:]]


def test_gpu_plot_runs_keep_an_old_spike_and_split_at_an_old_gap() -> None:
    from autoglm_tui.tui.render import plot_runs  # what the GPU screen draws from

    h = tiered(capacity=3, buckets=4)
    for t, v in [(0.0, 50.0), (1.0, 100.0), (2.0, 50.0), (10.0, None), (20.0, 40.0),
                 (30.0, 45.0), (40.0, 47.0)]:
        h.append(t, {K: v})
    assert h.fine_since == 20.0
    runs = plot_runs(h.points(K, peak=True), now=40.0)
    assert runs == [([-40.0], [100.0]), ([-20.0, -10.0, 0.0], [40.0, 45.0, 47.0])]
    assert plot_runs(h.points(K), now=40.0)[0] == ([-40.0], [pytest.approx(200.0 / 3)])


def test_window_reads_both_tiers_like_points_with_nan_gaps() -> None:
    h = tiered(capacity=5, buckets=10)
    gap = ("gpu.util_pct", 3)
    for t in range(0, 60, 2):
        h.append(float(t), {K: float(t), **({gap: 1.0} if t % 4 else {})})
    for since, until in ((20.0, 54.0), (0.0, None), (51.0, 57.0), (45.0, 45.5), (-5.0, 100.0)):
        times, (row, other, unknown) = h.window([K, gap, ("nope", None)], since, until)
        pts = h.points(K, since, until)
        assert times == [t for t, _ in pts]
        assert row == [v for _, v in pts]
        assert unknown is None
        expect = [v for _, v in h.points(gap, since, until)]
        assert [None if x != x else x for x in other] == expect


def test_window_follows_the_fine_ring_across_its_wrap() -> None:
    h = NodeHistory(4)
    for t in range(7):
        h.append(float(t), {K: 10.0 * t})
    times, (row,) = h.window([K], 4.0)
    assert times == [4.0, 5.0, 6.0] and row == [40.0, 50.0, 60.0]
    times, (row,) = h.window([K], 0.0, 5.0)
    assert times == [3.0, 4.0, 5.0] and row == [30.0, 40.0, 50.0]


def _window(h: NodeHistory | SplitHistory, keys: list) -> tuple:
    times, rows = h.window(keys, 0.0, peak=True)
    return times, [None if r is None else [None if v != v else v for v in r] for r in rows]


def _read(h: NodeHistory | SplitHistory, keys: list) -> list:
    return [(h.points(k), h.points(k, peak=True), h.tail(k, 5), h.latest(k), _window(h, [k, K]))
            for k in keys] + [h.keys(), len(h), h.fine_since]


def _is_proc(k: tuple) -> bool:
    return k[0].startswith("proc.")


def _history(kind: str) -> NodeHistory | SplitHistory:
    if kind == "node":
        return tiered(capacity=12, bucket_s=5.0, buckets=6)
    return SplitHistory([NodeHistory(12, 5.0, 6, accept=lambda k: not _is_proc(k)),
                         NodeHistory(6, 5.0, 8, accept=_is_proc)])


@pytest.mark.parametrize("kind", ["node", "split"])
@pytest.mark.parametrize("seed", range(4))
def test_a_clone_is_independent_and_equals_a_history_fed_the_same_points(
    seed: int, kind: str
) -> None:
    """Copies share their chunks (a replay keeps one every few seconds): whatever either side
    does afterwards (new keys, forgotten keys, consolidation) never shows in the other; a split
    history's copy is each part's copy."""
    rng = random.Random(seed)
    keys = [K, J, ("proc.cpu_pct", 7), ("proc.cpu_pct", 8)]

    def point(t: float) -> dict:
        return {k: rng.uniform(0, 100) for k in keys if rng.random() < 0.7}

    stream = []
    t = 0.0
    for _ in range(120):
        t += rng.choice([0.5, 1.0, 1.0, 3.0])
        stream.append((t, point(t)))
    cut = rng.randint(20, 100)
    a = _history(kind)
    for t, v in stream[:cut]:
        a.append(t, v)
    b = a.clone()
    for pa, pb in zip(getattr(a, "parts", [a]), getattr(b, "parts", [b]), strict=True):
        assert all(x is y for x, y in zip(pa._chunks, pb._chunks, strict=True))  # shared
    twin = _history(kind)
    for t, v in stream[:cut]:
        twin.append(t, v)
    before = _read(b, keys)
    for t, v in stream[cut:]:  # a goes on, with a pid forgotten and coming back
        a.append(t, v)
        if rng.random() < 0.1:
            a.forget(lambda k: k == ("proc.cpu_pct", 7))
    assert _read(b, keys) == before  # the copy did not move
    other = [(t + 1000.0, point(t)) for t, _ in stream[cut:]]
    for t, v in other:  # the copy goes its own way
        b.append(t, v)
        twin.append(t, v)
    assert _read(b, keys) == _read(twin, keys)


def test_a_forgotten_key_that_comes_back_starts_a_new_series() -> None:
    h = tiered(capacity=6, bucket_s=10.0, buckets=4)
    pid = ("proc.cpu_pct", 9)
    for t in range(4):
        h.append(float(t), {pid: 50.0, K: 1.0})
    h.forget(lambda k: k == pid)
    assert h.points(pid) == [] and h.latest(pid) is None and h.keys() == [K]
    h.append(4.0, {K: 1.0})
    h.append(5.0, {pid: 7.0, K: 1.0})  # the pid is listed again (or reused)
    assert h.points(pid) == [(t, None) for t in (0.0, 1.0, 2.0, 3.0, 4.0)] + [(5.0, 7.0)]
    assert h.tail(pid, 3) == [None, None, 7.0]


def test_split_history_routes_keys_and_creates_a_series_at_its_first_value() -> None:
    from autoglm_tui.analysis.history import SplitHistory

    gpus = NodeHistory(4, accept=lambda k: not k[0].startswith("proc."))
    procs = NodeHistory(2, accept=lambda k: k[0].startswith("proc."))
    h = SplitHistory([gpus, procs])
    h.append(1.0, {("gpu.power_w", 0): None, ("proc.cpu_pct", 7): 5.0})  # power: unknown
    h.append(2.0, {("gpu.power_w", 0): None, ("proc.cpu_pct", 7): 6.0})
    assert h.points(("gpu.power_w", 0)) == []  # no value yet: no series
    h.append(3.0, {("gpu.power_w", 0): 300.0, ("proc.cpu_pct", 7): 7.0})
    assert h.points(("gpu.power_w", 0)) == [(1.0, None), (2.0, None), (3.0, 300.0)]  # gaps
    assert h.points(("proc.cpu_pct", 7)) == [(2.0, 6.0), (3.0, 7.0)]  # its own, shorter ring
    assert sorted(h.keys()) == [("gpu.power_w", 0), ("proc.cpu_pct", 7)]
    h.forget(lambda k: k[1] == 7)
    assert h.points(("proc.cpu_pct", 7)) == []
    h.append(4.0, {("proc.cpu_pct", 7): 1.0})  # the same key again: a new series
    assert h.points(("proc.cpu_pct", 7)) == [(3.0, None), (4.0, 1.0)]


def test_split_history_window_clone_and_backfill_span_its_parts() -> None:
    from autoglm_tui.analysis.history import SplitHistory, backfilled

    def make(n: int = 6) -> SplitHistory:
        return SplitHistory([NodeHistory(n, accept=lambda k: not k[0].startswith("proc.")),
                             NodeHistory(n // 2, accept=lambda k: k[0].startswith("proc."))])

    h = make()
    g, p = ("gpu.util_pct", 0), ("proc.cpu_pct", 7)
    for t in range(6):
        h.append(float(t), {g: 10.0 * t, p: float(t)})
    times, (gr, pr) = h.window([g, p], 0.0)
    assert times == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] and gr == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    assert [None if x != x else x for x in pr] == [None, None, None, 3.0, 4.0, 5.0]
    copy = h.clone()
    h.append(6.0, {g: 60.0, p: 6.0})
    assert copy.latest(g) == 50.0 and h.latest(g) == 60.0
    filled = backfilled(h, [-2.0, -1.0], {g: [1.0, None]}, make(20))
    assert filled.points(g)[:3] == [(-2.0, 1.0), (-1.0, None), (1.0, 10.0)]
    assert filled.latest(p) == 6.0


def test_a_forgotten_key_that_comes_back_after_the_columns_were_renumbered() -> None:
    """Many forgotten pids make the history renumber its columns; a pid that comes back after
    that shows nothing of its old life in the older chunks."""
    h = tiered(capacity=100, bucket_s=10.0, buckets=5)
    pids = [("proc.cpu_pct", p) for p in range(80)]
    for t in range(5):
        h.append(float(t), {K: 1.0, **{p: 50.0 for p in pids}})
    h.forget(lambda k: k in set(pids))
    for t in range(5, 12):  # t=10 starts a bucket: the chunk is sealed, the columns renumbered
        h.append(float(t), {K: 1.0})
    assert h._lay.epoch == 1
    h.append(12.0, {K: 1.0, pids[3]: 7.0})
    assert h.points(pids[3]) == [(float(t), None) for t in range(12)] + [(12.0, 7.0)]
    assert h.window([pids[3]], 0.0)[1][0][-1] == 7.0 and h.tail(pids[3], 2) == [None, 7.0]
    assert h.keys() == [K, pids[3]]


def test_keys_without_a_value_yet_wait_and_refused_keys_cost_nothing() -> None:
    h = NodeHistory(8, accept=lambda k: k[0] != "gpu.mem_total_bytes")
    total = ("gpu.mem_total_bytes", 0)
    for t in range(3):
        h.append(float(t), {K: 1.0, J: None, total: 8e10})
    assert h.keys() == [K] and h.points(J) == [] and h.points(total) == []
    h.append(3.0, {K: 1.0, J: 300.0, total: 8e10})
    assert h.points(J) == [(0.0, None), (1.0, None), (2.0, None), (3.0, 300.0)]
    h.forget(lambda k: k == total)  # forgotten as refused: seen again, refused again
    h.append(4.0, {K: 1.0, J: 300.0, total: 8e10})
    assert h.keys() == [K, J] and h.points(total) == []


def _model(stream: list, capacity: int, bucket_s: float, buckets: int) -> tuple[list, list]:
    """The two tiers by the book: (coarse (t, mean, max) points, fine (t, v) points)."""
    fine: list = []
    coarse: list = []
    for t, v in stream:
        if len(fine) == capacity:
            b = math.floor(fine[0][0] / bucket_s)
            n = next((i for i, (u, _) in enumerate(fine) if math.floor(u / bucket_s) != b),
                     len(fine))
            known = [x for _, x in fine[:n] if x is not None]
            coarse.append((fine[0][0], sum(known) / len(known) if known else None,
                           max(known) if known else None))
            del fine[:n], coarse[:-buckets]
        fine.append((t, v))
    return coarse, fine


@pytest.mark.parametrize("seed", range(3))
def test_long_runs_of_coarse_points_read_as_the_two_tiers_by_the_book(seed: int) -> None:
    """Coarse points are kept in runs that are merged and cut as the oldest leave; what is
    read is what the plain two-tier model gives, at any window."""
    rng = random.Random(seed)
    stream, t = [], 0.0
    for _ in range(600):
        t += rng.choice([0.5, 1.0, 1.0, 2.0, 7.0])
        stream.append((t, None if rng.random() < 0.1 else float(rng.randint(0, 1000))))
    h = tiered(capacity=15, bucket_s=5.0, buckets=40)
    for t, v in stream:
        h.append(t, {K: v, J: 1.0})
    coarse, fine = _model(stream, 15, 5.0, 40)

    def close(a: list, b: list) -> bool:
        return len(a) == len(b) and all(
            x[0] == y[0] and (x[1] == y[1] or (x[1] is not None and y[1] is not None
                                               and math.isclose(x[1], y[1], rel_tol=1e-6)))
            for x, y in zip(a, b, strict=True))

    assert close(h.points(K), [(c[0], c[1]) for c in coarse] + fine)
    assert close(h.points(K, peak=True), [(c[0], c[2]) for c in coarse] + fine)
    assert len(h) == len(coarse) + len(fine)
    for _ in range(20):
        lo = rng.uniform(stream[0][0], stream[-1][0])
        hi = rng.uniform(lo, stream[-1][0] + 5)
        want = [(c[0], c[1]) for c in coarse if lo <= c[0] <= hi] + [
            p for p in fine if lo <= p[0] <= hi]
        assert close(h.points(K, lo, hi), want)
        times, (row,) = h.window([K], lo, hi)
        assert close(list(zip(times, [None if v != v else v for v in row], strict=True)), want)


@pytest.mark.parametrize("seed", range(6))
def test_rows_picked_by_position_equal_rows_looked_up_by_key(seed: int) -> None:
    """A split history picks a row by position when a point has the last point's keys in the
    same order. Fed runs of same-shaped points broken by new keys, absent keys, None values,
    keys in another order, forgotten keys coming back and columns renumbered, it must hold
    exactly what it holds when every point is looked at key by key."""
    rng = random.Random(seed)

    def split() -> SplitHistory:
        return SplitHistory([NodeHistory(14, 5.0, 6, accept=lambda k: not _is_proc(k)),
                             NodeHistory(7, 5.0, 9, accept=_is_proc)])

    fast, slow = split(), split()
    pool = [K, J, ("gpu.util_pct", 1), ("svc.up", "s1"), *(("proc.cpu_pct", p) for p in range(6))]
    shape = list(pool[:5])
    for i in range(400):
        if rng.random() < 0.08:  # another shape: keys come, go, or change order
            shape = rng.sample(pool, rng.randint(1, len(pool)))
        values = {k: (None if rng.random() < 0.05 else float(rng.randint(0, 99))) for k in shape}
        fast.append(float(i), values)
        slow._keys = None  # never the same shape: every point looked at key by key
        slow.append(float(i), values)
        if rng.random() < 0.03:
            pid = rng.randrange(6)
            for h in (fast, slow):
                h.forget(lambda k, pid=pid: k == ("proc.cpu_pct", pid))
    assert fast.keys() == slow.keys()
    for key in pool:
        assert fast.points(key) == slow.points(key), key
        assert fast.points(key, peak=True) == slow.points(key, peak=True), key
        assert fast.tail(key, 20) == slow.tail(key, 20), key


def test_rows_picked_by_position_follow_columns_renumbered_after_many_forgotten_keys() -> None:
    """Forgetting many series renumbers a part's columns at its next sealed chunk: rows
    picked by position after that must land in the new columns."""
    def split() -> SplitHistory:
        return SplitHistory([NodeHistory(40, 5.0, 6, accept=lambda k: not _is_proc(k)),
                             NodeHistory(40, 5.0, 6, accept=_is_proc)])

    fast, slow = split(), split()
    procs = [("proc.cpu_pct", p) for p in range(100)]
    t = 0.0
    for shape in (procs, procs[90:]):  # 90 processes end and are forgotten in between
        for _ in range(23):
            values = {K: t, **{k: t + k[1] for k in shape}}
            fast.append(t, values)
            slow._keys = None
            slow.append(t, values)
            t += 1.0
        for h in (fast, slow):
            h.forget(lambda k: _is_proc(k) and k[1] < 90)
    assert fast.parts[1]._lay.epoch == slow.parts[1]._lay.epoch == 1  # renumbered once
    for key in (K, *procs[88:]):
        assert fast.points(key) == slow.points(key), key
    assert fast.latest(("proc.cpu_pct", 95)) == t - 1 + 95


@pytest.mark.parametrize("kind", ["node", "split"])
def test_a_forgotten_key_back_without_a_value_gets_its_series_at_its_first_value(
    kind: str
) -> None:
    """A process forgotten, then listed again first without a figure (None) and then with
    one, has its series back from that value, whether or not other keys are new then."""
    h = _history(kind)
    p = ("proc.cpu_pct", 7)
    h.append(1.0, {K: 1.0, p: 5.0})
    h.forget(lambda k: k == p)
    h.append(2.0, {K: 2.0, p: None})
    h.append(3.0, {K: 3.0, p: 9.0})
    assert p in h and h.latest(p) == 9.0
    # its value from before it was forgotten is not shown again: a gap
    assert h.points(p) == [(1.0, None), (2.0, None), (3.0, 9.0)]


def test_a_forgotten_key_back_with_no_value_then_a_value_gets_one_column() -> None:
    """A forgotten key seen again with no value waits for one; when it has one it gets its
    series back once (it was given a second column while both forgotten and waiting)."""
    for h in (tiered(capacity=10, bucket_s=5.0, buckets=4),
              SplitHistory([tiered(capacity=10, bucket_s=5.0, buckets=4)])):
        h.append(0.0, {K: 1.0, J: 1.0})
        h.forget(lambda k: k == K)
        h.append(1.0, {K: None, J: 2.0})
        h.append(2.0, {J: 3.0, K: 5.0})  # another order: looked at key by key
        h.append(3.0, {J: 4.0, K: 6.0})
        assert h.keys() == [J, K]
        assert h.points(K) == [(0.0, None), (1.0, None), (2.0, 5.0), (3.0, 6.0)]
