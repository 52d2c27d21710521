"""Batch-inference bottlenecks seen from the serving side (seed 4.1): memory bound (GPU memory
and KV cache full, queue growing) and compute bound (GPUs busy, throughput flat, queue
growing). Reads the derived ``svc.*`` values, per service where the node reports them apart."""

from __future__ import annotations

from collections.abc import Sequence

from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.model import Evidence, Finding, Severity, Subject
from autoglm_tui.analysis.diagnosis.registry import Analyzer, Context, register
from autoglm_tui.analysis.diagnosis.stats import (
    ends,
    known,
    mean,
    pairs,
    row_max,
    row_mean,
    share,
    theil_sen,
)
from autoglm_tui.analysis.diagnosis.words import pct_ev, window_words
from autoglm_tui.analysis.node_state import NodeState


def service_ids(node: NodeState, metric: str) -> list[str | None]:
    """The services of a node that report `metric`: their ids when it reports them apart,
    else [None] (the node as a whole) when it reports the metric at all."""
    subjects = {k[1] for k in node.history.keys() if k[0] == metric}  # noqa: SIM118
    ids = sorted(s for s in subjects if isinstance(s, str))
    if ids:
        return list(ids)
    return [None] if None in subjects else []


def service_subject(node: NodeState, sid: str | None) -> Subject:
    return Subject("node", node.node_id) if sid is None else Subject(
        "service", node.node_id, service=sid)


def growth(times: Sequence[float], values: Sequence[float]) -> tuple[float, float, float] | None:
    """(Theil-Sen change over the window, early-third mean, late-third mean), None if too
    few points."""
    ts, vs = pairs(times, values)
    if len(vs) < 6:
        return None
    slope = theil_sen(ts, vs)
    if slope is None:
        return None
    e = ends(ts, vs, 1 / 3)
    if e is None:
        return None
    return slope * (ts[-1] - ts[0]), e[0], e[1]


def queue_growing(times: Sequence[float], queue: Sequence[float], min_growth: float
                  ) -> tuple[float, float] | None:
    """(early, late) mean queue length when the queue grew by at least `min_growth`."""
    e = ends(*pairs(times, queue), 1 / 3)
    if e is None or e[1] - e[0] < min_growth / 2:
        return None  # the cheap test first
    g = growth(times, queue)
    if g is None:
        return None
    change, early, late = g
    if change >= min_growth and late - early >= min_growth / 2:
        return early, late
    return None


@register
class Serving(Analyzer):
    name = "serving"
    finds = ("memory_bound", "compute_bound")

    def run_node(self, ctx: Context, node: NodeState) -> list[Finding]:
        cfg = ctx.config.bottleneck
        gpus = ctx.gpus(node)
        if not gpus:
            return []
        sids = [sid for sid in service_ids(node, M.SVC_QUEUE)
                if (node.metrics.get((M.SVC_QUEUE, sid)) or 0.0) >= cfg.queue_growth_min / 2]
        if not sids:
            return []  # no queue worth the name now
        # the queue first: nothing below matters unless it grows
        qw = ctx.window(node, [(M.SVC_QUEUE, sid) for sid in sids], cfg.window_s)
        sids = [sid for sid in sids if (q := qw.get((M.SVC_QUEUE, sid))) is not None
                and queue_growing(qw.times, q, cfg.queue_growth_min) is not None]
        if not sids or len(qw.times) < cfg.min_points:
            return []
        keys = [(M.GPU_UTIL, g) for g in gpus] + [(M.GPU_MEM_PCT, g) for g in gpus]
        for sid in sids:
            keys += [(M.SVC_QUEUE, sid), (M.SVC_KV, sid), (M.SVC_TOKENS, sid)]
        w = ctx.window(node, keys, cfg.window_s)
        span = w.span
        util = row_mean([r for g in gpus if (r := w.get((M.GPU_UTIL, g))) is not None])
        gmem = row_max([r for g in gpus if (r := w.get((M.GPU_MEM_PCT, g))) is not None])
        out: list[Finding] = []
        for sid in sids:
            queue = w.get((M.SVC_QUEUE, sid))
            if queue is None:
                continue
            grew = queue_growing(w.times, queue, cfg.queue_growth_min)
            if grew is None:
                continue
            early, late = grew
            q_ev = Evidence("queue", late, "count",
                            f"queue {early:.0f} -> {late:.0f} requests over "
                            f"{window_words(span)}")
            subject = service_subject(node, sid)
            who = "" if sid is None else f"{sid}: "
            kv = w.get((M.SVC_KV, sid))
            if (kv is not None and gmem and share(kv, low=cfg.kv_full_pct) >= cfg.coverage
                    and share(gmem, low=cfg.gpu_mem_full_pct) >= cfg.coverage):
                kv_mean, mem_mean = mean(kv) or 0.0, mean(gmem) or 0.0
                out.append(Finding(
                    "memory_bound", Severity.CRITICAL, subject,
                    f"{who}memory bound: KV cache {kv_mean:.0f}% full, GPU memory "
                    f"{mem_mean:.0f}%, queue growing {early:.0f} -> {late:.0f}",
                    (pct_ev("KV cache", kv_mean, seconds=span),
                     pct_ev("GPU memory (fullest GPU)", mem_mean, seconds=span), q_ev),
                    w.covered,
                    ("smaller batches: lower max concurrent sequences / batch tokens so "
                     "requests stop being preempted",
                     "more replicas to spread the load (or a GPU with more memory, or a "
                     "quantised KV cache)"),
                    score=late - early,
                    data={"service": sid, "kv_cache_pct": kv_mean, "gpu_mem_pct": mem_mean,
                          "queue_start": early, "queue_end": late},
                ))
                continue
            if not util or share(util, low=cfg.gpu_busy_pct) < cfg.coverage:
                continue
            tokens = w.get((M.SVC_TOKENS, sid))
            if tokens is None or not known(tokens):
                continue
            t_growth = growth(w.times, tokens)
            t_mean = mean(tokens) or 0.0
            if t_growth is None or abs(t_growth[0]) > cfg.throughput_flat * max(t_mean, 1e-9):
                continue
            u_mean = mean(util) or 0.0
            out.append(Finding(
                "compute_bound", Severity.WARNING, subject,
                f"{who}compute bound: GPUs {u_mean:.0f}% busy, throughput flat at "
                f"{t_mean:.0f} tokens/s, queue growing {early:.0f} -> {late:.0f}",
                (pct_ev("GPU util", u_mean, seconds=span),
                 Evidence("tokens/s", t_mean, "1/s",
                          f"{t_mean:.0f} tokens/s, change {t_growth[0]:+.0f} over "
                          f"{window_words(span)}"),
                 q_ev),
                w.covered,
                ("scale out: add replicas (see `autoglm-tui advise`)",
                 "or raise per-GPU throughput: larger batches if memory allows, a quantised "
                 "model, speculative decoding"),
                score=late - early,
                data={"service": sid, "gpu_util_pct": u_mean, "tokens_per_s": t_mean,
                      "queue_start": early, "queue_end": late},
            ))
        return out
