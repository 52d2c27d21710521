"""The index of a recording: where each block starts, the time span it covers, and its
control lines (hellos, status changes, marks), so a reader can seek by time and know every
node's membership without reading the samples.

It lives beside the recording as ``FILE.idx`` (JSON lines: a header, then one line per block),
appended as blocks are written, so a crash leaves a usable index. A reader that finds no
index, or one that does not match or does not cover the file, builds it by reading the file
once (and saves it when it can).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoglm_tui.recording.codec import Gzip, Plain, Zstd
from autoglm_tui.recording.format import SAMPLES, WIRE, RecordingError, fast_line, line_fields

INDEX_VERSION = 1


@dataclass
class Block:
    """One independently readable block of a recording."""

    offset: int
    length: int
    t0: float  # earliest rt in the block (inf when it has no timed line)
    t1: float  # latest rt
    lines: int
    controls: list[dict[str, Any]] = field(default_factory=list)  # non-sample lines, in order
    s0: float = float("inf")  # earliest rt of a sample (where the data starts)
    # rt of the oldest full sample line that a delta line in this block builds on (inf: the
    # block has no delta with a known base): where reading must start to decode it
    base: float = float("inf")

    def to_json(self) -> str:
        entry = {"o": self.offset, "n": self.length, "t0": _fin(self.t0), "t1": _fin(self.t1),
                 "s0": _fin(self.s0), "k": self.lines, "c": self.controls}
        if self.base != float("inf"):
            entry["b"] = self.base
        return json.dumps(entry, separators=(",", ":"), ensure_ascii=False, default=str)

    @staticmethod
    def from_obj(obj: Any) -> Block:
        if not isinstance(obj, dict):
            raise ValueError("block entry is not an object")
        o, n, k = obj.get("o"), obj.get("n"), obj.get("k")
        if not all(isinstance(v, int) and v >= 0 for v in (o, n, k)):
            raise ValueError("block entry needs offsets")
        t0, t1, s0 = obj.get("t0"), obj.get("t1"), obj.get("s0")
        controls = obj.get("c") or []
        if not isinstance(controls, list):
            raise ValueError("block controls must be a list")
        return Block(o, n, _num(t0, float("inf")), _num(t1, float("-inf")), k,
                     [c for c in controls if isinstance(c, dict)], _num(s0, float("inf")),
                     _num(obj.get("b"), float("inf")))


def _num(v: Any, default: float) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default


def _fin(t: float) -> float | None:
    return t if t not in (float("inf"), float("-inf")) else None


def index_path(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(p.name + ".idx")


class Chains:
    """Where each node's chain of deltas starts: the rt of its newest full sample line. A
    writer (or an index built by reading) feeds it every wire line in order; ``base`` is what
    a delta line builds on (None: nothing this file holds)."""

    def __init__(self) -> None:
        self._full: dict[Any, float] = {}

    def note(self, node: Any, kind: str, rt: float) -> float | None:
        """Fold in one line; for a delta, the rt of the full line it builds on."""
        if kind == "delta":
            return self._full.get(node)
        if kind == "sample":
            self._full[node] = rt
        elif kind == "hello":  # a new run of the sampler: its deltas start from a new full line
            self._full.pop(node, None)
        return None


def scan_block(data: bytes, chains: Chains | None = None
               ) -> tuple[float, float, int, list[dict[str, Any]], int, float, float]:
    """(t0, t1, lines, controls, bad lines, first sample rt, delta base) of a decompressed
    block; `chains` carries the nodes' full lines from block to block."""
    t0, t1, s0, base = float("inf"), float("-inf"), float("inf"), float("inf")
    controls: list[dict[str, Any]] = []
    lines = bad = 0
    chains = chains or Chains()
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        lines += 1
        try:
            rt, kind, obj = line_fields(line)
        except RecordingError:
            bad += 1
            continue
        if kind == "recording":
            continue
        t0, t1 = min(t0, rt), max(t1, rt)
        if kind in WIRE:
            fast = fast_line(line)
            at = chains.note(fast[2] if fast is not None else None, kind, rt)
            if at is not None:
                base = min(base, at)
        if kind in SAMPLES:
            s0 = min(s0, rt)
        elif obj is not None:
            controls.append(obj)
    return t0, t1, lines, controls, bad, s0, base


def read_sidecar(path: str | Path, recording_id: str) -> list[Block] | None:
    """The blocks listed in the sidecar index, or None when it is missing or not this file's."""
    try:
        raw = index_path(path).read_bytes()
    except OSError:
        return None
    rows = raw.split(b"\n")
    try:
        head = json.loads(rows[0])
    except (ValueError, IndexError):
        return None
    if not isinstance(head, dict) or head.get("recording") != recording_id \
            or head.get("version") != INDEX_VERSION:
        return None
    blocks: list[Block] = []
    for row in rows[1:]:
        if not row.strip():
            continue
        try:
            blocks.append(Block.from_obj(json.loads(row)))
        except ValueError:
            break  # a torn last line: keep what is before it
    return blocks


class SidecarWriter:
    """Appends block entries to ``FILE.idx`` as the recording is written."""

    def __init__(self, path: str | Path, recording_id: str, codec: str) -> None:
        self.path = index_path(path)
        self._f = open(self.path, "w", encoding="utf-8")  # noqa: SIM115  (kept open)
        self._f.write(json.dumps({"type": "index", "version": INDEX_VERSION,
                                  "recording": recording_id, "codec": codec}) + "\n")
        self._f.flush()

    def add(self, block: Block) -> None:
        self._f.write(block.to_json() + "\n")
        self._f.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._f.close()


def write_sidecar(path: str | Path, recording_id: str, codec: str, blocks: list[Block]) -> bool:
    """Save a built index atomically; False when the directory is not writable."""
    target = index_path(path)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps({"type": "index", "version": INDEX_VERSION,
                                "recording": recording_id, "codec": codec}) + "\n")
            for b in blocks:
                f.write(b.to_json() + "\n")
        os.replace(tmp, target)
        return True
    except OSError:
        tmp.unlink(missing_ok=True)
        return False


def build(f: Any, codec: Gzip | Zstd | Plain, start: int = 0,
          progress: Callable[[int], None] | None = None) -> Iterator[tuple[Block, int]]:
    """(block, bad lines) for every block of the file from byte `start`, by reading it."""
    chains = Chains()
    for off, length, data in codec.frames(f, start):
        t0, t1, lines, controls, bad, s0, base = scan_block(data, chains)
        if progress is not None:
            progress(off + length)
        yield Block(off, length, t0, t1, lines, controls, s0, base), bad
