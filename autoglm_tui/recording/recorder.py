"""`--record FILE`: every event that enters the monitor, written to a recording by a writer
thread (the UI's event loop only puts events on a bounded queue)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoglm_tui.analysis.state import FleetState, StatusChange
from autoglm_tui.events import (
    HelloReceived,
    NodeInvalid,
    NodeJoined,
    NodeLeft,
    NodeUnreachable,
    RegistryChanged,
    SampleReceived,
)
from autoglm_tui.recording.format import mark_line
from autoglm_tui.recording.worker import BackgroundWriter
from autoglm_tui.recording.writer import RecordingWriter

if TYPE_CHECKING:
    from autoglm_tui.monitor import Monitor

RECORDABLE = (SampleReceived, HelloReceived, NodeJoined, NodeLeft, NodeInvalid, NodeUnreachable,
              RegistryChanged)


@dataclass(frozen=True, slots=True)
class _Tick:
    t: float


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
        self.worker = BackgroundWriter(self._handle, name="recorder", max_items=max_items,
                                       on_close=self._w.close)

    def install(self, monitor: Monitor) -> Recorder:
        monitor.taps.append(self.tap)
        monitor.hooks.append(self.hook)
        monitor.closers.append(self.close)
        return self

    # ------------------------------------------------------------------ event loop side

    def tap(self, event: object) -> None:
        if isinstance(event, RECORDABLE):
            self.worker.put(event)

    def hook(self, state: FleetState, now: float, changes: list[StatusChange]) -> None:
        self.worker.put(_Tick(now))

    def mark(self, t: float, kind: str, text: str, **data: Any) -> None:
        self.worker.put(_Mark(t, kind, text, data))

    def close(self, timeout: float = 10.0) -> bool:
        return self.worker.close(timeout)

    def status(self) -> str:
        w = self._w
        parts = [f"recording {self.path.name}: {w.lines_written} lines, "
                 f"{w.bytes_written / 1e6:.1f} MB"]
        if w.rotations:
            parts.append(f"{w.rotations} rotations")
        if self.worker.dropped:
            parts.append(f"{self.worker.dropped} events dropped (disk too slow)")
        if self.worker.last_error:
            parts.append(f"ERROR {self.worker.last_error}")
        return ", ".join(parts)

    # ------------------------------------------------------------------ writer thread

    def _handle(self, item: object) -> None:
        if isinstance(item, _Tick):
            self._w.tick(item.t)
        elif isinstance(item, _Mark):
            self._w.add_line(item.t, mark_line(item.t, item.kind, item.text, **item.data), True)
        else:
            self._w.add_event(item)  # type: ignore[arg-type]
