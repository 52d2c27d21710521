"""One history: sealed chunks of rows and open rows (the fine tier), coarse points (see the
package's docstring)."""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Sequence
from itertools import compress, count, repeat
from operator import ne, truediv

from autoglm_tui.analysis.history.store import (
    CHUNK,
    MERGE_COARSE,
    MERGE_ROWS,
    NAN,
    Chunk,
    Key,
    Layout,
    merge,
    nans,
)

_NONE_AS_NAN = {None: NAN}.get  # called (v, v): NaN for None, else v itself


class NodeHistory:
    """History of one node (or of the keys of one node that `accept` takes): sealed chunks and
    open rows (fine), coarse points."""

    __slots__ = ("_accept", "_bucket", "_c_len", "_c_skip", "_chunks", "_coarse", "_last_t",
                 "_lay", "_len", "_owned", "_rows", "_rt", "_skip", "bucket_s", "buckets",
                 "capacity")

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
        self._chunks: list[Chunk] = []  # sealed fine points, oldest first
        self._skip = 0  # points of the oldest chunk already dropped (one tier only)
        self._rows: list[array] = []  # the open chunk: its rows and their times
        self._rt: list[float] = []
        self._bucket: float | None = None  # the open chunk's bucket
        self._coarse: list[Chunk] = []  # runs of coarse points (means and maxima), oldest first
        self._c_skip = 0  # coarse points of the oldest run already dropped
        self._c_len = 0  # coarse points held
        self._len = 0  # fine points held
        self._last_t = -math.inf
        self._lay = Layout()
        self._owned = True  # False once a copy shares the layout: change a copy of it
        self._accept = accept  # which keys get a series here (None: every key)

    def __len__(self) -> int:
        """Points held in both tiers."""
        return self._len + self._c_len

    def keys(self) -> list[Key]:
        return self._lay.live_keys()

    def append(self, t: float, values: dict[Key, float | None]) -> None:
        """Record one point in time; keys absent from `values` get a gap at `t`."""
        self._append(t, values, None)

    def _append(self, t: float, values: dict[Key, float | None],
                new: Collection[Key] | None) -> None:
        """append(); `new`: the keys of `values` new to this history, when the caller knows
        them (a :class:`SplitHistory` routes keys to its parts), else None: looked for here."""
        if self._advance(t):
            self._put(t, values, new)

    def _advance(self, t: float) -> bool:
        """Make room for a point at `t` (seal the open chunk, move the oldest bucket to the
        coarse tier or drop the oldest point); False if `t` is out of order (the point is
        dropped: the time axis only moves forward)."""
        if self._len and t < self._last_t:
            return False
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
        return True

    def _put(self, t: float, values: dict[Key, float | None],
             new: Collection[Key] | None) -> None:
        """The point's row (after :meth:`_advance`), new keys given their series first."""
        lay = self._lay
        # A series is created at its first value: metrics a node never reports cost nothing,
        # and keys `accept` refuses none either (they are remembered as refused).
        if new is None:
            new = lay.new_keys(values)  # set differences, in C
        if new or any_new_value(values, lay):
            lay = self._add_keys(new, values, t)
        self._push(t, _row(values, lay.order))

    def _push(self, t: float, row: array) -> None:
        """Add a row made for the layout as it is (after :meth:`_advance`)."""
        self._rows.append(row)
        self._rt.append(t)
        self._len += 1
        self._last_t = t

    def _layout(self) -> Layout:
        """The layout, ready to change (copied first when a copy of this history shares it)."""
        if not self._owned:
            self._lay = self._lay.copy()
            self._owned = True
        return self._lay

    def _add_keys(self, new: Collection[Key], values: dict[Key, float | None], t: float) -> Layout:
        """Sort the keys never seen (refused, waiting for a value, or a series now) and give
        the waiting keys that have a value now their series."""
        lay = self._lay
        adding: list[Key] = []
        if new:
            lay = self._layout()
            accept = self._accept
            for key in new:
                if key in lay.dead:  # forgotten: back once it has a value
                    if values[key] is not None:
                        adding.append(key)
                    else:
                        lay.waiting.add(key)
                    continue
                if accept is not None and not accept(key):
                    lay.ignored.add(key)
                elif values[key] is None:
                    lay.waiting.add(key)  # looked at each point until it has a value
                else:
                    adding.append(key)
        if lay.waiting:
            get = values.get
            ready = [k for k in lay.waiting if get(k) is not None]
            if ready:
                lay = self._layout()
                lay.waiting.difference_update(ready)
                adding.extend(ready)
        for key in sorted(adding, key=str) if len(adding) > 1 else adding:  # a stable order
            if key in lay.dead:  # forgotten, now back: its old points are not its own
                lay.dead.discard(key)
                lay.reborn[key] = t
                continue
            lay.slots[key] = len(lay.order)
            lay.order.append(key)
            if lay.epoch:  # older columns may hold a forgotten key of this name
                lay.reborn[key] = t
        return lay

    def forget(self, predicate: Callable[[Key], bool]) -> None:
        """Drop series whose key matches `predicate` (e.g. pids that are gone), and forget that
        such keys were refused or waiting."""
        lay = self._lay
        gone = [k for k in lay.live_keys() if predicate(k)]
        unseen = [k for k in lay.ignored if predicate(k)]
        unseen += [k for k in lay.waiting if predicate(k)]
        if gone or unseen:
            lay = self._layout()
            lay.dead.update(gone)
            for key in gone:
                lay.reborn.pop(key, None)
            lay.ignored.difference_update(unseen)
            lay.waiting.difference_update(unseen)

    def accepts(self, key: Key) -> bool:
        """Whether `key` may get a series here."""
        return self._accept is None or self._accept(key)

    def __contains__(self, key: object) -> bool:
        """Whether `key` has a series here now."""
        return self._lay.live(key)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ chunks

    def _flat(self) -> tuple[array, int]:
        """The open rows as one flat array (short rows padded with gaps) and its width."""
        width = len(self._lay.order)
        flat = nans(width * len(self._rows))  # gaps, allocated at its size; then the rows
        at = 0
        for row in self._rows:
            flat[at:at + len(row)] = row
            at += width
        return flat, width

    def _seal(self) -> None:
        flat, width = self._flat()
        lay = self._lay
        self._chunks.append(Chunk(array("d", self._rt), flat, width, lay.slots, lay.epoch,
                                   False))
        self._rows, self._rt = [], []
        merge(self._chunks, self._skip, MERGE_ROWS)
        if len(lay.dead) > len(lay.order) // 2 + 32:  # many forgotten columns: start afresh
            self._lay, self._owned = lay.compact(), True

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
            times, flat, width, slots, epoch = self._chunks[0][:5]
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
            times, slots, epoch = self._rt, self._lay.slots, self._lay.epoch
            a, b = 0, len(self._rows)
            self._rows, self._rt = [], []
        n = b - a
        lay = self._lay
        if slots is lay.slots:  # the bucket's columns are the layout's: every column at once
            mean, peak = _bucket_stats(flat, width, a, b)
            for key in lay.dead:  # forgotten: their columns are no longer theirs
                s = slots.get(key)
                if s is not None and s < width:
                    mean[s] = peak[s] = NAN
        else:  # written before the columns were renumbered: column by column
            mean, peak = nans(width), nans(width)
            for key in lay.live_keys():
                s = slots.get(key)
                if s is None or s >= width:
                    continue
                m, p = _column_stats(flat[s + a * width: s + b * width: width])
                mean[s], peak[s] = m, p
        self._coarse.append(Chunk(array("d", [times[a]]), mean, width, slots, epoch, False, peak))
        self._c_len += 1
        merge(self._coarse, self._c_skip, MERGE_COARSE)
        if self._c_len > self.buckets:  # the oldest coarse point goes
            self._c_len -= 1
            self._c_skip += 1
            run, k = self._coarse[0], self._c_skip
            if k == len(run.times):
                del self._coarse[0]
                self._c_skip = 0
            elif 2 * k >= len(run.times):  # most of it has left: keep only the rest (memory)
                w = run.width
                self._coarse[0] = run._replace(times=run.times[k:], flat=run.flat[k * w:],
                                               peak=run.peak[k * w:], merged=True)  # type: ignore[index]
                self._c_skip = 0
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
        if self._c_len and (self.fine_since is None or since < self.fine_since):
            _read(self._coarse, self._c_skip, keys, since, hi, times, rows, born, peak)
        _read(self._chunks, self._skip, keys, since, hi, times, rows, born, False)
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
                parts.append(nans(b - a))
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
        return fine + sum(8 * len(c.times) + 4 * (len(c.flat) + len(c.peak or ()))
                          for c in self._coarse)


