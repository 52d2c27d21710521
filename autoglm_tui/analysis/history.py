"""Ring buffers of metric history that allow gaps (pure: no clocks, no I/O).

One :class:`NodeHistory` per node shares a time axis across all of the node's series, and
stores values as 32-bit floats with NaN for "no data", so 15 minutes of 1 Hz history for a
256-node fleet stays small. A key is ``(metric_name, subject)`` where subject is ``None`` for
node metrics, the GPU index for GPU metrics and the pid for process metrics.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator

Key = tuple[str, "int | None"]
NAN = float("nan")


class NodeHistory:
    """Fixed-capacity history for one node: a shared time ring plus one value ring per key."""

    __slots__ = ("_head", "_len", "_series", "_times", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._times = array("d", [NAN]) * capacity
        self._series: dict[Key, array] = {}
        self._head = 0  # index of the next write
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def keys(self) -> list[Key]:
        return list(self._series)

    def append(self, t: float, values: dict[Key, float | None]) -> None:
        """Record one point in time; keys absent from `values` get a gap at `t`."""
        if self._len and t < self._last_time():
            return  # out of order: dropped (the time axis only moves forward)
        i = self._head
        self._times[i] = t
        for key, series in self._series.items():
            v = values.get(key)
            series[i] = NAN if v is None else v
        for key, v in values.items():
            # A series is created at its first value: metrics a node never reports cost nothing.
            if v is not None and key not in self._series:
                series = array("f", [NAN]) * self.capacity
                series[i] = v
                self._series[key] = series
        self._head = (i + 1) % self.capacity
        self._len = min(self._len + 1, self.capacity)

    def forget(self, predicate) -> None:  # type: ignore[no-untyped-def]
        """Drop series whose key matches `predicate` (e.g. pids that are gone)."""
        for key in [k for k in self._series if predicate(k)]:
            del self._series[key]

    def _last_time(self) -> float:
        return self._times[(self._head - 1) % self.capacity]

    def _indices(self) -> Iterator[int]:
        start = (self._head - self._len) % self.capacity
        for n in range(self._len):
            yield (start + n) % self.capacity

    def points(
        self, key: Key, since: float | None = None, until: float | None = None
    ) -> list[tuple[float, float | None]]:
        """(t, value) pairs oldest first; value None marks a gap. Empty for an unknown key."""
        series = self._series.get(key)
        if series is None:
            return []
        out: list[tuple[float, float | None]] = []
        for i in self._indices():
            t = self._times[i]
            if (since is not None and t < since) or (until is not None and t > until):
                continue
            v = series[i]
            out.append((t, None if math.isnan(v) else float(v)))
        return out

    def values(
        self, key: Key, since: float | None = None, until: float | None = None
    ) -> list[float]:
        """Only the known values in the window, oldest first."""
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
        pts = self.points(key)
        return [v for _, v in pts[-n:]]

    def nbytes(self) -> int:
        """Approximate memory held by the buffers."""
        return self._times.itemsize * self.capacity + sum(
            s.itemsize * self.capacity for s in self._series.values()
        )
