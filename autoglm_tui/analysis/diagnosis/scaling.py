"""Scaling advice for groups of replicas (seed 4.2), by Kubernetes' HPA rule.

desired = ceil(current x observed / target) per metric (GPU util, queue per replica, KV cache),
no change while observed / target is within the tolerance (10%), the largest of the metrics
wins, clamped to [min, max] replicas and to HPA's default scale-up limit (at most double, or
+4, at once). Scaling down is stabilised: the highest recommendation of the last 5 minutes is
used, so a dip does not shed replicas. A group is the UP nodes sharing a label's value
(`service=llm-70b`), or, when no node has that label, each service id across the nodes that
run it.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.config import DiagnosisConfig, ScalingConfig
from autoglm_tui.analysis.diagnosis.model import Evidence, Finding, Severity, Subject
from autoglm_tui.analysis.diagnosis.registry import Analyzer, Context, register
from autoglm_tui.analysis.diagnosis.serving import service_ids
from autoglm_tui.analysis.history import Key
from autoglm_tui.analysis.node_state import NodeState

METRICS = ("gpu_util", "queue_per_replica", "kv_cache")
LABELS = {"gpu_util": "GPU util", "queue_per_replica": "queue per replica",
          "kv_cache": "KV cache"}
UNITS = {"gpu_util": "%", "queue_per_replica": "", "kv_cache": "%"}


@dataclass(frozen=True, slots=True)
class MetricAdvice:
    metric: str
    observed: float
    target: float
    desired: int

    def words(self) -> str:
        u = UNITS[self.metric]
        fmt = ".0f" if u == "%" else ".1f"
        return (f"{LABELS[self.metric]} {self.observed:{fmt}}{u} vs target "
                f"{self.target:{fmt}}{u}")

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "observed": round(self.observed, 3),
                "target": self.target, "desired": self.desired}


@dataclass(frozen=True)
class Advice:
    """What HPA's rule says for one group."""

    group: str  # "service=llm-70b"
    current: int
    desired: int  # after tolerance, clamping and stabilisation
    recommended_now: int  # before the scale-down stabilisation
    metrics: tuple[MetricAdvice, ...]
    members: tuple[str, ...]
    stabilized: bool = False  # a scale-down held back by the stabilisation window
    window: tuple[float, float] = (0.0, 0.0)
    notes: tuple[str, ...] = field(default=())

    @property
    def driver(self) -> MetricAdvice | None:
        """The metric that decides (the largest desired count)."""
        if not self.metrics:
            return None
        return max(self.metrics, key=lambda m: (m.desired, m.observed / m.target))

    def line(self) -> str:
        name = self.group.split("=", 1)[-1]
        d = self.driver
        why = f" ({d.words()})" if d is not None else " (no metric to go by)"
        if self.stabilized:
            why += f"; held for the {self.window[1] - self.window[0]:.0f} s stabilisation window"
        return f"{name}: {self.current} -> {self.desired} replicas{why}"

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "current": self.current, "desired": self.desired,
                "recommended_now": self.recommended_now, "stabilized": self.stabilized,
                "metrics": [m.to_dict() for m in self.metrics], "members": list(self.members),
                "line": self.line(), "notes": list(self.notes)}


Member = tuple[NodeState, "str | None"]  # a replica: a node, and the service id or None


def groups(ctx: Context) -> dict[str, list[Member]]:
    """Replica groups: UP nodes by the group label's value, else services by id."""
    label = ctx.config.group_label
    out: dict[str, list[Member]] = {}
    up = ctx.up()
    for node in up:
        value = node.labels.get(label)
        if value:
            out.setdefault(f"{label}={value}", []).append((node, None))
    if out:
        return out
    for node in up:
        for sid in service_ids(node, M.SVC_QUEUE) or service_ids(node, M.SVC_TOKENS):
            if sid is not None:
                out.setdefault(f"service_id={sid}", []).append((node, sid))
    return out


class _Prefix:
    """Means of one or more series (e.g. a node's GPUs) over any [a, b] of their time axis,
    by prefix sums: the mean of every known value in the span."""

    def __init__(self, times: list[float], rows: list[list[float]]) -> None:
        self.times = times
        n = len(times)
        sums = [0.0] * n
        counts = [0] * n
        for row in rows:
            sums = [s + (v if v == v else 0.0) for s, v in zip(sums, row, strict=False)]
            counts = [c + (v == v) for c, v in zip(counts, row, strict=False)]
        self.sums = [0.0, *accumulate(sums)]
        self.counts = [0, *accumulate(counts)]

    def mean(self, a: float, b: float) -> float | None:
        i, j = bisect_left(self.times, a), bisect_right(self.times, b)
        n = self.counts[j] - self.counts[i]
        return (self.sums[j] - self.sums[i]) / n if n else None


