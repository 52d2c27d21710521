"""A writer thread for the alert sinks, so that no disk write or fsync runs on the event loop.

``WriteQueue(write)`` calls ``write(item)`` on its own thread for each item ``put`` on it, one at
a time and in order. An item leaves the queue only once ``write`` returned; when it raises
``OSError`` (a full disk, a read-only or immutable file, an I/O error) the same item is tried
again after a pause that grows from ``retry_s`` to ``retry_max_s``, so nothing is lost and
nothing is written twice (``write`` must leave no partial item behind when it fails). The
queue is bounded: past ``max_items`` the oldest waiting item is dropped and counted, and
``gap(n)`` (when given) makes the record that says so, written where the items were lost.
With ``coalesce=True`` only the newest item matters (a state file): a new item replaces any
waiting one. :meth:`health` is plain data for the UI; :meth:`put` never blocks.
"""

from __future__ import annotations

import errno
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# What a user should read for the errors a disk gives.
_PLAIN = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EPERM: "not permitted (immutable or append-only file?)",
    errno.EACCES: "permission denied",
    errno.EIO: "I/O error",
}


def plain_error(exc: OSError) -> str:
    """A short reason for a failed write: 'disk full', 'read-only file system'..."""
    return _PLAIN.get(exc.errno or 0) or (exc.strerror or type(exc).__name__).lower()


@dataclass(frozen=True, slots=True)
class QueueHealth:
    """A snapshot of a writer: what waits, what was dropped, the error it is retrying."""

    queued: int  # items not written yet (the one being tried included)
    dropped: int  # items dropped because the queue was full (ever)
    written: int
    error: str | None  # why the item at the head cannot be written now ("disk full")
    error_since: float | None  # wall-clock time of the first failure of this run of errors
    failures: int  # failed attempts (ever)
    rejected: int  # items that could never be written (not an OSError), dropped


class WriteQueue:
    """Items written in order on a background thread, retried until they are written."""

    def __init__(
        self,
        write: Callable[[Any], None],
        *,
        name: str = "writer",
        max_items: int = 10_000,
        coalesce: bool = False,
        gap: Callable[[int], Any] | None = None,
        retry_s: float = 0.25,
        retry_max_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._write = write
        self._gap = gap
        self.name = name
        self.max_items = max(1, max_items)
        self.coalesce = coalesce
        self.retry_s = retry_s
        self.retry_max_s = retry_max_s
        self._clock = clock
        self._cond = threading.Condition()
        self._items: deque[Any] = deque()
        self._busy = False  # the thread holds an item it has not written yet
        self._lost = 0  # dropped since the last gap record
        self._closing = False
        self._kick = False
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0
        self.failures = 0
        self.rejected = 0  # items `write` refused for good (not an OSError)
        self.last_rejected: str | None = None
        self.error: str | None = None
        self.error_since: float | None = None

    # ------------------------------------------------------------------ the loop's side

    def put(self, item: Any) -> None:
        """Queue one item; never blocks on the disk (a full queue drops its oldest item)."""
        with self._cond:
            if self._closing:
                raise RuntimeError(f"{self.name} is closed")
            if self.coalesce:
                self._items.clear()
            elif len(self._items) >= self.max_items:
                self._items.popleft()
                self.dropped += 1
                self._lost += 1
            self._items.append(item)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def health(self) -> QueueHealth:
        with self._cond:
            return QueueHealth(len(self._items) + self._busy, self.dropped, self.written,
                               self.error, self.error_since, self.failures, self.rejected)

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._items) + self._busy

    def retry_now(self) -> None:
        """Try the waiting item again at once (e.g. once the user freed some space)."""
        with self._cond:
            self._kick = True
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued is written; False if `timeout` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._items or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self, timeout: float = 5.0) -> int:
        """Write what is queued (trying for at most `timeout` seconds), then stop the thread.
        Returns how many items could not be written."""
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(max(0.1, min(timeout, 2.0)))
        with self._cond:
            return len(self._items) + self._busy

    # ------------------------------------------------------------------ the thread

    def _next(self) -> tuple[bool, Any]:
        """(True, item) to write next, or (False, None) when closing with nothing to write."""
        with self._cond:
            while not self._items and not self._closing:
                self._cond.wait()
            if self._closing and (not self._items or self.error is not None):
                return False, None
            if self._lost and self._gap is not None:
                item = self._gap(self._lost)
            else:
                item = self._items.popleft()
            self._lost = 0
            self._busy = True
            return True, item

    def _run(self) -> None:
        delay = self.retry_s
        while True:
            ok, item = self._next()
            if not ok:
                return
            while True:
                try:
                    self._write(item)
                except OSError as exc:
                    with self._cond:
                        self.failures += 1
                        if self.error is None:
                            self.error_since = self._clock()
                        self.error = plain_error(exc)
                        if self._closing:
                            self._items.appendleft(item)  # kept for the count close() returns
                            self._busy = False
                            self._cond.notify_all()
                            return
                        self._cond.wait_for(lambda: self._kick or self._closing, delay)
                        self._kick = False
                    delay = min(self.retry_max_s, delay * 2)
                    continue
                except Exception as exc:  # an item that can never be written: drop it
                    with self._cond:
                        self.rejected += 1
                        self.last_rejected = f"{type(exc).__name__}: {exc}"
                        self._busy = False
                        self._cond.notify_all()
                    break
                else:
                    with self._cond:
                        self.written += 1
                        self._busy = False
                        self.error = None
                        self.error_since = None
                        self._cond.notify_all()
                    break
            delay = self.retry_s
