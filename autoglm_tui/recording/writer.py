"""Writing recordings: blocks of lines, each compressed alone, with the index beside them,
and size-capped rotation (``FILE`` -> ``FILE.1`` -> ... ``FILE.N``, each with its ``.idx``).

A failed write (a full disk) leaves no partial block behind and raises ``OSError`` with the
writer's state as before the call, so the writer thread can try the same item again.

Every file starts with the header and a preamble: each node's newest join, hello and status,
so a rotated file or a flight recording replays on its own; a rotated file also starts with
each node's newest sample, encoded whole, where the node sends deltas (they build on it). Used
from one thread (the recorder's writer thread); nothing here touches the event loop.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from autoglm_tui.events import (
    Event,
    HeartbeatLost,
    HelloReceived,
    NodeForgotten,
    NodeInvalid,
    NodeJoined,
    NodeLeft,
    NodeUnreachable,
    RegistryChanged,
    SampleReceived,
)
from autoglm_tui.model import Sample
from autoglm_tui.recording import codec as codecs
from autoglm_tui.recording.format import SAMPLES, dumps, event_line, header, message_line
from autoglm_tui.recording.index import Block, Chains, SidecarWriter, index_path

BLOCK_S = 10.0
BLOCK_BYTES = 4 << 20


class Preamble:
    """The lines a new file needs to stand alone: per node its newest join, hello and status,
    and the registry's health."""

    def __init__(self) -> None:
        self.joined: dict[str, bytes] = {}
        self.hello: dict[str, bytes] = {}
        self.status: dict[str, bytes] = {}
        self.registry: bytes | None = None

    def note(self, event: Event, line: bytes) -> None:
        if isinstance(event, SampleReceived):
            return
        if isinstance(event, NodeForgotten):  # gone for good: nothing to start a file with
            for held in (self.joined, self.hello, self.status):
                held.pop(event.node_id, None)
            return
        node = getattr(event, "node_id", None)
        if isinstance(event, NodeJoined):
            self.joined[event.node_id] = line
            self.status.pop(event.node_id, None)
        elif isinstance(event, HelloReceived):
            self.hello[event.node_id] = line
            if self.status.get(event.node_id, b"").find(b'"event":"unreachable"') >= 0:
                self.status.pop(event.node_id, None)
        elif isinstance(event, (NodeLeft, NodeInvalid, NodeUnreachable, HeartbeatLost)) \
                and node is not None:
            self.status[node] = line
        elif isinstance(event, RegistryChanged):
            self.registry = line

    def lines(self) -> list[bytes]:
        out = [self.registry] if self.registry else []
        for node, line in self.joined.items():
            out.append(line)
            if node in self.hello:
                out.append(self.hello[node])
            if node in self.status:
                out.append(self.status[node])
        out += [line for n, line in self.hello.items() if n not in self.joined]
        out += [line for n, line in self.status.items() if n not in self.joined]
        return out


class BlockBuilder:
    """Lines gathered for the next block."""

    __slots__ = ("base", "controls", "lines", "s0", "size", "t0", "t1")

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.size = 0
        self.t0 = float("inf")
        self.t1 = float("-inf")
        self.s0 = float("inf")
        self.base = float("inf")  # the oldest full line a delta in the block builds on
        self.controls: list[dict[str, Any]] = []

    def add(self, rt: float, line: bytes, control: bool) -> None:
        self.lines.append(line)
        self.size += len(line) + 1
        if rt < self.t0:
            self.t0 = rt
        if rt > self.t1:
            self.t1 = rt
        if control:
            self.controls.append(json.loads(line))
        elif rt < self.s0:
            self.s0 = rt

    def __len__(self) -> int:
        return len(self.lines)

    def build(self, codec: codecs.Gzip | codecs.Zstd | codecs.Plain) -> tuple[Block, bytes]:
        """The block (offset and length to be filled in) and its compressed bytes."""
        self.lines.append(b"")
        data = codec.compress(b"\n".join(self.lines))
        self.lines.pop()
        return Block(0, len(data), self.t0, self.t1, len(self.lines), self.controls,
                     self.s0, self.base), data


