import math

import pytest

from autoglm_tui.analysis.history import CHUNK, NodeHistory
from autoglm_tui.analysis.rates import counter_rate, ratio_of_deltas


def test_counter_rate_basic() -> None:
    assert counter_rate(100, 300, 2.0) == 100.0


def test_counter_reset_gives_unknown_not_negative() -> None:
    assert counter_rate(1_000_000, 10, 1.0) is None


@pytest.mark.parametrize(("prev", "cur", "dt"), [(None, 1, 1.0), (1, None, 1.0), (1, 2, 0.0)])
def test_counter_rate_unknown_inputs(prev: float | None, cur: float | None, dt: float) -> None:
    assert counter_rate(prev, cur, dt) is None


def test_ratio_of_deltas_await() -> None:
    # 30 ms of disk time over 3 operations = 10 ms per operation.
    assert ratio_of_deltas(100, 130, 10, 13) == 10.0
    assert ratio_of_deltas(100, 130, 10, 10) is None  # no operations: undefined
    assert ratio_of_deltas(130, 100, 10, 13) is None  # reset


def test_history_keeps_gaps_and_order() -> None:
    h = NodeHistory(capacity=5)
    key = ("cpu.util_pct", None)
    h.append(1.0, {key: 10.0})
    h.append(2.0, {})  # the metric is missing at t=2: a gap, not zero
    h.append(3.0, {key: 30.0})
    assert h.points(key) == [(1.0, 10.0), (2.0, None), (3.0, 30.0)]
    assert h.values(key) == [10.0, 30.0]
    assert h.latest(key) == 30.0


def test_history_wraps_at_capacity() -> None:
    h = NodeHistory(capacity=3)
    key = ("gpu.util_pct", 0)
    for t in range(1, 6):
        h.append(float(t), {key: float(t * 10)})
    assert [t for t, _ in h.points(key)] == [3.0, 4.0, 5.0]
    assert h.tail(key, 2) == [40.0, 50.0]
    assert len(h) == 3


def test_history_new_series_midway_is_gap_before() -> None:
    h = NodeHistory(capacity=4)
    h.append(1.0, {("a", None): 1.0})
    h.append(2.0, {("a", None): 2.0, ("b", 3): 7.0})
    assert h.points(("b", 3)) == [(1.0, None), (2.0, 7.0)]


def test_history_window_and_out_of_order() -> None:
    h = NodeHistory(capacity=10)
    key = ("x", None)
    for t in range(10):
        h.append(float(t), {key: float(t)})
    h.append(3.0, {key: 99.0})  # out of order: dropped
    assert h.values(key, since=7.0) == [7.0, 8.0, 9.0]
    assert h.values(key, since=2.0, until=4.0) == [2.0, 3.0, 4.0]
    assert 99.0 not in h.values(key)


def test_history_stores_float32_compactly() -> None:
    h = NodeHistory(capacity=900)
    for t in range(1000):
        h.append(float(t), {("a", None): math.pi})
    assert h.latest(("a", None)) == pytest.approx(math.pi, rel=1e-6)
    # a double for the time, a float for the value; dropped points leave with their chunk
    assert 900 * (8 + 4) <= h.nbytes() <= (900 + 2 * CHUNK) * (8 + 4)


def test_history_forget() -> None:
    h = NodeHistory(capacity=3)
    h.append(1.0, {("proc.cpu_pct", 5): 1.0, ("proc.cpu_pct", 6): 2.0})
    h.forget(lambda k: k[1] == 5)
    assert h.keys() == [("proc.cpu_pct", 6)]
