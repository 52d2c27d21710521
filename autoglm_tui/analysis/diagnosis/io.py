"""IO bottlenecks: storage bound (disk await high with iowait) and the seed's two joint
network/disk scenarios, found by the IO correlation's own hints (analysis/correlation.py)
holding over the last minute rather than at one instant."""

from __future__ import annotations

from autoglm_tui.analysis.correlation import HintThresholds, IoWindow, scenario_hints
from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.model import Evidence, Finding, Severity, Subject
from autoglm_tui.analysis.diagnosis.registry import Analyzer, Context, Window, register
from autoglm_tui.analysis.diagnosis.stats import mean, share
from autoglm_tui.analysis.diagnosis.words import ms_ev, pct_ev, rate_ev, window_words
from autoglm_tui.analysis.node_state import NodeState

CHECK_STEP_S = 10.0
HINT_FINDING = {"write amplification": "write_amplification", "saturation": "network_saturation"}


def _opt(values: list[float] | None) -> list[float | None]:
    return [] if values is None else [None if v != v else v for v in values]


@register
class Io(Analyzer):
    name = "io"
    finds = ("network_saturation", "write_amplification", "storage_bound")

    def __init__(self, thresholds: HintThresholds | None = None) -> None:
        self.thresholds = thresholds or HintThresholds()

    def run_node(self, ctx: Context, node: NodeState) -> list[Finding]:
        cfg = ctx.config.bottleneck
        th = self.thresholds
        net = node.metrics.get((M.NET_UTIL, None))
        wait = node.metrics.get((M.DISK_AWAIT, None))
        iowait = node.metrics.get((M.IOWAIT, None))
        saturated = net is not None and net >= th.net_saturated_pct
        amplified = (net is not None and net < th.net_normal_pct and wait is not None
                     and wait >= th.await_high_ms)
        slow = (wait is not None and wait >= cfg.await_high_ms and iowait is not None
                and iowait >= cfg.iowait_high_pct)
        if not (saturated or amplified or slow):
            return []  # none of them can hold now: the newest values rule them out
        keys = [(M.NET_UTIL, None), (M.DISK_IOPS, None), (M.DISK_AWAIT, None),
                (M.IOWAIT, None), (M.DISK_READ, None), (M.DISK_WRITE, None)]
        w = ctx.window(node, keys, max(cfg.io_window_s, cfg.window_s))
        if len(w.times) < cfg.min_points:
            return []
        out = self._scenarios(ctx, node, w)
        if not out:
            out = self._storage(ctx, node, w)
        return out

    def _scenarios(self, ctx: Context, node: NodeState, w: Window) -> list[Finding]:
        cfg = ctx.config.bottleneck
        net = _opt(w.get((M.NET_UTIL, None)))
        iops = _opt(w.get((M.DISK_IOPS, None)))
        wait = _opt(w.get((M.DISK_AWAIT, None)))
        if not net or not iops or not wait:
            return []
        times = w.times
        counts: dict[str, int] = {}
        last: dict[str, object] = {}
        for k in range(cfg.io_checks):
            until = ctx.now - k * CHECK_STEP_S
            end = len(times)
            while end and times[end - 1] > until:
                end -= 1
            if end < 6:
                break
            for hint in scenario_hints(net[:end], iops[:end], wait[:end], self.thresholds):
                counts[hint.name] = counts.get(hint.name, 0) + 1
                last.setdefault(hint.name, hint)
        out: list[Finding] = []
        need = max(1, cfg.io_checks - 1)
        for name, n in counts.items():
            if n < need or name not in HINT_FINDING:
                continue
            hint = last[name]
            net_now = IoWindow.latest(net)
            wait_now = IoWindow.latest(wait)
            iops_now = IoWindow.latest(iops)
            ev = (Evidence("pattern", None, "", f"{hint.evidence} "  # type: ignore[attr-defined]
                           f"(held at {n} of the last {cfg.io_checks} checks, 10 s apart)"),
                  pct_ev("net util", net_now or 0.0, "now"),
                  ms_ev("disk await", wait_now or 0.0, "now"),
                  Evidence("disk IOPS", iops_now, "1/s", f"disk {iops_now or 0:.0f} IOPS"))
            if HINT_FINDING[name] == "network_saturation":
                finding = Finding(
                    "network_saturation", Severity.CRITICAL, Subject("node", node.node_id),
                    "network saturated while disk latency rises: requests compete for IO "
                    f"(net {net_now or 0:.0f}% of link, disk await rising to "
                    f"{wait_now or 0:.0f} ms)",
                    ev, w.covered,
                    ("find who fills the link (traffic flood, a bulk copy, checkpoint upload); "
                     "rate-limit or move it off the serving network",
                     "if it is request traffic, scale out behind the load balancer"),
                    score=(net_now or 0.0) + (wait_now or 0.0),
                    data={"net_util_pct": net_now, "await_ms": wait_now, "iops": iops_now},
                )
            else:
                finding = Finding(
                    "write_amplification", Severity.WARNING, Subject("node", node.node_id),
                    f"disk busy with small writes while the network is normal: {iops_now or 0:.0f}"
                    f" IOPS at {wait_now or 0:.0f} ms await (write amplification)",
                    ev, w.covered,
                    ("look for synchronous small writes: log syncing (fsync per line), "
                     "a database or checkpoint writing in small blocks",
                     "batch or buffer the writes, move logs to another disk"),
                    score=(wait_now or 0.0),
                    data={"net_util_pct": net_now, "await_ms": wait_now, "iops": iops_now},
                )
            out.append(finding)
        return out

    def _storage(self, ctx: Context, node: NodeState, w: Window) -> list[Finding]:
        cfg = ctx.config.bottleneck
        since = ctx.now - cfg.window_s
        first = next((i for i, t in enumerate(w.times) if t >= since), len(w.times))
        if len(w.times) - first < cfg.min_points:
            return []
        wait = w.get((M.DISK_AWAIT, None))
        iowait = w.get((M.IOWAIT, None))
        if wait is None or iowait is None:
            return []
        wait, iowait = wait[first:], iowait[first:]
        if (share(wait, low=cfg.await_high_ms) < cfg.coverage
                or share(iowait, low=cfg.iowait_high_pct) < cfg.coverage):
            return []
        span = w.times[-1] - w.times[first]
        wait_m, io_m = mean(wait) or 0.0, mean(iowait) or 0.0
        ev = [ms_ev("disk await", wait_m, seconds=span), pct_ev("iowait", io_m, seconds=span)]
        for key, label in (((M.DISK_READ, None), "disk read"), ((M.DISK_WRITE, None),
                                                                 "disk write")):
            r = w.get(key)
            m = mean(r[first:]) if r is not None else None
            if m is not None:
                ev.append(rate_ev(label, m))
        swap = node.metrics.get((M.SWAP, None))
        steps = ["model loading or checkpointing: stage weights on local NVMe or tmpfs, stagger "
                 "checkpoint writes across nodes"]
        if swap:
            ev.append(pct_ev("swap used", swap, "now"))
            steps.insert(0, "the host is swapping: add memory or lower the job's memory use")
        return [Finding(
            "storage_bound", Severity.WARNING, Subject("node", node.node_id),
            f"storage bound: disk await {wait_m:.0f} ms with {io_m:.0f}% iowait over "
            f"{window_words(span)}",
            tuple(ev), (w.times[first], w.until), tuple(steps),
            score=wait_m, data={"await_ms": wait_m, "iowait_pct": io_m},
        )]