class RecordingWriter:
    """One recording file (and its rotations). Not thread-safe: one writer thread owns it."""

    def __init__(
        self,
        path: str | Path,
        *,
        source: str,
        t: float,
        codec: codecs.Gzip | codecs.Zstd | codecs.Plain | None = None,
        block_s: float = BLOCK_S,
        block_bytes: int = BLOCK_BYTES,
        max_bytes: int | None = None,
        backups: int = 3,
        header_extra: dict[str, Any] | None = None,
        preamble: Preamble | None = None,
    ) -> None:
        self.path = Path(path)
        self.codec = codec or codecs.for_path(str(path))
        self.source = source
        self.block_s = block_s
        self.block_bytes = block_bytes
        self.max_bytes = max_bytes
        self.backups = max(0, backups)
        self.header_extra = dict(header_extra or {})
        self.preamble = preamble or Preamble()
        self.blocks_written = 0
        self.lines_written = 0
        self.bytes_written = 0  # over all files
        self.rotations = 0
        self._pending = BlockBuilder()
        self._chains = Chains()
        self._last: dict[str, Sample] = {}  # the newest sample of each node sending deltas
        self._last_rt: dict[str, float] = {}
        self._f: Any = None
        self._idx: SidecarWriter | None = None
        self._size = 0
        self._open(t)

    # ------------------------------------------------------------------ files

    def _open(self, t: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        head = header(self.source, t, **self.header_extra)
        self.recording_id = head["id"]
        self._f = open(self.path, "wb", buffering=0)  # noqa: SIM115  (kept open)
        self._size = 0
        self._idx = SidecarWriter(self.path, head["id"], self.codec.name)
        self._write_raw(self.codec.compress((dumps(head) + "\n").encode()), Block(
            0, 0, float("inf"), float("-inf"), 1))
        lines = self.preamble.lines()
        if lines or self._last:
            b = BlockBuilder()
            for line in lines:
                b.add(_rt(line), line, True)
            # A node on the compact wire: its next deltas build on its newest sample, which
            # the previous file holds; this file starts with it, whole.
            for node, sample in self._last.items():
                rt = self._last_rt[node]
                line, kind = message_line(rt, node, sample)
                self._chains.note(node, kind, rt)
                b.add(rt, line, False)
            block, data = b.build(self.codec)
            self._write_raw(data, block)

    def _write_raw(self, data: bytes, block: Block) -> None:
        """Append one block, all or nothing; then its index entry (an index that misses an
        entry is extended by the reader, so a failure there loses nothing)."""
        block.offset, block.length = self._size, len(data)
        view = memoryview(data)
        try:
            while view:
                n = self._f.write(view)
                view = view[n:]
        except OSError:
            with contextlib.suppress(OSError):
                self._f.truncate(self._size)
                self._f.seek(self._size)
            raise
        self._size += len(data)
        self.bytes_written += len(data)
        if self._idx is not None:
            try:
                self._idx.add(block)
            except OSError:  # the index stops here; a reader extends it from the file
                self._idx.close()
                self._idx = None

    def _rotate(self, t: float) -> None:
        self._close_files()
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            index_path(self.path).unlink(missing_ok=True)
        else:
            for i in range(self.backups - 1, 0, -1):
                src = self.path.with_name(f"{self.path.name}.{i}")
                if src.exists():
                    dst = self.path.with_name(f"{self.path.name}.{i + 1}")
                    os.replace(src, dst)
                    if index_path(src).exists():
                        os.replace(index_path(src), index_path(dst))
            first = self.path.with_name(f"{self.path.name}.1")
            os.replace(self.path, first)
            if index_path(self.path).exists():
                os.replace(index_path(self.path), index_path(first))
        self.rotations += 1
        self._open(t)

    # ------------------------------------------------------------------ data

    def add_event(self, event: Event) -> None:
        line, kind = event_line(event)
        node = getattr(event, "node_id", None)
        self.add_line(event.t, line, kind not in SAMPLES, node, kind)
        if kind == "delta" or (kind == "sample" and node in self._last):
            self._last[node] = event.sample  # type: ignore[attr-defined]
            self._last_rt[node] = event.t
        elif node in self._last and (kind == "hello" or isinstance(event, NodeForgotten)):
            del self._last[node]
        self.preamble.note(event, line)

    def add_line(self, rt: float, line: bytes, control: bool, node: str | None = None,
                 kind: str | None = None) -> None:
        """One line; `node` and `kind` (from event_line) for hello, sample and delta lines."""
        p = self._pending
        if p.lines and (rt - p.t0 >= self.block_s or p.size >= self.block_bytes):
            self.flush()  # may raise OSError: the line is not added, the block stays pending
            p = self._pending
        if kind is not None:
            base = self._chains.note(node, kind, rt)
            if base is not None and base < p.base:
                p.base = base
        p.add(rt, line, control)
        self.lines_written += 1

    def add_block(self, block: Block, data: bytes) -> None:
        """A block built elsewhere with this writer's codec (the flight recorder's memory)."""
        self.flush()
        self._write_raw(data, Block(0, 0, block.t0, block.t1, block.lines,
                                    list(block.controls), block.s0, block.base))
        self.lines_written += block.lines
        self._after_block(block.t1)

    def tick(self, now: float) -> None:
        """Close the pending block when it is `block_s` old, even with no new line."""
        p = self._pending
        if p.lines and now - p.t0 >= self.block_s:
            self.flush()

    def flush(self) -> None:
        p = self._pending
        if not p.lines:
            return
        block, data = p.build(self.codec)
        self._write_raw(data, block)
        self._pending = BlockBuilder()
        self._after_block(block.t1)

    def _after_block(self, t: float) -> None:
        self.blocks_written += 1
        if self.max_bytes is not None and self._size >= self.max_bytes:
            self._rotate(t)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._close_files()

    def _close_files(self) -> None:
        if self._f is not None:
            try:
                self._f.close()
            finally:
                self._f = None
        if self._idx is not None:
            self._idx.close()
            self._idx = None


def _rt(line: bytes) -> float:
    try:
        return float(json.loads(line)["rt"])
    except (ValueError, KeyError, TypeError):
        return float("-inf")
