"""Small robust statistics for diagnosis, in plain Python (pure).

Series are lists of floats with NaN for a gap (what ``NodeHistory.window`` returns).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from autoglm_tui.analysis.peers import MAD_TO_SIGMA


def is_known(v: float) -> bool:
    return v == v


def known(values: Sequence[float]) -> list[float]:
    """The values that are not gaps."""
    return [v for v in values if v == v]


def mean(values: Sequence[float]) -> float | None:
    """Mean of the known values, None when there are none."""
    k = known(values)
    return math.fsum(k) / len(k) if k else None


def share(values: Sequence[float], low: float = -math.inf, high: float = math.inf) -> float:
    """Share of the known values within [low, high] (0 when none is known)."""
    k = known(values)
    if not k:
        return 0.0
    return sum(1 for v in k if low <= v <= high) / len(k)


def row_mean(rows: Sequence[Sequence[float]]) -> list[float]:
    """Point-wise mean across rows of one time axis, gaps left out (NaN where all are gaps)."""
    if not rows:
        return []
    n = len(rows)
    out: list[float] = []
    for col in zip(*rows, strict=False):
        total = sum(col)
        if total == total:  # no gap at this point (NaN != NaN): the fast path
            out.append(total / n)
            continue
        k = [v for v in col if v == v]
        out.append(sum(k) / len(k) if k else math.nan)
    return out


def grand_mean(rows: Sequence[Sequence[float]]) -> float | None:
    """Mean of every known value of every row."""
    total, count = 0.0, 0
    for r in rows:
        s = sum(r)
        if s == s:
            total += s
            count += len(r)
        else:
            k = [v for v in r if v == v]
            total += sum(k)
            count += len(k)
    return total / count if count else None


def row_max(rows: Sequence[Sequence[float]]) -> list[float]:
    """Point-wise max across rows, gaps left out."""
    out: list[float] = []
    for col in zip(*rows, strict=False):
        k = [v for v in col if v == v]
        out.append(max(k) if k else math.nan)
    return out


def row_sum(rows: Sequence[Sequence[float]]) -> list[float]:
    """Point-wise sum across rows; a gap in any row is a gap in the sum."""
    out: list[float] = []
    for col in zip(*rows, strict=False):
        out.append(math.fsum(col) if all(v == v for v in col) else math.nan)
    return out


def pairs(times: Sequence[float], values: Sequence[float]) -> tuple[list[float], list[float]]:
    """(times, values) where the value is known."""
    ts: list[float] = []
    vs: list[float] = []
    for t, v in zip(times, values, strict=False):
        if v == v:
            ts.append(t)
            vs.append(v)
    return ts, vs


def thin(ts: Sequence[float], vs: Sequence[float], n: int) -> tuple[list[float], list[float]]:
    """At most `n` points evenly spread in time: the mean time and value of the points in each
    of `n` equal spans (history is denser in its newest minutes, and a slope must not be decided
    by where the points are densest)."""
    if len(ts) <= n or n < 2:
        return list(ts), list(vs)
    t0, span = ts[0], ts[-1] - ts[0]
    if span <= 0:
        return list(ts[:n]), list(vs[:n])
    sums: dict[int, list[float]] = {}
    for t, v in zip(ts, vs, strict=True):
        acc = sums.setdefault(min(n - 1, int((t - t0) / span * n)), [0.0, 0.0, 0.0])
        acc[0] += t
        acc[1] += v
        acc[2] += 1
    out_t = [a[0] / a[2] for _, a in sorted(sums.items())]
    out_v = [a[1] / a[2] for _, a in sorted(sums.items())]
    return out_t, out_v


def theil_sen(ts: Sequence[float], vs: Sequence[float], max_points: int = 60) -> float | None:
    """Theil-Sen slope (median of pairwise slopes), per unit of t; None for < 3 points.

    Robust to outliers and to a few jumps: about 29% of the points can be wild before the
    slope moves. Series longer than `max_points` are thinned evenly first (O(n^2) pairs)."""
    ts, vs = thin(ts, vs, max_points)
    n = len(ts)
    if n < 3:
        return None
    slopes = []
    for i in range(n - 1):
        ti, vi = ts[i], vs[i]
        for j in range(i + 1, n):
            dt = ts[j] - ti
            if dt > 0:
                slopes.append((vs[j] - vi) / dt)
    return median(slopes) if slopes else None


def quarter_medians(ts: Sequence[float], vs: Sequence[float], parts: int = 4) -> list[float]:
    """Median of the values in each of `parts` equal spans of time (NaN for an empty span)."""
    if not ts:
        return []
    t0, t1 = ts[0], ts[-1]
    span = (t1 - t0) or 1.0
    buckets: list[list[float]] = [[] for _ in range(parts)]
    for t, v in zip(ts, vs, strict=False):
        k = min(parts - 1, int((t - t0) / span * parts))
        buckets[k].append(v)
    return [median(b) if b else math.nan for b in buckets]


def ends(ts: Sequence[float], vs: Sequence[float], share: float) -> tuple[float, float] | None:
    """Means of the values in the first and the last `share` of the time span (points need not
    be evenly spaced: history is coarser further back). None when either part is empty."""
    if not ts:
        return None
    t0, t1 = ts[0], ts[-1]
    cut = (t1 - t0) * share
    early = [v for t, v in zip(ts, vs, strict=False) if t <= t0 + cut]
    late = [v for t, v in zip(ts, vs, strict=False) if t >= t1 - cut]
    if not early or not late:
        return None
    return math.fsum(early) / len(early), math.fsum(late) / len(late)


def since_time(ts: Sequence[float], vs: Sequence[float], t: float
               ) -> tuple[list[float], list[float]]:
    """The points at or after time `t`."""
    i = next((k for k, x in enumerate(ts) if x >= t), len(ts))
    return list(ts[i:]), list(vs[i:])


def stdev(values: Sequence[float]) -> float:
    """Population standard deviation of the known values (0 for fewer than 2)."""
    k = known(values)
    if len(k) < 2:
        return 0.0
    m = math.fsum(k) / len(k)
    return math.sqrt(math.fsum((v - m) ** 2 for v in k) / len(k))


def running_median(values: Sequence[float], half: int = 2) -> list[float]:
    """Each value's median with its `half` neighbours either side (five by default), so one
    wild reading does not count as a level."""
    return [median(values[max(0, i - half): i + half + 1]) for i in range(len(values))]


def durations(ts: Sequence[float]) -> list[float]:
    """The time each point of `ts` (ascending) stands for: half the gap to each neighbour
    (history is coarser further back, so its points are not equally long)."""
    n = len(ts)
    if n < 2:
        return [1.0] * n
    out = [(ts[1] - ts[0]) / 2.0]
    out += [(ts[i + 1] - ts[i - 1]) / 2.0 for i in range(1, n - 1)]
    out.append((ts[-1] - ts[-2]) / 2.0)
    return [w if w > 0 else 1e-9 for w in out]


def weighted_quantile(values: Sequence[float], weights: Sequence[float], q: float) -> float:
    """The `q` quantile (0 to 1) of a non-empty `values`, each counted for its weight (the
    first value whose cumulative weight reaches `q` of the total)."""
    pairs_ = sorted(zip(values, weights, strict=True))
    total = math.fsum(w for _, w in pairs_)
    acc = 0.0
    for v, w in pairs_:
        acc += w
        if acc >= q * total:
            return v
    return pairs_[-1][0]


def robust_spread(values: Sequence[float], weights: Sequence[float], centre: float) -> float:
    """The standard deviation a normal distribution with the values' (weighted) median
    absolute deviation from `centre` would have (one wild reading barely moves it)."""
    return MAD_TO_SIGMA * weighted_quantile([abs(v - centre) for v in values], weights, 0.5)


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson's r of two equally long, gap-free sequences (0 when either is flat)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    dx = [x - mx for x in xs]
    dy = [y - my for y in ys]
    sxx, syy = _dot(dx, dx), _dot(dy, dy)
    if sxx <= 0 or syy <= 0:
        return 0.0
    return max(-1.0, min(1.0, _dot(dx, dy) / math.sqrt(sxx * syy)))


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(map(operator.mul, a, b))


@dataclass(frozen=True, slots=True)
class RidgeFit:
    """A ridge regression on standardised inputs."""

    beta: tuple[float, ...]  # per input, in standard deviations of y per standard deviation of x
    slope: tuple[float, ...]  # per input, in y units per x unit
    intercept: float
    r2: float
    n: int


def ridge(columns: Sequence[Sequence[float]], y: Sequence[float], alpha: float = 0.05
          ) -> RidgeFit | None:
    """Ridge regression of `y` on the inputs in `columns` (each as long as `y`, no gaps).

    Inputs and output are standardised, then (X'X + alpha*n*I) b = X'y is solved, so
    collinear inputs share their weight instead of getting huge opposite coefficients.
    None when y is flat, an input is flat, or the system is singular."""
    n = len(y)
    p = len(columns)
    if n < 3 or p == 0 or any(len(c) != n for c in columns):
        return None
    my = math.fsum(y) / n
    sy = math.sqrt(math.fsum((v - my) ** 2 for v in y) / n)
    if sy <= 0:
        return None
    zs: list[list[float]] = []
    means: list[float] = []
    sds: list[float] = []
    for col in columns:
        m = math.fsum(col) / n
        s = math.sqrt(math.fsum((v - m) ** 2 for v in col) / n)
        if s <= 0:
            return None
        means.append(m)
        sds.append(s)
        zs.append([(v - m) / s for v in col])
    zy = [(v - my) / sy for v in y]
    lam = alpha * n
    a = [[_dot(zs[i], zs[j]) + (lam if i == j else 0.0) for j in range(p)] for i in range(p)]
    b = [_dot(zs[i], zy) for i in range(p)]
    beta = _solve(a, b)
    if beta is None:
        return None
    resid = list(zy)
    for j in range(p):
        bj = beta[j]
        resid = [r - bj * z for r, z in zip(resid, zs[j], strict=True)]
    sse = _dot(resid, resid)
    r2 = max(0.0, 1.0 - sse / n)  # zy has variance 1, so SST = n
    slopes = tuple(beta[j] * sy / sds[j] for j in range(p))
    intercept = my - math.fsum(s * m for s, m in zip(slopes, means, strict=True))
    return RidgeFit(tuple(beta), slopes, intercept, r2, n)


def _solve(a: list[list[float]], b: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting; None when singular."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[piv][col]) < 1e-12:
            return None
        m[col], m[piv] = m[piv], m[col]
        for r in range(col + 1, n):
            f = m[r][col] / m[col][col]
            if f:
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - math.fsum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x
