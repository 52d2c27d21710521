"""The sampler's single entry point: ``Collector.hello(now)`` once, then ``sample(now)`` per tick.

The CLI (loop.py) and the local TUI (in-process, from a worker thread) both use it. Percentages
(CPU, per-core, iowait, per-process CPU) cover the time since the previous ``sample()`` call
(the first one: since the collector was made). Disk and network travel as raw counters.

Figures are rounded to what the UI can show (docs/wire.md): CPU % to 0.1 (per core to 1),
load to 0.01, memory levels to 1 MiB, the sampler's CPU time to 10 ms; counters are exact.
With ``adaptive`` on, a saturated node makes the process scan and the slow GPU health reads
run less often (sampler/adaptive.py); ``Sample.sampling`` says what is in force.
"""

from __future__ import annotations

import importlib.util
import os
import time
from typing import TYPE_CHECKING

from autoglm_tui import __version__
from autoglm_tui.model import (
    SCHEMA,
    SCHEMA_MINOR,
    CpuSample,
    DiskCounters,
    Hello,
    HostStatic,
    MemSample,
    NetCounters,
    NvmlInfo,
    Sample,
    SamplingInfo,
    SelfSample,
)
from autoglm_tui.sampler import sysinfo
from autoglm_tui.sampler.adaptive import LoadPolicy
from autoglm_tui.sampler.cpu import iowait_pct, util_pct
from autoglm_tui.sampler.gpu import GpuReader, GpuReadout
from autoglm_tui.sampler.gpu_health import HEALTH_INTERVAL_S
from autoglm_tui.sampler.nvml import NvmlGateway
from autoglm_tui.sampler.procs import ProcTracker
from autoglm_tui.sampler.records import HostBackend, ProcBackend
from autoglm_tui.text import clean

if TYPE_CHECKING:
    from autoglm_tui.sampler.services.monitor import ServiceMonitor

