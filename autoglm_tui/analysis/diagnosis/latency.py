"""Latency vs resources (seed 3.2): which of the node's resources a service's latency follows.

Per service, its latency over the window (P95, or the mean where P95 is not reported; end to
end, else time to first token, else time per output token, which is all llama.cpp reports: the
first of names.SVC_LATENCY the service has) is regressed on the node's CPU, memory, GPU util and
memory (mean of its GPUs), KV cache, queue length, disk await and network util, at the points
where all of them are known: as sampled, and averaged over the trailing minute the latency
figure covers (its effect shows there, with a lag), the better fit said. Inputs are
standardised; flat inputs are dropped, and of two inputs that move together (|r| >= 0.95) only
the one closer to the latency is kept; an input that only drifts steadily through the window
(|r| with time >= 0.95) is left out when another input moves for its own reasons, since a drift
matches any other drift (memory creeping up beside a CPU-bound server); a ridge penalty shares
the weight of the rest, so collinear inputs never get huge opposite coefficients. The result is
said in the units people think in ("+10% CPU -> +18 ms P95; R^2 0.81, 840 points"), strongest
first, and nothing is said when the points are too few, the latency is flat, or the fit explains
too little.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.config import DiagnosisConfig, LatencyConfig
from autoglm_tui.analysis.diagnosis.model import Evidence, Finding, Severity
from autoglm_tui.analysis.diagnosis.registry import Analyzer, Context, Window, register
from autoglm_tui.analysis.diagnosis.serving import service_ids, service_subject
from autoglm_tui.analysis.diagnosis.stats import pearson, ridge, row_mean
from autoglm_tui.analysis.diagnosis.words import latency_words, window_words
from autoglm_tui.analysis.history import Key
from autoglm_tui.analysis.node_state import NodeState


@dataclass(frozen=True, slots=True)
class Factor:
    """One input of the regression and how its effect is put in words."""

    name: str  # "cpu"
    label: str  # "CPU"
    step: float  # the change the effect is quoted for
    step_words: str  # "+10% CPU"
    advice: str


FACTORS = {
    "cpu": Factor("cpu", "CPU", 10.0, "+10% CPU",
                  "host CPU drives latency: tokenisation and pre/post-processing compete with "
                  "serving; give it more cores or move that work off the node"),
    "mem": Factor("mem", "memory", 10.0, "+10% memory",
                  "host memory pressure follows latency: check swapping and page cache"),
    "gpu_util": Factor("gpu_util", "GPU util", 10.0, "+10% GPU util",
                       "GPU saturation drives latency: scale out (see advise)"),
    "gpu_mem": Factor("gpu_mem", "GPU memory", 10.0, "+10% GPU memory",
                      "GPU memory pressure drives latency: smaller batches or more replicas"),
    "kv": Factor("kv", "KV cache", 10.0, "+10% KV cache",
                 "KV-cache pressure drives latency (preemption): fewer concurrent sequences "
                 "or more replicas"),
    "queue": Factor("queue", "queue", 1.0, "+1 queued request",
                    "queueing drives latency: add replicas or raise the batch size"),
    "await": Factor("await", "disk await", 10.0, "+10 ms disk await",
                    "disk latency drives request latency: look for swapping, logging or "
                    "model reloads"),
    "net": Factor("net", "net util", 10.0, "+10% net util",
                  "network load drives latency: check for bulk transfers on the serving link"),
}
MIN_STD = {"cpu": 0.5, "mem": 0.2, "gpu_util": 0.5, "gpu_mem": 0.2, "kv": 0.5, "queue": 0.2,
           "await": 0.2, "net": 0.2}


def inputs(node: NodeState, sid: str | None, gpus: list[int], w: Window
           ) -> dict[str, list[float]]:
    """The candidate inputs on the window's time axis (NaN gaps)."""
    out: dict[str, list[float]] = {}
    single = {"cpu": (M.CPU, None), "mem": (M.MEM, None), "kv": (M.SVC_KV, sid),
              "queue": (M.SVC_QUEUE, sid), "await": (M.DISK_AWAIT, None),
              "net": (M.NET_UTIL, None)}
    for name, key in single.items():
        row = w.get(key)
        if row is not None:
            out[name] = row
    for name, metric in (("gpu_util", M.GPU_UTIL), ("gpu_mem", M.GPU_MEM_PCT)):
        rows = [r for g in gpus if (r := w.get((metric, g))) is not None]
        if rows:
            out[name] = row_mean(rows)
    return out


