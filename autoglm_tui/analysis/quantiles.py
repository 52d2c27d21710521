"""Quantiles from cumulative histogram buckets, as Prometheus' ``histogram_quantile`` takes them.

The rank ``q * total`` falls in the first bucket whose cumulative count reaches it; inside that
bucket the observations are taken as spread evenly (linear interpolation between the bucket's
lower and upper bound, the lowest bucket starting at 0). A rank in the ``+Inf`` bucket has no
upper bound to interpolate to: the answer is then "above the largest finite bound", reported as
that bound with ``above`` set. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from operator import le


@dataclass(frozen=True, slots=True)
class Quantile:
    """One quantile of a window's observations."""

    q: float
    value: float  # seconds; with `above`, the largest finite bound (the truth is higher)
    above: bool  # the rank fell in the +Inf bucket: "> value"
    count: float  # observations the quantile rests on


def histogram_quantile(
    q: float, bounds: Sequence[float], counts: Sequence[float]
) -> tuple[float, bool] | None:
    """(value, above) for quantile `q` of cumulative `counts` over finite upper `bounds`
    (``len(counts) == len(bounds) + 1``, the last count being +Inf); None when there are
    no observations or no finite bound."""
    if not 0.0 <= q <= 1.0:
        return None
    ready = _cumulative(bounds, counts)
    return None if ready is None else _at(q, bounds, *ready)


def _cumulative(bounds: Sequence[float], counts: Sequence[float]
                ) -> tuple[Sequence[float], bool] | None:
    """(`counts` made never decreasing, whether they already were), or None when there is no
    observation or no finite bound. A torn read could make them dip; Prometheus flattens such
    dips the same way."""
    if not bounds or len(counts) != len(bounds) + 1:
        return None
    if all(map(le, counts, islice(counts, 1, None))):  # the usual case, checked in C
        # (no NaN either: NaN fails every comparison)
        return (counts, True) if counts[-1] > 0 else None
    fixed = list(counts)
    for i in range(1, len(fixed)):
        if fixed[i] < fixed[i - 1]:
            fixed[i] = fixed[i - 1]
    total = fixed[-1]
    return None if not total > 0 or math.isnan(total) else (fixed, False)


def _at(q: float, bounds: Sequence[float], mono: Sequence[float], sorted_: bool
        ) -> tuple[float, bool]:
    """Quantile `q` (0..1) of cumulative counts with observations, never decreasing where
    `sorted_` (a bisection), else flattened with a NaN left in place (a scan skips it)."""
    rank = q * mono[-1]
    # the first bucket whose count reaches the rank
    b = bisect_left(mono, rank) if sorted_ else next(i for i, c in enumerate(mono) if c >= rank)
    if b == len(bounds):  # the +Inf bucket
        return bounds[-1], True
    if b == 0 and bounds[0] <= 0:
        return bounds[0], False
    start = 0.0 if b == 0 else bounds[b - 1]
    end = bounds[b]
    in_bucket = mono[b] - (mono[b - 1] if b > 0 else 0.0)
    below = mono[b - 1] if b > 0 else 0.0
    if in_bucket <= 0:
        return end, False
    return start + (end - start) * ((rank - below) / in_bucket), False


def quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> Quantile | None:
    """:func:`histogram_quantile` as a :class:`Quantile` carrying its request count."""
    found = histogram_quantile(q, bounds, counts)
    if found is None:
        return None
    return Quantile(q, found[0], found[1], counts[-1])


def quantiles(qs: Sequence[float], bounds: Sequence[float], counts: Sequence[float]
              ) -> list[Quantile | None]:
    """:func:`quantile` of each of `qs`, the counts checked once."""
    ready = _cumulative(bounds, counts)
    if ready is None:
        return [None] * len(qs)
    mono, sorted_ = ready
    n = counts[-1]
    out: list[Quantile | None] = []
    for q in qs:
        if 0.0 <= q <= 1.0:
            value, above = _at(q, bounds, mono, sorted_)
            out.append(Quantile(q, value, above, n))
        else:
            out.append(None)
    return out


__all__ = ["Quantile", "histogram_quantile", "quantile", "quantiles"]
