"""Metric history in two tiers, with gaps kept (pure: no clocks, no I/O).

One :class:`NodeHistory` per node shares a time axis across all of the node's series and stores
values as 32-bit floats with NaN for "no data". A key is ``(metric_name, subject)`` where
subject is ``None`` for node metrics, the GPU index for GPU metrics and the pid for process
metrics.

Two tiers keep 15 minutes of a 256-node fleet small:

* the **fine** tier holds the newest ``capacity`` points at full resolution;
* the optional **coarse** tier holds ``buckets`` consolidated points. When the fine tier is
  full, its oldest points that share one ``bucket_s``-wide time bucket (edges at multiples of
  ``bucket_s``) leave it together and become one coarse point holding their mean and their max
  (so a spike is not lost). A coarse point stands at the time of the first point it holds.
  Its value is a gap (None) only when none of its points had a value; a bucket in which no
  point arrived at all (the node was silent) makes no coarse point, as in the fine tier.

Readers see one series, oldest first: coarse points, then fine points. ``points(..., peak=True)``
gives the coarse points' max instead of their mean (fine points are the same either way).
Without a coarse tier (``buckets=0``) the oldest point is simply dropped when the tier is full.

Storage is made for cheap copies (a replay keeps a copy every few seconds): a point is one row
of 32-bit values (one column per key, in the order keys first had a value), and the rows of one
time bucket are sealed into one immutable chunk when the next bucket starts. Rows, chunks and
coarse points are never written again, so :meth:`NodeHistory.clone` copies a few lists of
references, not the data, and a copy costs memory only for what is new after it.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from autoglm_tui.metrics import NO_HISTORY

Key = tuple[str, "int | None"]
NAN = float("nan")
CHUNK = 32  # rows a chunk holds without a coarse tier (with one: a bucket's rows)
MERGE_ROWS = 48  # sealed chunks are merged into one once they hold this many rows together
_NANS = array("f", [NAN]) * 4096


def _nans(n: int) -> array:
    return _NANS[:n] if n <= len(_NANS) else array("f", [NAN]) * n


class _Chunk(NamedTuple):
    """Sealed fine points: `flat` holds `len(times)` rows of `width` values, row after row;
    column `slots[key]` (when below `width`) is that key's series. Chunks of one `epoch` (the
    layout's columns were not renumbered in between) can be merged."""

    times: array
    flat: array
    width: int
    slots: dict[Key, int]
    epoch: int
    merged: bool


class _Coarse(NamedTuple):
    """One coarse point: per column, the mean and the max of its bucket."""

    t: float
    slots: dict[Key, int]
    width: int
    mean: array
    peak: array


class _Layout:
    """Which column each key has (columns in the order keys first had a value), the keys that
    never get a series (metrics.NO_HISTORY), and the forgotten ones. Shared by copies until one
    of them changes it."""

    __slots__ = ("dead", "epoch", "nohist", "order", "reborn", "slots")

    def __init__(self, epoch: int = 0) -> None:
        self.epoch = epoch  # bumped when columns are renumbered
        self.slots: dict[Key, int] = {}
        self.order: list[Key] = []  # keys by column
        self.nohist: set[Key] = set()
        self.dead: set[Key] = set()  # forgotten: their columns are no longer theirs
        self.reborn: dict[Key, float] = {}  # forgotten keys that came back: since when

    def live(self, key: Key) -> bool:
        return key in self.slots and key not in self.dead

    def live_keys(self) -> list[Key]:
        """Keys with a series now, in the order they first had a value."""
        if not self.dead:
            return list(self.order)
        return [k for k in self.order if k not in self.dead]

    def new_keys(self, values: dict[Key, float | None]) -> set[Key]:
        """Keys of `values` that have no series yet (or were forgotten), in C set operations."""
        new = values.keys() - self.slots.keys()
        if new and self.nohist:
            new -= self.nohist
        if self.dead:
            new |= values.keys() & self.dead
        return new

    def copy(self) -> _Layout:
        new = _Layout(self.epoch)
        new.slots, new.order = dict(self.slots), list(self.order)
        new.nohist, new.dead, new.reborn = set(self.nohist), set(self.dead), dict(self.reborn)
        return new

    def compact(self) -> _Layout:
        """The same live keys in fresh columns (the columns of forgotten keys dropped)."""
        new = _Layout(self.epoch + 1)
        new.order = self.live_keys()
        new.slots = {k: i for i, k in enumerate(new.order)}
        new.nohist, new.reborn = set(self.nohist), dict(self.reborn)
        return new


