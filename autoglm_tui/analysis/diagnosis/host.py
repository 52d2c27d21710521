"""Batch-inference bottlenecks seen from the host (seed 4.1): the GPUs wait for the CPU
(pre/post-processing bound) or for host <-> device copies (transfer bound)."""

from __future__ import annotations

from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.config import BottleneckConfig
from autoglm_tui.analysis.diagnosis.model import Evidence, Finding, Severity, Subject
from autoglm_tui.analysis.diagnosis.registry import Analyzer, Context, register
from autoglm_tui.analysis.diagnosis.stats import mean, row_max, row_mean, row_sum, share
from autoglm_tui.analysis.diagnosis.words import pct_ev, rate_ev, window_words
from autoglm_tui.analysis.node_state import NodeState


def gpus_in_use(node: NodeState) -> bool:
    """True when a process holds a GPU or some GPU has memory in use (a GPU job runs)."""
    s = node.last_sample
    if s is None:
        return False
    if any(p.gpus for p in s.procs):
        return True
    return any((g.mem_used_pct or 0.0) >= 10.0 for g in s.gpus)


def pcie_limit_bps(node: NodeState, gpu: int, default: float) -> tuple[float, str]:
    """Per-direction bandwidth of a GPU's PCIe link and how it was found: the link's maximum
    generation and width as the sampler reports them (the current ones drop at idle)."""
    s = node.last_sample
    g = next((x for x in s.gpus if x.index == gpu), None) if s is not None else None
    gen = (g.pcie_gen_max or g.pcie_gen) if g is not None else None
    width = g.pcie_width if g is not None else None
    if gen is not None and width and gen in M.PCIE_LANE_BPS:
        return M.PCIE_LANE_BPS[gen] * width, f"PCIe {gen}.0 x{width}"
    return default, "default link PCIe 4.0 x16"


@register
class HostBound(Analyzer):
    name = "host_bound"
    finds = ("cpu_bound", "transfer_bound")

    @staticmethod
    def _may_hold(node: NodeState, gpus: list[int], cfg: BottleneckConfig) -> bool:
        """The newest values allow one of the findings (a cheap test before the window)."""
        m = node.metrics
        utils = [u for g in gpus if (u := m.get((M.GPU_UTIL, g))) is not None]
        if not utils or min(utils) > cfg.gpu_low_pct:
            return False
        cpu = m.get((M.CPU, None))
        if cpu is not None and cpu >= cfg.cpu_high_pct:
            return True
        for g in gpus:
            limit, _ = pcie_limit_bps(node, g, cfg.pcie_default_limit_bps)
            busiest = max((v for k in (M.PCIE_RX, M.PCIE_TX)
                           if (v := m.get((k, g))) is not None), default=0.0)
            if busiest >= cfg.pcie_near_limit * limit:
                return True
        return False

    def run_node(self, ctx: Context, node: NodeState) -> list[Finding]:
        cfg = ctx.config.bottleneck
        gpus = ctx.gpus(node)
        if not gpus or not gpus_in_use(node) or not self._may_hold(node, gpus, cfg):
            return []
        keys = [(M.CPU, None)]
        keys += [(M.GPU_UTIL, g) for g in gpus]
        keys += [(M.PCIE_RX, g) for g in gpus] + [(M.PCIE_TX, g) for g in gpus]
        w = ctx.window(node, keys, cfg.window_s)
        if len(w.times) < cfg.min_points:
            return []
        util_rows = [r for g in gpus if (r := w.get((M.GPU_UTIL, g))) is not None]
        if not util_rows:
            return []
        gpu_util = row_mean(util_rows)
        low = share(gpu_util, high=cfg.gpu_low_pct)
        out: list[Finding] = []
        span = w.span
        gpu_mean = mean(gpu_util) or 0.0
        cpu = w.get((M.CPU, None))
        if cpu is not None and low >= cfg.coverage:
            hot = share(cpu, low=cfg.cpu_high_pct)
            if hot >= cfg.coverage:
                cpu_mean = mean(cpu) or 0.0
                out.append(Finding(
                    "cpu_bound", Severity.WARNING, Subject("node", node.node_id),
                    f"GPUs wait for the host CPU: GPU util {gpu_mean:.0f}% while CPU is at "
                    f"{cpu_mean:.0f}% (pre/post-processing bound)",
                    (pct_ev("GPU util", gpu_mean, seconds=span),
                     pct_ev("CPU util", cpu_mean, seconds=span),
                     Evidence("CPU saturated", 100 * hot, "pct",
                              f"CPU >= {cfg.cpu_high_pct:.0f}% for {100 * hot:.0f}% of "
                              f"{window_words(span)}")),
                    w.covered,
                    ("move tokenisation and pre/post-processing off the serving path: more "
                     "data-loader workers, a faster tokenizer, pinned memory",
                     "or give the job more CPU cores (check its CPU limit and affinity)"),
                    score=hot * (cfg.gpu_low_pct - gpu_mean),
                    data={"gpu_util_pct": gpu_mean, "cpu_util_pct": cpu_mean,
                          "cpu_saturated_share": hot},
                ))
        worst: tuple[float, int, float, str, float] | None = None
        for g in gpus:
            rx, tx = w.get((M.PCIE_RX, g)), w.get((M.PCIE_TX, g))
            util = w.get((M.GPU_UTIL, g))
            if (rx is None and tx is None) or util is None:
                continue
            if share(util, high=cfg.gpu_low_pct) < cfg.coverage:
                continue
            limit, how = pcie_limit_bps(node, g, cfg.pcie_default_limit_bps)
            busiest = row_max([r for r in (rx, tx) if r is not None])
            near = share(busiest, low=cfg.pcie_near_limit * limit)
            if near >= cfg.coverage:
                m = mean(busiest) or 0.0
                if worst is None or m / limit > worst[0] / worst[2]:
                    worst = (m, g, limit, how, mean(util) or 0.0)
        if worst is not None:
            m, g, limit, how, g_util = worst
            total = mean(row_sum([r for r in (w.get((M.PCIE_RX, g)), w.get((M.PCIE_TX, g)))
                                  if r is not None])) or m
            out.append(Finding(
                "transfer_bound", Severity.WARNING, Subject("gpu", node.node_id, gpu=g),
                f"GPU {g} waits for host<->device copies: PCIe at {100 * m / limit:.0f}% of "
                f"{how} while its util is {g_util:.0f}% (transfer bound)",
                (rate_ev("PCIe busiest direction", m), rate_ev("PCIe rx+tx", total),
                 Evidence("link limit", limit, "bytes/s", f"{how}: {limit / 1e9:.1f} GB/s a "
                          "direction"),
                 pct_ev(f"GPU {g} util", g_util, seconds=span)),
                w.covered,
                ("keep data on the GPU between steps; batch host->device copies, use pinned "
                 "memory and overlap copies with compute",
                 "check the link trained at full width and generation (nvidia-smi -q -d PCIE)"),
                score=m / limit,
                data={"gpu": g, "pcie_bps": m, "limit_bps": limit, "gpu_util_pct": g_util},
            ))
        return out
