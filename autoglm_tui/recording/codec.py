"""Compression of recordings: plain, gzip (``.gz``) or zstandard (``.zst``, optional package).

A recording is written in blocks; each block is compressed on its own (a gzip member, a zstd
frame), and the concatenation is still an ordinary ``.gz`` / ``.zst`` file that ``zcat`` and
``zstdcat`` read. The index (index.py) records where each block starts, so a reader can seek
to one and decompress only it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from autoglm_tui.recording.format import RecordingError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
READ_CHUNK = 1 << 20
ZSTD_MISSING = ("recordings compressed with zstandard (.zst) need the zstandard package: "
                "pip install zstandard (or install autoglm-tui[zstd]); or record to .gz or "
                "plain .jsonl instead")


class Codec(Protocol):
    name: str

    def compress(self, data: bytes) -> bytes: ...
    def decompress(self, data: bytes) -> bytes: ...
    def frames(self, f: BinaryIO, start: int = 0) -> Iterator[tuple[int, int, bytes]]: ...


class Plain:
    """No compression: every byte range that ends at a line end is a block."""

    name = "plain"
    suffix = ""

    def compress(self, data: bytes) -> bytes:
        return data

    def decompress(self, data: bytes) -> bytes:
        return data

    def frames(self, f: BinaryIO, start: int = 0, size: int = 1 << 20
               ) -> Iterator[tuple[int, int, bytes]]:
        """(offset, length, data) chunks of about `size` bytes, cut after a newline."""
        f.seek(start)
        off, rest = start, b""
        while True:
            chunk = f.read(READ_CHUNK)
            if not chunk:
                if rest:
                    yield off, len(rest), rest
                return
            rest += chunk
            while len(rest) >= size:
                cut = rest.find(b"\n", size - 1)
                if cut < 0:
                    break
                block, rest = rest[: cut + 1], rest[cut + 1:]
                yield off, len(block), block
                off += len(block)


class Gzip:
    name = "gz"
    suffix = ".gz"

    def __init__(self, level: int = 6) -> None:
        self.level = level

    def compress(self, data: bytes) -> bytes:
        c = zlib.compressobj(self.level, zlib.DEFLATED, 31)
        return c.compress(data) + c.flush()

    def decompress(self, data: bytes) -> bytes:
        out, _ = _members(data, lambda: zlib.decompressobj(31))
        return out

    def frames(self, f: BinaryIO, start: int = 0) -> Iterator[tuple[int, int, bytes]]:
        return _frames(f, start, lambda: zlib.decompressobj(31), "gzip")


class Zstd:
    name = "zst"
    suffix = ".zst"

    def __init__(self, level: int = 3) -> None:
        zstandard = load_zstd()
        self._c = zstandard.ZstdCompressor(level=level)
        self._d = zstandard.ZstdDecompressor()

    def compress(self, data: bytes) -> bytes:
        return self._c.compress(data)

    def decompress(self, data: bytes) -> bytes:
        out, _ = _members(data, self._d.decompressobj)
        return out

    def frames(self, f: BinaryIO, start: int = 0) -> Iterator[tuple[int, int, bytes]]:
        return _frames(f, start, self._d.decompressobj, "zstandard")


def load_zstd():
    try:
        import zstandard
    except ImportError:
        raise RecordingError(ZSTD_MISSING) from None
    return zstandard


def _members(data: bytes, new) -> tuple[bytes, int]:
    """Decompress every member/frame in `data`; (output, count)."""
    out = []
    n = 0
    while data:
        d = new()
        try:
            out.append(d.decompress(data))
        except Exception as exc:  # zlib.error, zstandard.ZstdError
            raise RecordingError(f"corrupt compressed data: {exc}") from None
        n += 1
        if not d.eof:
            raise RecordingError("compressed data ends in the middle of a block (a recording "
                                 "cut short?)")
        data = d.unused_data
    return b"".join(out), n


def _frames(f: BinaryIO, start: int, new, what: str
            ) -> Iterator[tuple[int, int, bytes]]:
    """(offset, compressed length, decompressed data) of each member/frame from `start`; a
    truncated last one is dropped (a recording cut short by a crash)."""
    f.seek(start)
    off = start
    buf = b""
    d = new()
    out: list[bytes] = []
    consumed = 0  # bytes of the current frame fed so far
    while True:
        if not buf:
            buf = f.read(READ_CHUNK)
            if not buf:
                return  # a partial frame at the end is ignored
        try:
            out.append(d.decompress(buf))
        except Exception as exc:
            raise RecordingError(f"corrupt {what} data at byte {off + consumed}: {exc}") from None
        if d.eof:
            rest = d.unused_data
            length = consumed + len(buf) - len(rest)
            yield off, length, b"".join(out)
            off += length
            consumed = 0
            out = []
            d = new()
            buf = rest
        else:
            consumed += len(buf)
            buf = b""


def for_path(path: str) -> Gzip | Zstd | Plain:
    """The codec a new recording at `path` is written with, from its name."""
    name = str(path)
    for suffix in (".zst", ".zstd"):
        if name.endswith(suffix) or f"{suffix}." in name:
            return Zstd()
    if name.endswith(".gz") or ".gz." in name:
        return Gzip()
    return Plain()


def sniff(head: bytes) -> Gzip | Zstd | Plain:
    """The codec of an existing file, from its first bytes."""
    if head.startswith(GZIP_MAGIC):
        return Gzip()
    if head.startswith(ZSTD_MAGIC):
        return Zstd()
    return Plain()


def best_memory_codec() -> Gzip | Zstd:
    """For blocks kept in memory: zstandard when installed (about 6x faster), else gzip; level 1
    (on sample lines higher levels gain under 10% for 3-6 times the CPU)."""
    try:
        return Zstd(level=1)
    except RecordingError:
        return Gzip(level=1)
