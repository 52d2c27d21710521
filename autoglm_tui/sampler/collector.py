"""The sampler's single entry point: ``Collector.hello(now)`` once, then ``sample(now)`` per tick.

The CLI (loop.py) and the local TUI (in-process, from a worker thread) both use it. Percentages
(CPU, per-core, iowait, per-process CPU) cover the time since the previous ``sample()`` call
(the first one: since the collector was made). Disk and network travel as raw counters.
"""

from __future__ import annotations

import os
import time

from autoglm_tui import __version__
from autoglm_tui.model import (
    SCHEMA,
    CpuSample,
    DiskCounters,
    Hello,
    HostStatic,
    MemSample,
    NetCounters,
    NvmlInfo,
    Sample,
    SelfSample,
)
from autoglm_tui.sampler import sysinfo
from autoglm_tui.sampler.cpu import iowait_pct, util_pct
from autoglm_tui.sampler.gpu import GpuReader, GpuReadout
from autoglm_tui.sampler.nvml import NvmlGateway
from autoglm_tui.sampler.procs import ProcTracker
from autoglm_tui.sampler.records import HostBackend, ProcBackend
from autoglm_tui.text import clean

COLLECTOR_ENV = "AUTOGLM_COLLECTOR"  # "psutil" or "procfs" forces one (tests, benchmarks)
MIN_WINDOW_S = 0.1  # the shortest span a CPU percentage is computed over


def make_backends(prefer: str | None = None) -> tuple[HostBackend, ProcBackend]:
    """The host reader (psutil where it imports, else /proc; `prefer` or $AUTOGLM_COLLECTOR
    forces one) and the process reader.

    On Linux processes are always read from /proc directly: one small file per process for a
    full scan, about a third of psutil's cost for the same figures (benchmarks/bench_sampler.py).
    Elsewhere they are read with psutil."""
    from autoglm_tui.sampler import procfs

    choice = (prefer or os.environ.get(COLLECTOR_ENV, "")).strip().lower()
    linux = procfs.available()
    host: HostBackend | None = None
    if choice != "procfs":
        try:
            from autoglm_tui.sampler.host import PsutilHost

            host = PsutilHost()
        except ImportError:
            if choice == "psutil":
                raise
    if host is None:
        if not linux:
            raise RuntimeError("neither psutil nor a Linux /proc is available on this host")
        host = procfs.ProcfsHost()
    if linux:
        return host, procfs.ProcfsProcs()
    from autoglm_tui.sampler.procs import PsutilProcs

    return host, PsutilProcs()