def _series(ctx: Context, member: Member, seconds: float) -> dict[str, _Prefix]:
    node, sid = member
    gpus = ctx.gpus(node)
    keys: list[Key] = [(M.GPU_UTIL, g) for g in gpus] + [(M.SVC_QUEUE, sid), (M.SVC_KV, sid)]
    w = ctx.window(node, keys, seconds)
    out: dict[str, _Prefix] = {}
    rows = [r for g in gpus if (r := w.get((M.GPU_UTIL, g))) is not None]
    if rows:
        out["gpu_util"] = _Prefix(w.times, rows)
    q = w.get((M.SVC_QUEUE, sid))
    if q is not None:
        out["queue_per_replica"] = _Prefix(w.times, [q])
    kv = w.get((M.SVC_KV, sid))
    if kv is not None:
        out["kv_cache"] = _Prefix(w.times, [kv])
    return out


def _targets(cfg: ScalingConfig) -> dict[str, float]:
    out = {"gpu_util": cfg.target_gpu_util_pct}
    if cfg.target_queue_per_replica:
        out["queue_per_replica"] = cfg.target_queue_per_replica
    if cfg.target_kv_cache_pct:
        out["kv_cache"] = cfg.target_kv_cache_pct
    return out


def hpa_desired(current: int, observed: float, target: float, tolerance: float) -> int:
    """Kubernetes' rule: ceil(current x observed / target), unchanged within the tolerance."""
    ratio = observed / target
    if abs(ratio - 1.0) <= tolerance:
        return current
    return max(0, math.ceil(current * ratio - 1e-9))


def clamp(desired: int, current: int, cfg: ScalingConfig) -> int:
    up_limit = max(2 * current, current + 4)
    d = min(desired, up_limit)
    if cfg.max_replicas is not None:
        d = min(d, cfg.max_replicas)
    return max(d, cfg.min_replicas)


def advise_group(ctx: Context, group: str, members: list[Member]) -> Advice | None:
    cfg = ctx.config.scaling
    current = len(members)
    targets = _targets(cfg)
    series = [_series(ctx, m, cfg.window_s) for m in members]

    def recommend(t: float) -> tuple[int, list[MetricAdvice]]:
        advice: list[MetricAdvice] = []
        for metric, target in targets.items():
            vals = [v for s in series if metric in s
                    and (v := s[metric].mean(t - cfg.window_s, t)) is not None]
            if not vals:
                continue
            observed = (math.fsum(vals) / current if metric == "queue_per_replica"
                        else math.fsum(vals) / len(vals))
            advice.append(MetricAdvice(metric, observed, target,
                                       hpa_desired(current, observed, target, cfg.tolerance)))
        if not advice:
            return current, advice
        return clamp(max(a.desired for a in advice), current, cfg), advice

    now = ctx.now
    rec_now, metrics = recommend(now)
    if not metrics:
        return None
    desired = rec_now
    stabilized = False
    if rec_now < current:  # look back over the stabilisation window (a longer read)
        series = [_series(ctx, m, cfg.window_s + cfg.downscale_stabilization_s)
                  for m in members]
        recs = [rec_now]
        t = now - cfg.step_s
        while t >= now - cfg.downscale_stabilization_s:
            r, m = recommend(t)
            if m:
                recs.append(r)
            t -= cfg.step_s
        desired = min(current, max(recs))
        stabilized = desired != rec_now
    return Advice(group, current, desired, rec_now, tuple(metrics),
                  tuple(sorted(n.node_id + (f"/{sid}" if sid else "") for n, sid in members)),
                  stabilized, (now - cfg.downscale_stabilization_s, now))


def advise(ctx: Context) -> list[Advice]:
    """HPA's advice for every replica group, by group name."""
    out = []
    for group, members in sorted(groups(ctx).items()):
        a = advise_group(ctx, group, members)
        if a is not None:
            out.append(a)
    return out


@register
class Scaling(Analyzer):
    name = "scaling"
    finds = ("scale_out", "scale_in")
    scope = "fleet"

    def period(self, config: DiagnosisConfig) -> float:
        return config.scaling.period_s

    def run_fleet(self, ctx: Context) -> list[Finding]:
        out = []
        for a in advise(ctx):
            if a.desired == a.current:
                continue
            d = a.driver
            up = a.desired > a.current
            ev = tuple(Evidence(LABELS[m.metric], m.observed, "pct" if UNITS[m.metric] else "",
                                m.words() + f" -> {m.desired} replicas") for m in a.metrics)
            out.append(Finding(
                "scale_out" if up else "scale_in",
                Severity.WARNING if up else Severity.INFO,
                Subject("group", group=a.group),
                a.line(), ev, (ctx.now - ctx.config.scaling.window_s, ctx.now),
                (f"scale {a.group} to {a.desired} replicas (HPA rule on "
                 f"{LABELS[d.metric] if d else 'load'})",
                 "`autoglm-tui advise --json` prints this for scripts") if up else
                (f"{a.group} can shrink to {a.desired} replicas (held 5 min before advising "
                 "it, as HPA does)",),
                score=abs(a.desired - a.current) / max(a.current, 1),
                data=a.to_dict(),
            ))
        return out
