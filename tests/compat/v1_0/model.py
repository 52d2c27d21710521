"""Plain frozen dataclasses that travel from the sampler to the UI (no I/O, no toolkit).

Numbers that the hardware or OS does not report are ``None``, never 0. Disk and network
figures are raw cumulative counters; the monitor derives rates (analysis/rates.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA_MAJOR = 1
SCHEMA = 1


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """Static facts about one GPU."""

    index: int
    uuid: str
    name: str
    mem_total_bytes: int | None
    pci_bus_id: str | None = None


@dataclass(frozen=True, slots=True)
class NvmlInfo:
    """Whether NVML could be used on the node, and if not why."""

    available: bool
    reason: str | None = None
    driver_version: str | None = None
    nvml_version: str | None = None
    cuda_driver_version: int | None = None


@dataclass(frozen=True, slots=True)
class HostStatic:
    """What does not change while a sampler runs."""

    hostname: str
    os: str
    kernel: str
    cpu_model: str
    cpu_cores_logical: int
    cpu_cores_physical: int | None
    mem_total_bytes: int
    swap_total_bytes: int
    boot_time: float | None
    nvml: NvmlInfo
    gpus: tuple[GpuInfo, ...] = ()
    net_links_mbps: dict[str, int] = field(default_factory=dict)  # nic -> link speed, Mb/s
    collector: str = "psutil"  # "psutil" or "procfs"
    interval_s: float = 1.0


@dataclass(frozen=True, slots=True)
class Hello:
    """The first line of a sampler stream."""

    schema: int
    host: str
    sampler_version: str
    t: float
    static: HostStatic


@dataclass(frozen=True, slots=True)
class CpuSample:
    util_pct: float
    per_core_pct: tuple[float, ...]
    iowait_pct: float | None
    load: tuple[float, float, float] | None
    ctx_switches: int | None = None


@dataclass(frozen=True, slots=True)
class MemSample:
    total_bytes: int
    used_bytes: int
    available_bytes: int
    used_pct: float
    swap_total_bytes: int
    swap_used_bytes: int
    swap_used_pct: float | None  # None when there is no swap


@dataclass(frozen=True, slots=True)
class DiskCounters:
    """Cumulative counters summed over physical disks (or for one disk)."""

    read_bytes: int
    write_bytes: int
    read_count: int
    write_count: int
    read_time_ms: int | None
    write_time_ms: int | None
    busy_time_ms: int | None


@dataclass(frozen=True, slots=True)
class NetCounters:
    """Cumulative counters summed over non-loopback interfaces (or for one)."""

    rx_bytes: int
    tx_bytes: int
    rx_packets: int
    tx_packets: int
    errors: int
    drops: int
    link_speed_mbps: int | None  # sum of known link speeds of up interfaces


@dataclass(frozen=True, slots=True)
class GpuSample:
    index: int
    uuid: str
    state: str  # "ok", "lost", "error"
    error: str | None = None
    util_pct: float | None = None
    mem_util_pct: float | None = None
    mem_used_bytes: int | None = None
    mem_total_bytes: int | None = None
    temp_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    fan_pct: float | None = None
    sm_clock_mhz: float | None = None
    pcie_rx_bps: float | None = None
    pcie_tx_bps: float | None = None
    ecc_errors: int | None = None
    xid: int | None = None

    @property
    def mem_used_pct(self) -> float | None:
        if self.mem_used_bytes is None or not self.mem_total_bytes:
            return None
        return 100.0 * self.mem_used_bytes / self.mem_total_bytes


@dataclass(frozen=True, slots=True)
class ProcGpuUse:
    """One process's use of one GPU."""

    index: int
    mem_bytes: int | None
    sm_pct: float | None = None


@dataclass(frozen=True, slots=True)
class ProcSample:
    pid: int
    ppid: int | None
    user: str
    name: str
    cmdline: str
    cpu_pct: float | None
    rss_bytes: int | None
    create_time: float | None
    status: str | None = None
    num_threads: int | None = None
    gpus: tuple[ProcGpuUse, ...] = ()
    error: str | None = None  # e.g. "access denied" for fields we could not read

    @property
    def gpu_mem_bytes(self) -> int | None:
        vals = [g.mem_bytes for g in self.gpus if g.mem_bytes is not None]
        return sum(vals) if vals else None

    @property
    def sm_pct(self) -> float | None:
        vals = [g.sm_pct for g in self.gpus if g.sm_pct is not None]
        return sum(vals) if vals else None


@dataclass(frozen=True, slots=True)
class SelfSample:
    """The sampler's own cost."""

    cpu_time_s: float
    rss_bytes: int


@dataclass(frozen=True, slots=True)
class ServiceSample:
    """Inference server metrics scraped from its /metrics (optional)."""

    url: str
    ok: bool
    error: str | None = None
    latency_p95_s: float | None = None
    tokens_total: float | None = None  # counter
    requests_total: float | None = None  # counter
    errors_total: float | None = None  # counter
    requests_running: float | None = None
    queue_len: float | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """One tick of a sampler."""

    t: float
    seq: int
    cpu: CpuSample
    mem: MemSample
    disk: DiskCounters
    net: NetCounters
    gpus: tuple[GpuSample, ...] = ()
    procs: tuple[ProcSample, ...] = ()
    procs_fresh: bool = True  # False when the process list is carried over from an earlier scan
    self_cost: SelfSample | None = None
    service: ServiceSample | None = None
    errors: tuple[str, ...] = ()
