"""`--record FILE`: every event that enters the monitor, written to a recording by a writer
thread (the alert sinks' `WriteQueue`: the UI's event loop only puts events on a bounded
queue; a full queue drops the oldest waiting events and a gap mark says how many; a write the
disk refuses is retried)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoglm_tui.alerting.write_queue import WriteQueue
from autoglm_tui.analysis.state import FleetState, StatusChange
from autoglm_tui.events import (
    HeartbeatLost,
    HelloReceived,
    NodeForgotten,
    NodeInvalid,
    NodeJoined,
    NodeLeft,
    NodeUnreachable,
    RegistryChanged,
    SampleReceived,
    SamplerExited,
)
from autoglm_tui.recording.format import mark_line
from autoglm_tui.recording.writer import RecordingWriter

if TYPE_CHECKING:
    from autoglm_tui.monitor import Monitor

RECORDABLE = (SampleReceived, HelloReceived, NodeJoined, NodeLeft, NodeInvalid, NodeUnreachable,
              RegistryChanged, HeartbeatLost, NodeForgotten, SamplerExited)


@dataclass(frozen=True, slots=True)
class _Tick:
    t: float


@dataclass(frozen=True, slots=True)
class Gap:
    """Events the queue dropped (the disk was too slow): written as a mark where they were."""

    n: int


@dataclass(frozen=True, slots=True)
class _Mark:
    t: float
    kind: str
    text: str
    data: dict[str, Any]


class Recorder:
    """Records the monitor's events to `path` (`.jsonl`, `.jsonl.gz`, `.jsonl.zst`)."""

    def __init__(self, path: str | Path, *, source: str = "record",
                 max_bytes: int | None = None, backups: int = 3, block_s: float = 10.0,
                 clock: Callable[[], float] = time.time, max_items: int = 16384) -> None:
        self.path = Path(path)
        self._w = RecordingWriter(self.path, source=source, t=clock(), max_bytes=max_bytes,
                                  backups=backups, block_s=block_s)
        self._last_t = clock()
        self.worker = WriteQueue(self._handle, name="recorder", max_items=max_items, gap=Gap)
        self._closed = False

    def install(self, monitor: Monitor) -> Recorder:
        monitor.taps.append(self.tap)
        monitor.hooks.append(self.hook)
        monitor.closers.append(self.close)
        return self

    # ------------------------------------------------------------------ event loop side

    def tap(self, event: object) -> None:
        if isinstance(event, RECORDABLE) and not self._closed:
            self.worker.put(event)

    def hook(self, state: FleetState, now: float, changes: list[StatusChange]) -> None:
        if not self._closed:
            self.worker.put(_Tick(now))

    def mark(self, t: float, kind: str, text: str, **data: Any) -> None:
        if not self._closed:
            self.worker.put(_Mark(t, kind, text, data))

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is queued and close the file; False when some events could not be."""
        if self._closed:
            return True
        self._closed = True
        left = self.worker.close(timeout)
        try:
            self._w.close()
        except OSError:
            return False
        return left == 0

    def status(self) -> str:
        w = self._w
        h = self.worker.health()
        parts = [f"recording {self.path.name}: {w.lines_written} lines, "
                 f"{w.bytes_written / 1e6:.1f} MB"]
        if w.rotations:
            parts.append(f"{w.rotations} rotations")
        if h.dropped:
            parts.append(f"{h.dropped} events dropped (disk too slow)")
        if h.error:
            parts.append(f"ERROR {h.error}, {h.queued} waiting")
        return ", ".join(parts)

    # ------------------------------------------------------------------ writer thread

    def _handle(self, item: object) -> None:
        if isinstance(item, _Tick):
            self._last_t = item.t
            self._w.tick(item.t)
        elif isinstance(item, _Mark):
            self._w.add_line(item.t, mark_line(item.t, item.kind, item.text, **item.data), True)
        elif isinstance(item, Gap):
            self._w.add_line(self._last_t, mark_line(
                self._last_t, "gap", f"{item.n} events not recorded (the disk was too slow)",
                dropped=item.n), True)
        else:
            self._last_t = item.t  # type: ignore[attr-defined]
            self._w.add_event(item)  # type: ignore[arg-type]
