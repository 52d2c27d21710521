"""Metric names: the one place that defines them (rules, UI labels and the wire use these)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Scope(str, Enum):
    """What a metric is measured on."""

    NODE = "node"
    GPU = "gpu"
    PROC = "proc"


@dataclass(frozen=True)
class Metric:
    name: str
    scope: Scope
    unit: str  # "pct", "bytes", "bytes/s", "c", "w", "mhz", "count", "ms", "s", "1/s", ""
    label: str


_ALL = [
    # GPU
    Metric("gpu.util_pct", Scope.GPU, "pct", "GPU util"),
    Metric("gpu.mem_util_pct", Scope.GPU, "pct", "GPU memory bandwidth util"),
    Metric("gpu.mem_used_bytes", Scope.GPU, "bytes", "GPU memory used"),
    Metric("gpu.mem_total_bytes", Scope.GPU, "bytes", "GPU memory total"),
    Metric("gpu.mem_used_pct", Scope.GPU, "pct", "GPU memory used"),
    Metric("gpu.temp_c", Scope.GPU, "c", "GPU temperature"),
    Metric("gpu.power_w", Scope.GPU, "w", "GPU power"),
    Metric("gpu.power_limit_w", Scope.GPU, "w", "GPU power limit"),
    Metric("gpu.fan_pct", Scope.GPU, "pct", "GPU fan"),
    Metric("gpu.sm_clock_mhz", Scope.GPU, "mhz", "SM clock"),
    Metric("gpu.pcie_rx_bps", Scope.GPU, "bytes/s", "PCIe RX"),
    Metric("gpu.pcie_tx_bps", Scope.GPU, "bytes/s", "PCIe TX"),
    Metric("gpu.ecc_errors", Scope.GPU, "count", "ECC errors"),
    Metric("gpu.xid", Scope.GPU, "", "last Xid"),
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
    # inference service
    Metric("svc.latency_p95_s", Scope.NODE, "s", "P95 latency"),
    Metric("svc.tokens_per_s", Scope.NODE, "1/s", "tokens/s"),
    Metric("svc.error_rate", Scope.NODE, "pct", "error rate"),
    Metric("svc.requests_running", Scope.NODE, "count", "requests running"),
    Metric("svc.queue_len", Scope.NODE, "count", "queue length"),
    # the node itself
    Metric("node.up", Scope.NODE, "", "node up (1) or not (0)"),
]

METRICS: dict[str, Metric] = {m.name: m for m in _ALL}


def get(name: str) -> Metric:
    """Return the metric called `name`; KeyError names the unknown metric."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}") from None


def scope_of(name: str) -> Scope:
    return get(name).scope
