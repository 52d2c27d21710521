"""Joint rules: several ``when`` conditions at once, such as the seed's
HIGH_CONCURRENT_IO_PRESSURE (``net.util_pct > 80`` and ``disk.await_ms > 100``).

Conditions may mix node metrics with one of GPU or process metrics; the alert then attaches
to each GPU (or process) where every condition holds, or to the node with ``scope = "node"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from autoglm_tui import metrics
from autoglm_tui.analysis.alerts import fields
from autoglm_tui.analysis.alerts.core import (
    CHUNK_BITS,
    SCREEN_AGGS,
    Compiled,
    EngineCore,
    Frames,
    aggregate,
)
from autoglm_tui.analysis.alerts.frame import NODE_SUBJECTS, Frame, hits
from autoglm_tui.analysis.alerts.kind import Checks, RuleKind
from autoglm_tui.analysis.alerts.rule import OPS, Condition, Rule
from autoglm_tui.metrics import Scope

_WHEN_RE = re.compile(r"^\s*([a-z0-9_.]+)\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$")


class JointKind(RuleKind):
    name = "joint"
    keys = frozenset({"when", "scope", "agg"})
    implied_by = "when"

    def parse(self, raw: dict[str, object], checks: Checks, kw: dict[str, Any]) -> None:
        conds = parse_conditions(raw.get("when"), checks)
        kw["conditions"] = conds
        scopes = {metrics.scope_of(c.metric) for c in conds} - {Scope.NODE}
        if len(scopes) > 1:
            checks.bad("when", "conditions may mix node metrics with one of GPU or process "
                       "metrics, not both")

    def describe(self, rule: Rule) -> str:
        if not rule.conditions:
            return "(no condition: switched off)"
        return " and ".join(str(c) for c in rule.conditions)

    def default_summary(self, rule: Rule) -> str:
        return "{rule} on {target}: {values}"

    def evaluate(self, engine: EngineCore, rules: list[Compiled], frames: Frames) -> None:
        for c in rules:
            _joint(engine, c, frames.live)


def _joint(engine: EngineCore, c: Compiled, f: Frame) -> None:
    if not len(f):
        return
    conds = c.rule.conditions
    node_scoped = [metrics.METRICS[x.metric].scope == Scope.NODE for x in conds]
    # Where the rule holds, each condition holds on some value of the node (an aggregate
    # that is an average or a sum excepted): the other nodes need no visit.
    found: set[int] | None = None
    for cond, on_node in zip(conds, node_scoped, strict=True):
        cmp = OPS[cond.op]
        if on_node:
            where = hits(f.node_col(cond.metric), cmp, cond.threshold)
        elif c.aggregate and c.agg not in SCREEN_AGGS:
            continue
        else:
            side = f.members(c.metric_scope)
            where = side.owners(hits(side.col(cond.metric), cmp, cond.threshold))
        found = set(where) if found is None else found.intersection(where)
        if not found:
            break
    cand = engine.candidates(c, f, range(len(f)) if found is None else sorted(found))
    if not cand:
        return
    scope = c.metric_scope
    for i in cand:
        node, nid, at, m = f.nodes[i], f.ids[i], f.ats[i], f.metrics[i]
        act = c.active.get(nid)
        all_subjects = () if scope == Scope.NODE else f.members(scope).subject(i)
        if scope == Scope.NODE or c.aggregate:
            targets: Sequence[int | None] = NODE_SUBJECTS
        else:
            targets = all_subjects
        engine.key = (f.pos[i] >> CHUNK_BITS, c.idx, f.pos[i])
        for s in targets:
            hold: bool | None = True
            values: dict[str, float | None] = {}
            for cond, on_node in zip(conds, node_scoped, strict=True):
                if on_node:
                    v = m.get((cond.metric, None))
                elif c.aggregate:
                    v = aggregate([m.get((cond.metric, x)) for x in all_subjects],
                                   c.rule.agg)
                else:
                    v = m.get((cond.metric, s))
                values[cond.metric] = v
                if v is None:
                    if hold:
                        hold = None  # unknown unless another condition is known false
                elif not cond.holds(v):
                    hold = False
            if hold or (hold is False and act and s in act):
                first = next(iter(values.values()), None)
                engine.step(c, node, s, at, (hold, first, {"values": values}))
        if act and scope == Scope.PROC and not c.aggregate:
            engine.gone(c, node, at, all_subjects)


def parse_conditions(raw: object, checks: Checks) -> tuple[Condition, ...]:
    """The `when` list as conditions; problems reported on `checks`."""
    if raw is None:
        checks.missing("missing 'when' (a list such as [\"net.util_pct > 80\", ...])")
        return ()
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        checks.bad("when", "'when' must be a non-empty list of strings like \"net.util_pct > 80\"")
        return ()
    out: list[Condition] = []
    for text in raw:
        m = _WHEN_RE.match(text)
        if not m:
            checks.bad("when", f"cannot read condition {text!r}; write METRIC OP NUMBER")
            continue
        name, op, num = m.groups()
        if name not in metrics.METRICS:
            checks.bad("when", f"unknown metric {name!r}" + fields.suggest(name, metrics.METRICS))
            continue
        try:
            value = float(num)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            checks.bad("when", f"{text!r}: {num!r} is not a number")
            continue
        out.append(Condition(name, op, value))
    return tuple(out)
