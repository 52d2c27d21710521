"""The one gateway to NVML: lazy init, errors turned into None plus a reason, a watchdog per call.

Nothing else in the project imports ``pynvml``. The binding is ``pynvml`` (from nvidia-ml-py)
unless the environment variable ``AUTOGLM_NVML_MODULE`` names another importable module, or a
``.py`` file, with the same names (tests and demos use it to load a fake NVML).

Calls run on worker threads ("lanes"): one lane per GPU plus one for system-wide calls, so a
call that hangs inside the driver blocks only its own lane. The caller waits at most
``timeout_s`` and gets :class:`NvmlHung`; that lane then refuses work until the stuck call
returns, while the other lanes go on.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import ModuleType
from typing import Any, TypeVar

from autoglm_tui.model import NvmlInfo
from autoglm_tui.text import clean

T = TypeVar("T")

MODULE_ENV = "AUTOGLM_NVML_MODULE"
DEFAULT_MODULE = "pynvml"

# NVML return codes (nvml.h); the binding's own constants win when it has them.
ERROR_NOT_SUPPORTED = 3
ERROR_NO_PERMISSION = 4
ERROR_NOT_FOUND = 6
ERROR_DRIVER_NOT_LOADED = 9
ERROR_TIMEOUT = 10
ERROR_LIBRARY_NOT_FOUND = 12
ERROR_GPU_IS_LOST = 15
ERROR_LIB_RM_VERSION_MISMATCH = 18

XID_FALLEN_OFF_BUS = 79  # Xid 79: "GPU has fallen off the bus"


class CallFailed(Exception):
    """A batch that produced no result; the message says why."""


class NvmlHung(CallFailed):
    """A call did not return within the watchdog's timeout (or its lane is still stuck)."""

    def __init__(self, fn_name: str | None, timeout_s: float) -> None:
        self.fn_name = fn_name or "NVML call"
        self.timeout_s = timeout_s
        super().__init__(f"{self.fn_name} did not return within {timeout_s:g} s (NVML hung)")


def load_module() -> ModuleType:
    """Import the NVML binding named by ``AUTOGLM_NVML_MODULE`` (default ``pynvml``)."""
    name = os.environ.get(MODULE_ENV, "").strip() or DEFAULT_MODULE
    if name.endswith(".py") and os.path.isfile(name):
        spec = importlib.util.spec_from_file_location("_autoglm_nvml_binding", name)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(spec.name, None)
            raise
        return module
    return importlib.import_module(name)


def code(module: ModuleType, const: str, fallback: int) -> int:
    """The binding's value for the NVML constant `const`, or `fallback`."""
    value = getattr(module, const, fallback)
    return value if isinstance(value, int) else fallback


def describe_error(exc: BaseException) -> str:
    """A short human reason for an exception raised by the binding."""
    value = getattr(exc, "value", None)
    try:
        text = str(exc)
    except Exception:  # the binding's __str__ may itself call into NVML
        text = ""
    if not text:
        text = type(exc).__name__
    if isinstance(value, int) and str(value) not in text:
        text = f"{text} (NVML error {value})"
    return clean(text, 200)


@dataclass
class Batch:
    """Runs binding calls for one device (or the system) and records what failed.

    ``query`` never raises: a failed call gives ``default`` and a recorded reason. After
    GPU_IS_LOST the rest of the batch is skipped."""

    module: ModuleType
    errors: dict[str, str] = field(default_factory=dict)  # fn name -> reason
    unsupported: set[str] = field(default_factory=set)
    lost: str | None = None
    current: str | None = None

    def query(
        self, fn_name: str, *args: Any, default: Any = None, quiet: tuple[int, ...] = ()
    ) -> Any:
        """``module.fn_name(*args)``, or `default` when it fails.

        NVML error codes in `quiet` are expected outcomes (e.g. NOT_FOUND for "no samples"):
        they give `default` without recording anything."""
        if self.lost is not None:
            return default
        fn = getattr(self.module, fn_name, None)
        if fn is None:
            self.unsupported.add(fn_name)
            return default
        self.current = fn_name
        try:
            return fn(*args)
        except Exception as exc:
            if getattr(exc, "value", None) not in quiet:
                self._record(fn_name, exc)
            return default
        finally:
            self.current = None

    def _record(self, fn_name: str, exc: Exception) -> None:
        value = getattr(exc, "value", None)
        if value == code(self.module, "NVML_ERROR_GPU_IS_LOST", ERROR_GPU_IS_LOST):
            self.lost = f"GPU is lost ({fn_name})"
        elif value == code(self.module, "NVML_ERROR_NOT_SUPPORTED", ERROR_NOT_SUPPORTED):
            self.unsupported.add(fn_name)
        else:
            self.errors[fn_name] = describe_error(exc)

    def summary(self, limit: int = 3) -> str | None:
        """The first few failures (not NOT_SUPPORTED ones) as one line, or None."""
        if not self.errors:
            return None
        items = [f"{k}: {v}" for k, v in list(self.errors.items())[:limit]]
        if len(self.errors) > limit:
            items.append(f"+{len(self.errors) - limit} more")
        return clean("; ".join(items), 1000)


