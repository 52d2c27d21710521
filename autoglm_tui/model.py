"""Plain frozen dataclasses that travel from the sampler to the UI (no I/O, no toolkit).

Numbers that the hardware or OS does not report are ``None``, never 0. Disk and network
figures are raw cumulative counters; the monitor derives rates (analysis/rates.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from operator import ge, le

from autoglm_tui.gpu_codes import (
    HW_SLOWDOWN_MASK,
    REASON_HW_POWER_BRAKE,
    THERMAL_MASK,
    is_critical_xid,
)

SCHEMA_MAJOR = 1
SCHEMA = 1
# Minor versions add optional fields and messages an older reader can ignore (docs/wire.md):
# 1 = GPU health fields, Sample.sampling, Hello.features, "delta" lines on request.
SCHEMA_MINOR = 1


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
    cpu_cores_logical: int | None  # None: a source that does not know (Prometheus without
    cpu_cores_physical: int | None  # node_exporter); the sampler always fills it
    mem_total_bytes: int | None
    swap_total_bytes: int | None
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
    schema_minor: int = 0
    # What this sampler understands beyond v1.0: "control" (JSON lines on its stdin), "delta"
    # (compact samples on request). Empty from samplers older than schema 1.1.
    features: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CpuSample:
    util_pct: float | None  # None only from a source that lacks host figures
    per_core_pct: tuple[float, ...]
    iowait_pct: float | None
    load: tuple[float, float, float] | None
    ctx_switches: int | None = None


@dataclass(frozen=True, slots=True)
class MemSample:
    """None only from a source that lacks host figures (the sampler always fills them)."""

    total_bytes: int | None
    used_bytes: int | None
    available_bytes: int | None
    used_pct: float | None
    swap_total_bytes: int | None
    swap_used_bytes: int | None
    swap_used_pct: float | None  # None when there is no swap


@dataclass(frozen=True, slots=True)
class DiskCounters:
    """Cumulative counters summed over physical disks (or for one disk); None only from a
    source that lacks them."""

    read_bytes: int | None
    write_bytes: int | None
    read_count: int | None
    write_count: int | None
    read_time_ms: int | None
    write_time_ms: int | None
    busy_time_ms: int | None


@dataclass(frozen=True, slots=True)
class NetCounters:
    """Cumulative counters summed over non-loopback interfaces (or for one); None only from a
    source that lacks them."""

    rx_bytes: int | None
    tx_bytes: int | None
    rx_packets: int | None
    tx_packets: int | None
    errors: int | None
    drops: int | None
    link_speed_mbps: int | None  # sum of known link speeds of up interfaces


@dataclass(frozen=True, slots=True)
class XidEvent:
    """One Xid error NVML reported for a GPU, stamped with the sampler's clock on arrival."""

    t: float
    xid: int


