"""Memory leaks per process (seed 4.3): GPU memory, and host RSS, that keeps growing.

One code path for both (``KINDS``): the growth over the window is measured with a robust
slope (Theil-Sen), it must be large enough to matter, it must go on (each quarter of the window
higher than the one before, and the second half still growing), so the step of a normal
warm-up (allocate once, then flat) is not a leak. The time to out-of-memory is the headroom of
what it grows into (its GPUs' free memory, or the host's available memory) over the slope.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.config import DiagnosisConfig
from autoglm_tui.analysis.diagnosis.model import Evidence, Finding, Severity, Subject
from autoglm_tui.analysis.diagnosis.registry import Analyzer, Context, register
from autoglm_tui.analysis.diagnosis.stats import (
    ends,
    pairs,
    quarter_medians,
    running_median,
    since_time,
    theil_sen,
)
from autoglm_tui.analysis.diagnosis.words import bytes_ev, eta_words, window_words
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.format import bytes_

MIB = float(1 << 20)


@dataclass(frozen=True, slots=True)
class Kind:
    finding: str
    metric: str
    what: str  # "GPU memory", "host RSS"


KINDS = (Kind("gpu_memory_leak", M.PROC_GPU_MEM, "GPU memory"),
         Kind("host_memory_leak", M.PROC_RSS, "host RSS"))

# Servers whose host memory grows by design, by service kind: what to check first when the
# growing process is one (its process is the service's).
SERVER_HOST_MEMORY = {
    "llamacpp": ("llama-server keeps the KV of recent prompts in a host-memory cache that grows "
                 "up to --cache-ram (8192 MiB by default): growth that levels off there is "
                 "that cache, not a leak; set --cache-ram lower (0 turns it off) if the node "
                 "cannot spare it"),
}


@dataclass(frozen=True, slots=True)
class Growth:
    slope: float  # bytes per second (Theil-Sen)
    change: float  # slope x span
    first: float
    last: float
    span: float
    points: int


def drawdown(vs: list[float]) -> float:
    """The largest drop below an earlier high (memory given back), on a running median of five
    so one wild reading is not a drop."""
    high, worst = -math.inf, 0.0
    for v in running_median(vs):
        high = max(high, v)
        worst = max(worst, high - v)
    return worst


def steady_growth(ts: list[float], vs: list[float], min_growth: float, persist: float,
                  max_drawdown: float = 0.25) -> Growth | None:
    """The growth of a series when it grows steadily enough to be a leak, else None."""
    if len(vs) < 6:
        return None
    span = ts[-1] - ts[0]
    e = ends(ts, vs, 0.1)
    if e is None or e[1] - e[0] < min_growth:  # the cheap test first: most processes stop here
        return None
    slope = theil_sen(ts, vs)
    if slope is None or slope * span < min_growth:
        return None
    q = quarter_medians(ts, vs)
    if any(q[i] != q[i] for i in range(4)) or not all(q[i + 1] > q[i] for i in range(3)):
        return None  # a step (warm-up) or a plateau: not growing all along
    recent = theil_sen(*since_time(ts, vs, ts[0] + span / 2))
    if recent is None or recent < persist * slope:
        return None  # the growth stopped
    if drawdown(vs) > max_drawdown * slope * span:
        return None  # it gives memory back (a cache, a sawtooth): not a leak
    return Growth(slope, slope * span, vs[0], vs[-1], span, len(vs))


def _above(head: list[float] | None, now: float | None, floor: float) -> bool:
    """Whether a series may have grown by half of `floor` since the window began (a series
    that started later in the window is looked at closer)."""
    if now is None:
        return False
    first = next((v for v in head or () if v == v), None)
    return first is None or now - first >= floor / 2


def _grew(row: list[float], floor: float) -> bool:
    """Whether the newest known value is at least half of `floor` above the oldest."""
    first = next((v for v in row if v == v), None)
    last = next((v for v in reversed(row) if v == v), None)
    return first is not None and last is not None and last - first >= floor / 2


def headroom(node: NodeState, pid: int, kind: Kind) -> tuple[float | None, str]:
    """Bytes the process can still grow into, and what that is."""
    s = node.last_sample
    if s is None:
        return None, "unknown"
    if kind.metric == M.PROC_RSS:
        return float(s.mem.available_bytes), "host memory available"
    info = node.proc_info.get(pid)
    if info is None or not info.gpus:
        return None, "unknown"
    free = 0.0
    for use in info.gpus:
        used = node.metrics.get((M.GPU_MEM_USED, use.index))
        total = node.metrics.get((M.GPU_MEM_TOTAL, use.index))
        if used is None or not total:
            return None, "unknown"
        free += max(0.0, total - used)
    gpus = ", ".join(str(u.index) for u in info.gpus)
    return free, f"free memory of GPU {gpus}"


def capacity(node: NodeState, pid: int, kind: Kind) -> float | None:
    s = node.last_sample
    if s is None:
        return None
    if kind.metric == M.PROC_RSS:
        return float(s.mem.total_bytes)
    info = node.proc_info.get(pid)
    if info is None:
        return None
    total = 0.0
    for use in info.gpus:
        t = node.metrics.get((M.GPU_MEM_TOTAL, use.index))
        if not t:
            return None
        total += t
    return total or None


@register
class Leaks(Analyzer):
    name = "leaks"
    finds = ("gpu_memory_leak", "host_memory_leak")

    def period(self, config: DiagnosisConfig) -> float:
        return config.leak.period_s

    def appear_after(self, config: DiagnosisConfig) -> float:
        return 0.0  # the window already requires minutes of steady growth

    def run_node(self, ctx: Context, node: NodeState) -> list[Finding]:
        cfg = ctx.config.leak
        pids = sorted(node.proc_info)
        if not pids:
            return []
        keys = [(kind.metric, pid) for kind in KINDS for pid in pids]
        # the cheap test first: only series that are higher now than at the window's start
        start = ctx.now - cfg.window_s
        head = ctx.span(node, keys, start, start + 60.0)
        keys = [k for k in keys if _above(head.get(k), node.metrics.get(k),
                                          1.5 * cfg.min_growth_bytes)]
        if not keys:
            return []
        w = ctx.window(node, keys, cfg.window_s)
        if w.span < cfg.min_span_s or len(w.times) < cfg.min_points:
            return []
        out: list[Finding] = []
        for kind in KINDS:
            for pid in pids:
                row = w.get((kind.metric, pid))
                if row is None or not _grew(row, cfg.min_growth_bytes):
                    continue  # the cheap test first: most processes stop here
                ts, vs = pairs(w.times, row)
                if len(vs) < cfg.min_points or ts[-1] - ts[0] < cfg.min_span_s:
                    continue
                cap = capacity(node, pid, kind)
                floor = max(cfg.min_growth_bytes, cfg.min_growth_share * cap if cap else 0.0)
                g = steady_growth(ts, vs, floor, cfg.persist_ratio, cfg.max_drawdown)
                if g is None:
                    continue
                out.append(self._finding(ctx, node, pid, kind, g, (ts[0], ts[-1])))
        return out

    def _finding(self, ctx: Context, node: NodeState, pid: int, kind: Kind, g: Growth,
                 window: tuple[float, float]) -> Finding:
        cfg = ctx.config.leak
        room, room_what = headroom(node, pid, kind)
        eta = room / g.slope if room is not None and g.slope > 0 else None
        info = node.proc_info.get(pid)
        name = info.name if info is not None else "?"
        per_min = g.slope * 60.0
        severity = Severity.CRITICAL if eta is not None and eta <= cfg.critical_eta_s \
            else Severity.WARNING
        subject = Subject("process", node.node_id, pid=pid)
        eta_text = (f"out of memory in about {eta_words(eta)}" if eta is not None
                    else "time to out-of-memory unknown")
        ev = [Evidence("growth rate", g.slope, "bytes/s",
                       f"+{per_min / MIB:.1f} MiB/min (Theil-Sen over {g.points} points, "
                       f"{window_words(g.span)})"),
              bytes_ev("grew", g.change, f" over {window_words(g.span)}"),
              bytes_ev(f"{kind.what} now", g.last)]
        if room is not None:
            ev.append(bytes_ev(room_what, room))
        ev.append(Evidence("time to out-of-memory", eta, "s", eta_text))
        steps: tuple[str, ...] = (
            "take a memory snapshot of the process (torch.cuda.memory_snapshot() for PyTorch) "
            "and compare two of them a few iterations apart" if kind.metric == M.PROC_GPU_MEM
            else "profile its allocations (tracemalloc, heaptrack) between two points in time",
            "look for tensors or buffers kept across iterations (lists of losses with graph, "
            "caches without a bound)",
            "restart it before the projected out-of-memory if it cannot be fixed now")
        server = server_kind(node, pid) if kind.metric == M.PROC_RSS else None
        by_design = SERVER_HOST_MEMORY.get(server) if server is not None else None
        if by_design:
            steps = (by_design, *steps)  # what to rule out first
        return Finding(
            kind.finding, severity, subject,
            f"pid {pid} ({name}) {kind.what} keeps growing: +{bytes_(per_min)}/min, {eta_text}",
            tuple(ev), window, steps,
            score=(1.0 / eta) if eta else g.slope / MIB,
            data={"pid": pid, "metric": kind.metric, "slope_bytes_per_s": g.slope,
                  "growth_bytes": g.change, "now_bytes": g.last, "headroom_bytes": room,
                  "eta_s": eta, "points": g.points, "server": server},
        )


def server_kind(node: NodeState, pid: int) -> str | None:
    """The kind of the inference server whose process `pid` is, if one is."""
    for view in node.services.values():
        if view.pid == pid:
            return view.kind
    return None