class NodeHistory:
    """History of one node: sealed chunks and open rows (fine), coarse points."""

    __slots__ = ("_bucket", "_chunks", "_coarse", "_last_t", "_lay", "_len", "_owned", "_rows",
                 "_rt", "_skip", "bucket_s", "buckets", "capacity")

    def __init__(self, capacity: int, bucket_s: float = 0.0, buckets: int = 0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if buckets < 0 or (buckets and not bucket_s > 0):
            raise ValueError("a coarse tier needs buckets >= 1 and bucket_s > 0")
        self.capacity = capacity
        self.bucket_s = float(bucket_s) if buckets else 0.0
        self.buckets = buckets
        self._chunks: list[_Chunk] = []  # sealed fine points, oldest first
        self._skip = 0  # points of the oldest chunk already dropped (one tier only)
        self._rows: list[array] = []  # the open chunk: its rows and their times
        self._rt: list[float] = []
        self._bucket: float | None = None  # the open chunk's bucket
        self._coarse: list[_Coarse] = []
        self._len = 0  # fine points held
        self._last_t = -math.inf
        self._lay = _Layout()
        self._owned = True  # False once a copy shares the layout: change a copy of it

    def __len__(self) -> int:
        """Points held in both tiers."""
        return self._len + len(self._coarse)

    def keys(self) -> list[Key]:
        return self._lay.live_keys()

    def append(self, t: float, values: dict[Key, float | None]) -> None:
        """Record one point in time; keys absent from `values` get a gap at `t`."""
        if self._len and t < self._last_t:
            return  # out of order: dropped (the time axis only moves forward)
        if self.buckets:
            bucket = math.floor(t / self.bucket_s)
            if self._rows and bucket != self._bucket:
                self._seal()
            self._bucket = bucket
            if self._len == self.capacity:
                self._consolidate()
        else:
            if len(self._rows) >= CHUNK:
                self._seal()
            if self._len == self.capacity:
                self._drop_oldest()
        lay = self._lay
        # A series is created at its first value: metrics a node never reports cost nothing,
        # and those that keep only their newest value (metrics.NO_HISTORY) none either.
        new = lay.new_keys(values)  # set differences, in C
        if new:
            lay = self._add_keys(new, values, t)
        get = values.get
        self._rows.append(array("f", [NAN if v is None else v for v in map(get, lay.order)]))
        self._rt.append(t)
        self._len += 1
        self._last_t = t

    def _layout(self) -> _Layout:
        """The layout, ready to change (copied first when a copy of this history shares it)."""
        if not self._owned:
            self._lay = self._lay.copy()
            self._owned = True
        return self._lay

    def _add_keys(self, new: set[Key], values: dict[Key, float | None], t: float) -> _Layout:
        lay = self._lay
        # keys whose value is None are looked at again next time (a series starts at a value)
        adding = [k for k in new if values[k] is not None or k[0] in NO_HISTORY]
        for key in sorted(adding, key=str) if len(adding) > 1 else adding:  # a stable order
            lay = self._layout()
            if key[0] in NO_HISTORY:
                lay.nohist.add(key)
            elif key in lay.dead:  # forgotten, now back: its old points are not its own
                lay.dead.discard(key)
                lay.reborn[key] = t
            else:
                lay.slots[key] = len(lay.order)
                lay.order.append(key)
        return lay

    def backfilled(
        self,
        times: Sequence[float],
        series: Mapping[Key, Sequence[float | None]],
        empty: NodeHistory,
    ) -> NodeHistory:
        """A history holding `times`/`series` (older points, e.g. from a range query) followed
        by this history's points newer than ``times[-1]``, built in the `empty` history given
        (same sizes as this one). Points of this history from ``times[0]`` to ``times[-1]`` are
        replaced; older ones are kept before. Coarse points come back as their means."""
        first, last = times[0], times[-1]
        own_times = self._all_times()
        # Every series spans the whole time axis (gaps are None), so columns line up with it.
        columns = {key: [v for _, v in self.points(key)] for key in self._lay.live_keys()}

        def own_row(i: int) -> dict[Key, float | None]:
            return {key: col[i] for key, col in columns.items()}

        for i, t in enumerate(own_times):
            if t < first:
                empty.append(t, own_row(i))
        for i, t in enumerate(times):
            empty.append(t, {key: col[i] for key, col in series.items()})
        for i, t in enumerate(own_times):
            if t > last:
                empty.append(t, own_row(i))
        return empty

    def _all_times(self) -> list[float]:
        times, _ = self.window([], -math.inf)
        return times

    def forget(self, predicate: Callable[[Key], bool]) -> None:
        """Drop series whose key matches `predicate` (e.g. pids that are gone)."""
        gone = [k for k in self._lay.live_keys() if predicate(k)]
        if gone:
            self._layout().dead.update(gone)

    # ------------------------------------------------------------------ chunks

    def _flat(self) -> tuple[array, int]:
        """The open rows as one flat array (short rows padded with gaps) and its width."""
        width = len(self._lay.order)
        flat = array("f")
        for row in self._rows:
            flat.extend(row)
            if len(row) < width:
                flat.extend(_nans(width - len(row)))
        return flat, width

    def _seal(self) -> None:
        flat, width = self._flat()
        lay = self._lay
        self._chunks.append(_Chunk(array("d", self._rt), flat, width, lay.slots, lay.epoch,
                                   False))
        self._rows, self._rt = [], []
        self._merge()
        if len(lay.dead) > len(lay.order) // 2 + 32:  # many forgotten columns: start afresh
            self._lay, self._owned = lay.compact(), True

    def _merge(self) -> None:
        """Merge the newest run of small chunks into one once it holds MERGE_ROWS rows, so a
        read slices a few chunks, not one per bucket. The small ones stay as they are for the
        copies that share them; the merged chunk is new."""
        chunks = self._chunks
        last = chunks[-1]
        run, rows = 0, 0
        for c in reversed(chunks):
            if c.merged or c.epoch != last.epoch or (c is chunks[0] and self._skip):
                break
            run += 1
            rows += len(c.times)
        if run < 2 or rows < MERGE_ROWS:
            return
        part = chunks[-run:]
        width = last.width
        times, flat = array("d"), array("f")
        for c in part:
            times.extend(c.times)
            if c.width == width:
                flat.extend(c.flat)
                continue
            pad = _nans(width - c.width)
            for i in range(len(c.times)):
                flat.extend(c.flat[i * c.width:(i + 1) * c.width])
                flat.extend(pad)
        chunks[-run:] = [_Chunk(times, flat, width, last.slots, last.epoch, True)]

    def _drop_oldest(self) -> None:
        """One tier: the oldest point goes."""
        if self._chunks:
            self._skip += 1
            if self._skip == len(self._chunks[0].times):
                del self._chunks[0]
                self._skip = 0
        else:
            del self._rows[0], self._rt[0]
        self._len -= 1

    def _consolidate(self) -> None:
        """Move the oldest time bucket of the fine tier into one coarse point (mean and max)."""
        if self._chunks:
            times, flat, width, slots = self._chunks[0][:4]
            a = self._skip
            bucket = math.floor(times[a] / self.bucket_s)
            b = a + 1
            while b < len(times) and math.floor(times[b] / self.bucket_s) == bucket:
                b += 1
            if b == len(times):
                del self._chunks[0]
                self._skip = 0
            elif 2 * b >= len(times):  # most of it has left: keep only the rest (memory)
                c = self._chunks[0]
                self._chunks[0] = c._replace(times=times[b:], flat=flat[b * width:],
                                             merged=True)
                self._skip = 0
            else:
                self._skip = b
        else:  # one bucket holds more points than the fine tier: they leave together
            flat, width = self._flat()
            times, slots = self._rt, self._lay.slots
            a, b = 0, len(self._rows)
            self._rows, self._rt = [], []
        n = b - a
        mean, peak = _nans(width), _nans(width)
        for key in self._lay.live_keys():
            s = slots.get(key)
            if s is None or s >= width:
                continue
            col = flat[s + a * width: s + b * width: width]
            total = sum(col)
            if total == total:  # no gap in the bucket (NaN != NaN): the fast path
                mean[s] = total / n
                peak[s] = max(col)
                continue
            known = [v for v in col if v == v]  # gaps left out of the mean and the max
            if known:
                mean[s] = sum(known) / len(known)
                peak[s] = max(known)
        self._coarse.append(_Coarse(times[a], slots, width, mean, peak))
        if len(self._coarse) > self.buckets:
            del self._coarse[0]
        self._len -= n

    # ------------------------------------------------------------------ reads

    def _since(self, key: Key) -> float:
        """Points before this time are not the key's (-inf for most keys)."""
        return self._lay.reborn.get(key, -math.inf)

    @property
    def fine_since(self) -> float | None:
        """Time of the oldest full-resolution point (older points are coarse), None if empty."""
        if not self._len:
            return None
        if self._chunks:
            return self._chunks[0].times[self._skip]
        return self._rt[0]

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
        times, (row,) = self.window([key], -math.inf if since is None else since, until,
                                    peak=peak)
        if row is None:
            return []
        return [(t, None if v != v else float(v)) for t, v in zip(times, row, strict=True)]

    def window(
        self, keys: Sequence[Key], since: float, until: float | None = None, *,
        peak: bool = False,
    ) -> tuple[list[float], list[list[float] | None]]:
        """Times in [since, until] and, per key, its values on those times (NaN for a gap;
        None for an unknown key), oldest first: coarse means (maxima with `peak`), then fine
        points.

        The fast read for analyses that scan many series over one window: each chunk's part
        of the window is found by bisection and each series is copied with array slices."""
        hi = math.inf if until is None else until
        live = self._lay.live
        times: list[float] = []
        rows: list[list[float] | None] = [[] if live(k) else None for k in keys]
        born = [self._since(k) for k in keys]
        if self._coarse and (self.fine_since is None or since < self.fine_since):
            # runs of coarse points that share their columns: one lookup per key and run
            runs: list[tuple[dict[Key, int], int, list[array], list[float]]] = []
            for cp in self._coarse:
                if not since <= cp.t <= hi:
                    continue
                times.append(cp.t)
                if not runs or runs[-1][0] is not cp.slots or runs[-1][1] != cp.width:
                    runs.append((cp.slots, cp.width, [], []))
                runs[-1][2].append(cp.peak if peak else cp.mean)
                runs[-1][3].append(cp.t)
            for n, k in enumerate(keys):
                row = rows[n]
                if row is None:
                    continue
                for slots, width, arrays, ts in runs:
                    s = slots.get(k)
                    if s is None or s >= width:
                        row.extend(_nans(len(arrays)))
                    elif ts[0] >= born[n]:
                        row.extend([v[s] for v in arrays])
                    else:
                        row.extend([v[s] if t >= born[n] else NAN
                                    for t, v in zip(ts, arrays, strict=True)])
        first = self._skip
        for c in self._chunks:
            t_arr = c.times
            if t_arr[-1] < since:
                first = 0
                continue
            a = max(first, bisect_left(t_arr, since))
            first = 0
            b = bisect_right(t_arr, hi)
            if a >= b:
                if t_arr[0] > hi:
                    break
                continue
            times.extend(t_arr[a:b])
            flat, width, slots = c.flat, c.width, c.slots
            for n, k in enumerate(keys):
                row = rows[n]
                if row is None:
                    continue
                s = slots.get(k)
                if s is None or s >= width or t_arr[b - 1] < born[n]:
                    row.extend(_nans(b - a))
                    continue
                part = flat[s + a * width: s + b * width: width]
                if t_arr[a] < born[n]:
                    part = [v if t >= born[n] else NAN for t, v in zip(t_arr[a:b], part,
                                                                      strict=True)]
                row.extend(part)
        rt = self._rt
        a, b = bisect_left(rt, since), bisect_right(rt, hi)
        if a < b:
            times.extend(rt[a:b])
            flat, width = self._flat()
            slots = self._lay.slots
            for n, k in enumerate(keys):
                row = rows[n]
                if row is None:
                    continue
                s = slots[k]
                part = flat[s + a * width: s + b * width: width]
                if rt[a] < born[n]:
                    part = [v if t >= born[n] else NAN for t, v in zip(rt[a:b], part,
                                                                      strict=True)]
                row.extend(part)
        return times, rows

    def values(
        self, key: Key, since: float | None = None, until: float | None = None
    ) -> list[float]:
        """Only the known values in the window, oldest first (coarse points give their mean)."""
        return [v for _, v in self.points(key, since, until) if v is not None]

    def latest(self, key: Key) -> float | None:
        """The newest point's value (None if that point is a gap or the key is unknown)."""
        lay = self._lay
        s = lay.slots.get(key)
        if s is None or key in lay.dead or not self._len:
            return None
        if self._rows:  # always, once a point was appended
            row = self._rows[-1]
            v = row[s] if s < len(row) else NAN
        else:
            v = NAN
        return None if v != v else float(v)

    def tail(self, key: Key, n: int) -> list[float | None]:
        """The last `n` values (None for gaps), oldest first: what a sparkline draws."""
        lay = self._lay
        if n <= 0 or not lay.live(key):
            return []
        if n > self._len:
            return [v for _, v in self.points(key)[-n:]]
        born = lay.reborn.get(key, -math.inf)
        rows, rt, s = self._rows, self._rt, lay.slots[key]
        take = min(n, len(rows))
        parts: list[Sequence[float]] = [
            [r[s] if s < len(r) and t >= born else NAN
             for t, r in zip(rt[len(rt) - take:], rows[len(rows) - take:], strict=True)]]
        left = n - take
        i = len(self._chunks)
        while left and i:
            i -= 1
            c = self._chunks[i]
            b = len(c.times)
            a = max(self._skip if i == 0 else 0, b - left)
            left -= b - a
            cs = c.slots.get(key)
            if cs is None or cs >= c.width or c.times[b - 1] < born:
                parts.append(_nans(b - a))
            elif c.times[a] >= born:
                parts.append(c.flat[cs + a * c.width: cs + b * c.width: c.width])
            else:
                parts.append([v if t >= born else NAN for t, v in zip(
                    c.times[a:b], c.flat[cs + a * c.width: cs + b * c.width: c.width],
                    strict=True)])
        return [None if v != v else v for part in reversed(parts) for v in part]

    def clone(self) -> NodeHistory:
        """An independent copy (what a replay checkpoint keeps). Rows, chunks and coarse points
        are never written again, so the copy shares them: it costs a few lists of references."""
        new = NodeHistory.__new__(NodeHistory)
        for name in NodeHistory.__slots__:
            setattr(new, name, getattr(self, name))
        new._chunks, new._rows = list(self._chunks), list(self._rows)
        new._rt, new._coarse = list(self._rt), list(self._coarse)
        self._owned = new._owned = False
        return new

    def nbytes(self) -> int:
        """Approximate memory held by the values (shared with copies: each counts it)."""
        fine = sum(c.times.itemsize * len(c.times) + c.flat.itemsize * len(c.flat)
                   for c in self._chunks)
        fine += sum(4 * len(r) + 8 for r in self._rows)
        return fine + sum(8 + 8 * c.width for c in self._coarse)
