"""Counter-to-rate conversion that survives counter resets (pure)."""

from __future__ import annotations


def counter_rate(prev: float | None, cur: float | None, dt: float) -> float | None:
    """Per-second rate between two readings of a cumulative counter.

    None when either reading is missing, the interval is not positive, or the counter went
    backwards (a reset: a reboot, a driver reload, a wrapped counter). A reset yields one
    unknown point rather than a made-up spike or a negative rate.
    """
    if prev is None or cur is None or dt <= 0:
        return None
    delta = cur - prev
    if delta < 0:
        return None
    return delta / dt


def ratio_of_deltas(
    num_prev: float | None, num_cur: float | None, den_prev: float | None, den_cur: float | None
) -> float | None:
    """Δnum / Δden for two counters read together (e.g. disk time per operation).

    None when anything is missing, a counter went backwards, or the denominator did not move.
    """
    if None in (num_prev, num_cur, den_prev, den_cur):
        return None
    dn = num_cur - num_prev  # type: ignore[operator]
    dd = den_cur - den_prev  # type: ignore[operator]
    if dn < 0 or dd <= 0:
        return None
    return dn / dd
