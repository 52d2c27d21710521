"""Replay checkpoints: copies of the monitor's state at recording times, so a seek restores one
and replays only the seconds after it instead of rebuilding minutes.

Copies are cheap (``Monitor.snapshot``: history chunks, samples and findings are immutable and
shared), so they are dense where the replay is: one every `spacing_s` within `near_s` of the
focus (the playhead; the lookahead fills the seconds ahead of it), one every `far_spacing_s`
farther away. Memory is bounded by `budget_bytes`, estimated per checkpoint as a fixed part (the
node objects, the alert engine and the diagnosis, copied) plus the history written since the
checkpoint before it (which only checkpoints keep once the replay has moved on); past the
budget the checkpoints farthest from the focus go. Used from the event loop and from the
lookahead's thread: every method takes the lock.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_right, insort
from typing import Any

SPACING_S = 2.0
NEAR_S = 150.0
FAR_SPACING_S = 10.0


class CheckpointStore:
    def __init__(self, budget_bytes: int = 256 << 20, spacing_s: float = SPACING_S,
                 near_s: float = NEAR_S, far_spacing_s: float = FAR_SPACING_S) -> None:
        self.budget_bytes = budget_bytes
        self.spacing_s = spacing_s
        self.near_s = near_s
        self.far_spacing_s = max(far_spacing_s, spacing_s)
        self.focus: float | None = None  # where the replay is (the source sets it)
        self.taken = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._snaps: dict[float, Any] = {}
        # per checkpoint: (fixed bytes, history bytes per second of recording, history seconds)
        self._costs: dict[float, tuple[float, float, float]] = {}

    def _spacing(self, t: float) -> float:
        near = self.focus is None or abs(t - self.focus) <= self.near_s
        return self.spacing_s if near else self.far_spacing_s

    def due(self, t: float) -> bool:
        """Whether a checkpoint at `t` is worth taking (none within the spacing there)."""
        with self._lock:
            i = bisect_right(self._times, t)
            gap = self._spacing(t)
            return all(abs(x - t) >= gap for x in self._times[max(0, i - 1): i + 1])

    def put(self, t: float, snap: Any, fixed_bytes: float = 0.0, bytes_per_s: float = 0.0,
            history_s: float = 900.0) -> None:
        """Keep `snap` as the state at `t`; the costs estimate the memory it holds."""
        with self._lock:
            if t not in self._snaps:
                insort(self._times, t)
                self.taken += 1
            self._snaps[t] = snap
            self._costs[t] = (fixed_bytes, bytes_per_s, history_s)
            self._thin(t)

    def estimate(self) -> float:
        """Bytes the checkpoints hold, estimated (see the module docstring)."""
        with self._lock:
            return self._estimate()

    def _estimate(self) -> float:
        total, prev = 0.0, -math.inf
        for t in self._times:
            fixed, rate, span = self._costs[t]
            total += fixed + rate * min(span, t - prev)
            prev = t
        return total

    def _thin(self, newest: float) -> None:
        focus = self.focus if self.focus is not None else newest
        times = self._times
        # away from the focus, one per far_spacing_s (the newest of each window stays)
        keep: list[float] = []
        for t in times:
            if abs(t - focus) > self.near_s and keep and abs(keep[-1] - focus) > self.near_s \
                    and t - keep[-1] < self.far_spacing_s and t != newest:
                self._drop(t)
                continue
            keep.append(t)
        self._times = keep
        while len(self._times) > 2 and self._estimate() > self.budget_bytes:
            far = max(self._times, key=lambda x: abs(focus - x))
            if far == newest:
                break
            self._times.remove(far)
            self._drop(far)

    def _drop(self, t: float) -> None:
        del self._snaps[t], self._costs[t]
        self.dropped += 1

    def best(self, t: float, not_before: float) -> float | None:
        """The latest checkpoint time at or before `t` and not before `not_before`."""
        with self._lock:
            i = bisect_right(self._times, t)
            if i == 0:
                return None
            c = self._times[i - 1]
            return c if c >= not_before else None

    def get(self, t: float) -> Any:
        with self._lock:
            return self._snaps[t]

    def times(self) -> list[float]:
        with self._lock:
            return list(self._times)

    def __len__(self) -> int:
        with self._lock:
            return len(self._times)
