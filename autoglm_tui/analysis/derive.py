"""Derive the named metrics (metrics.py) of one sample, given the previous one (pure).

Inference services are not here: their figures need windows over several scrapes, which
analysis/services.py keeps per node.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import chain, repeat
from operator import ne
from typing import Any, NamedTuple

from autoglm_tui.analysis.history import Key, Picker, picker
from autoglm_tui.analysis.rates import counter_rate, ratio_of_deltas
from autoglm_tui.metrics import METRICS, Scope
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
# UUID) keeps its last raw fields and the values computed from them (_health).
_health_raw = operator.attrgetter(
    "clock_reasons", "throttle_power_pct", "throttle_thermal_pct", "xids", "xid_total",
    "remap_uncorrectable", "remap_pending", "remap_failed", "retired_pages", "retired_pending",
    "pcie_width", "pcie_width_max", "pcie_replay", "nvlink_links", "nvlink_errors",
)
_HEALTH_CACHE: dict[str, tuple[tuple[object, ...], tuple[float | None, ...]]] = {}
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
_PROC_ATTRS = ("cpu_pct", "rss_bytes", "gpu_mem_bytes", "sm_pct")  # ProcSample's, in that order
_proc_attr_values = operator.attrgetter(*_PROC_ATTRS)


def _proc_values(p: Any) -> tuple[float | None, ...]:
    """A GPU process's figures (_PROC_ATTRS' values); one that uses one GPU, as most do, is
    read here rather than through its two properties."""
    gpus = p.gpus
    if len(gpus) == 1:
        g = gpus[0]
        return (p.cpu_pct, p.rss_bytes, g.mem_bytes, g.sm_pct)
    return _proc_attr_values(p)


# Most listed processes use no GPU: their GPU figures are absent, not None.
_host_proc_values = operator.attrgetter(*_PROC_ATTRS[:2])
_INDEX = operator.attrgetter("index")
_PID = operator.attrgetter("pid")
_USED_GPUS = operator.attrgetter("gpus")
# Per-GPU and per-process metrics read straight off a sample, by metric name: the values
# derive() gives (a unit test holds them equal), read without a dict per value.
GPU_FIELDS: dict[str, Callable[[Any], Any]] = {
    m.name: operator.attrgetter(m.name.removeprefix("gpu."))
    for m in METRICS.values() if m.scope == Scope.GPU
}
PROC_FIELDS: dict[str, Callable[[Any], Any]] = dict(zip(
    PROC_FIGURES, map(operator.attrgetter, _PROC_ATTRS), strict=True))
_GPU_KEYS: dict[int, tuple[Key, ...]] = {}
_HEALTH_KEYS: dict[int, tuple[Key, ...]] = {}
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


def _health_keys(index: int) -> tuple[Key, ...]:
    keys = _HEALTH_KEYS.get(index)
    if keys is None:
        keys = _HEALTH_KEYS[index] = tuple((name, index) for name, _ in GPU_HEALTH)
    return keys


def _proc_keys(pid: int) -> tuple[Key, ...]:
    keys = _PROC_KEYS.get(pid)
    if keys is None:
        if len(_PROC_KEYS) >= _PROC_KEYS_MAX:
            _PROC_KEYS.clear()
        keys = _PROC_KEYS[pid] = tuple((name, pid) for name in PROC_FIGURES)
    return keys


# A GPU from a sampler older than schema 1.1 (or one that reports no health) has every raw
# health field as a GpuSample has it by default, so each health metric has the value such a
# GPU gives (none is known): a shape says "no health" only then, and the values are exact.
_NO_HEALTH_GPU = GpuSample(index=0, uuid="", state="ok")
_NO_HEALTH = _health_raw(_NO_HEALTH_GPU)
NO_HEALTH_VALUES: tuple[float | None, ...] = _health_values(_NO_HEALTH_GPU)


def _health(g: GpuSample) -> tuple[float | None, ...]:
    """The GPU_HEALTH values of `g` (in that order), computed again only when its raw health
    fields changed since the last sample of that GPU."""
    raw = _health_raw(g)
    cached = _HEALTH_CACHE.get(g.uuid)
    if cached is not None and cached[0] == raw:
        return cached[1]
    if len(_HEALTH_CACHE) >= _HEALTH_CACHE_MAX:
        _HEALTH_CACHE.clear()
    values = _health_values(g)
    _HEALTH_CACHE[g.uuid] = (raw, values)
    return values


class Shape(NamedTuple):
    """What the keys of a sample's GPU and process figures depend on: the GPUs (whether each
    reports health) and the listed processes (whether each uses a GPU), in sample order."""

    gpus: tuple[int, ...]
    health: tuple[bool, ...]
    pids: tuple[int, ...]
    uses_gpu: tuple[bool, ...]


def shape_of(sample: Sample) -> Shape:
    """The sample's Shape (made in C)."""
    gpus, procs = sample.gpus, sample.procs
    return Shape(tuple(map(_INDEX, gpus)),
                 tuple(map(ne, map(_health_raw, gpus), repeat(_NO_HEALTH))),
                 tuple(map(_PID, procs)), tuple(map(bool, map(_USED_GPUS, procs))))


