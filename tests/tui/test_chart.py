"""History charts draw columns evenly spaced in time, however the history is tiered (pure)."""

from __future__ import annotations

from autoglm_tui.tui.widgets.chart import time_columns


def test_one_column_a_second_while_it_fits() -> None:
    points = [(float(t), float(t % 7)) for t in range(100)]
    values, step = time_columns(points, 120)
    assert step == 1.0 and values == [float(t % 7) for t in range(100)]


def test_longer_history_takes_wider_columns_showing_the_highest_value() -> None:
    points = [(float(t), float(t % 7)) for t in range(100)]
    values, step = time_columns(points, 70)
    assert step == 2.0 and len(values) == 50
    assert values[-3:] == [5.0, 6.0, 1.0]  # max of (95, 96), (97, 98), then 99 alone


def test_coarse_buckets_fill_their_ten_seconds_and_silence_stays_a_gap() -> None:
    coarse = [(0.0, 1.0), (10.0, 2.0)]  # 10 s buckets, then the node was silent 20 s
    fine = [(40.0 + k, 3.0) for k in range(20)]
    values, step = time_columns(coarse + fine, 60)
    assert step == 1.0 and len(values) == 60
    assert values[:20] == [1.0] * 10 + [2.0] * 10
    assert values[20:40] == [None] * 20
    assert values[40:] == [3.0] * 20
