"""GPU memory held by nobody: memory in use on a GPU that no live process accounts for (the
leftovers of a crashed job, or a process NVML cannot see, as in another container)."""

from __future__ import annotations

from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.config import DiagnosisConfig
from autoglm_tui.analysis.diagnosis.model import Evidence, Finding, Severity, Subject
from autoglm_tui.analysis.diagnosis.registry import Analyzer, Context, register
from autoglm_tui.analysis.diagnosis.stats import known
from autoglm_tui.analysis.diagnosis.words import bytes_ev, window_words
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.format import bytes_


def accounted(node: NodeState) -> dict[int, float] | None:
    """GPU memory per GPU index that the newest sample's processes hold; None when a process
    on a GPU did not report its memory (then nothing can be said)."""
    s = node.last_sample
    if s is None:
        return None
    out: dict[int, float] = {}
    for p in s.procs:
        for use in p.gpus:
            if use.mem_bytes is None:
                return None
            out[use.index] = out.get(use.index, 0.0) + use.mem_bytes
    return out


@register
class Orphan(Analyzer):
    name = "orphan"
    finds = ("orphan_gpu_memory",)

    def period(self, config: DiagnosisConfig) -> float:
        return config.leak.orphan_period_s

    def appear_after(self, config: DiagnosisConfig) -> float:
        return 2 * config.leak.orphan_period_s  # seen three times in a row: not a process starting

    def run_node(self, ctx: Context, node: NodeState) -> list[Finding]:
        cfg = ctx.config.leak
        held = accounted(node)
        s = node.last_sample
        if held is None or s is None:
            return []
        out: list[Finding] = []
        for g in s.gpus:
            if g.mem_used_bytes is None or not g.mem_total_bytes or g.state != "ok":
                continue
            free_of_owner = g.mem_used_bytes - held.get(g.index, 0.0)
            floor = max(cfg.orphan_min_bytes, cfg.orphan_min_share * g.mem_total_bytes)
            if free_of_owner < floor:
                continue
            w = ctx.window(node, [(M.GPU_MEM_USED, g.index)], ctx.config.bottleneck.window_s)
            used = known(w.get((M.GPU_MEM_USED, g.index)) or [])
            steady = used and min(used) >= free_of_owner
            owners = sum(1 for p in s.procs for u in p.gpus if u.index == g.index)
            ev = (bytes_ev("in use", float(g.mem_used_bytes),
                           f" of {bytes_(g.mem_total_bytes)}"),
                  bytes_ev("held by live processes", held.get(g.index, 0.0),
                           f" ({owners} process{'es' if owners != 1 else ''})"),
                  bytes_ev("held by nobody", free_of_owner),
                  Evidence("steady", None, "",
                           f"at least that much in use for {window_words(w.span)}" if steady
                           else "in use now"))
            out.append(Finding(
                "orphan_gpu_memory", Severity.WARNING, Subject("gpu", node.node_id,
                                                               gpu=g.index),
                f"GPU {g.index}: {bytes_(free_of_owner)} in use that no live process accounts "
                "for",
                ev, w.covered,
                ("find the holder: `nvidia-smi --query-compute-apps=pid,used_memory "
                 "--format=csv` and `fuser -v /dev/nvidia*` (a zombie or a process in "
                 "another container)",
                 "a crashed job's leftovers: end the stale process; reset the GPU when it is "
                 "idle (nvidia-smi -r)"),
                score=free_of_owner / g.mem_total_bytes,
                data={"gpu": g.index, "unaccounted_bytes": free_of_owner,
                      "used_bytes": g.mem_used_bytes, "process_bytes": held.get(g.index, 0.0)},
            ))
        return out