def keys_for(sid: str | None, gpus: list[int], latency: str) -> list[Key]:
    keys: list[Key] = [(latency, sid), (M.CPU, None), (M.MEM, None), (M.SVC_KV, sid),
                       (M.SVC_QUEUE, sid), (M.DISK_AWAIT, None), (M.NET_UTIL, None)]
    keys += [(M.GPU_UTIL, g) for g in gpus] + [(M.GPU_MEM_PCT, g) for g in gpus]
    return keys


# How each latency is named: (in an effect, "+10% CPU -> +18 ms P95"; in the verdict, "vllm:8000
# latency follows CPU"; in the evidence, "(mean; ...)").
WORDS: dict[str, tuple[str, str, str]] = {
    "svc.latency_p95_s": ("P95", "latency", "P95"),
    "svc.latency_avg_s": ("latency", "latency", "mean"),
    "svc.ttft_p95_s": ("TTFT P95", "time to first token", "TTFT P95"),
    "svc.ttft_avg_s": ("TTFT", "time to first token", "mean TTFT"),
    "svc.itl_p95_s": ("inter-token P95", "time per token", "inter-token P95"),
    "svc.itl_avg_s": ("time per token", "time per token", "mean time per token"),
}


CPU_SERVER = ("the server computes on the host CPU and shares it with other processes: give it "
              "cores of its own (more threads, e.g. llama.cpp -t) or offload its layers to a GPU")


def advice(node: NodeState, sid: str | None, top: str) -> str:
    """What to do about the strongest factor; for CPU, a server whose process (and children)
    uses no GPU computes on the CPU itself, which is not the usual tokenisation overhead."""
    view = node.services.get(sid) if sid is not None else None
    if top == "cpu" and view is not None and view.pid is not None and not view.gpus:
        return CPU_SERVER
    return FACTORS[top].advice


def latency_metrics(node: NodeState) -> dict[str | None, str]:
    """Per service of the node (None: its services as one), the latency the diagnosis follows:
    the first of SVC_LATENCY it reports."""
    out: dict[str | None, str] = {}
    for m in M.SVC_LATENCY:
        for sid in service_ids(node, m):
            out.setdefault(sid, m)
    return out


def fit_either(y: list[float], times: list[float], xs: dict[str, list[float]],
               cfg: LatencyConfig, metric: str) -> tuple[Regression | None, bool]:
    """The better fit (higher R^2) of the latency on its inputs as sampled and on its inputs
    averaged over the trailing ``cfg.smooth_s`` (a server's latency figure covers such a
    window, so a resource's effect shows there, with a lag, rather than at the same instant;
    a source whose figures are instantaneous fits better as sampled); True when the averaged
    ones won."""
    reg = regress(y, xs, cfg, metric, times)
    if cfg.smooth_s <= 0:
        return reg, False
    alt = regress(y, {k: trailing_mean(times, row, cfg.smooth_s) for k, row in xs.items()},
                  cfg, metric, times)
    if alt is not None and (reg is None or alt.r2 > reg.r2):
        return alt, True
    return reg, False


def trailing_mean(times: list[float], row: list[float], span: float) -> list[float]:
    """Each point's mean over the known values of the trailing `span` seconds (itself
    included): a service's latency figures cover such a window, so its inputs are put on the
    same footing. A point with no known value in its span stays NaN."""
    out: list[float] = []
    total, count, lo = 0.0, 0, 0
    for t, v in zip(times, row, strict=True):
        if v == v:
            total += v
            count += 1
        while times[lo] <= t - span:
            old = row[lo]
            if old == old:
                total -= old
                count -= 1
            lo += 1
        out.append(total / count if count else math.nan)
    return out


