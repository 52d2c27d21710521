"""GPU clocks held down by power or thermal limits while the GPU is busy (when the sampler
reports clock-event / throttle reasons; silent otherwise)."""

from __future__ import annotations

from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.model import Evidence, Finding, Severity, Subject
from autoglm_tui.analysis.diagnosis.registry import Analyzer, Context, Window, register
from autoglm_tui.analysis.diagnosis.stats import mean
from autoglm_tui.analysis.diagnosis.words import pct_ev, window_words
from autoglm_tui.analysis.history import Key
from autoglm_tui.analysis.node_state import NodeState

NEXT = {
    "power": ("the GPU runs into its power limit: check the limit (nvidia-smi -q -d POWER) "
              "and the rack's power budget",),
    "thermal": ("the GPU is too hot: check cooling, fans and inlet temperature; look for "
                "blocked airflow or a failed fan",),
    "brake": ("an external power brake slows the GPU: check the PSU / node power delivery "
              "(HW power brake comes from the board, not the driver)",),
}


def _family(reason: str) -> str:
    if "brake" in reason:
        return "brake"
    return "thermal" if "thermal" in reason else "power"


def reason_rows(w: Window, gpu: int) -> dict[str, list[bool | None]]:
    """Per throttle reason, whether it held at each point of the window (None: unknown)."""
    out: dict[str, list[bool | None]] = {}
    mask = w.get((M.THROTTLE_MASK, gpu))
    if mask is not None:
        for reason, bit in M.THROTTLE_BITS.items():
            out[reason] = [None if v != v else bool(int(v) & bit) for v in mask]
    return out


@register
class Throttle(Analyzer):
    name = "throttle"
    finds = ("clock_throttled",)

    def run_node(self, ctx: Context, node: NodeState) -> list[Finding]:
        cfg = ctx.config.bottleneck
        out: list[Finding] = []
        metrics = node.metrics
        for g in ctx.gpus(node):
            if metrics.get((M.THROTTLE_MASK, g)) is None:
                continue  # the sampler does not report clock-event reasons for this GPU
            keys: list[Key] = [(M.THROTTLE_MASK, g)]
            keys += [(M.GPU_UTIL, g), (M.GPU_SM_CLOCK, g), (M.GPU_POWER, g),
                     (M.GPU_POWER_LIMIT, g), (M.GPU_TEMP, g)]
            w = ctx.window(node, keys, cfg.window_s)
            if len(w.times) < cfg.min_points:
                continue
            reasons = reason_rows(w, g)
            util = w.get((M.GPU_UTIL, g))
            if not reasons or util is None:
                continue
            busy = [u == u and u >= cfg.throttle_busy_pct for u in util]
            n_busy = sum(busy)
            if n_busy < cfg.min_points:
                continue
            held: list[tuple[float, str]] = []
            for reason, row in reasons.items():
                hits = sum(1 for b, r in zip(busy, row, strict=False) if b and r)
                if hits / n_busy >= cfg.throttle_share:
                    held.append((hits / n_busy, reason))
            if not held:
                continue
            held.sort(reverse=True)
            share_top, top = held[0]
            span = w.span
            ev = [Evidence(r, 100 * s, "pct", f"{r} {100 * s:.0f}% of the busy time in "
                           f"{window_words(span)}") for s, r in held]
            clock = w.get((M.GPU_SM_CLOCK, g))
            if clock is not None and (m := mean(clock)) is not None:
                peak = max(v for v in clock if v == v)
                ev.append(Evidence("SM clock", m, "mhz", f"SM clock {m:.0f} MHz (peak in window "
                                   f"{peak:.0f} MHz)"))
            power, limit = w.get((M.GPU_POWER, g)), w.get((M.GPU_POWER_LIMIT, g))
            if power is not None and limit is not None:
                pm, lm = mean(power), mean(limit)
                if pm is not None and lm:
                    ev.append(Evidence("power", pm, "w", f"power {pm:.0f} W of {lm:.0f} W limit"))
            temp = w.get((M.GPU_TEMP, g))
            if temp is not None and (tm := mean(temp)) is not None:
                ev.append(Evidence("temperature", tm, "c", f"temperature {tm:.0f} C"))
            ev.append(pct_ev("GPU util", mean(util) or 0.0, seconds=span))
            steps: list[str] = []
            for fam in dict.fromkeys(_family(r) for _, r in held):
                steps.extend(NEXT[fam])
            out.append(Finding(
                "clock_throttled", Severity.WARNING, Subject("gpu", node.node_id, gpu=g),
                f"GPU {g} clocks held down by {', '.join(r for _, r in held)} while busy "
                f"({100 * share_top:.0f}% of the time)",
                tuple(ev), w.covered, tuple(steps),
                score=share_top,
                data={"gpu": g, "reasons": {r: s for s, r in held}, "top": top},
            ))
        return out

