"""CPU percentages from raw cumulative CPU times."""

from __future__ import annotations

import pytest

from autoglm_tui.sampler.cpu import CpuTimes, iowait_pct, times_from_fields, util_pct


def test_fields_fold_like_proc_stat() -> None:
    t = times_from_fields(10, 1, 5, 80, iowait=4, irq=1, softirq=1, steal=2)
    assert t == CpuTimes(busy=20, idle=84, iowait=4)


def test_util_and_iowait_over_an_interval() -> None:
    a = times_from_fields(100, 0, 50, 800, iowait=50)
    b = times_from_fields(130, 0, 60, 850, iowait=60)  # +40 busy, +50 idle, +10 iowait
    assert util_pct(a, b) == pytest.approx(100 * 40 / 100)
    assert iowait_pct(a, b) == pytest.approx(10.0)


def test_no_time_passed_gives_none_not_zero() -> None:
    a = times_from_fields(1, 0, 1, 1, iowait=0)
    assert util_pct(a, a) is None
    assert iowait_pct(a, a) is None


def test_iowait_unknown_stays_unknown() -> None:
    a = times_from_fields(1, 0, 1, 1)
    b = times_from_fields(2, 0, 1, 3)
    assert iowait_pct(a, b) is None
    assert util_pct(a, b) == pytest.approx(100 / 3)


def test_counters_going_backwards_do_not_make_numbers_up() -> None:
    a = times_from_fields(10, 0, 10, 10, iowait=5)
    b = times_from_fields(10, 0, 10, 14, iowait=3)  # the kernel's iowait can step back
    assert iowait_pct(a, b) is None
    assert util_pct(a, b) == 0.0