def keys_of(shape: Shape) -> tuple[Key, ...]:
    """The keys of the GPU and process figures of a sample of this shape, in the order
    :func:`values_of` gives their values (a key repeated where a GPU or pid is)."""
    out: list[Key] = []
    for index, health in zip(shape.gpus, shape.health, strict=True):
        out += _gpu_keys(index)
        if health:
            out += _health_keys(index)
    for pid, uses_gpu in zip(shape.pids, shape.uses_gpu, strict=True):
        keys = _proc_keys(pid)
        out += keys if uses_gpu else keys[:2]
    return tuple(out)


def _gpu_and_health(g: GpuSample) -> tuple[float | None, ...]:
    return _gpu_values(g) + _health(g)


Reader = Callable[[Any], tuple[float | None, ...]]


def readers_of(shape: Shape) -> tuple[Reader, ...]:
    """What reads the figures of each GPU, then of each process, of a sample of this shape."""
    return (*(_gpu_and_health if health else _gpu_values for health in shape.health),
            *(_proc_values if uses_gpu else _host_proc_values for uses_gpu in shape.uses_gpu))


def values_of(sample: Sample, readers: tuple[Reader, ...]) -> list[float | None]:
    """The values of the sample's GPU and process figures (``readers_of`` its shape), one flat
    list in the order of ``keys_of(shape)``: no key is made or hashed."""
    out: list[float | None] = []
    add = out.extend
    for read, item in zip(readers, chain(sample.gpus, sample.procs)):  # noqa: B905 (as long)
        add(read(item))
    return out


_GPU_METRIC_AT = {f"gpu.{name}": k for k, name in enumerate(GPU_FIGURES)}
_HEALTH_METRIC_AT = {name: k for k, (name, _) in enumerate(GPU_HEALTH)}


def pickers_of(shape: Shape, metrics: Sequence[str]) -> tuple[Picker, ...]:
    """Per GPU metric of `metrics` (each ``gpu.`` and one of GPU_FIGURES), what picks its value
    on each GPU of a sample of this shape (in sample order) out of the list values_of gives."""
    out: list[Picker] = []
    for m in metrics:
        read = gpu_reader(m, shape.health) if m in _GPU_METRIC_AT else None
        if read is None:
            raise ValueError(f"{m!r} is not one of the GPU figures")
        out.append(read)
    return tuple(out)


@lru_cache(maxsize=4096)
def gpu_reader(metric: str, health: tuple[bool, ...]) -> Picker | None:
    """What reads `metric` (one of GPU_FIGURES or GPU_HEALTH) on each GPU of a sample whose
    shape has `health`, in sample order, out of the list values_of gives; None for another
    metric (read it off the GpuSample). A GPU with no health gives NO_HEALTH_VALUES, which is
    what its properties give."""
    width = len(GPU_FIGURES)
    k = _GPU_METRIC_AT.get(metric)
    if k is None:
        k = _HEALTH_METRIC_AT.get(metric)
        if k is None:
            return None
        k += width
    starts: list[int] = []
    at = 0
    for has in health:
        starts.append(at)
        at += width + (len(GPU_HEALTH) if has else 0)
    if k < width or all(health):
        return picker([s + k for s in starts])
    none = NO_HEALTH_VALUES[k - width]
    if not any(health):
        values = (none,) * len(health)
        return lambda _flat: values
    at_or_none = [s + k if has else -1 for s, has in zip(starts, health, strict=True)]
    return lambda flat: tuple(flat[i] if i >= 0 else none for i in at_or_none)


def derive(sample: Sample, prev: Sample | None) -> dict[Key, float | None]:
    """Every metric value of `sample`, keyed by (metric, subject); rates need `prev`."""
    out = node_figures(sample, prev)
    shape = shape_of(sample)
    out.update(zip(keys_of(shape), values_of(sample, readers_of(shape)), strict=True))
    return out


def node_figures(sample: Sample, prev: Sample | None) -> dict[Key, float | None]:
    """The node-level metric values of `sample` (CPU, memory, disk, network); rates need
    `prev`. The GPU and process figures are :func:`keys_of` and :func:`values_of`."""
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
    return out


def _sum_opt(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b
