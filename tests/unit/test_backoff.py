"""Capped exponential backoff with jitter."""

from __future__ import annotations

import random

import pytest

from autoglm_tui.cluster.backoff import Backoff


def test_doubles_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(base=0.5, cap=5.0, jitter=0.0)
    assert [backoff.next() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_reset_starts_again_from_base() -> None:
    backoff = Backoff(base=1.0, cap=30.0, jitter=0.0)
    for _ in range(5):
        backoff.next()
    backoff.reset()
    assert backoff.next() == 1.0


def test_jitter_spreads_within_bounds_and_never_passes_the_cap() -> None:
    backoff = Backoff(base=1.0, cap=8.0, jitter=0.2, rng=random.Random(7))
    delays = []
    for _ in range(200):
        backoff.reset()
        delays.append([backoff.next() for _ in range(6)])
    for row in delays:
        for attempt, delay in enumerate(row):
            nominal = min(8.0, 2.0**attempt)
            assert nominal * 0.8 <= delay <= min(8.0, nominal * 1.2)
    firsts = {row[0] for row in delays}
    assert len(firsts) > 100  # actually spread, so clients do not retry in lockstep


def test_same_seed_same_delays() -> None:
    a = Backoff(rng=random.Random(1))
    b = Backoff(rng=random.Random(1))
    assert [a.next() for _ in range(10)] == [b.next() for _ in range(10)]


def test_many_attempts_do_not_overflow() -> None:
    backoff = Backoff(base=0.1, cap=3.0, jitter=0.0)
    for _ in range(5000):
        delay = backoff.next()
    assert delay == 3.0


@pytest.mark.parametrize(("base", "cap", "jitter"), [(0, 1, 0.1), (2, 1, 0.1), (1, 2, 1.0)])
def test_rejects_nonsense(base: float, cap: float, jitter: float) -> None:
    with pytest.raises(ValueError):
        Backoff(base=base, cap=cap, jitter=jitter)
