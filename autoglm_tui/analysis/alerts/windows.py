"""Sliding windows for alert rules (pure).

:class:`Window` is one series' count, mean and standard deviation over the completed buckets
of its window (a process's); :class:`Block` keeps the same for a fixed set of subjects of one
node (its GPUs, or the node itself) with one bucket ring shared by all of them, and turns them
into the band outside which a value is anomalous (z-score rules). :class:`Slope` is one
series' least-squares slope over a sliding window of its points (trend rules).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from itertools import repeat
from operator import add, mul, sub, truediv

from autoglm_tui.analysis.alerts.rule import Rule

WINDOW_BUCKETS = 60
_NO_BUCKET = -(1 << 62)
GOLDEN = 0.6180339887498949


class Window:
    """Sliding-window count, mean and standard deviation in time buckets (O(1) a sample).

    The window is `nb` buckets of window/nb seconds. A new value is scored against the
    completed buckets inside the window (the bucket being filled is left out, so a spike is
    not averaged into its own baseline); mean and deviation change only when a bucket
    completes. Each window's bucket edges are offset by `phase` so that thousands of windows do
    not all roll on the same tick. Values are stored shifted by the first value seen, which
    keeps sums of squares well conditioned for large numbers (bytes).
    """

    __slots__ = ("_ids", "_n", "_s", "_ss", "cn", "cs", "css", "cur", "k", "mean", "n", "nb",
                 "phase", "rolls", "s", "ss", "std", "width")

    def __init__(self, window_s: float, nb: int = WINDOW_BUCKETS, phase: float = 0.0) -> None:
        self.nb = nb
        self.width = window_s / nb
        self.phase = phase % self.width
        self._ids = [_NO_BUCKET] * nb  # bucket id held in each slot
        self._n = [0] * nb
        self._s = [0.0] * nb
        self._ss = [0.0] * nb
        self.cur = _NO_BUCKET  # the bucket being filled, not yet part of the baseline
        self.cn, self.cs, self.css = 0, 0.0, 0.0
        self.n, self.s, self.ss = 0, 0.0, 0.0  # totals of the completed buckets in the window
        self.mean = self.std = math.nan
        self.k: float | None = None
        self.rolls = 0

    def push(self, t: float, v: float) -> int:
        """Add `v` seen at `t`; return how many values the baseline (mean, std) holds."""
        b = int((t + self.phase) // self.width)
        if b != self.cur:
            if b < self.cur:
                return self.n  # time went backwards: ignore the value
            self._roll(b)
        k = self.k
        if k is None:
            k = self.k = v
        x = v - k
        self.cn += 1
        self.cs += x
        self.css += x * x
        return self.n

    def _roll(self, b: int) -> None:
        """Complete the current bucket and drop what left the window that now ends at `b`."""
        nb = self.nb
        ids, ns, ss_, sss = self._ids, self._n, self._s, self._ss
        self.rolls += 1
        if b == self.cur + 1 and self.rolls % nb:
            if self.cn:  # the completed bucket joins the baseline
                slot = self.cur % nb
                ids[slot], ns[slot], ss_[slot], sss[slot] = self.cur, self.cn, self.cs, self.css
                self.n += self.cn
                self.s += self.cs
                self.ss += self.css
            slot = b % nb  # it holds bucket b - nb, which just left the window
            if ids[slot] != _NO_BUCKET:
                self.n -= ns[slot]
                self.s -= ss_[slot]
                self.ss -= sss[slot]
                ids[slot], ns[slot], ss_[slot], sss[slot] = _NO_BUCKET, 0, 0.0, 0.0
        else:  # after a gap (or now and then, against rounding drift): recount from scratch
            if self.cn:
                slot = self.cur % nb
                ids[slot], ns[slot], ss_[slot], sss[slot] = self.cur, self.cn, self.cs, self.css
            first = b - nb + 1
            n, s, ss = 0, 0.0, 0.0
            for slot in range(nb):
                if first <= ids[slot] < b:
                    n += ns[slot]
                    s += ss_[slot]
                else:
                    ids[slot], ns[slot], ss_[slot], sss[slot] = _NO_BUCKET, 0, 0.0, 0.0
            # Re-anchor the shift at the window's mean, so precision follows the data.
            d = s / n if n else 0.0
            for slot in range(nb):
                if ids[slot] != _NO_BUCKET:
                    bn, bs = ns[slot], ss_[slot]
                    sss[slot] = max(0.0, sss[slot] - 2 * d * bs + bn * d * d)
                    ss_[slot] = bs - bn * d
                    ss += sss[slot]
            self.k = None if n == 0 else (self.k or 0.0) + d
            self.n, self.s, self.ss = n, s - n * d, ss
        self.cur = b
        self.cn, self.cs, self.css = 0, 0.0, 0.0
        n = self.n
        if n > 0 and self.k is not None:
            m = self.s / n
            var = self.ss / n - m * m
            self.mean = m + self.k
            self.std = math.sqrt(var) if var > 0 else 0.0
        else:
            self.n, self.s, self.ss = 0, 0.0, 0.0
            self.mean = self.std = math.nan


class Block:
    """Sliding-window baselines for a fixed set of subjects of one node (its GPUs, or the node
    itself), one time bucket ring shared by all of them.

    A sample adds its row of values to the current bucket as a reference into a column shared
    with the other nodes (:meth:`add`: two list appends, whatever the number of GPUs); when the
    bucket completes its rows are summed into the ring and each subject's mean and deviation,
    and from them the band [lo, hi] outside which a value is anomalous, are recomputed. So the
    per-sample test is two C-level comparisons of the row against the bands. Same baseline as
    Window: completed buckets inside the window. All storage is allocated up front and
    updated in place: a block makes no lasting objects as it runs (less work for the garbage
    collector, whichever code it would interrupt).
    """

    __slots__ = ("cols", "cur", "end", "hi", "ids", "k", "lo", "mean", "n", "nb", "phase",
                 "ring_n", "ring_s", "ring_ss", "rolls", "s", "ss", "start", "starts", "std",
                 "subjects", "width", "z")

    def __init__(
        self, subjects: tuple[int | None, ...], window_s: float, rule: Rule, phase: float,
        nb: int = WINDOW_BUCKETS,
    ) -> None:
        g = len(subjects)
        self.subjects = subjects
        self.nb = nb
        self.width = window_s / nb
        self.phase = phase % self.width
        self.z = (rule.z, rule.min_samples, rule.min_std, rule.direction)
        self.ids = [_NO_BUCKET] * nb  # bucket id held in each slot
        # Slot j holds, per subject i at [j * g + i], the bucket's count, sum and sum of
        # squares (values shifted by k); it counts only while ids[j] names a bucket.
        self.ring_n = [0] * (nb * g)
        self.ring_s = [0.0] * (nb * g)
        self.ring_ss = [0.0] * (nb * g)
        self.k: list[float | None] = [None] * g
        self.n = [0] * g
        self.s = [0.0] * g
        self.ss = [0.0] * g
        self.mean = [math.nan] * g
        self.std = [math.nan] * g
        self.hi = [math.inf] * g
        self.lo = [-math.inf] * g
        # The rows of the bucket being filled: row j is cols[j][starts[j]:starts[j] + g].
        self.cols: list[Sequence[float | None]] = []
        self.starts: list[int] = []
        self.cur = _NO_BUCKET  # id of the bucket being filled
        self.start = math.inf  # ... which spans [start, end)
        self.end = -math.inf
        self.rolls = 0

    def add(self, col: Sequence[float | None], start: int) -> None:
        """Add the row ``col[start:start + len(subjects)]`` (one value per subject; None for
        unknown) to the bucket being filled; `col` must not change afterwards."""
        self.cols.append(col)
        self.starts.append(start)

    def roll(self, at: float) -> None:
        """Move to the bucket holding `at`: complete the current one, expire old ones."""
        b = int((at + self.phase) // self.width)
        cur = self.cur
        if b <= cur:
            # time went backwards (or `at` sits on the edge by rounding): keep this bucket
            self.start = min(self.start, at)
            return
        nb, ids = self.nb, self.ids
        rn, rs, rss = self.ring_n, self.ring_s, self.ring_ss
        n, s, ss = self.n, self.s, self.ss
        g = len(n)
        done = False
        if self.cols and cur != _NO_BUCKET:
            o = cur % nb * g
            rn[o:o + g], rs[o:o + g], rss[o:o + g] = self._sum_rows()
            ids[cur % nb] = cur
            done = True
        self.cols.clear()
        self.starts.clear()
        first = b - nb + 1
        self.rolls += 1
        if self.rolls % nb == 0 or b != cur + 1:
            # recount from the ring (after a gap, and now and then against rounding drift)
            n[:] = repeat(0, g)
            s[:] = repeat(0.0, g)
            ss[:] = repeat(0.0, g)
            for slot in range(nb):
                if first <= ids[slot] < b:
                    o = slot * g
                    n[:] = map(add, n, rn[o:o + g])
                    s[:] = map(add, s, rs[o:o + g])
                    ss[:] = map(add, ss, rss[o:o + g])
                else:
                    ids[slot] = _NO_BUCKET
        else:
            # the completed bucket joins the baseline; bucket b - nb, in slot b % nb, leaves it
            slot = b % nb
            o, p = cur % nb * g, slot * g
            if ids[slot] == _NO_BUCKET:
                if done:
                    n[:] = map(add, n, rn[o:o + g])
                    s[:] = map(add, s, rs[o:o + g])
                    ss[:] = map(add, ss, rss[o:o + g])
            elif done:
                n[:] = map(sub, map(add, n, rn[o:o + g]), rn[p:p + g])
                s[:] = map(sub, map(add, s, rs[o:o + g]), rs[p:p + g])
                ss[:] = map(sub, map(add, ss, rss[o:o + g]), rss[p:p + g])
            else:
                n[:] = map(sub, n, rn[p:p + g])
                s[:] = map(sub, s, rs[p:p + g])
                ss[:] = map(sub, ss, rss[p:p + g])
            ids[slot] = _NO_BUCKET
        self.cur = b
        self.start = b * self.width - self.phase
        self.end = (b + 1) * self.width - self.phase
        if not self.start <= at < self.end:  # rounding at a bucket edge
            self.start, self.end = min(self.start, at), max(self.end, math.nextafter(at, math.inf))
        self._bands()

    def _sum_rows(self) -> tuple[list[int], list[float], list[float]]:
        """Count, sum and sum of squares per subject of the bucket's rows, each value shifted
        by its subject's first value (unknown values left out)."""
        g = len(self.k)
        cols = list(zip(*[col[a:a + g] for col, a in zip(self.cols, self.starts, strict=True)],
                        strict=True))
        k = self.k
        try:  # in C while every value is known and every subject has its shift
            ds = list(map(list, map(map, repeat(sub), cols, map(repeat, k))))
            return ([len(self.cols)] * g, list(map(sum, ds)),
                    list(map(sum, map(map, repeat(mul), ds, ds))))
        except TypeError:
            pass
        ns: list[int] = []
        sums: list[float] = []
        squares: list[float] = []
        for i, col in enumerate(cols):
            known = [v for v in col if v is not None]
            if not known:
                ns.append(0)
                sums.append(0.0)
                squares.append(0.0)
                continue
            ki = k[i]
            if ki is None:
                ki = k[i] = known[0]
            d = [v - ki for v in known]
            ns.append(len(d))
            sums.append(sum(d))
            squares.append(sum([x * x for x in d]))
        return ns, sums, squares

    def _bands(self) -> None:
        limit, min_n, min_std, direction = self.z
        n, k = self.n, self.k
        if n and min(n) >= max(min_n, 1):
            try:  # in C: every subject has a baseline
                m = list(map(truediv, self.s, n))
                var = list(map(sub, map(truediv, self.ss, n), map(mul, m, m)))
                std = [math.sqrt(v) if v > 0 else 0.0 for v in var]
                self.mean[:] = map(add, m, k)
            except TypeError:  # a subject without a shift yet
                pass
            else:
                self.std[:] = std
                sd = [x if x > min_std else min_std for x in std]
                if min(sd) > 0:
                    width = list(map(mul, repeat(limit), sd))
                    g = len(n)
                    self.hi[:] = (map(add, self.mean, width) if direction != "below"
                                  else repeat(math.inf, g))
                    self.lo[:] = (map(sub, self.mean, width) if direction != "above"
                                  else repeat(-math.inf, g))
                    return
        for i, ni in enumerate(n):
            ki = k[i]
            if ni <= 0 or ki is None:
                # Nothing of this subject left in the window: the next value becomes its shift
                # (a shift far from the values it serves, e.g. after a spike of 1e6 then
                # values near 0, would cost the deviation its precision).
                k[i] = None
                self.n[i], self.s[i], self.ss[i] = 0, 0.0, 0.0
                self.mean[i] = self.std[i] = math.nan
                self.hi[i], self.lo[i] = math.inf, -math.inf
                continue
            m = self.s[i] / ni
            var = self.ss[i] / ni - m * m
            std = math.sqrt(var) if var > 0 else 0.0
            mean = m + ki
            self.mean[i], self.std[i] = mean, std
            sd = std if std > min_std else min_std
            if ni < min_n or sd <= 0:
                self.hi[i], self.lo[i] = math.inf, -math.inf  # no baseline yet, or flat
            else:
                self.hi[i] = mean + limit * sd if direction != "below" else math.inf
                self.lo[i] = mean - limit * sd if direction != "above" else -math.inf