class _Job:
    def __init__(self, fn: Callable[[], Any], batch: Batch, timeout_s: float) -> None:
        self.fn = fn
        self.batch = batch
        self.timeout_s = timeout_s
        self.done = threading.Event()
        self.result: Any = None
        self.exc: BaseException | None = None

    def hung(self) -> NvmlHung:
        return NvmlHung(self.batch.current, self.timeout_s)


class _Lane:
    """One worker thread that runs jobs in order; a job that hangs leaves the lane stuck."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._stuck: _Job | None = None
        self._thread = threading.Thread(target=self._work, name=f"nvml-{name}", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job.result = job.fn()
            except BaseException as exc:  # handed to the caller
                job.exc = exc
            job.done.set()

    def stuck(self) -> _Job | None:
        """The job that timed out earlier and still has not returned, if any."""
        if self._stuck is not None and self._stuck.done.is_set():
            self._stuck = None
        return self._stuck

    def submit(self, job: _Job) -> NvmlHung | None:
        """Queue `job`, or refuse it (NvmlHung) while an earlier job is stuck."""
        stuck = self.stuck()
        if stuck is not None:
            return stuck.hung()
        self._jobs.put(job)
        return None

    def finish(self, job: _Job, deadline: float) -> Any:
        """The job's result, or a CallFailed (NvmlHung when the deadline passes first)."""
        if not job.done.wait(max(0.0, deadline - time.monotonic())):
            self._stuck = job
            return job.hung()
        if job.exc is not None:
            if isinstance(job.exc, CallFailed):
                return job.exc
            return CallFailed(describe_error(job.exc))
        return job.result


