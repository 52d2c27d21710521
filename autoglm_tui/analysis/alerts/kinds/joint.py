"""Joint rules: several ``when`` conditions at once, such as the seed's
HIGH_CONCURRENT_IO_PRESSURE (``net.util_pct > 80`` and ``disk.await_ms > 100``).

Conditions may mix node metrics with GPU, process or service metrics. With one kind of member
the alert attaches to each GPU (process, service) where every condition holds, or to the node
with ``scope = "node"``; conditions on two kinds (a service's latency and a GPU's util) are
checked per node, each aggregated over its own members with ``agg`` (default max).
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
    scopes = [metrics.scope_of(x.metric) for x in conds]
    members = {s for s in scopes if s is not Scope.NODE}
    # Conditions on two kinds of members (GPUs and services) are checked per node, each
    # aggregated over its own members.
    per_node = c.aggregate or len(members) > 1
    sides = {s: f.services(c.svc_match, c.min_requests) if s is Scope.SERVICE
             else f.members(s) for s in members}
    agg = c.rule.agg
    # Where the rule holds, each condition holds on some value of the node (an aggregate
    # that is an average or a sum excepted): the other nodes need no visit.
    found: set[int] | None = None
    for cond, scope in zip(conds, scopes, strict=True):
        cmp = OPS[cond.op]
        if scope is Scope.NODE:
            where = hits(f.node_col(cond.metric), cmp, cond.threshold)
        elif per_node and agg not in SCREEN_AGGS:
            continue
        else:
            side = sides[scope]
            where = side.owners(hits(side.col(cond.metric), cmp, cond.threshold))
        found = set(where) if found is None else found.intersection(where)
        if not found:
            break
    cand = engine.candidates(c, f, range(len(f)) if found is None else sorted(found))
    if not cand:
        return
    # The members' values as the frame reads them (service figures on few requests unknown).
    cols = {x.metric: sides[s].col(x.metric)
            for x, s in zip(conds, scopes, strict=True) if s is not Scope.NODE}
    target_side = None if per_node or not members else sides[next(iter(members))]
    for i in cand:
        node, nid, at, m = f.nodes[i], f.ids[i], f.ats[i], f.metrics[i]
        act = c.active.get(nid)
        if target_side is None:
            targets: Sequence[Any] = NODE_SUBJECTS
        else:
            targets = target_side.subject(i)
        engine.key = (f.pos[i] >> CHUNK_BITS, c.idx, f.pos[i])
        for k, s in enumerate(targets):
            hold: bool | None = True
            values: dict[str, float | None] = {}
            for cond, scope in zip(conds, scopes, strict=True):
                if scope is Scope.NODE:
                    v = m.get((cond.metric, None))
                else:
                    off = sides[scope].off
                    if per_node:
                        v = aggregate(cols[cond.metric][off[i]:off[i + 1]], agg)
                    else:
                        v = cols[cond.metric][off[i] + k]
                values[cond.metric] = v
                if v is None:
                    if hold:
                        hold = None  # unknown unless another condition is known false
                elif not cond.holds(v):
                    hold = False
            if hold or (hold is False and act and s in act):
                first = next(iter(values.values()), None)
                engine.step(c, node, s, at, (hold, first, {"values": values}))
        if act and target_side is not None and c.metric_scope is not Scope.GPU:
            engine.gone(c, node, at, targets)


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
