"""Replay checkpoints: copies of the monitor's state at recording times, so a seek back
restores one and replays only the seconds after it instead of rebuilding minutes.

Bounded by count (from a memory budget and the size of one checkpoint, measured on the first):
the newest are kept, one every `spacing_s` of recording time.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from typing import Any


class CheckpointStore:
    def __init__(self, budget_bytes: int = 256 << 20, spacing_s: float = 10.0) -> None:
        self.budget_bytes = budget_bytes
        self.spacing_s = spacing_s
        self.size_bytes: int | None = None  # of one checkpoint (its histories)
        self._times: list[float] = []
        self._snaps: dict[float, Any] = {}
        self.taken = 0

    @property
    def capacity(self) -> int:
        if not self.size_bytes:
            return 8
        return max(2, self.budget_bytes // self.size_bytes)

    def due(self, t: float) -> bool:
        """Whether a checkpoint at `t` is worth taking (none within `spacing_s`)."""
        i = bisect_right(self._times, t)
        return all(abs(x - t) >= self.spacing_s for x in self._times[max(0, i - 1): i + 1])

    def put(self, t: float, snap: Any, size_bytes: int) -> None:
        if t in self._snaps:
            self._snaps[t] = snap
            return
        if self.size_bytes is None:
            self.size_bytes = max(1, size_bytes)
        insort(self._times, t)
        self._snaps[t] = snap
        self.taken += 1
        while len(self._times) > self.capacity:
            # drop the one farthest from where the replay is now (seeks are mostly nearby)
            far = max(self._times, key=lambda x: abs(t - x))
            self._times.remove(far)
            del self._snaps[far]

    def best(self, t: float, not_before: float) -> float | None:
        """The latest checkpoint time at or before `t` and not before `not_before`."""
        i = bisect_right(self._times, t)
        if i == 0:
            return None
        c = self._times[i - 1]
        return c if c >= not_before else None

    def get(self, t: float) -> Any:
        return self._snaps[t]

    def times(self) -> list[float]:
        return list(self._times)

    def __len__(self) -> int:
        return len(self._times)
