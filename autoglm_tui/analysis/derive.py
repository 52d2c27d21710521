"""Derive the named metrics (metrics.py) of one sample, given the previous one (pure).

Inference services are not here: their figures need windows over several scrapes, which
analysis/services.py keeps per node.
"""

from __future__ import annotations

import operator
from functools import lru_cache

from autoglm_tui.analysis.history import Key
from autoglm_tui.analysis.rates import counter_rate, ratio_of_deltas
from autoglm_tui.model import GpuSample, Sample

# GPU health metrics (schema 1.1): gpu.NAME is GpuSample.NAME, a field or a property.
GPU_HEALTH = tuple(
    (name, name.removeprefix("gpu."))
    for name in (
        "gpu.clock_reasons", "gpu.hw_slowdown", "gpu.power_brake", "gpu.thermal_slowdown",
        "gpu.throttle_power_pct", "gpu.throttle_thermal_pct", "gpu.xid_recent",
        "gpu.xid_critical", "gpu.remap_uncorrectable", "gpu.remap_pending",
        "gpu.remap_failed", "gpu.retired_pages", "gpu.retired_pending",
        "gpu.pcie_width_degraded", "gpu.pcie_replay", "gpu.nvlink_crc_errors",
        "gpu.nvlink_replay_errors", "gpu.nvlink_recovery_errors",
    )
)
_health_values = operator.attrgetter(*(attr for _, attr in GPU_HEALTH))
# The raw fields the health metrics are computed from. They change rarely, so each GPU (by
# UUID) keeps its last raw fields and the dict of values computed from them (_health).
_health_raw = operator.attrgetter(
    "clock_reasons", "throttle_power_pct", "throttle_thermal_pct", "xids", "xid_total",
    "remap_uncorrectable", "remap_pending", "remap_failed", "retired_pages", "retired_pending",
    "pcie_width", "pcie_width_max", "pcie_replay", "nvlink_links", "nvlink_errors",
)
_HEALTH_CACHE: dict[str, tuple[tuple[object, ...], dict[Key, float | None]]] = {}
_HEALTH_CACHE_MAX = 65536  # GPUs (then it starts again)

# A GPU's figures, each a GpuSample field of the same name, and their keys, made once per
# GPU index (and per pid for processes): a sample's few hundred keys are not built anew.
GPU_FIGURES = (
    "util_pct", "mem_util_pct", "mem_used_bytes", "mem_total_bytes", "mem_used_pct", "temp_c",
    "power_w", "power_limit_w", "fan_pct", "sm_clock_mhz", "pcie_rx_bps", "pcie_tx_bps",
    "ecc_errors", "xid",
)
_gpu_values = operator.attrgetter(*GPU_FIGURES)
PROC_FIGURES = ("proc.cpu_pct", "proc.rss_bytes", "proc.gpu_mem_bytes", "proc.sm_util_pct")
_GPU_KEYS: dict[int, tuple[Key, ...]] = {}
_PROC_KEYS: dict[int, tuple[Key, ...]] = {}
_PROC_KEYS_MAX = 1 << 20  # pids (then it starts again)


@lru_cache(maxsize=4096)
def gpu_keys(metric: str, indices: tuple[int, ...]) -> tuple[Key, ...]:
    """The keys of `metric` for these GPUs (made once: lookups in hot loops allocate nothing)."""
    return tuple((metric, i) for i in indices)


def _gpu_keys(index: int) -> tuple[Key, ...]:
    keys = _GPU_KEYS.get(index)
    if keys is None:
        keys = _GPU_KEYS[index] = tuple((f"gpu.{name}", index) for name in GPU_FIGURES)
    return keys


def _proc_keys(pid: int) -> tuple[Key, ...]:
    keys = _PROC_KEYS.get(pid)
    if keys is None:
        if len(_PROC_KEYS) >= _PROC_KEYS_MAX:
            _PROC_KEYS.clear()
        keys = _PROC_KEYS[pid] = tuple((name, pid) for name in PROC_FIGURES)
    return keys


