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


SERVICE_KINDS = (
    "vllm", "sglang", "tgi", "triton", "trtllm", "trtllm-serve", "nim", "llamacpp", "unknown"
)


@dataclass(frozen=True, slots=True)
class Histogram:
    """A latency histogram as the server exports it, summed over its label sets.

    ``counts[i]`` is the cumulative number of observations <= ``bounds[i]`` (Prometheus'
    ``_bucket{le=...}``); the last count is the ``+Inf`` bucket, i.e. the total. A histogram
    with no finite bounds (``bounds == ()``, one count) carries only a count and a sum: what an
    averages-only server (llama.cpp, Triton's default counters) exports. Values are the raw
    cumulative counters: the monitor takes differences between scrapes.
    """

    bounds: tuple[float, ...]
    counts: tuple[float, ...]
    sum: float | None = None

    @property
    def count(self) -> float:
        return self.counts[-1] if self.counts else 0.0

    @property
    def valid(self) -> bool:
        """One more count than bounds, bounds increasing, counts never decreasing."""
        b, c = self.bounds, self.counts
        if len(c) != len(b) + 1:
            return False
        if any(b[i] >= b[i + 1] for i in range(len(b) - 1)):
            return False
        return all(c[i] <= c[i + 1] for i in range(len(c) - 1))


@dataclass(frozen=True, slots=True)
class ServiceSample:
    """One inference server on the node, as its newest scrape of /metrics found it.

    Everything is raw: gauges as read, counters and histogram buckets cumulative (summed over
    label sets such as ``engine``), so the monitor derives rates and quantiles over windows of
    its choosing. A figure the server does not export is ``None``, never 0. ``t`` is the
    sampler's clock at the scrape (scrapes run at their own cadence, so consecutive samples
    often repeat the same scrape); ``ok`` False means the last scrape failed and ``error``
    says why, and then no figures are carried.
    """

    url: str
    kind: str  # one of SERVICE_KINDS
    ok: bool
    error: str | None = None
    name: str | None = None  # given by the user (--service NAME=...) or a registration
    model: str | None = None
    pid: int | None = None  # the process listening on the port, when it can be seen
    port: int | None = None
    t: float | None = None  # sampler time of the scrape these figures come from
    running: float | None = None  # requests being processed
    waiting: float | None = None  # requests queued
    kv_cache_usage: float | None = None  # 0..1
    prompt_tokens: float | None = None  # counter
    generation_tokens: float | None = None  # counter
    requests_finished: float | None = None  # counter: every outcome
    requests_error: float | None = None  # counter: finished with a server error
    requests_aborted: float | None = None  # counter: aborted / cancelled
    e2e: Histogram | None = None  # end-to-end request latency, seconds
    ttft: Histogram | None = None  # time to first token, seconds
    itl: Histogram | None = None  # inter-token latency / time per output token, seconds
    queue: Histogram | None = None  # time queued, seconds
    source: str = "discovered"  # "discovered", "option" (--service) or "registration"

    @property
    def service_id(self) -> str:
        """A short stable name for the service on its node: its name, else KIND:PORT."""
        if self.name:
            return self.name
        return f"{self.kind}:{self.port}" if self.port is not None else f"{self.kind}:{self.url}"


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
    services: tuple[ServiceSample, ...] = ()
    errors: tuple[str, ...] = ()
