"""Metric history in two tiers, with gaps kept (pure: no clocks, no I/O).

One :class:`NodeHistory` per node shares a time axis across all of the node's series and stores
values as 32-bit floats with NaN for "no data". A key is ``(metric_name, subject)`` where
subject is ``None`` for node metrics, the GPU index for GPU metrics and the pid for process
metrics.

Two tiers keep 15 minutes of a 256-node fleet small:

* the **fine** tier is a ring of the newest ``capacity`` points at full resolution;
* the optional **coarse** tier is a ring of ``buckets`` consolidated points. When the fine ring
  is full, its oldest points that share one ``bucket_s``-wide time bucket (edges at multiples of
  ``bucket_s``) leave it together and become one coarse point holding their mean and their max
  (so a spike is not lost). A coarse point stands at the time of the first point it holds.
  Its value is a gap (None) only when none of its points had a value; a bucket in which no
  point arrived at all (the node was silent) makes no coarse point, as in the fine tier.

Readers see one series, oldest first: coarse points, then fine points. ``points(..., peak=True)``
gives the coarse points' max instead of their mean (fine points are the same either way).
Without a coarse tier (``buckets=0``) the oldest point is simply dropped when the ring is full.

A ``NodeHistory`` may take only some keys (``accept``); :class:`SplitHistory` puts a node's keys
in several of them, each with its own tiers (a node's processes keep a shorter fine tier than its
GPUs), behind the same reading interface.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeVar

Key = tuple[str, "int | str | None"]
NAN = float("nan")
H = TypeVar("H", "NodeHistory", "SplitHistory")


def backfilled(
    own: NodeHistory | SplitHistory,
    times: Sequence[float],
    series: Mapping[Key, Sequence[float | None]],
    empty: H,
) -> H:
    """A history holding `times`/`series` (older points, e.g. from a range query) followed by
    `own`'s points newer than ``times[-1]``, built in the `empty` history given (same sizes as
    `own`). Points of `own` from ``times[0]`` to ``times[-1]`` are replaced; older ones are kept
    before. Coarse points come back as their means."""
    first, last = times[0], times[-1]
    rows: dict[float, dict[Key, float | None]] = {}
    for key in own.keys():  # noqa: SIM118 (a history, not a dict)
        for t, v in own.points(key):
            rows.setdefault(t, {})[key] = v
    own_times = sorted(rows)
    for t in own_times:
        if t < first:
            empty.append(t, rows[t])
    for i, t in enumerate(times):
        empty.append(t, {key: col[i] for key, col in series.items()})
    for t in own_times:
        if t > last:
            empty.append(t, rows[t])
    return empty


class NodeHistory:
    """History of one node: a fine time ring, a coarse time ring, one value array per key.

    Each key's array holds ``capacity`` fine values, then ``buckets`` coarse means, then
    ``buckets`` coarse maxima (one allocation per series).
    """

    __slots__ = (
        "_accept",
        "_c_head",
        "_c_len",
        "_c_times",
        "_head",
        "_ignored",
        "_len",
        "_series",
        "_times",
        "_width",
        "bucket_s",
        "buckets",
        "capacity",
    )

    def __init__(
        self,
        capacity: int,
        bucket_s: float = 0.0,
        buckets: int = 0,
        accept: Callable[[Key], bool] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if buckets < 0 or (buckets and not bucket_s > 0):
            raise ValueError("a coarse tier needs buckets >= 1 and bucket_s > 0")
        self.capacity = capacity
        self.bucket_s = float(bucket_s) if buckets else 0.0
        self.buckets = buckets
        self._width = capacity + 2 * buckets
        self._times = array("d", [NAN]) * capacity
        self._c_times = array("d", [NAN]) * buckets
        self._series: dict[Key, array] = {}
        self._accept = accept  # which keys get a series here (None: every key)
        self._ignored: set[Key] = set()  # keys seen and not accepted
        self._head = 0  # index of the next fine write
        self._len = 0  # fine points held
        self._c_head = 0  # index of the next coarse write
        self._c_len = 0  # coarse points held

    def __len__(self) -> int:
        """Points held in both tiers."""
        return self._len + self._c_len

    def keys(self) -> list[Key]:
        return list(self._series)

    def append(self, t: float, values: dict[Key, float | None]) -> None:
        """Record one point in time; keys absent from `values` get a gap at `t`."""
        i = self._start(t)
        if i is None:
            return
        self._write(i, values)
        accept, ignored, known = self._accept, self._ignored, self._series
        for key, v in values.items():
            # A series is created at its first value: metrics a node never reports cost nothing.
            if v is None or key in known or key in ignored:
                continue
            if accept is not None and not accept(key):
                ignored.add(key)
                continue
            self._create(i, key, v)
        self._finish(i)

    def accepts(self, key: Key) -> bool:
        return self._accept is None or self._accept(key)

    def _start(self, t: float) -> int | None:
        """Make room for a point at `t` and return its slot (None: out of order, dropped)."""
        if self._len and t < self._last_time():
            return None  # the time axis only moves forward
        if self._len == self.capacity and self.buckets:
            self._consolidate()
        i = self._head
        self._times[i] = t
        return i

    def _write(self, i: int, values: dict[Key, float | None]) -> None:
        """Every existing series' value at slot `i` (a gap where `values` has none)."""
        for key, series in self._series.items():
            v = values.get(key)
            series[i] = NAN if v is None else v

    def _create(self, i: int, key: Key, v: float) -> None:
        series = array("f", [NAN]) * self._width
        series[i] = v
        self._series[key] = series

    def _finish(self, i: int) -> None:
        self._head = (i + 1) % self.capacity
        self._len = min(self._len + 1, self.capacity)

    def forget(self, predicate: Callable[[Key], bool]) -> None:
        """Drop series whose key matches `predicate` (e.g. pids that are gone)."""
        for key in [k for k in self._series if predicate(k)]:
            del self._series[key]
        self._ignored = {k for k in self._ignored if not predicate(k)}

    def __contains__(self, key: object) -> bool:
        return key in self._series

    # ------------------------------------------------------------------ consolidation

    def _consolidate(self) -> None:
        """Move the fine ring's oldest time bucket into one coarse point (mean and max)."""
        cap, step = self.capacity, self.bucket_s
        times = self._times
        start = (self._head - self._len) % cap
        bucket = math.floor(times[start] / step)
        n = 1
        while n < self._len and math.floor(times[(start + n) % cap] / step) == bucket:
            n += 1
        j = self._c_head
        self._c_times[j] = times[start]
        mean_at, max_at = cap + j, cap + self.buckets + j
        end = start + n
        wraps = end > cap
        for series in self._series.values():
            chunk = series[start:cap] + series[: end - cap] if wraps else series[start:end]
            total = sum(chunk)
            if total == total:  # no gap in the bucket (NaN != NaN): the fast path
                series[mean_at] = total / n
                series[max_at] = max(chunk)
                continue
            known = [v for v in chunk if v == v]  # gaps left out of the mean and the max
            series[mean_at] = sum(known) / len(known) if known else NAN
            series[max_at] = max(known) if known else NAN
        self._c_head = (j + 1) % self.buckets
        self._c_len = min(self._c_len + 1, self.buckets)
        self._len -= n

    # ------------------------------------------------------------------ reads

    def _last_time(self) -> float:
        return self._times[(self._head - 1) % self.capacity]

    def _indices(self) -> Iterator[int]:
        start = (self._head - self._len) % self.capacity
        for n in range(self._len):
            yield (start + n) % self.capacity

    def _coarse_indices(self) -> Iterator[int]:
        start = (self._c_head - self._c_len) % self.buckets if self.buckets else 0
        for n in range(self._c_len):
            yield (start + n) % self.buckets

    @property
    def fine_since(self) -> float | None:
        """Time of the oldest full-resolution point (older points are coarse), None if empty."""
        if not self._len:
            return None
        return self._times[(self._head - self._len) % self.capacity]

    def points(
        self,
        key: Key,
        since: float | None = None,
        until: float | None = None,
        *,
        peak: bool = False,
    ) -> list[tuple[float, float | None]]:
        """(t, value) pairs oldest first; value None marks a gap. Empty for an unknown key.

        Coarse points (beyond the fine tier) carry their bucket's mean, or its max with `peak`.
        """
        series = self._series.get(key)
        if series is None:
            return []
        out: list[tuple[float, float | None]] = []
        lo = -math.inf if since is None else since
        hi = math.inf if until is None else until
        if self._c_len:
            base = self.capacity + (self.buckets if peak else 0)
            c_times = self._c_times
            for j in self._coarse_indices():
                t = c_times[j]
                if lo <= t <= hi:
                    v = series[base + j]
                    out.append((t, None if v != v else float(v)))
        times = self._times
        for i in self._indices():
            t = times[i]
            if lo <= t <= hi:
                v = series[i]
                out.append((t, None if v != v else float(v)))
        return out

    def values(
        self, key: Key, since: float | None = None, until: float | None = None
    ) -> list[float]:
        """Only the known values in the window, oldest first (coarse points give their mean)."""
        return [v for _, v in self.points(key, since, until) if v is not None]

    def latest(self, key: Key) -> float | None:
        """The newest point's value (None if that point is a gap or the key is unknown)."""
        series = self._series.get(key)
        if series is None or not self._len:
            return None
        v = series[(self._head - 1) % self.capacity]
        return None if math.isnan(v) else float(v)

    def tail(self, key: Key, n: int) -> list[float | None]:
        """The last `n` values (None for gaps), oldest first: what a sparkline draws."""
        if n <= 0:
            return []
        if n > self._len:
            return [v for _, v in self.points(key)[-n:]]
        series = self._series.get(key)
        if series is None:
            return []
        cap = self.capacity
        start = self._head - n
        out: list[float | None] = []
        for k in range(start, self._head):
            v = series[k % cap]
            out.append(None if v != v else float(v))
        return out

    def nbytes(self) -> int:
        """Approximate memory held by the buffers."""
        times = self._times.itemsize * self.capacity + self._c_times.itemsize * self.buckets
        return times + sum(s.itemsize * self._width for s in self._series.values())


    def window(
        self, keys: Sequence[Key], since: float, until: float | None = None
    ) -> tuple[list[float], list[list[float] | None]]:
        """Times in [since, until] and, per key, its values on those times (NaN for a gap;
        None for an unknown key), oldest first: coarse means, then fine points.

        The fast read for analyses that scan many series over one window: the time range is
        found once by bisection and each series is copied with array slices."""
        hi = math.inf if until is None else until
        times: list[float] = []
        rows: list[list[float] | None] = [None] * len(keys)
        series = [self._series.get(k) for k in keys]
        coarse: list[int] = []
        if self._c_len and (self.fine_since is None or since < self.fine_since):
            c_times = self._c_times
            coarse = [j for j in self._coarse_indices() if since <= c_times[j] <= hi]
            times.extend(c_times[j] for j in coarse)
        a, b = self._fine_range(since, hi)
        cap, start = self.capacity, (self._head - self._len) % self.capacity
        lo_i, hi_i = start + a, start + b  # physical, possibly past the end of the ring
        spans = [(lo_i, min(hi_i, cap))] if lo_i < cap else []
        if hi_i > cap:
            spans.append((max(lo_i, cap) - cap, hi_i - cap))
        for x, y in spans:
            times.extend(self._times[x:y])
        base = self.capacity
        for n, s in enumerate(series):
            if s is None:
                continue
            row = [s[base + j] for j in coarse]
            for x, y in spans:
                row.extend(s[x:y])
            rows[n] = row
        return times, rows

    def _fine_range(self, since: float, until: float) -> tuple[int, int]:
        """Logical indices [a, b) of the fine points with since <= t <= until."""
        n, cap, times = self._len, self.capacity, self._times
        start = (self._head - n) % cap
        lo, hi = 0, n
        while lo < hi:  # first t >= since
            mid = (lo + hi) // 2
            if times[(start + mid) % cap] < since:
                lo = mid + 1
            else:
                hi = mid
        a, hi = lo, n
        lo = a
        while lo < hi:  # first t > until
            mid = (lo + hi) // 2
            if times[(start + mid) % cap] <= until:
                lo = mid + 1
            else:
                hi = mid
        return a, lo


    def clone(self) -> NodeHistory:
        """An independent copy (the arrays are copied; a replay checkpoint keeps one)."""
        new = NodeHistory.__new__(NodeHistory)
        for name in NodeHistory.__slots__:
            setattr(new, name, getattr(self, name))
        new._times = array("d", self._times)
        new._c_times = array("d", self._c_times)
        new._series = {k: array("f", a) for k, a in self._series.items()}
        new._ignored = set(self._ignored)
        return new