def _has_health(g: GpuSample) -> bool:
    """False for a GPU from a sampler older than schema 1.1 (or one that reports no health)."""
    return (g.clock_reasons is not None or g.xid_total is not None
            or g.pcie_width is not None or g.remap_pending is not None
            or g.nvlink_links is not None or g.retired_pages is not None)


def _health(g: GpuSample) -> dict[Key, float | None]:
    """The GPU_HEALTH values of `g` under their keys, computed again only when its raw health
    fields (or its index) changed since the last sample of that GPU (read-only: callers copy
    them into their own dict)."""
    raw = (g.index, *_health_raw(g))
    cached = _HEALTH_CACHE.get(g.uuid)
    if cached is not None and cached[0] == raw:
        return cached[1]
    if len(_HEALTH_CACHE) >= _HEALTH_CACHE_MAX:
        _HEALTH_CACHE.clear()
    keys = ((name, g.index) for name, _ in GPU_HEALTH)
    values = dict(zip(keys, _health_values(g), strict=True))
    _HEALTH_CACHE[g.uuid] = (raw, values)
    return values


def derive(sample: Sample, prev: Sample | None) -> dict[Key, float | None]:
    """Every metric value of `sample`, keyed by (metric, subject); rates need `prev`."""
    out: dict[Key, float | None] = {}
    cpu, mem = sample.cpu, sample.mem
    out[("cpu.util_pct", None)] = cpu.util_pct
    out[("cpu.iowait_pct", None)] = cpu.iowait_pct
    out[("load.1m", None)] = cpu.load[0] if cpu.load else None
    out[("mem.used_pct", None)] = mem.used_pct
    out[("swap.used_pct", None)] = mem.swap_used_pct

    dt = sample.t - prev.t if prev is not None else 0.0
    d, n = sample.disk, sample.net
    pd = prev.disk if prev else None
    pn = prev.net if prev else None
    out[("disk.read_bps", None)] = counter_rate(pd and pd.read_bytes, d.read_bytes, dt)
    out[("disk.write_bps", None)] = counter_rate(pd and pd.write_bytes, d.write_bytes, dt)
    ops_prev = _sum_opt(pd.read_count, pd.write_count) if pd else None
    ops_cur = _sum_opt(d.read_count, d.write_count)
    out[("disk.iops", None)] = counter_rate(ops_prev, ops_cur, dt)
    time_prev = _sum_opt(pd.read_time_ms, pd.write_time_ms) if pd else None
    time_cur = _sum_opt(d.read_time_ms, d.write_time_ms)
    await_ms = ratio_of_deltas(time_prev, time_cur, ops_prev, ops_cur)
    if await_ms is None and ops_prev is not None and ops_cur == ops_prev and time_cur is not None:
        await_ms = 0.0  # no operations completed: nothing waited
    out[("disk.await_ms", None)] = await_ms
    rx = counter_rate(pn and pn.rx_bytes, n.rx_bytes, dt)
    tx = counter_rate(pn and pn.tx_bytes, n.tx_bytes, dt)
    out[("net.rx_bps", None)] = rx
    out[("net.tx_bps", None)] = tx
    util = None
    if n.link_speed_mbps and rx is not None and tx is not None:
        util = min(100.0, 100.0 * max(rx, tx) * 8 / (n.link_speed_mbps * 1e6))
    out[("net.util_pct", None)] = util

    for g in sample.gpus:
        out.update(zip(_gpu_keys(g.index), _gpu_values(g), strict=True))
        if _has_health(g):
            out.update(_health(g))

    known = _PROC_KEYS.get
    for p in sample.procs:
        keys = known(p.pid) or _proc_keys(p.pid)
        if p.gpus:
            out.update(zip(keys, (p.cpu_pct, p.rss_bytes, p.gpu_mem_bytes, p.sm_pct),
                           strict=True))
        else:  # most listed processes use no GPU: their GPU figures are absent, not None
            out[keys[0]] = p.cpu_pct
            out[keys[1]] = p.rss_bytes

    return out


def _sum_opt(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b
