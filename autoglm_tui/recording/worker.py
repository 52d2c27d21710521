"""A writer thread with a bounded queue: the event loop hands items over and never waits on
disk. When the queue is full an item is dropped and counted (a slow disk loses recording
lines, never UI responsiveness).

Generic on purpose: the alert log's writer (h9-core's branch) does the same; whichever lands
second should use the other's machinery.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = object()


class BackgroundWriter:
    """Runs `handle(item)` for each item put, in order, on a daemon thread."""

    def __init__(self, handle: Callable[[Any], None], *, name: str = "writer",
                 max_items: int = 16384, on_close: Callable[[], None] | None = None) -> None:
        self._handle = handle
        self._on_close = on_close
        self._q: queue.Queue[Any] = queue.Queue(maxsize=max_items)
        self.dropped = 0
        self.errors = 0
        self.last_error: str | None = None
        self.handled = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: Any) -> bool:
        """Queue `item`; False (and counted as dropped) when the queue is full or closed."""
        if self._closed:
            return False
        try:
            self._q.put_nowait(item)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def call(self, fn: Callable[[], object]) -> bool:
        """Run `fn` on the writer thread after what is queued so far."""
        return self.put(_Call(fn))

    @property
    def pending(self) -> int:
        return self._q.qsize()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _STOP:
                break
            try:
                if isinstance(item, _Call):
                    item.fn()
                    continue
                self._handle(item)
                self.handled += 1
            except Exception as exc:  # a failing write must not end the thread
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
        if self._on_close is not None:
            try:
                self._on_close()
            except Exception as exc:
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is queued, run `on_close`, stop; False when it did not finish in time."""
        if not self._closed:
            self._closed = True
            while True:
                try:
                    self._q.put(_STOP, timeout=timeout)
                    break
                except queue.Full:
                    return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until everything queued so far is handled (tests and headless use only)."""
        done = threading.Event()
        if not self.call(done.set):
            return False
        return done.wait(timeout)


class _Call:
    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
