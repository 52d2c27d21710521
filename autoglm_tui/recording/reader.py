"""Reading recordings: the header, the index (read from ``FILE.idx`` or built), and the events
between two times, decoded and validated like a live stream.

Each read keeps one wire_patch.StreamDecoder per node, as a live stream does, so a recording
that holds compact deltas (format version 2) decodes exactly as the monitor decoded it live. A
delta builds on the node's previous sample: reading from a time T starts at the oldest full
sample line the deltas after T build on (the index's ``base``), decoding silently up to T, or
takes the previous samples as ``seeds`` (a replay checkpoint has them).
"""

from __future__ import annotations

import itertools
import json
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoglm_tui import wire
from autoglm_tui.events import Event, HelloReceived, SampleReceived
from autoglm_tui.model import Sample
from autoglm_tui.recording import codec as codecs
from autoglm_tui.recording import index as idx
from autoglm_tui.recording.format import (
    WIRE,
    RecordingError,
    check_header,
    control_event,
    derived_of,
    fast_line,
    line_fields,
    node_of,
    wire_object,
)
from autoglm_tui.text import clean
from autoglm_tui.wire_patch import StreamDecoder

INF = float("inf")
Decoders = dict[str, StreamDecoder]


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
        self.version: int = head.get("version", 1)
        self.bad_lines: dict[str, int] = {}  # node (or "-") -> lines that did not decode
        self.skipped = 0  # deltas with no sample before them (the stream was cut), not bad
        self.errors: list[str] = []  # the first few reasons, for the user
        self._t1 = [b.t1 for b in blocks]
        self._running_max = _running_max(self._t1)
        self.has_deltas = any(b.base != INF for b in blocks)

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

    def chain_start(self, since: float) -> float:
        """Where reading must start for the deltas at or after `since` to decode: the oldest
        full sample line they build on (`since` itself when the recording has no deltas)."""
        if not self.has_deltas:
            return since
        bases = [b.base for b in self.blocks[self.first_block(since):] if b.base < since]
        return min(bases, default=since)

    def events(self, since: float = -INF, until: float = INF, *,
               seeds: Mapping[str, Sample | None] | None = None, quiet: bool = False
               ) -> Iterator[Event]:
        """The events of the lines with since <= rt <= until (marks left out). Deltas decode
        against `seeds` (each node's sample before `since`, as a checkpoint holds them) or,
        without seeds, against the lines before `since` (read and decoded, not returned).
        `quiet`: bad lines are not counted (a second reader of the same lines)."""
        decoders: Decoders = {}
        start = since
        if seeds is not None:
            for node, sample in seeds.items():
                decoders[node] = d = StreamDecoder()
                d.last = sample
        elif self.has_deltas:
            start = self.chain_start(since)
        lines = self.lines(start, until)
        if start < since:  # before the window: only builds the decoders' previous samples
            lead: list[tuple[float, str, bytes, dict[str, Any] | None]] = []
            for item in lines:
                if item[0] >= since:
                    lines = itertools.chain((item,), lines)
                    break
                if item[1] in WIRE:
                    lead.append(item)
            for rt, kind, line, obj in _from_full_lines(lead):
                self.decode(rt, kind, line, obj, decoders, quiet=True)
        for rt, kind, line, obj in lines:
            event = self.decode(rt, kind, line, obj, decoders, quiet=quiet)
            if event is not None:
                yield event

    def decode(self, rt: float, kind: str, line: bytes, obj: dict[str, Any] | None,
               decoders: Decoders | None = None, *, quiet: bool = False) -> Event | None:
        """The event of one line, or None (a mark, an unknown kind, a bad line: counted unless
        `quiet`). `decoders` holds each node's wire decoder (one per read of the recording)."""
        try:
            if obj is None:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise RecordingError("not a JSON object")
            if kind in WIRE:
                node = node_of(obj)
                data = wire_object(obj, self.version)
                if decoders is None:
                    decoders = {}
                dec = decoders.get(node)
                if dec is None:
                    dec = decoders[node] = StreamDecoder()
                try:
                    msg = dec.decode_data(data)
                except wire.WireError as exc:
                    if dec.needs_full and dec.last is None and str(exc).startswith("a delta "):
                        self.skipped += not quiet  # joined mid-stream: not the node's fault
                    elif not quiet:
                        self._bad(node, str(exc))
                    return None
                if isinstance(msg, Sample):
                    try:
                        derived = derived_of(obj)
                    except RecordingError as exc:  # the sample stands; its figures do not
                        if not quiet:
                            self._bad(node, str(exc))
                        derived = None
                    return SampleReceived(rt, node, msg, derived)
                return HelloReceived(rt, node, msg)
            return control_event(obj, rt)
        except (RecordingError, ValueError) as exc:
            if not quiet:
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

    def _bad(self, node: str, reason: str) -> None:
        self.bad_lines[node] = self.bad_lines.get(node, 0) + 1
        if len(self.errors) < 20:
            self.errors.append(f"{node}: {clean(reason, 200)}")


def _from_full_lines(lead: list[tuple[float, str, bytes, dict[str, Any] | None]]
                     ) -> list[tuple[float, str, bytes, dict[str, Any] | None]]:
    """The wire lines of `lead` that matter for what follows: per node, from its newest full
    sample line on (the deltas before it build on something it replaces), so the decoders
    decode only the chain the next delta needs."""
    newest: dict[bytes | None, int] = {}
    nodes: list[bytes | None] = []
    for i, (_, kind, line, _) in enumerate(lead):
        fast = fast_line(line)
        node = fast[2] if fast is not None else None
        nodes.append(node)
        if kind in ("sample", "hello") and node is not None:
            newest[node] = i
    return [item for i, item in enumerate(lead) if i >= newest.get(nodes[i], 0)]


def _running_max(values: list[float]) -> list[float]:
    out: list[float] = []
    m = -INF
    for v in values:
        m = max(m, v)
        out.append(m)
    return out