class SplitHistory:
    """One node's history in parts, each a :class:`NodeHistory` with its own tiers; a key
    lives in the first part that accepts it. Reads and writes look like one NodeHistory's."""

    __slots__ = ("_part_of", "_waiting", "parts")

    def __init__(self, parts: list[NodeHistory]) -> None:
        if not parts:
            raise ValueError("a split history needs at least one part")
        self.parts = parts
        self._part_of: dict[Key, int] = {}  # key -> index of its part (-1: none takes it)
        self._waiting: set[Key] = set()  # keys with a part but no series yet (no value yet)

    def _part(self, key: Key) -> NodeHistory | None:
        for part in self.parts:
            if key in part:
                return part
        return None

    def __len__(self) -> int:
        return len(self.parts[0])

    def keys(self) -> list[Key]:
        out: list[Key] = []
        for part in self.parts:
            out.extend(part.keys())
        return out

    def append(self, t: float, values: dict[Key, float | None]) -> None:
        """One pass over `values` for all parts (new keys go to the first part that takes
        them), then each part writes its own series."""
        parts = self.parts
        slots: list[int] = []
        for part in parts:
            i = part._start(t)
            if i is None:
                return  # out of order: every part shares the same sequence of times
            part._write(i, values)
            slots.append(i)
        part_of, waiting = self._part_of, self._waiting
        if values.keys() <= part_of.keys():  # no key it has not seen before (a test in C)
            for key in [k for k in waiting if values.get(k) is not None]:
                n = part_of[key]
                parts[n]._create(slots[n], key, values[key])  # type: ignore[arg-type]
                waiting.discard(key)
        else:
            known = [part._series for part in parts]
            for key, v in values.items():
                n = part_of.get(key)
                if n is None:
                    n = part_of[key] = next((k for k, p in enumerate(parts) if p.accepts(key)), -1)
                    if n >= 0:
                        waiting.add(key)
                if n >= 0 and v is not None and key not in known[n]:
                    parts[n]._create(slots[n], key, v)
                    waiting.discard(key)
        for part, i in zip(parts, slots, strict=True):
            part._finish(i)

    def forget(self, predicate: Callable[[Key], bool]) -> None:
        for part in self.parts:
            part.forget(predicate)
        for key in [k for k in self._part_of if predicate(k)]:
            del self._part_of[key]
            self._waiting.discard(key)

    @property
    def fine_since(self) -> float | None:
        return self.parts[0].fine_since

    def points(
        self,
        key: Key,
        since: float | None = None,
        until: float | None = None,
        *,
        peak: bool = False,
    ) -> list[tuple[float, float | None]]:
        part = self._part(key)
        return part.points(key, since, until, peak=peak) if part is not None else []

    def values(
        self, key: Key, since: float | None = None, until: float | None = None
    ) -> list[float]:
        part = self._part(key)
        return part.values(key, since, until) if part is not None else []

    def latest(self, key: Key) -> float | None:
        part = self._part(key)
        return part.latest(key) if part is not None else None

    def tail(self, key: Key, n: int) -> list[float | None]:
        part = self._part(key)
        return part.tail(key, n) if part is not None else []

    def nbytes(self) -> int:
        return sum(part.nbytes() for part in self.parts)


    def window(
        self, keys: Sequence[Key], since: float, until: float | None = None
    ) -> tuple[list[float], list[list[float] | None]]:
        """NodeHistory.window over the parts: every part shares the sequence of times, but a
        part with a shorter fine tier holds coarse means where another holds points, so keys
        of other parts are read at the first part's times (NaN where a part has no point)."""
        where = [self._part_of.get(k, -1) for k in keys]
        used = {n for n in where if n >= 0}
        if len(used) <= 1:
            part = self.parts[used.pop()] if used else self.parts[0]
            return part.window(keys, since, until)
        first = min(used)
        times, rows = self.parts[first].window(
            [k if n == first else ("", None) for k, n in zip(keys, where, strict=True)],
            since, until)
        for j, (key, n) in enumerate(zip(keys, where, strict=True)):
            if n < 0 or n == first:
                continue
            ts, (row,) = self.parts[n].window([key], since, until)
            if row is None:
                continue
            at = dict(zip(ts, row, strict=True))
            rows[j] = [at.get(t, NAN) for t in times]
        return times, rows

    def clone(self) -> SplitHistory:
        """An independent copy (a replay checkpoint keeps one)."""
        new = SplitHistory([part.clone() for part in self.parts])
        new._part_of = dict(self._part_of)
        new._waiting = set(self._waiting)
        return new

History = NodeHistory | SplitHistory  # what a node's `history` is
