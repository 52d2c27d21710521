"""Nodes with exact synthetic histories for the diagnosis tests (no sampler, no derive)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from autoglm_tui.analysis.diagnosis import DiagnosisConfig, Finding, diagnose
from autoglm_tui.analysis.history import Key
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import NodeStatus
from autoglm_tui.metrics import RATIOS
from autoglm_tui.model import GpuSample, MemSample, ProcGpuUse, ProcSample, Sample
from tests.unit.samples import sample

GIB = 1 << 30
T0 = 10_000.0
Series = Callable[[float], "float | None"]  # seconds since the start -> value


def const(v: float | None) -> Series:
    return lambda s: v


def ramp(a: float, b: float, seconds: float) -> Series:
    """a at 0 s rising linearly to b at `seconds`."""
    return lambda s: a + (b - a) * min(1.0, s / seconds)


def step(before: float, after: float, at: float) -> Series:
    return lambda s: before if s < at else after


def burst(base: float, high: float, start: float, length: float) -> Series:
    return lambda s: high if start <= s < start + length else base


def proc(pid: int, gpu_mem: dict[int, int] | None = None, rss: int = 1 << 30,
         name: str = "python3") -> ProcSample:
    gpus = tuple(ProcGpuUse(i, m) for i, m in (gpu_mem or {}).items())
    return ProcSample(pid, 1, "u", name, f"{name} job.py", 50.0, rss, 100.0, "running", 4, gpus)


def _scaled(f: Series, by: float) -> Series:
    return lambda s: None if (v := f(s)) is None else v * by


def make_node(
    series: Mapping[Key, Series],
    seconds: float,
    *,
    node_id: str = "n1",
    interval: float = 1.0,
    gpus: int = 4,
    gpu_used: int = 40 * GIB,
    procs: tuple[ProcSample, ...] | None = None,
    labels: dict[str, str] | None = None,
    mem_available: int = 8 * GIB,
    status: NodeStatus = NodeStatus.UP,
    gpu_fields: dict | None = None,
) -> NodeState:
    """A node whose history holds `series` sampled every `interval` over `seconds`, ending at
    T0 + seconds; its newest sample lists `gpus` GPUs and `procs` (by default one process per
    GPU holding all of its memory)."""
    if procs is None:
        procs = tuple(proc(100 + i, {i: gpu_used}) for i in range(gpus))
    history = FleetState()._new_history()
    series = {**series}
    for key in [k for k in series if k[0] in RATIOS]:  # kept as their numerator's history
        num, den = RATIOS[key[0]]
        if den != "gpu.mem_total_bytes":
            raise ValueError(f"make_node knows no total for {key[0]}")
        series[(num, key[1])] = _scaled(series.pop(key), 80 * GIB / 100.0)
    n = int(seconds / interval) + 1
    values: dict[Key, float | None] = {}
    for k in range(n):
        s = k * interval
        values = {key: f(s) for key, f in series.items()}
        history.append(T0 + s, values)
    last: Sample = sample(T0 + seconds, n, gpus=gpus, procs=procs)
    last = replace(
        last,
        gpus=tuple(GpuSample(i, f"GPU-{i}", "ok", util_pct=50.0, mem_used_bytes=gpu_used,
                             mem_total_bytes=80 * GIB, **(gpu_fields or {}))
                   for i in range(gpus)),
        mem=MemSample(16 * GIB, 16 * GIB - mem_available, mem_available,
                      100.0 * (16 * GIB - mem_available) / (16 * GIB), 0, 0, None),
    )
    metrics = dict(values)
    for i in range(gpus):
        metrics.setdefault(("gpu.mem_used_bytes", i), float(gpu_used))
        metrics.setdefault(("gpu.mem_total_bytes", i), float(80 * GIB))
    node = NodeState(node_id=node_id, history=history, status=status, labels=labels or {},
                     last_sample=last, last_sample_at=T0 + seconds)
    node.metrics = metrics
    node.proc_info = {p.pid: p for p in procs}
    return node


def run(*nodes: NodeState, config: DiagnosisConfig | None = None) -> list[Finding]:
    now = max(n.last_sample_at or 0.0 for n in nodes)
    return diagnose({n.node_id: n for n in nodes}, now, config)


def names(findings: list[Finding]) -> list[str]:
    return [f.name for f in findings]
