"""Reading recordings: the header, the index (read from ``FILE.idx`` or built), and the events
between two times, decoded and validated like a live stream.

Each node's hello and sample lines go through that node's :class:`NodeDecoder`, the one place
a stateful decoder (the compact delta wire) would keep its state; a seek resets them, and a
reader seeking into a delta stream must start at a full sample.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoglm_tui import wire
from autoglm_tui.events import Event, HelloReceived, SampleReceived
from autoglm_tui.model import Hello, Sample
from autoglm_tui.recording import codec as codecs
from autoglm_tui.recording import index as idx
from autoglm_tui.recording.format import (
    RecordingError,
    check_header,
    control_event,
    derived_of,
    line_fields,
    node_of,
)
from autoglm_tui.text import clean

INF = float("inf")


class NodeDecoder:
    """Hello and sample lines of one node -> messages. Wire v1 lines are whole objects, so
    this one keeps no state; a delta decoder keeps the previous sample here."""

    def decode(self, obj: dict[str, Any]) -> Hello | Sample:
        return wire.from_dict(obj)

    def reset(self) -> None:
        """Forget per-node state (called on a seek)."""


@dataclass(frozen=True, slots=True)
class Mark:
    """A moment marked in the recording (an alert that fired, a note)."""

    t: float
    kind: str
    text: str
    data: dict[str, Any]


class Recording:
    """An open recording. ``Recording.open(path)`` reads the header and the index."""

    def __init__(self, path: Path, head: dict[str, Any], codec: Any, blocks: list[idx.Block],
                 index_source: str) -> None:
        self.path = path
        self.header = head
        self.codec = codec
        self.blocks = blocks
        self.index_source = index_source  # "sidecar", "built", "extended"
        self.bad_lines: dict[str, int] = {}  # node (or "-") -> lines that did not decode
        self.errors: list[str] = []  # the first few reasons, for the user
        self.decoders: dict[str, NodeDecoder] = {}
        self._t1 = [b.t1 for b in blocks]
        self._running_max = _running_max(self._t1)

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | Path, *, save_index: bool = True,
             progress: Callable[[int, int], None] | None = None) -> Recording:
        """Open a recording; RecordingError says why one cannot be read."""
        p = Path(path)
        try:
            size = p.stat().st_size
            with open(p, "rb") as f:
                codec = codecs.sniff(f.read(4))
                first = next(iter(codec.frames(f, 0)), None)
        except OSError as exc:
            raise RecordingError(f"cannot read {p}: {exc.strerror or exc}") from None
        if first is None:
            raise RecordingError(f"{p} is empty or cut short before its header")
        line = first[2].split(b"\n", 1)[0]
        try:
            head = check_header(json.loads(line))
        except ValueError:
            raise RecordingError(f"{p}: not an autoglm-tui recording (the first line is not "
                                 "JSON)") from None
        rid = str(head.get("id", ""))
        blocks = idx.read_sidecar(p, rid)
        source = "sidecar"
        if blocks is not None and blocks and blocks[-1].offset + blocks[-1].length > size:
            blocks = None  # an index of another version of this file
        if blocks:
            end = blocks[-1].offset + blocks[-1].length
            if end < size:  # the recording went on (or was cut short) after the last entry
                blocks = blocks + cls._scan(p, codec, end, size, progress)
                source = "extended"
        else:
            blocks = cls._scan(p, codec, 0, size, progress)
            source = "built"
        if source != "sidecar" and save_index:
            idx.write_sidecar(p, rid, codec.name, blocks)
        return cls(p, head, codec, blocks, source)

    @staticmethod
    def _scan(p: Path, codec: Any, start: int, size: int,
              progress: Callable[[int, int], None] | None) -> list[idx.Block]:
        out: list[idx.Block] = []
        try:
            with open(p, "rb") as f:
                for block, _bad in idx.build(f, codec, start,
                                             (lambda done: progress(done, size))
                                             if progress else None):
                    out.append(block)
        except OSError as exc:
            raise RecordingError(f"cannot read {p}: {exc.strerror or exc}") from None
        return out

    # ------------------------------------------------------------------ what is in it

    @property
    def start(self) -> float:
        """Receive time of the first sample (or of the first line)."""
        s0 = min((b.s0 for b in self.blocks), default=INF)
        if s0 != INF:
            return s0
        return min((b.t0 for b in self.blocks), default=0.0)

    @property
    def end(self) -> float:
        return max((b.t1 for b in self.blocks if b.t1 != -INF), default=self.start)

    def controls(self) -> Iterator[dict[str, Any]]:
        for b in self.blocks:
            yield from b.controls

    @property
    def nodes(self) -> list[str]:
        """Every node that appears in the recording's control lines."""
        seen: dict[str, None] = {}
        for c in self.controls():
            node = c.get("node")
            if isinstance(node, str) and node.strip():
                seen.setdefault(clean(node, 200))
        return list(seen)

    @property
    def marks(self) -> list[Mark]:
        out = []
        for c in self.controls():
            if c.get("type") == "mark":
                rt = c.get("rt")
                if isinstance(rt, (int, float)):
                    data = {k: v for k, v in c.items() if k not in ("rt", "type", "kind", "text")}
                    out.append(Mark(float(rt), clean(str(c.get("kind", "")), 40),
                                    clean(str(c.get("text", "")), 400), data))
        return out

    @property
    def lines_total(self) -> int:
        return sum(b.lines for b in self.blocks)

    # ------------------------------------------------------------------ reading

    def read_block(self, b: idx.Block) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(b.offset)
            data = f.read(b.length)
        return self.codec.decompress(data)

    def first_block(self, since: float) -> int:
        """Index of the first block that can hold a line at or after `since`."""
        return bisect_left(self._running_max, since)

    def lines(self, since: float = -INF, until: float = INF
              ) -> Iterator[tuple[float, str, bytes, dict[str, Any] | None]]:
        """(rt, type, raw line, parsed object or None) of lines with since <= rt <= until, in
        file order."""
        for i in range(self.first_block(since), len(self.blocks)):
            b = self.blocks[i]
            if b.t0 > until:
                break
            for line in self.read_block(b).split(b"\n"):
                if not line.strip():
                    continue
                try:
                    rt, kind, obj = line_fields(line)
                except RecordingError as exc:
                    self._bad("-", str(exc))
                    continue
                if kind == "recording":
                    continue
                if since <= rt <= until:
                    yield rt, kind, line, obj

    def events(self, since: float = -INF, until: float = INF) -> Iterator[Event]:
        """The events of the lines with since <= rt <= until (marks left out)."""
        for rt, kind, line, obj in self.lines(since, until):
            event = self.decode(rt, kind, line, obj)
            if event is not None:
                yield event

    def decode(self, rt: float, kind: str, line: bytes, obj: dict[str, Any] | None
               ) -> Event | None:
        """The event of one line, or None (a mark, an unknown kind, a bad line: counted)."""
        try:
            if obj is None:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise RecordingError("not a JSON object")
            if kind in ("hello", "sample"):
                node = node_of(obj)
                dec = self.decoders.get(node)
                if dec is None:
                    dec = self.decoders[node] = NodeDecoder()
                try:
                    msg = dec.decode(obj)
                except wire.WireError as exc:
                    self._bad(node, str(exc))
                    return None
                if isinstance(msg, Sample):
                    try:
                        derived = derived_of(obj)
                    except RecordingError as exc:  # the sample stands; its figures do not
                        self._bad(node, str(exc))
                        derived = None
                    return SampleReceived(rt, node, msg, derived)
                return HelloReceived(rt, node, msg)
            return control_event(obj, rt)
        except (RecordingError, ValueError) as exc:
            self._bad("-", str(exc))
            return None

    def preamble(self, before: float) -> list[Event]:
        """Control events (joins, hellos, status, registry) with rt < `before`, in order: what
        a replay starting at `before` applies first."""
        out: list[Event] = []
        for c in self.controls():
            rt = c.get("rt")
            if not isinstance(rt, (int, float)) or rt >= before:
                continue
            kind = c.get("type")
            if not isinstance(kind, str) or kind == "mark":
                continue
            ev = self.decode(float(rt), kind, b"", c)
            if ev is not None:
                out.append(ev)
        return out

    def reset_decoders(self) -> None:
        for d in self.decoders.values():
            d.reset()

    def _bad(self, node: str, reason: str) -> None:
        self.bad_lines[node] = self.bad_lines.get(node, 0) + 1
        if len(self.errors) < 20:
            self.errors.append(f"{node}: {clean(reason, 200)}")


def _running_max(values: list[float]) -> list[float]:
    out: list[float] = []
    m = -INF
    for v in values:
        m = max(m, v)
        out.append(m)
    return out