def zscore(v: float, mean: float, std: float, min_std: float) -> float | None:
    std = max(std, min_std)
    if std <= 0 or not math.isfinite(std):
        return None  # a flat baseline has no z-score
    return (v - mean) / std


def z_exceeds(z: float | None, limit: float, direction: str) -> bool:
    if z is None:
        return False
    if direction == "above":
        return z > limit
    if direction == "below":
        return z < -limit
    return abs(z) > limit


class Slope:
    """Least-squares slope of one series over a sliding time window, O(1) a point.

    Running sums of the points in the window (times and values taken relative to an origin
    near the window, so the sums stay well conditioned) give the slope at every point. The
    sums are made afresh from the points now and then, so rounding never piles up. The slope
    is unknown with fewer than 3 points or while the points span less than half the window
    (a trend needs time to show)."""

    __slots__ = ("fresh", "n", "sx", "sxx", "sxy", "sy", "syy", "t0", "ts", "v0", "vs",
                 "window_s")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.ts: deque[float] = deque()
        self.vs: deque[float] = deque()
        self.t0 = 0.0
        self.v0 = 0.0
        self.n = 0
        self.sx = self.sy = self.sxx = self.sxy = self.syy = 0.0
        self.fresh = 0  # points added since the sums were made afresh

    def push(self, t: float, v: float) -> float | None:
        """Add the point (t, v) (a time not after the newest is ignored); the slope, per
        second, over the window ending at `t`."""
        ts, vs = self.ts, self.vs
        if ts and t <= ts[-1]:
            return self.slope()
        if not ts:
            self.t0, self.v0 = t, v
        x, y = t - self.t0, v - self.v0
        ts.append(t)
        vs.append(v)
        self.n += 1
        self.sx += x
        self.sy += y
        self.sxx += x * x
        self.sxy += x * y
        self.syy += y * y
        horizon = t - self.window_s
        while ts[0] <= horizon:
            x, y = ts.popleft() - self.t0, vs.popleft() - self.v0
            self.n -= 1
            self.sx -= x
            self.sy -= y
            self.sxx -= x * x
            self.sxy -= x * y
            self.syy -= y * y
        self.fresh += 1
        if self.fresh > 4 * self.n + 16:
            self._resum()
        return self.slope()

    def _resum(self) -> None:
        ts, vs = self.ts, self.vs
        self.t0, self.v0 = ts[0], vs[0]
        xs = [t - self.t0 for t in ts]
        ys = [v - self.v0 for v in vs]
        self.n = len(xs)
        self.sx = math.fsum(xs)
        self.sy = math.fsum(ys)
        self.sxx = math.fsum(x * x for x in xs)
        self.sxy = math.fsum(x * y for x, y in zip(xs, ys, strict=True))
        self.syy = math.fsum(y * y for y in ys)
        self.fresh = 0

    def slope(self) -> float | None:
        """The slope per second over the window; None when it cannot be told yet."""
        n, ts = self.n, self.ts
        if n < 3 or ts[-1] - ts[0] < self.window_s / 2:
            return None
        var = self.sxx - self.sx * self.sx / n
        if var <= 0:
            return None
        return (self.sxy - self.sx * self.sy / n) / var

    def r2(self) -> float:
        """How much of the values' movement over the window the line explains (R², 0..1): near
        0 for noise around a level, near 1 for a steady climb; 0 for a flat series."""
        n = self.n
        if n < 3:
            return 0.0
        cov = self.sxy - self.sx * self.sy / n
        var_x = self.sxx - self.sx * self.sx / n
        var_y = self.syy - self.sy * self.sy / n
        if var_x <= 0 or var_y <= 1e-12 * max(1.0, self.syy):
            return 0.0
        return min(1.0, cov * cov / (var_x * var_y))