class Collector:
    """Reads the host, GPUs and processes; cheap enough to call once a second on a busy node."""

    def __init__(
        self,
        interval_s: float = 1.0,
        proc_interval_s: float = 2.0,
        top_n: int = 25,
        *,
        collector: str | None = None,
        nvml_timeout_s: float = 2.0,
        read_pcie: bool = True,
    ) -> None:
        self.interval_s = interval_s
        self.proc_interval_s = proc_interval_s
        self.host, procs = make_backends(collector)
        self.gateway = NvmlGateway(timeout_s=nvml_timeout_s)
        self.gpus = GpuReader(self.gateway, read_pcie=read_pcie)
        self.procs = ProcTracker(procs, top_n=top_n)
        self._seq = 0
        self._last_full = -1e18
        mono = time.monotonic()
        self._cpu_prev = self.host.cpu_times()
        self._cpu_at = mono
        self._last_util = 0.0
        self._last_per_core: tuple[float, ...] = ()
        # Last good readings, repeated (with the reason in Sample.errors) if a read fails;
        # zeros only if the very first read fails.
        self._mem = MemSample(0, 0, 0, 0.0, 0, 0, None)
        self._disk = DiskCounters(0, 0, 0, 0, None, None, None)
        self._net = NetCounters(0, 0, 0, 0, 0, 0, None)
        self.procs.prime(mono)

    def hello(self, now: float) -> Hello:
        """The first message of a stream: static host facts, GPUs and NVML status."""
        facts = self.host.facts()
        try:
            nvml, gpus = self.gpus.static()
        except Exception as exc:  # a bug or a binding that misbehaves: no GPUs, and why
            nvml, gpus = NvmlInfo(available=False, reason=_reason("NVML", exc)), ()
        host = sysinfo.hostname()
        static = HostStatic(
            hostname=host,
            os=sysinfo.os_name(),
            kernel=sysinfo.kernel(),
            cpu_model=sysinfo.cpu_model(),
            cpu_cores_logical=facts.cpu_cores_logical,
            cpu_cores_physical=facts.cpu_cores_physical,
            mem_total_bytes=facts.mem_total_bytes,
            swap_total_bytes=facts.swap_total_bytes,
            boot_time=facts.boot_time,
            nvml=nvml,
            gpus=gpus,
            net_links_mbps=facts.net_links_mbps,
            collector=self.host.name,
            interval_s=self.interval_s,
        )
        return Hello(schema=SCHEMA, host=host, sampler_version=__version__, t=now, static=static)

    def sample(self, now: float) -> Sample:
        """One tick. Never raises for something the host or a GPU does: that becomes a field."""
        errors: list[str] = []
        mono = time.monotonic()
        if mono - self._cpu_at < MIN_WINDOW_S:  # called right after construction
            time.sleep(MIN_WINDOW_S - (mono - self._cpu_at))
            mono = time.monotonic()
        cpu = self._cpu(errors)
        try:
            self._mem = self.host.mem()
        except Exception as exc:
            errors.append(_reason("memory (figures repeated from the last reading)", exc))
        try:
            self._disk = self.host.disk()
        except Exception as exc:
            errors.append(_reason("disk counters (repeated from the last reading)", exc))
        try:
            self._net = self.host.net()
        except Exception as exc:
            errors.append(_reason("network counters (repeated from the last reading)", exc))
        try:
            gpu = self.gpus.read()
        except Exception as exc:
            errors.append(_reason("GPU read", exc))
            gpu = GpuReadout()
        mono = time.monotonic()  # the GPU reads may have taken a while
        full = mono - self._last_full + self.interval_s / 2 >= self.proc_interval_s
        try:
            procs = self.procs.collect(mono, now, gpu.procs, full)
            if full:
                self._last_full = mono
        except Exception as exc:
            errors.append(_reason("process list", exc))
            procs, full = (), False
        cpu_s, rss = sysinfo.self_cost()
        self._seq += 1
        return Sample(
            t=now,
            seq=self._seq,
            cpu=cpu,
            mem=self._mem,
            disk=self._disk,
            net=self._net,
            gpus=gpu.gpus,
            procs=procs,
            procs_fresh=full,
            self_cost=SelfSample(cpu_time_s=cpu_s, rss_bytes=rss),
            errors=tuple(errors),
        )

    def _cpu(self, errors: list[str]) -> CpuSample:
        try:
            load: tuple[float, float, float] | None = os.getloadavg()
        except (OSError, AttributeError):
            load = None
        try:
            total, per = self.host.cpu_times()
        except Exception as exc:
            errors.append(_reason("CPU times", exc))
            return CpuSample(self._last_util, self._last_per_core, None, load)
        prev_total, prev_per = self._cpu_prev
        util = util_pct(prev_total, total)
        per_core = tuple(_or(util_pct(a, b), 0.0) for a, b in zip(prev_per, per, strict=False))
        if len(per) != len(prev_per):  # CPUs went on/offline: start again from here
            per_core = self._last_per_core if len(self._last_per_core) == len(per) else ()
        iowait = iowait_pct(prev_total, total)
        if util is None:  # no time passed between readings: repeat the last figures
            util, per_core = self._last_util, self._last_per_core
        else:
            self._cpu_prev = (total, per)
            self._cpu_at = time.monotonic()
            self._last_util, self._last_per_core = util, per_core
        return CpuSample(
            util_pct=util,
            per_core_pct=per_core,
            iowait_pct=iowait,
            load=load,
            ctx_switches=self.host.ctx_switches(),
        )

    def close(self) -> None:
        """Release NVML (best effort)."""
        self.gateway.shutdown()


def _or(value: float | None, fallback: float) -> float:
    return fallback if value is None else value


def _reason(what: str, exc: BaseException) -> str:
    return clean(f"{what}: {type(exc).__name__}: {exc}", 300)