COLLECTOR_ENV = "AUTOGLM_COLLECTOR"  # "psutil" or "procfs" forces one (tests, benchmarks)
MIN_WINDOW_S = 0.1  # the shortest span a CPU percentage is computed over
FIRST_SCRAPES_WAIT_S = 1.5  # how long the first sample may wait for the services' first round
MIB = 1 << 20
FEATURES = ("control", "delta")  # what Hello.features announces (schema 1.1)
SERVICES_FEATURE = "services"  # announced too when inference servers are scraped


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
        if importlib.util.find_spec("psutil") is not None:
            from autoglm_tui.sampler.host import PsutilHost

            host = PsutilHost()
        elif choice == "psutil":
            raise ImportError("psutil is not installed (pip install psutil), or use procfs")
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
        adaptive: bool = False,
        health_interval_s: float = HEALTH_INTERVAL_S,
        services: ServiceMonitor | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.proc_interval_s = proc_interval_s
        self.health_interval_s = health_interval_s
        self.requested_interval_s: float | None = None
        self.load = LoadPolicy(enabled=adaptive)
        self.host, procs = make_backends(collector)
        self.gateway = NvmlGateway(timeout_s=nvml_timeout_s)
        self.gpus = GpuReader(self.gateway, read_pcie=read_pcie,
                              health_interval_s=health_interval_s)
        self.procs = ProcTracker(procs, top_n=top_n)
        # Inference servers, scraped by their own thread (started with the hello).
        self.services = services
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
        self._start_services()
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
        return Hello(schema=SCHEMA, host=host, sampler_version=__version__, t=now, static=static,
                     schema_minor=SCHEMA_MINOR, features=self.features)

    def set_interval(self, interval_s: float, requested: bool = True) -> None:
        """Sample every `interval_s` from now on (a control line asked for it, or stopped)."""
        self.interval_s = interval_s
        self.requested_interval_s = interval_s if requested else None

    def sampling(self) -> SamplingInfo:
        """The intervals in force now, and why they differ from the configured ones."""
        factor = self.load.factor
        return SamplingInfo(
            interval_s=self.interval_s,
            proc_interval_s=round(self.proc_interval_s * factor, 3),
            health_interval_s=round(self.health_interval_s * factor, 3),
            requested_interval_s=self.requested_interval_s,
            slowed=self.load.reason(),
        )

    def sample(self, now: float) -> Sample:
        """One tick. Never raises for something the host or a GPU does: that becomes a field."""
        errors: list[str] = []
        mono = time.monotonic()
        if mono - self._cpu_at < MIN_WINDOW_S:  # called right after construction
            time.sleep(MIN_WINDOW_S - (mono - self._cpu_at))
            mono = time.monotonic()
        cpu = self._cpu(errors)
        if self.load.update(cpu.util_pct):
            self.gpus.health_interval_s = self.health_interval_s * self.load.factor
        try:
            self._mem = _rounded_mem(self.host.mem())
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
        proc_interval = self.proc_interval_s * self.load.factor
        full = mono - self._last_full + self.interval_s / 2 >= proc_interval
        services = self.services
        if services is not None:
            self._start_services()
            services.note_gpu_pids(gpu.procs)
            if self._seq == 0:  # the first sample waits a little for the first scrapes
                services.wait_ready(FIRST_SCRAPES_WAIT_S)
        try:
            pinned = services.pids() if services is not None else ()
            procs = self.procs.collect(mono, now, gpu.procs, full, pinned)
            if full:
                self._last_full = mono
        except Exception as exc:
            errors.append(_reason("process list", exc))
            procs, full = (), False
        if services is not None:
            errors.extend(services.refused())  # registered services it will not scrape
        cpu_s, rss = sysinfo.self_cost()
        self._seq += 1
        return Sample(
            t=round(now, 3),
            seq=self._seq,
            cpu=cpu,
            mem=self._mem,
            disk=self._disk,
            net=self._net,
            gpus=gpu.gpus,
            procs=procs,
            procs_fresh=full,
            self_cost=SelfSample(cpu_time_s=round(cpu_s, 2), rss_bytes=rss),
            services=services.services() if services is not None else (),
            errors=tuple(errors),
            sampling=self.sampling(),
        )

    @property
    def features(self) -> tuple[str, ...]:
        """What the hello announces: control lines, compact samples, and the registration's
        services (a control line) when this collector scrapes inference servers."""
        return FEATURES if self.services is None else (*FEATURES, SERVICES_FEATURE)

    def _start_services(self) -> None:
        """Start the service monitor's thread (once)."""
        if self.services is not None:
            self.services.start()

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
            util_pct=round(util, 1),
            per_core_pct=tuple([float(round(v)) for v in per_core]),
            iowait_pct=None if iowait is None else round(iowait, 1),
            load=None if load is None else (round(load[0], 2), round(load[1], 2),
                                            round(load[2], 2)),
            ctx_switches=self.host.ctx_switches(),
        )

    def close(self) -> None:
        """Stop the service monitor and the Xid watcher, release NVML (best effort)."""
        if self.services is not None:
            self.services.close()
        self.gpus.close()
        self.gateway.shutdown()


def _rounded_mem(m: MemSample) -> MemSample:
    """Memory levels to 1 MiB and percentages to 0.01 (totals stay exact)."""
    return MemSample(
        total_bytes=m.total_bytes,
        used_bytes=round(m.used_bytes / MIB) * MIB,
        available_bytes=round(m.available_bytes / MIB) * MIB,
        used_pct=round(m.used_pct, 2),
        swap_total_bytes=m.swap_total_bytes,
        swap_used_bytes=round(m.swap_used_bytes / MIB) * MIB,
        swap_used_pct=None if m.swap_used_pct is None else round(m.swap_used_pct, 2),
    )


def _or(value: float | None, fallback: float) -> float:
    return fallback if value is None else value


def _reason(what: str, exc: BaseException) -> str:
    return clean(f"{what}: {type(exc).__name__}: {exc}", 300)