@dataclass(frozen=True)
class Regression:
    latency_metric: str
    n: int
    r2: float
    effects: list[tuple[str, float, float]]  # (factor, beta, effect in seconds per step)
    dropped: dict[str, str]  # factor -> why it was left out
    mean_s: float
    per: dict[str, str] = field(default_factory=dict)  # factor -> its step ("+10% CPU")


SMALLER_STEPS = (5.0, 2.0, 1.0, 0.5, 0.2, 0.1)  # instead of a step of 10, largest first


def quoted_step(factor: Factor, moved: float) -> tuple[float, str]:
    """The change `factor`'s effect is quoted for, and in words: its step, or, where the input
    moved less than a step of 10 over the window (`moved`: its highest less its lowest), the
    largest of SMALLER_STEPS within that ("+2% memory"): an effect is not extrapolated far
    past what was seen."""
    if factor.step != 10.0 or moved >= factor.step:
        return factor.step, factor.step_words
    step = next((v for v in SMALLER_STEPS if v <= moved), SMALLER_STEPS[-1])
    return step, factor.step_words.replace("+10", f"+{step:g}", 1)


def regress(y: list[float], xs: dict[str, list[float]], cfg: LatencyConfig,
            latency_metric: str = "svc.latency_p95_s",
            times: list[float] | None = None) -> Regression | None:
    """The regression of `y` on `xs` (aligned lists with NaN gaps), or None when it should say
    nothing. With `times` (the points' times), inputs that only drift are told apart
    (:func:`drop_drifts`)."""
    dropped: dict[str, str] = {}
    ny = sum(1 for v in y if v == v)
    usable = {}
    for name, row in xs.items():
        cover = sum(1 for a, b in zip(y, row, strict=False) if a == a and b == b)
        if ny == 0 or cover < cfg.min_coverage * ny:
            dropped[name] = "too few values"
            continue
        usable[name] = row
    idx = [i for i, v in enumerate(y) if v == v and all(r[i] == r[i] for r in usable.values())]
    if len(idx) < cfg.min_points:
        return None
    yy = [y[i] for i in idx]
    m = math.fsum(yy) / len(yy)
    sd = math.sqrt(math.fsum((v - m) ** 2 for v in yy) / len(yy))
    flat_abs = cfg.flat_abs_token_s if latency_metric in M.PER_TOKEN else cfg.flat_abs_s
    if sd < max(flat_abs, cfg.flat_cv * abs(m)):
        return None  # flat latency: nothing to explain
    cols: dict[str, list[float]] = {}
    for name, row in usable.items():
        col = [row[i] for i in idx]
        cm = math.fsum(col) / len(col)
        csd = math.sqrt(math.fsum((v - cm) ** 2 for v in col) / len(col))
        if csd < MIN_STD.get(name, 0.0):
            dropped[name] = "flat"
            continue
        cols[name] = col
    if times is not None:
        drop_drifts(cols, [times[i] for i in idx], cfg.drift_r, dropped)
    ry = {name: pearson(col, yy) for name, col in cols.items()}
    kept: list[str] = []
    for name in sorted(cols, key=lambda n: -abs(ry[n])):
        twin = next((k for k in kept if abs(pearson(cols[k], cols[name])) >= cfg.collinear_r),
                    None)
        if twin is not None:
            dropped[name] = f"moves with {FACTORS[twin].label}"
            continue
        kept.append(name)
    if not kept:
        return None
    fit = ridge([cols[k] for k in kept], yy, cfg.alpha)
    if fit is None or fit.r2 < cfg.min_r2:
        return None
    steps = {k: quoted_step(FACTORS[k], max(cols[k]) - min(cols[k])) for k in kept}
    effects = [(k, b, s * steps[k][0]) for k, b, s in zip(kept, fit.beta, fit.slope,
                                                           strict=True)
               if abs(b) >= cfg.min_beta]
    if not effects:
        return None
    effects.sort(key=lambda e: -abs(e[1]))
    return Regression(latency_metric, fit.n, fit.r2, effects, dropped, m,
                      {k: steps[k][1] for k, _, _ in effects})


