"""The alert log: append-only JSON lines, one per alert state change or node status change.

Each line is written with a single ``write`` and then ``fsync``ed before the next one, so a
crash or ``kill -9`` of the monitor loses nothing that was reported; at worst the very last
line can be cut short by a power loss, and readers skip such a line. A write that fails (a
full disk) is undone (the file is cut back to its last whole line) so that trying it again
never writes a line twice. When the file would grow past ``max_bytes`` it is rotated:
``alerts.jsonl`` becomes ``alerts.jsonl.1`` and so on, keeping ``backups`` old files.

One writer per file: the log holds an advisory lock (``flock``) on the file it appends to for as
long as it is open, and a second monitor that asks for the same file gets :class:`LogInUse`
(with the holder's pid when the system says it). Rotation keeps the lock: the fresh file is
created and locked under a temporary name, the current one is hard-linked to ``.1``, and the
fresh one renamed over the name, so the name always points at a locked file.

The monitor does not write on its event loop: :meth:`AlertLog.submit` queues a record for a
writer thread (:mod:`autoglm_tui.alerting.write_queue`) that retries while the disk refuses
(full, read-only, immutable), in order, and :meth:`AlertLog.health` says how it goes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from autoglm_tui.alerting.write_queue import QueueHealth, WriteQueue
from autoglm_tui.analysis.alerts import AlertEvent
from autoglm_tui.analysis.state import NodeNote, StatusChange
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


def note_record(note: NodeNote) -> dict[str, Any]:
    """The log line of something that happened to a node without a status change (its agent
    lost while samples flow, its sampler restarted)."""
    return {
        "t": round(note.t, 3),
        "time": iso(note.t),
        "kind": "node_event",
        "node": clean(note.node_id, 200),
        "event": note.what,
        "reason": None if note.reason is None else clean(note.reason, 400),
    }


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


def gap_record(dropped: int, t: float | None = None) -> dict[str, Any]:
    """The line written where records were dropped because the writer's queue was full."""
    now = time.time() if t is None else t
    return {"t": round(now, 3), "time": iso(now), "kind": "log_gap", "dropped": dropped}


class LogInUse(OSError):
    """Another process holds the lock on this alert log."""

    def __init__(self, path: Path, holder: int | None) -> None:
        self.path = path
        self.holder = holder
        who = f"pid {holder}" if holder else "another process"
        super().__init__(f"{path} is in use by {who} (one writer per alert log)")