def _column_stats(col: Sequence[float]) -> tuple[float, float]:
    """Mean and max of one column of a bucket, gaps left out (NaN, NaN: no value)."""
    total = sum(col)
    if total == total:  # no gap in the bucket (NaN != NaN): the fast path
        return total / len(col), max(col)
    known = [v for v in col if v == v]
    if not known:
        return NAN, NAN
    return sum(known) / len(known), max(known)


def _bucket_stats(flat: array, width: int, a: int, b: int) -> tuple[array, array]:
    """Mean and max of each column over rows a..b-1 of `flat` (gaps left out), the columns
    made in C (one tuple per column from the rows, summed and maxed by map)."""
    n = b - a
    cols = list(zip(*[flat[i * width:(i + 1) * width] for i in range(a, b)], strict=True))
    totals = list(map(sum, cols))
    mean = array("f", list(map(truediv, totals, repeat(n, len(totals)))))  # from a list:
    peak = array("f", list(map(max, cols)))  # allocated at its size
    for s in compress(count(), map(ne, totals, totals)):  # a gap (NaN) in the column
        mean[s], peak[s] = _column_stats(cols[s])
    return mean, peak


def any_new_value(values: dict[Key, float | None], lay: Layout) -> bool:
    """Whether a key waiting for its first value has one in `values` (in C: no Python loop)."""
    if not lay.waiting:
        return False
    got = list(map(values.get, lay.waiting))
    return got.count(None) != len(got)


