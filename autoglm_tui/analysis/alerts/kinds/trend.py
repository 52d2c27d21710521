"""Trend rules: the rate of change of a metric, the least-squares slope of its values over a
sliding ``window``, compared per minute (``op`` ``threshold``), like PromQL's ``deriv()``.

Each target (a node, GPU, process or service, or a node's aggregate) keeps its own points,
fed from every new sample; the slope is unknown (no data) until the points span half the
window. A queue that grows by more than one request a minute is ``kind = "trend"``,
``metric = "svc.queue_len"``, ``threshold = 1``; ``min_r2`` also asks that the line explain
that much of the values' movement over the window (R²), so noise around a level, whose slope
over a short window swings both ways, is not taken for growth. A process or service that is
no longer listed ends its alert, as with threshold rules.
"""

from __future__ import annotations

from typing import Any

from autoglm_tui.analysis.alerts import fields
from autoglm_tui.analysis.alerts.core import CHUNK_BITS, Compiled, EngineCore, Frames, labels_match
from autoglm_tui.analysis.alerts.frame import Frame
from autoglm_tui.analysis.alerts.kind import Checks, RuleKind
from autoglm_tui.analysis.alerts.rule import Rule, format_duration, format_number
from autoglm_tui.analysis.alerts.windows import Slope
from autoglm_tui.metrics import Scope

DEFAULT_WINDOW_S = 300.0


class TrendKind(RuleKind):
    name = "trend"
    keys = frozenset({"metric", "op", "threshold", "window", "scope", "agg", "min_requests",
                      "min_r2"})

    def parse(self, raw: dict[str, object], checks: Checks, kw: dict[str, Any]) -> None:
        kw["metric"] = fields.metric(raw, checks)
        fields.comparison(raw, checks, kw)
        kw["window_s"] = DEFAULT_WINDOW_S
        fields.window(raw, checks, kw)
        if "min_r2" in raw:
            r2 = raw["min_r2"]
            if isinstance(r2, bool) or not isinstance(r2, int | float) or not 0 <= r2 < 1:
                checks.bad("min_r2", "'min_r2' must be a number from 0 up to (not including) 1")
            else:
                kw["min_r2"] = float(r2)

    def describe(self, rule: Rule) -> str:
        if rule.metric is None:
            return "(no condition: switched off)"
        what = rule.metric if not rule.aggregated else f"{rule.agg}({rule.metric})"
        fit = f" with R² >= {format_number(rule.min_r2)}" if rule.min_r2 else ""
        return (f"slope of {what} over {format_duration(rule.window_s)} {rule.op} "
                f"{format_number(rule.threshold)}/min{fit}")

    def default_summary(self, rule: Rule) -> str:
        if rule.scope == Scope.SERVICE:
            return ("{metric} of {kind} service {service} ({model}) on {node} changes by "
                    "{value} over {window} ({op} {threshold})")
        return "{metric} on {target} changes by {value} over {window} ({op} {threshold})"

    def value_unit(self, rule: Rule) -> str:
        return super().value_unit(rule) + "/min"

    def evaluate(self, engine: EngineCore, rules: list[Compiled], frames: Frames) -> None:
        f = frames.live
        if len(f):
            for c in rules:
                _trend(engine, c, f)


def _trend(engine: EngineCore, c: Compiled, f: Frame) -> None:
    """Feed each target's window with the new sample's value; step those whose slope holds
    and those with an alert."""
    cmp, th = c.cmp, c.threshold
    assert cmp is not None and th is not None
    col, off = c.column(f)
    subjects = c.subjects(f)
    per_node, active, match = c.per_node, c.active, c.match
    window_s = c.rule.window_s
    min_r2 = c.rule.min_r2
    members = off is not None and c.metric_scope is not Scope.GPU
    step = engine.step
    for i in range(len(f)):
        node = f.nodes[i]
        if match and not labels_match(node, match):
            continue
        nid, at, subs = f.ids[i], f.ats[i], subjects[i]
        vals = [col[i]] if off is None else col[off[i]:off[i + 1]]
        wins = per_node.get(nid)
        if wins is None:
            wins = per_node[nid] = {}
        act = active.get(nid)
        engine.key = (f.pos[i] >> CHUNK_BITS, c.idx, f.pos[i])
        for s, v in zip(subs, vals, strict=True):
            if v is None:
                continue  # no data: the window keeps its points, nothing moves
            w = wins.get(s)
            if w is None:
                w = wins[s] = Slope(window_s)
            slope = w.push(at, v)
            if slope is None:
                continue
            per_min = 60.0 * slope
            hold = cmp(per_min, th) and (not min_r2 or w.r2() >= min_r2)
            if hold or (act and s in act):
                step(c, node, s, at, (hold, per_min, None))
        if len(wins) > len(subs):
            live = set(subs)
            for s in [s for s in wins if s not in live]:
                del wins[s]
        if members and act:
            engine.gone(c, node, at, subs)
