"""What a screen should flag about one inference service: down, slow, queue growing, KV cache
near full, errors (pure: a ServiceView, its queue history and `now` in, marks out).

The thresholds are the built-in alert rules' (data/default_rules.toml): P95 > 2 s, error rate
> 1 %, KV cache > 95 %, the queue growing by more than 1 request a minute (least-squares slope
over the last minute). A figure "warns" before it gets there (P95 > 1 s, any error, KV cache
>= 85 %), so the colour moves before the page does. Figures resting on fewer requests than the
tracker's minimum are marked ``few`` and never flagged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from autoglm_tui.analysis.services import Latency, ServiceView

P95_BAD_S = 2.0
P95_WARN_S = 1.0
ERROR_BAD_PCT = 1.0
KV_BAD_PCT = 95.0
KV_WARN_PCT = 85.0
QUEUE_WINDOW_S = 60.0
QUEUE_GROWING_PER_MIN = 1.0

OK, WARN, BAD = 0, 1, 2  # levels, worst last


@dataclass(frozen=True, slots=True)
class ServiceMarks:
    """One level per figure (OK, WARN, BAD), the queue's slope and the row's reasons."""

    row: int  # the worst level of the service
    p95: int
    errors: int
    kv: int
    queue: int
    queue_per_min: float | None  # least-squares slope of the waiting requests, per minute
    reasons: tuple[str, ...]  # worst first: "down: ...", "queue growing", "KV cache 97%"...


def slope_per_s(points: Sequence[tuple[float, float | None]], now: float,
                window_s: float = QUEUE_WINDOW_S) -> float | None:
    """Least-squares slope (per second) of the known points of the last `window_s` before
    `now`; None with fewer than 3 points or when they span less than half the window."""
    pts = [(t, v) for t, v in points if v is not None and math.isfinite(v)
           and now - window_s <= t <= now]
    if len(pts) < 3 or pts[-1][0] - pts[0][0] < window_s / 2:
        return None
    n = len(pts)
    mt = math.fsum(t for t, _ in pts) / n
    mv = math.fsum(v for _, v in pts) / n
    var = math.fsum((t - mt) ** 2 for t, _ in pts)
    if var <= 0:
        return None
    return math.fsum((t - mt) * (v - mv) for t, v in pts) / var


def confident(lat: Latency | None) -> bool:
    """The latency rests on enough requests to be flagged."""
    return lat is not None and not lat.few


def marks(view: ServiceView, queue_points: Sequence[tuple[float, float | None]],
          now: float) -> ServiceMarks:
    """The marks of one service as of `now`, its queue's history being `queue_points`."""
    reasons: list[tuple[int, str]] = []
    if not view.up:
        reason = view.error or "no answer"
        return ServiceMarks(BAD, OK, OK, OK, OK, None, (f"down: {reason}",))
    p95 = OK
    q = view.e2e.p95 if view.e2e is not None else None
    if q is not None and confident(view.e2e):
        if q.value > P95_BAD_S or (q.above and q.value >= P95_BAD_S):
            p95 = BAD
            reasons.append((BAD, f"P95 {'> ' if q.above else ''}{q.value:.2f}s"))
        elif q.value > P95_WARN_S:
            p95 = WARN
    errors = OK
    err = view.error_rate_pct
    if err is not None and err > 0:
        errors = BAD if err > ERROR_BAD_PCT else WARN
        if errors == BAD:
            reasons.append((BAD, f"errors {err:.1f}%"))
    kv = OK
    if view.kv_cache_pct is not None:
        if view.kv_cache_pct > KV_BAD_PCT:
            kv = BAD
            reasons.append((BAD, f"KV cache {view.kv_cache_pct:.0f}%"))
        elif view.kv_cache_pct >= KV_WARN_PCT:
            kv = WARN
    slope = slope_per_s(queue_points, now)
    per_min = None if slope is None else slope * 60.0
    queue = OK
    if per_min is not None and per_min > QUEUE_GROWING_PER_MIN and (view.waiting or 0) > 0:
        queue = WARN
        reasons.append((WARN, f"queue growing {per_min:+.1f}/min"))
    reasons.sort(key=lambda r: -r[0])
    row = max((OK, p95, errors, kv, queue))
    return ServiceMarks(row, p95, errors, kv, queue, per_min, tuple(r for _, r in reasons))


def warned(m: ServiceMarks) -> tuple[str, ...]:
    """The figures at WARN, in words, for a row that has no reason to page yet."""
    out = []
    if m.p95 == WARN:
        out.append(f"P95 over {P95_WARN_S:g}s")
    if m.kv == WARN:
        out.append(f"KV cache {KV_WARN_PCT:g}%+")
    if m.errors == WARN:
        out.append("some errors")
    return tuple(out)


__all__ = ["BAD", "OK", "WARN", "ServiceMarks", "confident", "marks", "slope_per_s", "warned"]
