"""The alert log: append-only JSON lines, one per alert state change or node status change.

Each line is written with a single ``write`` and then ``fsync``ed before the next event, so a
crash or ``kill -9`` of the monitor loses nothing that was reported; at worst the very last
line can be cut short by a power loss, and readers skip such a line. When the file would grow
past ``max_bytes`` it is rotated: ``alerts.jsonl`` becomes ``alerts.jsonl.1`` and so on, keeping
``backups`` old files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from autoglm_tui.analysis.alerts import AlertEvent
from autoglm_tui.analysis.state import StatusChange
from autoglm_tui.text import clean


def iso(t: float) -> str:
    """Unix seconds as an RFC 3339 UTC timestamp with milliseconds."""
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def event_record(event: AlertEvent, **extra: Any) -> dict[str, Any]:
    """The log line of one alert state change."""
    rec = event.to_dict()
    rec["time"] = iso(event.t)
    rec.update(extra)
    return rec


def status_record(change: StatusChange) -> dict[str, Any]:
    """The log line of one node status change (DESIGN: every status change is logged)."""
    return {
        "t": round(change.t, 3),
        "time": iso(change.t),
        "kind": "node_status",
        "node": clean(change.node_id, 200),
        "old": None if change.old is None else change.old.value,
        "new": None if change.new is None else change.new.value,
        "reason": None if change.reason is None else clean(change.reason, 400),
    }


class AlertLog:
    """Append-only, fsynced, size-rotated JSON-lines file."""

    def __init__(self, path: str | Path, max_bytes: int = 10 << 20, backups: int = 5) -> None:
        if max_bytes < 1024:
            raise ValueError("max_bytes must be at least 1024")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = max(0, backups)
        self.lines_written = 0
        self.errors = 0
        self.last_error: str | None = None
        self._fd: int | None = None
        self._size = 0
        self._open()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        size = os.fstat(fd).st_size
        if size:
            # A line cut short by a crash must not swallow the next one.
            with open(self.path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    os.write(fd, b"\n")
                    size += 1
        self._fd = fd
        self._size = size

    def write(self, record: dict[str, Any]) -> bool:
        """Append one record and fsync it; False (and `last_error`) if the disk refused."""
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                           default=str) + "\n").encode("utf-8", "replace")
        try:
            if self._fd is None:
                self._open()
            if self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            assert self._fd is not None
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            os.fsync(self._fd)
        except (OSError, ValueError) as exc:
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        self._size += len(data)
        self.lines_written += 1
        return True

    def write_event(self, event: AlertEvent, **extra: Any) -> bool:
        return self.write(event_record(event, **extra))

    def write_status(self, change: StatusChange) -> bool:
        return self.write(status_record(change))

    def _rotate(self) -> None:
        self.close()
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        else:
            for i in range(self.backups - 1, 0, -1):
                src = self.path.with_name(f"{self.path.name}.{i}")
                if src.exists():
                    os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        _fsync_dir(self.path.parent)
        self._open()

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None

    def __enter__(self) -> AlertLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_log(path: str | Path, include_rotated: bool = False) -> Iterator[dict[str, Any]]:
    """Records of an alert log, oldest first; lines that do not parse are skipped."""
    p = Path(path)
    files = [p]
    if include_rotated:
        rotated = sorted(p.parent.glob(p.name + ".*"),
                         key=lambda f: int(f.suffix[1:]) if f.suffix[1:].isdigit() else 0)
        files = [f for f in reversed(rotated) if f.suffix[1:].isdigit()] + files
    for f in files:
        try:
            raw = f.read_bytes()
        except OSError:
            continue
        for line in raw.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                yield rec
