"""Stragglers: a GPU far below the other GPUs of its node, or a node far below the other
replicas of its group, over a window (analysis/peers.py does the robust comparison)."""

from __future__ import annotations

from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.model import Evidence, Finding, Severity, Subject
from autoglm_tui.analysis.diagnosis.registry import Analyzer, Context, register
from autoglm_tui.analysis.diagnosis.stats import grand_mean, mean
from autoglm_tui.analysis.diagnosis.words import window_words
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.peers import DEFAULT_GAPS, outliers

NODE_TOKENS_GAP = 0.3  # a node's tokens/s this far below its group's median (share of it)


@register
class GpuStragglers(Analyzer):
    name = "gpu_stragglers"
    finds = ("straggler_gpu",)

    def run_node(self, ctx: Context, node: NodeState) -> list[Finding]:
        cfg = ctx.config.bottleneck
        gpus = ctx.gpus(node)
        if len(gpus) < 3:
            return []
        now = [u for g in gpus if (u := node.metrics.get((M.GPU_UTIL, g))) is not None]
        if not now or max(now) - min(now) < DEFAULT_GAPS[M.GPU_UTIL]:
            return []  # the GPUs agree now: none can be far below the others on the window
        w = ctx.window(node, [(M.GPU_UTIL, g) for g in gpus], cfg.straggler_window_s)
        if len(w.times) < cfg.min_points:
            return []
        means = {g: mean(r) for g in gpus if (r := w.get((M.GPU_UTIL, g))) is not None}
        found = outliers(means, DEFAULT_GAPS[M.GPU_UTIL], metric=M.GPU_UTIL,
                         group=node.node_id)
        out = []
        for g, dev in found.items():
            if not dev.low:
                continue
            out.append(Finding(
                "straggler_gpu", Severity.WARNING, Subject("gpu", node.node_id, gpu=g),
                f"GPU {g} lags the other GPUs of {node.node_id}: util {dev.value:.0f}% vs "
                f"their median {dev.median:.0f}% over {window_words(w.span)}",
                (Evidence("GPU util", dev.value, "pct", f"GPU {g} util {dev.value:.0f}% (mean)"),
                 Evidence("peers' median", dev.median, "pct",
                          f"median of {len(means)} GPUs {dev.median:.0f}%"),
                 Evidence("robust z", dev.z, "", f"modified z-score {dev.z:.1f}")),
                w.covered,
                ("in a tensor- or data-parallel job the slowest GPU sets the pace: look at its "
                 "clocks, temperature, PCIe link and Xid errors",
                 "check the rank's input pipeline and whether another process shares the GPU"),
                score=dev.median - dev.value,
                data={"gpu": g, "util_pct": dev.value, "peers_median_pct": dev.median},
            ))
        return out


@register
class NodeStragglers(Analyzer):
    name = "node_stragglers"
    finds = ("straggler_node",)
    scope = "fleet"

    def run_fleet(self, ctx: Context) -> list[Finding]:
        cfg = ctx.config.bottleneck
        label = ctx.config.group_label
        groups: dict[str, list[NodeState]] = {}
        for node in ctx.up():
            value = node.labels.get(label)
            if value:
                groups.setdefault(value, []).append(node)
        out: list[Finding] = []
        for value, members in groups.items():
            if len(members) < 3:
                continue
            util: dict[str, float | None] = {}
            tokens: dict[str, float | None] = {}
            span = 0.0
            for node in members:
                gpus = ctx.gpus(node)
                keys = [(M.GPU_UTIL, g) for g in gpus] + [(M.SVC_TOKENS, None)]
                w = ctx.window(node, keys, cfg.straggler_window_s)
                if len(w.times) < cfg.min_points:
                    continue
                span = max(span, w.span)
                rows = [r for g in gpus if (r := w.get((M.GPU_UTIL, g))) is not None]
                util[node.node_id] = grand_mean(rows)
                tok = w.get((M.SVC_TOKENS, None))
                tokens[node.node_id] = mean(tok) if tok is not None else None
            group = f"{label}={value}"
            seen: set[str] = set()
            tok_known = [v for v in tokens.values() if v is not None]
            checks = [("GPU util", util, DEFAULT_GAPS[M.GPU_UTIL], "%")]
            if len(tok_known) >= 3:
                gap = NODE_TOKENS_GAP * sorted(tok_known)[len(tok_known) // 2]
                checks.append(("tokens/s", tokens, max(gap, 1e-9), " tokens/s"))
            for what, values, gap, unit in checks:
                for node_id, dev in outliers(values, gap, group=group).items():
                    if not dev.low or node_id in seen:
                        continue
                    seen.add(node_id)
                    out.append(Finding(
                        "straggler_node", Severity.WARNING, Subject("node", node_id, group=group),
                        f"{node_id} lags its replicas in {group}: {what} {dev.value:.0f}{unit} "
                        f"vs their median {dev.median:.0f}{unit}",
                        (Evidence(what, dev.value, "", f"{what} {dev.value:.0f}{unit} (mean of "
                                  f"{window_words(span)})"),
                         Evidence("group median", dev.median, "",
                                  f"median of {len(values)} replicas {dev.median:.0f}{unit}")),
                        (ctx.now - span, ctx.now),
                        ("compare its GPUs' clocks, temperature and errors with a healthy "
                         "replica; check the load balancer sends it its share",
                         "drain it and replace it if it stays behind"),
                        score=(dev.median - dev.value) / max(dev.median, 1e-9),
                        data={"group": group, "metric": what, "value": dev.value,
                              "median": dev.median},
                    ))
        return out
