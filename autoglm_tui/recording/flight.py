"""The flight recorder: the last minutes of every event, kept compressed in memory; when an
alert fires they go to a file, with the minutes that follow, and the alert's log line names
that file.

Cheap by design, since it runs all the time: the event loop only appends events to a list,
handed to a writer thread in one batch per tick. The thread keeps each sample's wire line as
the sampler sent it (``SampleReceived.line``: on the compact wire a delta of 1-2 KB, not a
sample encoded again), gathers lines into blocks of `block_s` and compresses each block once
(zstandard level 1 when installed, else gzip); only compressed blocks are held. Memory is
bounded twice: by time (`window_s`) and by bytes (`max_memory_bytes`; the oldest blocks go
first). A delta needs the full line its chain starts from, so blocks older than the window stay
while a node's newest full line before the window is in them (at most `MAX_LEAD_S`), and a
file written out starts with each node's full line: the deltas before it are left out.

Alerts that fire while a file is still being written are marked in it and named in their log
lines instead of starting another file. Files go to the state directory's ``flight/`` unless
told otherwise, and only the newest `max_files` are kept.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoglm_tui.alerting.write_queue import WriteQueue
from autoglm_tui.analysis.state import FleetState, StatusChange
from autoglm_tui.events import Event, SampleReceived
from autoglm_tui.recording import codec as codecs
from autoglm_tui.recording.format import (
    SAMPLES,
    WIRE,
    event_line,
    fast_line,
    mark_line,
    message_line,
)
from autoglm_tui.recording.index import Block, Chains, index_path
from autoglm_tui.recording.recorder import RECORDABLE
from autoglm_tui.recording.writer import BLOCK_BYTES, BlockBuilder, Preamble, RecordingWriter

if TYPE_CHECKING:
    from autoglm_tui.analysis.alerts import AlertEvent
    from autoglm_tui.monitor import Monitor

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_FILE_S = 3600.0  # a file being written is closed after this long, whatever keeps firing
MAX_LEAD_S = 300.0  # blocks kept before the window for the full lines deltas build on, at most
BATCH_MAX = 8192  # events handed to the thread at once even before the next tick


@dataclass(frozen=True, slots=True)
class _Batch:
    events: list[Event]
    t: float | None  # the tick that handed them over (None: handed over early)


@dataclass(frozen=True, slots=True)
class _Dump:
    path: Path
    t: float
    alert: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Mark:
    t: float
    alert: dict[str, Any]


@dataclass
class _Held:
    block: Block
    data: bytes
    preamble: list[bytes]  # the preamble as it was before this block (lines older than it)
    fulls: set[str] = field(default_factory=set)  # nodes with a full sample line in it


class FlightRecorder:
    """Keeps the last `window_s` of events; writes them out when an alert fires."""

    def __init__(self, directory: str | Path, *, window_s: float = 600.0,
                 after_s: float = 120.0, max_memory_bytes: int = 128 << 20,
                 block_s: float = 10.0, block_bytes: int = BLOCK_BYTES, max_files: int = 50,
                 clock: Callable[[], float] = time.time, max_items: int = 1024) -> None:
        self.directory = Path(directory)
        self.window_s = window_s
        self.after_s = after_s
        self.max_memory_bytes = max_memory_bytes
        self.block_s = block_s
        self.block_bytes = block_bytes
        self.max_files = max_files
        self.clock = clock
        self.codec = codecs.best_memory_codec()
        self.files: list[Path] = []  # written (or being written), oldest first
        self.memory_bytes = 0
        self.trimmed_for_memory = 0  # blocks dropped early to stay under max_memory_bytes
        self.events = 0  # events handled by the thread
        self._batch: list[Event] = []  # loop side: events since the last tick
        self._ring: deque[_Held] = deque()
        self._builder = BlockBuilder()
        self._fulls: set[str] = set()  # of the block being built
        self._preamble = Preamble()
        self._chains = Chains()
        self._last_rt: dict[str, float] = {}  # thread side: each node's newest wire line
        self._on_deltas: set[str] = set()  # nodes whose stream is deltas (since their hello)
        self._nodes: set[str] = set()
        self._writer: RecordingWriter | None = None
        self._until = 0.0  # loop side: the open file takes events until then
        self._started = 0.0
        self._open_path: Path | None = None
        self._close_at = 0.0  # thread side
        self._snapshot: list[bytes] = []  # the preamble before the block being built
        self.worker = WriteQueue(self._handle, name="flight-recorder", max_items=max_items)
        self._closed = False

    def install(self, monitor: Monitor) -> FlightRecorder:
        """Tap the monitor's events and tick; name files in the alert log when alerts fire."""
        monitor.taps.append(self.tap)
        monitor.hooks.append(self.hook)
        monitor.closers.append(self.close)
        if monitor.alerts is not None:
            monitor.alerts.on_fire.append(self.on_alert)
        return self

    # ------------------------------------------------------------------ event loop side

    def tap(self, event: object) -> None:
        if isinstance(event, RECORDABLE) and not self._closed:
            batch = self._batch
            batch.append(event)  # type: ignore[arg-type]
            if len(batch) >= BATCH_MAX:
                self._hand_over(None)

    def hook(self, state: FleetState, now: float, changes: list[StatusChange]) -> None:
        if not self._closed:
            self._hand_over(now)

    def _hand_over(self, t: float | None) -> None:
        """Give the events gathered on the loop to the thread (one queue item per tick)."""
        batch, self._batch = self._batch, []
        if batch or t is not None:
            self.worker.put(_Batch(batch, t))

    def on_alert(self, event: AlertEvent) -> dict[str, Any]:
        """An alert fired: start (or extend) a flight recording; the log line's extra field."""
        t = event.t
        info = {"rule": event.rule, "node": event.target.node, "gpu": event.target.gpu,
                "pid": event.target.pid, "severity": event.severity,
                "summary": event.summary, "t": t}
        if self._closed:
            return {}
        self._hand_over(None)  # the events before the alert go first
        if self._open_path is not None and t < self._until:
            self._until = min(max(self._until, t + self.after_s), self._started + MAX_FILE_S)
            self.worker.put(_Mark(t, info))
            return {"flight_recording": str(self._open_path)}
        path = self.directory / file_name(t, event.rule, event.target.node, event.target.gpu,
                                          event.target.pid, self.codec.suffix)
        self._open_path, self._started, self._until = path, t, t + self.after_s
        self.worker.put(_Dump(path, t, info))
        return {"flight_recording": str(path)}

    def flush(self, timeout: float | None = None) -> bool:
        """Hand over what the loop gathered and wait until the thread has handled it."""
        if not self._closed:
            self._hand_over(None)
        return self.worker.flush(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Finish the file being written (if any) and stop."""
        if self._closed:
            return True
        self._hand_over(None)
        self._closed = True
        left = self.worker.close(timeout)
        try:
            self._close_file()
        except OSError:
            return False
        return left == 0

    @property
    def covered_s(self) -> float:
        """Seconds of events held in memory now."""
        if not self._ring:
            return 0.0
        return max(0.0, self._ring[-1].block.t1 - self._ring[0].block.t0)

    def bytes_per_node_minute(self) -> float | None:
        """Memory per node and minute held, from what is held now."""
        minutes = self.covered_s / 60.0
        if minutes <= 0 or not self._nodes:
            return None
        return self.memory_bytes / len(self._nodes) / minutes

    def status(self) -> str:
        return (f"flight recorder: {self.covered_s / 60:.1f} min in {self.memory_bytes / 1e6:.1f}"
                f" MB, {len(self.files)} file(s)" + (
                    f", {self.worker.dropped} events dropped" if self.worker.dropped else "")
                + (f", ERROR {self.worker.error}" if self.worker.error else ""))

    # ------------------------------------------------------------------ writer thread

    def _handle(self, item: object) -> None:
        if isinstance(item, _Batch):
            for event in item.events:
                self._add(event)
            self.events += len(item.events)
            if item.t is not None:
                self._seal_if_old(item.t)
                self._trim(item.t)
                if self._writer is not None and item.t >= self._close_at:
                    self._close_file()
        elif isinstance(item, _Dump):
            self._dump(item)
        elif isinstance(item, _Mark):
            self._close_at = max(self._close_at, item.t + self.after_s)
            self._builder.add(item.t, self._mark(item.t, item.alert), True)

    def _add(self, event: Event) -> None:
        """One event into the block being built (the hot path: a sample keeps its line)."""
        rt = event.t
        node: str | None
        if event.__class__ is SampleReceived:
            node = event.node_id  # type: ignore[union-attr]
            line, kind = message_line(rt, node, event.sample, event.line)  # type: ignore
        else:
            line, kind = event_line(event)
            node = getattr(event, "node_id", None)
        b = self._builder
        if b.lines and (rt - b.t0 >= self.block_s or b.size >= self.block_bytes):
            self._seal()
            b = self._builder
        if not b.lines:
            self._snapshot = self._preamble.lines()
        if kind in WIRE and node is not None:
            self._last_rt[node] = rt
            base = self._chains.note(node, kind, rt)
            if kind == "sample":
                self._fulls.add(node)
            elif kind == "delta":
                self._on_deltas.add(node)
                if base is not None and base < b.base:
                    b.base = base
            else:
                self._on_deltas.discard(node)
        if kind not in SAMPLES:
            self._preamble.note(event, line)
            if node is not None:
                self._nodes.add(node)
        b.add(rt, line, kind not in SAMPLES)

    @staticmethod
    def _mark(t: float, alert: dict[str, Any]) -> str:
        return mark_line(t, "alert", str(alert.get("summary") or alert.get("rule")),
                         **{k: v for k, v in alert.items() if k in ("rule", "node", "gpu", "pid",
                                                                     "severity")})

    def _seal_if_old(self, now: float) -> None:
        b = self._builder
        if b.lines and now - b.t0 >= self.block_s:
            self._seal()

    def _seal(self) -> None:
        b = self._builder
        if not b.lines:
            return
        self._builder = BlockBuilder()
        block, data = b.build(self.codec)
        held = _Held(block, data, self._snapshot, self._fulls)
        self._fulls = set()
        self._ring.append(held)
        self.memory_bytes += len(data)
        if self._writer is not None:
            self._writer.add_block(block, data)

    def _trim(self, now: float) -> None:
        ring = self._ring
        start = now - self.window_s
        while ring and ring[0].block.t1 < start and not self._holds_a_base(start):
            self.memory_bytes -= len(ring.popleft().data)
        while len(ring) > 1 and self.memory_bytes > self.max_memory_bytes:
            self.memory_bytes -= len(ring.popleft().data)
            self.trimmed_for_memory += 1

    def _holds_a_base(self, start: float) -> bool:
        """Whether the oldest block (older than the window, which starts at `start`) holds
        the newest full line before the window of a node whose deltas run into the window."""
        first = self._ring[0]
        needed = first.fulls & self._on_deltas
        if not needed or first.block.t1 < start - MAX_LEAD_S:
            return False
        for held in islice(self._ring, 1, None):
            if held.block.t1 >= start:
                break
            needed -= held.fulls  # a newer full line before the window does it
            if not needed:
                return False
        last = self._last_rt
        return any(last.get(n, -math.inf) >= start for n in needed)

    def _dump(self, item: _Dump) -> None:
        """Write what is held to a new file (all of it, or nothing: a disk that refuses makes
        the writer thread try this again later)."""
        if self._writer is not None:
            self._close_file()
        self._trim(item.t)
        first = self._ring[0] if self._ring else None
        writer = RecordingWriter(
            item.path, source="flight", t=item.t, codec=self.codec, block_s=self.block_s,
            header_extra={"alert": item.alert, "window_s": self.window_s,
                          "after_s": self.after_s},
            preamble=_Fixed(first.preamble if first is not None else self._preamble.lines()))
        try:
            start = item.t - self.window_s
            primed: dict[bytes, bool] = {}
            chains = Chains()
            for held in self._ring:
                block, data = held.block, held.data
                if block.t0 < start and self._on_deltas:  # the lead: full lines first
                    block, data = self._from_full_lines(held, primed, chains)
                if block.lines:
                    writer.add_block(block, data)
        except OSError:
            writer.close()
            raise
        self._builder.add(item.t, self._mark(item.t, item.alert), True)
        self._writer = writer
        self._seal()
        writer.preamble = self._preamble
        self._writer = writer
        self._close_at = item.t + self.after_s
        self.files.append(item.path)

    def _from_full_lines(self, held: _Held, primed: dict[bytes, bool], chains: Chains
                         ) -> tuple[Block, bytes]:
        """A held block without the delta lines of nodes whose full line the file does not
        hold yet (nothing could decode them); `primed` (node -> its full line is in) and
        `chains` run on from block to block. The block itself when nothing is left out."""
        kept: list[tuple[float, bytes, str]] = []
        dropped = 0
        base = math.inf
        for line in self.codec.decompress(held.data).split(b"\n"):
            if not line:
                continue
            fast = fast_line(line)
            if fast is None:
                kept.append((held.block.t0, line, "mark"))
                continue
            rt, kind, node = fast
            if node is not None and kind in WIRE:
                if kind == "delta" and not primed.get(node):
                    dropped += 1
                    continue
                if kind != "delta":
                    primed[node] = kind == "sample"  # after a hello, a full line again
                at = chains.note(node, kind, rt)
                if at is not None:
                    base = min(base, at)
            kept.append((rt, line, kind))
        if not dropped:
            return held.block, held.data
        b = BlockBuilder()
        for rt, line, kind in kept:
            b.add(rt, line, kind not in SAMPLES)
        b.base = base
        return b.build(self.codec)

    def _close_file(self) -> None:
        if self._writer is None:
            return
        self._seal()
        self._writer.close()
        self._writer = None
        self._prune()

    def _prune(self) -> None:
        try:
            files = sorted(p for p in self.directory.glob("*.jsonl*")
                           if not p.name.endswith(".idx"))
        except OSError:
            return
        for old in files[: max(0, len(files) - self.max_files)]:
            old.unlink(missing_ok=True)
            index_path(old).unlink(missing_ok=True)


class _Fixed(Preamble):
    """A preamble with given lines (the one in force before the oldest block held)."""

    def __init__(self, lines: list[bytes]) -> None:
        super().__init__()
        self._lines = lines

    def lines(self) -> list[bytes]:
        return list(self._lines)


def file_name(t: float, rule: str, node: str, gpu: int | None, pid: int | None,
              suffix: str) -> str:
    """``20261124T031240Z-gpu_mem_high-node-07-gpu3.jsonl.zst``: time, rule and target."""
    stamp = datetime.fromtimestamp(t, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    parts = [stamp, rule, node]
    if gpu is not None:
        parts.append(f"gpu{gpu}")
    if pid is not None:
        parts.append(f"pid{pid}")
    name = "-".join(_SAFE.sub("_", p).strip("._-")[:60] or "x" for p in parts)
    return name + ".jsonl" + suffix