def row_of(values: Sequence[float | None]) -> array:
    """One row from values in column order (None: a gap), built in C while none is None."""
    try:
        return array("f", values)
    except TypeError:  # a value is None (a gap): NaN in its place, still in C
        return array("f", map(_NONE_AS_NAN, values, values))


def _row(values: dict[Key, float | None], order: list[Key]) -> array:
    """The values of `order`'s keys as one row, NaN for a key absent or None."""
    return row_of(list(map(values.get, order, repeat(NAN, len(order)))))


def _read(chunks: list[Chunk], skip: int, keys: Sequence[Key], since: float, hi: float,
          times: list[float], rows: list[list[float] | None], born: list[float],
          peak: bool) -> None:
    """Append the points of `chunks` (the oldest less its first `skip`) in [since, hi] to
    `times`, and each key's values to its row (maxima of coarse runs with `peak`): each chunk's
    part is found by bisection and each series is copied with an array slice."""
    first = skip
    for c in chunks:
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
        flat = c.peak if peak and c.peak is not None else c.flat
        width, slots = c.width, c.slots
        for n, k in enumerate(keys):
            row = rows[n]
            if row is None:
                continue
            s = slots.get(k)
            if s is None or s >= width or t_arr[b - 1] < born[n]:
                row.extend(nans(b - a))
                continue
            part = flat[s + a * width: s + b * width: width]
            if t_arr[a] < born[n]:
                part = [v if t >= born[n] else NAN for t, v in zip(t_arr[a:b], part,
                                                                  strict=True)]
            row.extend(part)