@dataclass(frozen=True, slots=True)
class NvLinkErrors:
    """One NVLink link's error counters (cumulative; None where the link does not count one)."""

    link: int
    crc_flit: int | None = None
    crc_data: int | None = None
    replay: int | None = None
    recovery: int | None = None


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
    xid: int | None = None  # the newest Xid seen since the sampler started
    # Health (schema 1.1). None where the GPU or driver does not report it.
    clock_reasons: int | None = None  # clock-event reason bits (gpu_codes.CLOCK_REASONS)
    throttle_power_pct: float | None = None  # share of the last interval held at a power limit
    throttle_thermal_pct: float | None = None  # ... held back by a thermal limit
    xids: tuple[XidEvent, ...] = ()  # Xids of the last 10 minutes, oldest first (at most 16)
    xid_total: int | None = None  # Xids seen since the sampler started; None: no Xid events
    remap_correctable: int | None = None  # memory rows remapped after correctable errors
    remap_uncorrectable: int | None = None  # ... after uncorrectable errors
    remap_pending: int | None = None  # 1: a remap waits for a GPU reset
    remap_failed: int | None = None  # 1: a remap has failed on this GPU
    retired_pages: int | None = None  # pages retired (pre-Ampere GPUs)
    retired_pending: int | None = None  # 1: a page retirement waits for a reset
    pcie_gen: int | None = None  # PCIe link generation now (drops at idle to save power)
    pcie_gen_max: int | None = None
    pcie_width: int | None = None  # PCIe lanes now
    pcie_width_max: int | None = None
    pcie_replay: int | None = None  # PCIe replay counter (cumulative)
    nvlink_links: int | None = None  # active NVLink links; None: no NVLink here
    nvlink_errors: tuple[NvLinkErrors, ...] = ()  # links whose error counters are not all 0

    @property
    def mem_used_pct(self) -> float | None:
        if self.mem_used_bytes is None or not self.mem_total_bytes:
            return None
        return 100.0 * self.mem_used_bytes / self.mem_total_bytes

    # The health metrics (metrics.py names them gpu.<property>), read off the raw fields.

    @property
    def hw_slowdown(self) -> int | None:
        """1 while a hardware slowdown (HW slowdown, HW thermal, HW power brake) holds."""
        r = self.clock_reasons
        return None if r is None else int(bool(r & HW_SLOWDOWN_MASK))

    @property
    def power_brake(self) -> int | None:
        r = self.clock_reasons
        return None if r is None else int(bool(r & REASON_HW_POWER_BRAKE))

    @property
    def thermal_slowdown(self) -> int | None:
        r = self.clock_reasons
        return None if r is None else int(bool(r & THERMAL_MASK))

    @property
    def xid_recent(self) -> int | None:
        """Xids in the last 10 minutes (None where this GPU's Xids cannot be watched)."""
        return None if self.xid_total is None else len(self.xids)

    @property
    def xid_critical(self) -> int | None:
        """Critical Xids (gpu_codes.CRITICAL_XIDS) in the last 10 minutes."""
        if self.xid_total is None:
            return None
        if not self.xids:
            return 0
        return sum(1 for e in self.xids if is_critical_xid(e.xid))

    @property
    def pcie_width_degraded(self) -> int | None:
        """1 while the PCIe link runs on fewer lanes than it can (a downtrained link)."""
        now, best = self.pcie_width, self.pcie_width_max
        if now is None or best is None or now <= 0 or best <= 0:
            return None
        return int(now < best)

    @property
    def nvlink_crc_errors(self) -> int | None:
        return self._nvlink_sum("crc_flit", "crc_data")

    @property
    def nvlink_replay_errors(self) -> int | None:
        return self._nvlink_sum("replay")

    @property
    def nvlink_recovery_errors(self) -> int | None:
        return self._nvlink_sum("recovery")

    def _nvlink_sum(self, *names: str) -> int | None:
        if self.nvlink_links is None:
            return None
        if not self.nvlink_errors:
            return 0
        return sum(getattr(e, n) or 0 for e in self.nvlink_errors for n in names)


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
        gpus = self.gpus
        if not gpus:  # most listed processes use no GPU
            return None
        if len(gpus) == 1:  # most of the others use one (read for every sample: no list)
            return gpus[0].mem_bytes
        vals = [g.mem_bytes for g in gpus if g.mem_bytes is not None]
        return sum(vals) if vals else None

    @property
    def sm_pct(self) -> float | None:
        gpus = self.gpus
        if not gpus:
            return None
        if len(gpus) == 1:
            return gpus[0].sm_pct
        vals = [g.sm_pct for g in gpus if g.sm_pct is not None]
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
        if any(map(ge, b, islice(b, 1, None))):  # pairwise, in C (NaN: never "out of order")
            return False
        return all(map(le, c, islice(c, 1, None)))  # (NaN: not "never decreasing")


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
class SamplingInfo:
    """How the sampler is sampling now (schema 1.1): what it was asked for, and what it does."""

    interval_s: float  # seconds between samples now
    proc_interval_s: float  # seconds between full process scans now
    health_interval_s: float  # seconds between reads of the slow GPU health fields now
    requested_interval_s: float | None = None  # set by a control line, else None
    slowed: str | None = None  # why the costly parts run slower than configured, if they do


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
    sampling: SamplingInfo | None = None
