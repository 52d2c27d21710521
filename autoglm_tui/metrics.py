"""Metric names: the one place that defines them (rules, UI labels and the wire use these)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Scope(str, Enum):
    """What a metric is measured on."""

    NODE = "node"
    GPU = "gpu"
    PROC = "proc"
    SERVICE = "service"  # an inference server on the node; subject = its service id


@dataclass(frozen=True)
class Metric:
    name: str
    scope: Scope
    unit: str  # "pct", "bytes", "bytes/s", "c", "w", "mhz", "count", "ms", "s", "1/s", "1/min", ""
    label: str
    history: bool = True  # False: only the newest value is kept (rules and views read it)


_ALL = [
    # GPU
    Metric("gpu.util_pct", Scope.GPU, "pct", "GPU util"),
    Metric("gpu.mem_util_pct", Scope.GPU, "pct", "GPU memory bandwidth util"),
    Metric("gpu.mem_used_bytes", Scope.GPU, "bytes", "GPU memory used"),
    Metric("gpu.mem_total_bytes", Scope.GPU, "bytes", "GPU memory total", history=False),
    # Its history is read off gpu.mem_used_bytes over the newest total (RATIOS).
    Metric("gpu.mem_used_pct", Scope.GPU, "pct", "GPU memory used", history=False),
    Metric("gpu.temp_c", Scope.GPU, "c", "GPU temperature"),
    Metric("gpu.power_w", Scope.GPU, "w", "GPU power"),
    Metric("gpu.power_limit_w", Scope.GPU, "w", "GPU power limit", history=False),
    Metric("gpu.fan_pct", Scope.GPU, "pct", "GPU fan"),
    Metric("gpu.sm_clock_mhz", Scope.GPU, "mhz", "SM clock"),
    Metric("gpu.pcie_rx_bps", Scope.GPU, "bytes/s", "PCIe RX"),
    Metric("gpu.pcie_tx_bps", Scope.GPU, "bytes/s", "PCIe TX"),
    # A counter and a code: shown as their newest value, never plotted or correlated.
    Metric("gpu.ecc_errors", Scope.GPU, "count", "ECC errors", history=False),
    Metric("gpu.xid", Scope.GPU, "", "last Xid", history=False),
    # GPU health (schema 1.1; analysis/gpu_health.py sums them up). Flags are 1 or 0, and
    # None where the GPU does not report the field. Only the clock-event reasons keep a
    # history (the GPU screen plots them); the rest change rarely and keep their newest value.
    # The raw link figures (PCIe generation and width, NVLink links up) are GpuSample fields
    # the health summary shows; as metrics, the downtraining flag and error counters.
    Metric("gpu.clock_reasons", Scope.GPU, "", "clock-event reason bits"),
    Metric("gpu.hw_slowdown", Scope.GPU, "", "HW slowdown (1) or not (0)", False),
    Metric("gpu.power_brake", Scope.GPU, "", "HW power brake (1) or not (0)", False),
    Metric("gpu.thermal_slowdown", Scope.GPU, "", "thermal slowdown (1) or not (0)", False),
    Metric("gpu.throttle_power_pct", Scope.GPU, "pct", "time at a power limit", False),
    Metric("gpu.throttle_thermal_pct", Scope.GPU, "pct", "time at a thermal limit", False),
    Metric("gpu.xid_recent", Scope.GPU, "count", "Xids in 10 min", False),
    Metric("gpu.xid_critical", Scope.GPU, "count", "critical Xids in 10 min", False),
    Metric("gpu.remap_uncorrectable", Scope.GPU, "count", "rows remapped (uncorrectable)",
           False),
    Metric("gpu.remap_pending", Scope.GPU, "", "row remap pending (1) or not (0)", False),
    Metric("gpu.remap_failed", Scope.GPU, "", "row remap failed (1) or not (0)", False),
    Metric("gpu.retired_pages", Scope.GPU, "count", "retired pages", False),
    Metric("gpu.retired_pending", Scope.GPU, "", "page retirement pending (1) or not (0)",
           False),
    Metric("gpu.pcie_width_degraded", Scope.GPU, "", "PCIe link downtrained (1) or not (0)",
           False),
    Metric("gpu.pcie_replay", Scope.GPU, "count", "PCIe replays", False),
    Metric("gpu.nvlink_crc_errors", Scope.GPU, "count", "NVLink CRC errors", False),
    Metric("gpu.nvlink_replay_errors", Scope.GPU, "count", "NVLink replays", False),
    Metric("gpu.nvlink_recovery_errors", Scope.GPU, "count", "NVLink recoveries", False),
    # GPU processes
    Metric("proc.gpu_mem_bytes", Scope.PROC, "bytes", "process GPU memory"),
    Metric("proc.sm_util_pct", Scope.PROC, "pct", "process SM util"),
    Metric("proc.cpu_pct", Scope.PROC, "pct", "process CPU"),
    Metric("proc.rss_bytes", Scope.PROC, "bytes", "process RSS"),
    # host
    Metric("cpu.util_pct", Scope.NODE, "pct", "CPU util"),
    Metric("cpu.iowait_pct", Scope.NODE, "pct", "CPU iowait"),
    Metric("load.1m", Scope.NODE, "", "load 1m"),
    Metric("mem.used_pct", Scope.NODE, "pct", "memory used"),
    Metric("swap.used_pct", Scope.NODE, "pct", "swap used"),
    # IO
    Metric("disk.read_bps", Scope.NODE, "bytes/s", "disk read"),
    Metric("disk.write_bps", Scope.NODE, "bytes/s", "disk write"),
    Metric("disk.iops", Scope.NODE, "1/s", "disk IOPS"),
    Metric("disk.await_ms", Scope.NODE, "ms", "disk await"),
    Metric("net.rx_bps", Scope.NODE, "bytes/s", "net RX"),
    Metric("net.tx_bps", Scope.NODE, "bytes/s", "net TX"),
    Metric("net.util_pct", Scope.NODE, "pct", "net util"),
    # inference services: per service (subject = the service id, its name or KIND:PORT) and,
    # under subject None, the node's value over its services (analysis/services.py says how:
    # rates and counts summed, latencies, error rate and KV cache the worst, up the lowest).
    Metric("svc.up", Scope.SERVICE, "", "service up (1) or not (0)"),
    Metric("svc.latency_p50_s", Scope.SERVICE, "s", "P50 latency"),
    Metric("svc.latency_p95_s", Scope.SERVICE, "s", "P95 latency"),
    Metric("svc.latency_p99_s", Scope.SERVICE, "s", "P99 latency"),
    Metric("svc.latency_avg_s", Scope.SERVICE, "s", "mean latency"),
    Metric("svc.ttft_p95_s", Scope.SERVICE, "s", "P95 time to first token"),
    Metric("svc.ttft_avg_s", Scope.SERVICE, "s", "mean time to first token"),
    Metric("svc.itl_p95_s", Scope.SERVICE, "s", "P95 inter-token latency"),
    Metric("svc.itl_avg_s", Scope.SERVICE, "s", "mean inter-token latency"),
    Metric("svc.queue_time_p95_s", Scope.SERVICE, "s", "P95 time queued"),
    Metric("svc.queue_time_avg_s", Scope.SERVICE, "s", "mean time queued"),
    Metric("svc.tokens_per_s", Scope.SERVICE, "1/s", "tokens/s"),
    Metric("svc.prompt_tokens_per_s", Scope.SERVICE, "1/s", "prompt tokens/s"),
    Metric("svc.requests_per_s", Scope.SERVICE, "1/s", "requests/s"),
    Metric("svc.error_rate", Scope.SERVICE, "pct", "error rate"),
    Metric("svc.requests_running", Scope.SERVICE, "count", "requests running"),
    Metric("svc.queue_len", Scope.SERVICE, "count", "queue length"),
    Metric("svc.kv_cache_pct", Scope.SERVICE, "pct", "KV cache used"),
    # the node itself
    Metric("node.up", Scope.NODE, "", "node up (1) or not (0)"),
]

METRICS: dict[str, Metric] = {m.name: m for m in _ALL}
# Metrics whose newest value is all that is kept (NodeHistory records no series for them).
NO_HISTORY: frozenset[str] = frozenset(m.name for m in _ALL if not m.history)
# Percentages whose history is their numerator's (which keeps one) over the newest value of
# their denominator (a constant of the device): metric -> (numerator, denominator).
RATIOS: dict[str, tuple[str, str]] = {
    "gpu.mem_used_pct": ("gpu.mem_used_bytes", "gpu.mem_total_bytes"),
}


def get(name: str) -> Metric:
    """Return the metric called `name`; KeyError names the unknown metric."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}") from None


def scope_of(name: str) -> Scope:
    """The scope `name` is measured on (``get(name).scope``): what alert rules evaluate it per.
    Service metrics are per service; their node-level value (subject None) is what a rule with
    ``scope = "node"`` reads."""
    return get(name).scope