DRIFT = "drifted steadily: it would match any other drift"


def drop_drifts(cols: dict[str, list[float]], times: list[float], drift_r: float,
                dropped: dict[str, str]) -> None:
    """Leave out of `cols` the inputs that drift steadily with time (|r| >= `drift_r`) when
    another input does not: two drifts match whatever their causes (memory creeping up beside a
    server slowed by its CPU would be named with it), while an input that rises and falls on its
    own is evidence. Where every input drifts, they are all kept (the finding says a regression
    shows what moves together)."""
    drifts = [name for name, col in cols.items() if abs(pearson(col, times)) >= drift_r]
    if len(drifts) == len(cols):
        return
    for name in drifts:
        del cols[name]
        dropped[name] = DRIFT


def describe(reg: Regression) -> str:
    """'+10% CPU -> +18 ms P95, +1 queued request -> +40 ms P95; R^2 0.81, 840 points'."""
    what = WORDS[reg.latency_metric][0]
    parts = [f"{reg.per[k]} -> {latency_words(e)} {what}" for k, _, e in reg.effects]
    return f"{', '.join(parts)}; R\u00b2 {reg.r2:.2f}, {reg.n} points"


@register
class Latency(Analyzer):
    name = "latency"
    finds = ("latency_factors",)

    def period(self, config: DiagnosisConfig) -> float:
        return config.latency.period_s

    def appear_after(self, config: DiagnosisConfig) -> float:
        return 0.0  # a fit over 15 minutes needs no second look

    def run_node(self, ctx: Context, node: NodeState) -> list[Finding]:
        cfg = ctx.config.latency
        out: list[Finding] = []
        followed = latency_metrics(node)
        if not followed:
            return []
        gpus = ctx.gpus(node)
        for sid in sorted(followed, key=lambda s: (s is not None, s or "")):
            metric = followed[sid]
            _, latency, in_evidence = WORDS[metric]
            w = ctx.window(node, keys_for(sid, gpus, metric), cfg.window_s)
            y = w.get((metric, sid))
            if y is None:
                continue
            reg, smoothed = fit_either(y, w.times, inputs(node, sid, gpus, w), cfg, metric)
            if reg is None:
                continue
            top = reg.effects[0][0]
            who = latency if sid is None else f"{sid} {latency}"
            names = " and ".join(FACTORS[k].label for k, _, _ in reg.effects[:2])
            ev = [Evidence(FACTORS[k].label, e, "s",
                           f"{reg.per[k]} -> {latency_words(e)} "
                           f"({in_evidence}; "
                           f"standardised weight {b:+.2f})")
                  for k, b, e in reg.effects]
            ev.append(Evidence("fit", reg.r2, "",
                               f"R\u00b2 {reg.r2:.2f} over {reg.n} points "
                               f"({window_words(w.span)})"))
            if smoothed:
                ev.append(Evidence("inputs", cfg.smooth_s, "s",
                                   f"resources averaged over the trailing "
                                   f"{window_words(cfg.smooth_s)}, as the latency figure is"))
            if reg.dropped:
                ev.append(Evidence("left out", None, "", "left out: " + ", ".join(
                    f"{FACTORS[k].label} ({why})" for k, why in sorted(reg.dropped.items()))))
            out.append(Finding(
                "latency_factors", Severity.INFO, service_subject(node, sid),
                f"{who} follows {names}: {describe(reg)}",
                tuple(ev), w.covered,
                (advice(node, sid, top),
                 "a regression shows what moves together, not what causes what: confirm by "
                 "changing that resource"),
                score=reg.r2,
                data={"service": sid, "metric": metric, "r2": reg.r2, "points": reg.n,
                      "mean_s": reg.mean_s,
                      "effects": [{"factor": k, "beta": b, "effect_s": e,
                                   "per": reg.per[k]} for k, b, e in reg.effects],
                      "dropped": reg.dropped, "inputs_smoothed_s": cfg.smooth_s if smoothed
                      else 0.0},
            ))
        return out