class NvmlGateway:
    """Owns the binding, its initialisation and the watchdog lanes."""

    def __init__(self, timeout_s: float = 2.0, init_timeout_s: float = 20.0) -> None:
        self.timeout_s = timeout_s
        self.init_timeout_s = init_timeout_s
        self.last_error: str | None = None
        self._module: ModuleType | None = None
        self._info: NvmlInfo | None = None
        self._lanes: dict[str, _Lane] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ init

    @property
    def info(self) -> NvmlInfo:
        """Whether NVML is usable, with versions or the reason it is not (initialises lazily)."""
        if self._info is None:
            self._info = self._init()
        return self._info

    @property
    def available(self) -> bool:
        return self.info.available

    @property
    def module(self) -> ModuleType | None:
        """The loaded binding, or None when NVML is unavailable."""
        return self._module if self.available else None

    def _init(self) -> NvmlInfo:
        try:
            module = load_module()
        except Exception as exc:
            name = os.environ.get(MODULE_ENV, "").strip() or DEFAULT_MODULE
            reason = f"NVML binding '{name}' cannot be imported ({exc})"
            return NvmlInfo(available=False, reason=clean(reason, 300))
        self._module = module
        errors: list[Exception] = []

        def start() -> bool:
            try:
                module.nvmlInit()
            except Exception as exc:
                errors.append(exc)
                return False
            return True

        job = _Job(start, Batch(module, current="nvmlInit"), self.init_timeout_s)
        lane = self._lane("system")
        lane.submit(job)
        ok = lane.finish(job, time.monotonic() + self.init_timeout_s)
        if ok is not True:
            if errors:
                return NvmlInfo(available=False, reason=self._init_reason(module, errors[0]))
            return NvmlInfo(available=False, reason=clean(str(ok), 300))
        versions = self.batch("system", _read_versions)
        if isinstance(versions, CallFailed):
            return NvmlInfo(available=True, reason=clean(str(versions), 300))
        return versions

    @staticmethod
    def _init_reason(module: ModuleType, exc: Exception) -> str:
        value = getattr(exc, "value", None)
        if value == code(module, "NVML_ERROR_LIBRARY_NOT_FOUND", ERROR_LIBRARY_NOT_FOUND):
            return "NVML library not found (no NVIDIA driver)"
        if value == code(module, "NVML_ERROR_DRIVER_NOT_LOADED", ERROR_DRIVER_NOT_LOADED):
            return "NVIDIA driver not loaded"
        if value == code(module, "NVML_ERROR_NO_PERMISSION", ERROR_NO_PERMISSION):
            return "no permission to use NVML (check /dev/nvidia* permissions)"
        mismatch = code(module, "NVML_ERROR_LIB_RM_VERSION_MISMATCH", ERROR_LIB_RM_VERSION_MISMATCH)
        if value == mismatch:
            return "NVML library and kernel driver versions differ (reload the driver or reboot)"
        return f"nvmlInit failed: {describe_error(exc)}"

    # ------------------------------------------------------------------ calls

    def _lane(self, name: str) -> _Lane:
        with self._lock:
            lane = self._lanes.get(name)
            if lane is None:
                lane = _Lane(name)
                self._lanes[name] = lane
            return lane

    def lane_stuck(self, lane: str) -> str | None:
        """Why `lane` refuses work (a call that hung and has not returned yet), or None."""
        existing = self._lanes.get(lane)
        job = existing.stuck() if existing is not None else None
        return str(job.hung()) if job is not None else None

    def batches(self, jobs: Sequence[tuple[str, Callable[[Batch], T]]]) -> list[T | CallFailed]:
        """Run each ``job(batch)`` on its lane, in parallel, under one watchdog deadline.

        A job that hangs comes back as :class:`NvmlHung`, one that raises as CallFailed."""
        module = self._module
        if module is None:
            return [CallFailed(self.info.reason or "NVML is not available") for _ in jobs]
        deadline = time.monotonic() + self.timeout_s
        pending: list[tuple[_Lane, _Job] | CallFailed] = []
        for lane_name, fn in jobs:
            batch = Batch(module)
            job = _Job(partial(fn, batch), batch, self.timeout_s)
            lane = self._lane(lane_name)
            refused = lane.submit(job)
            pending.append(refused if refused is not None else (lane, job))
        return [
            item if isinstance(item, CallFailed) else item[0].finish(item[1], deadline)
            for item in pending
        ]

    def batch(self, lane: str, job: Callable[[Batch], T]) -> T | CallFailed:
        """Run ``job(batch)`` on `lane` under the watchdog (see :meth:`batches`)."""
        return self.batches([(lane, job)])[0]

    def query(self, fn_name: str, *args: Any, default: Any = None) -> Any:
        """One call on the system lane: its result, or `default` on any error or hang.

        The reason for a failure is left in :attr:`last_error` (None after success)."""
        self.last_error = None
        if not self.available:
            self.last_error = self.info.reason
            return default
        seen: list[Batch] = []

        def one(batch: Batch) -> Any:
            seen.append(batch)
            return batch.query(fn_name, *args, default=default)

        result = self.batch("system", one)
        if isinstance(result, CallFailed):
            self.last_error = str(result)
            return default
        batch = seen[0]
        if batch.lost or batch.errors:
            self.last_error = batch.lost or batch.summary()
        elif fn_name in batch.unsupported:
            self.last_error = f"{fn_name}: not supported"
        return result

    def shutdown(self) -> None:
        """Release NVML (best effort; a stuck lane is left alone)."""
        if self._module is None or self._info is None or not self._info.available:
            return
        self.batch("system", lambda b: b.query("nvmlShutdown"))
        self._info = NvmlInfo(available=False, reason="NVML shut down")


def as_text(value: Any, cap: int = 128) -> str | None:
    """A binding string (bytes or str) as clean text; None stays None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return clean(str(value), cap)


def _read_versions(batch: Batch) -> NvmlInfo:
    cuda = batch.query("nvmlSystemGetCudaDriverVersion")
    return NvmlInfo(
        available=True,
        driver_version=as_text(batch.query("nvmlSystemGetDriverVersion"), 64),
        nvml_version=as_text(batch.query("nvmlSystemGetNVMLVersion"), 64),
        cuda_driver_version=cuda if isinstance(cuda, int) and not isinstance(cuda, bool) else None,
    )


_DEFAULT: NvmlGateway | None = None


def default_gateway() -> NvmlGateway:
    """A process-wide gateway for callers that do not hold their own."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = NvmlGateway()
    return _DEFAULT
