"""Xid errors as they happen: one NVML event set for every GPU, waited on in its own thread.

``nvmlEventSetWait_v2`` blocks until an event arrives or its timeout passes (a timeout is the
normal outcome, not an error), so it cannot run on the gateway's watchdog lanes. The watcher
thread stamps each Xid with the wall clock when it arrives and queues it per GPU; the per-tick
GPU read drains the queue (``drain``), so no NVML call is made for Xids on the sampling path.
Calls go through the gateway's :class:`~autoglm_tui.sampler.nvml.Batch`, which turns every
binding error into a value.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from autoglm_tui.model import XidEvent
from autoglm_tui.sampler.nvml import ERROR_TIMEOUT, Batch, NvmlGateway, code, same_handle

XID_EVENT = 0x8  # nvmlEventTypeXidCriticalError
WAIT_MS = 250  # one wait; also how long stop() may take
MAX_QUEUED = 256  # per GPU between two drains; a flood keeps the newest
ERROR_PAUSE_S = 2.0  # after a failed wait (not a timeout), before the next


class XidWatcher:
    """Registers GPUs on one event set and collects their Xids on a daemon thread."""

    def __init__(self, gateway: NvmlGateway, clock: Callable[[], float] = time.time) -> None:
        self.gateway = gateway
        self.clock = clock
        self.error: str | None = None  # why the watcher stopped or never started
        self._set: Any = None
        self._handles: dict[int, Any] = {}
        self._queues: dict[int, list[XidEvent]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ set-up

    def create(self) -> bool:
        """Make the event set (on the gateway's system lane); False where NVML refuses one."""
        module = self.gateway.module
        if module is None:
            self.error = self.gateway.info.reason or "NVML is not available"
            return False
        result = self.gateway.batch("system", lambda b: b.query("nvmlEventSetCreate"))
        if result is None or isinstance(result, Exception):
            self.error = f"nvmlEventSetCreate failed: {result or 'not supported'}"
            return False
        self._set = result
        return True

    def register(self, batch: Batch, index: int, handle: Any) -> bool:
        """Add one GPU to the set (run on that GPU's lane, in its opener); True on success."""
        if self._set is None:
            return False
        kind = getattr(batch.module, "nvmlEventTypeXidCriticalError", XID_EVENT)
        failed = object()
        done = batch.query("nvmlDeviceRegisterEvents", handle, kind, self._set, default=failed)
        if done is failed:
            return False
        with self._lock:
            self._handles[index] = handle
            self._queues.setdefault(index, [])
        return True

    def start(self) -> None:
        """Start waiting (once some GPU is registered)."""
        if self._thread is not None or self._set is None or not self._handles:
            return
        self._thread = threading.Thread(target=self._run, name="nvml-xid", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def watches(self, index: int) -> bool:
        """Whether GPU `index` is registered (its Xids can be seen)."""
        return index in self._handles

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        module = self.gateway.module
        if module is None:
            return
        timeout = code(module, "NVML_ERROR_TIMEOUT", ERROR_TIMEOUT)
        while not self._stop.is_set():
            batch = Batch(module)
            data = batch.query("nvmlEventSetWait_v2", self._set, WAIT_MS, quiet=(timeout,))
            if self._stop.is_set():
                break
            if data is None:
                if "nvmlEventSetWait_v2" in batch.unsupported:
                    self.error = "nvmlEventSetWait_v2 is not supported here"
                    return
                failure = batch.lost or batch.summary()
                if failure:  # not a timeout: note it, pause, try again
                    self.error = failure
                    self._stop.wait(ERROR_PAUSE_S)
                continue
            self._on_event(module, data)

    def _on_event(self, module: Any, data: Any) -> None:
        at = self.clock()
        kind = getattr(data, "eventType", 0)
        xid = getattr(data, "eventData", None)
        if not isinstance(kind, int) or not kind & XID_EVENT:
            return
        if isinstance(xid, bool) or not isinstance(xid, int) or xid < 0:
            return
        index = self._index_of(module, getattr(data, "device", None))
        if index is None:
            return
        with self._lock:
            queue = self._queues.setdefault(index, [])
            queue.append(XidEvent(t=at, xid=int(xid)))
            del queue[:-MAX_QUEUED]

    def _index_of(self, module: Any, device: Any) -> int | None:
        """Which registered GPU an event names: NVML's own index, else the same handle (a GPU
        that fell off the bus may not answer nvmlDeviceGetIndex)."""
        if device is None:
            return None
        with self._lock:
            handles = dict(self._handles)
        if len(handles) == 1:
            return next(iter(handles))
        found = Batch(module).query("nvmlDeviceGetIndex", device)
        if isinstance(found, int) and not isinstance(found, bool) and found in handles:
            return found
        for index, handle in handles.items():
            if same_handle(handle, device):
                return index
        return None

    # ------------------------------------------------------------------ readers

    def drain(self, index: int) -> list[XidEvent]:
        """The Xids of GPU `index` that arrived since the last drain, oldest first."""
        with self._lock:
            queue = self._queues.get(index)
            if not queue:
                return []
            out = list(queue)
            queue.clear()
        return out

    def stop(self, timeout_s: float = WAIT_MS / 1000.0 + 0.5) -> None:
        """Stop the thread (it returns after its current wait) and free the event set."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():  # stuck inside NVML: leave the set alone
                return
        event_set, self._set = self._set, None
        module = self.gateway.module
        if event_set is not None and module is not None:
            self.gateway.batch("system", lambda b: b.query("nvmlEventSetFree", event_set))