class AlertLog:
    """Append-only, fsynced, size-rotated JSON-lines file, locked to this writer."""

    def __init__(self, path: str | Path, max_bytes: int = 10 << 20, backups: int = 5,
                 max_queue: int = 10_000) -> None:
        if max_bytes < 1024:
            raise ValueError("max_bytes must be at least 1024")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = max(0, backups)
        self.lines_written = 0
        self.rotations = 0  # files rotated by this log (the pipeline restates alerts after one)
        # What the monitor writing here watches ("local", "etcd HOST:PORT /prefix/"...): each
        # line gets it as "scope" (one that has a scope keeps it), so a restart restores only
        # its own alerts (restore.read_active). None: lines without one, as before.
        self.scope: str | None = None
        self.errors = 0
        self.last_error: str | None = None
        self._fd: int | None = None
        self._size = 0
        self._io = threading.Lock()  # one write at a time (the writer thread, or write())
        self._queue = WriteQueue(self._append_locked, name=f"alert log {self.path.name}",
                                 max_items=max_queue, gap=gap_record)
        self._open()

    # ------------------------------------------------------------------ opening and locking

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_locked(self.path)
        size = os.fstat(fd).st_size
        # A line cut short by a crash must not swallow the next one.
        if size and os.pread(fd, 1, size - 1) != b"\n":
            try:
                os.write(fd, b"\n")
            except OSError:
                os.close(fd)
                raise
            size += 1
        self._fd = fd
        self._size = size

    # ------------------------------------------------------------------ writing

    def submit(self, record: dict[str, Any]) -> None:
        """Queue one record for the writer thread (never blocks on the disk)."""
        self._queue.put(record)

    def submit_event(self, event: AlertEvent, **extra: Any) -> None:
        self.submit(event_record(event, **extra))

    def submit_status(self, change: StatusChange) -> None:
        self.submit(status_record(change))

    def submit_note(self, note: NodeNote) -> None:
        self.submit(note_record(note))

    def paths(self) -> list[Path]:
        """This log's files, newest first: the current one, then ``.1``, ``.2``... that exist."""
        out = [self.path]
        for i in range(1, self.backups + 1):
            p = self.path.with_name(f"{self.path.name}.{i}")
            if not p.exists():
                break
            out.append(p)
        return out

    def write(self, record: dict[str, Any]) -> bool:
        """Append one record and fsync it now, on this thread; False (and `last_error`) if the
        disk refused."""
        try:
            self._append_locked(record)
        except (OSError, ValueError):
            return False
        return True

    def write_event(self, event: AlertEvent, **extra: Any) -> bool:
        return self.write(event_record(event, **extra))

    def write_status(self, change: StatusChange) -> bool:
        return self.write(status_record(change))

    def _append_locked(self, record: dict[str, Any]) -> None:
        with self._io:
            try:
                self._append(record)
            except (OSError, ValueError) as exc:  # ValueError: a record that cannot be JSON
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                raise
            self.last_error = None

    def _append(self, record: dict[str, Any]) -> None:
        if self.scope is not None and "scope" not in record:
            record = {**record, "scope": self.scope}
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                           default=str) + "\n").encode("utf-8", "replace")
        if self._fd is None:
            self._open()
        if self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
        fd = self._fd
        assert fd is not None
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        except OSError:
            # Leave no part of this line behind: the retry writes it whole, once.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._size)
            raise
        self._size += len(data)
        self.lines_written += 1

    def _rotate(self) -> None:
        """alerts.jsonl -> .1 -> .2 ...; the name always points at a file this log has locked."""
        assert self._fd is not None
        name = self.path.name
        first = self.path.with_name(f"{name}.1")
        # Done already when a rotation failed after linking (a retry must not shift twice).
        linked = self.backups > 0 and _same_file(first, self.path)
        if self.backups and not linked and first.exists():
            for i in range(self.backups - 1, 0, -1):
                src = self.path.with_name(f"{name}.{i}")
                if src.exists():
                    os.replace(src, self.path.with_name(f"{name}.{i + 1}"))
        fresh = self.path.with_name(f".{name}.{os.getpid()}.new")
        fresh.unlink(missing_ok=True)
        fd = os.open(fresh, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if self.backups and not linked:
                try:
                    os.link(self.path, first)
                except OSError:  # no hard links here: a short moment without the name
                    os.replace(self.path, first)
            os.replace(fresh, self.path)
        except OSError:
            os.close(fd)
            fresh.unlink(missing_ok=True)
            raise
        _fsync_dir(self.path.parent)
        os.close(self._fd)
        self._fd = fd
        self._size = 0
        self.rotations += 1

    # ------------------------------------------------------------------ health and closing

    def health(self) -> QueueHealth:
        """The writer thread's state: queued, dropped, written, the error it retries."""
        return self._queue.health()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted record is written; False if `timeout` passed first."""
        return self._queue.flush(timeout)

    def retry_now(self) -> None:
        """Try a refused write again at once (it is retried on its own, with backoff)."""
        self._queue.retry_now()

    def close(self, timeout: float = 5.0) -> int:
        """Write what is queued (for at most `timeout` seconds), then close the file and drop
        the lock. Returns how many records could not be written."""
        left = self._queue.close(timeout)
        with self._io:
            if self._fd is not None:
                try:
                    os.close(self._fd)
                finally:
                    self._fd = None
        return left

    def __enter__(self) -> AlertLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_locked(path: Path) -> int:
    """Open `path` for appending and lock it; LogInUse if another process has it."""
    for _ in range(20):
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = lock_holder(fd)
            os.close(fd)
            raise LogInUse(path, holder) from None
        except OSError:
            os.close(fd)
            raise
        # A writer rotating this file may have renamed it between our open and our lock:
        # then what we locked is a backup, and the name is someone else's fresh file.
        try:
            st = os.stat(path)
        except FileNotFoundError:
            os.close(fd)
            continue
        mine = os.fstat(fd)
        if (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
            return fd
        os.close(fd)
    raise LogInUse(path, None)


def lock_holder(fd: int) -> int | None:
    """The pid holding a flock on the file open as `fd` (from /proc/locks), if it can be told."""
    st = os.fstat(fd)
    want = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            for line in f:
                parts = line.split()
                if "FLOCK" in parts and want in parts:
                    pid = parts[parts.index(want) - 1]
                    if pid.isdigit() and int(pid) != os.getpid():
                        return int(pid)
    except OSError:
        pass
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


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
