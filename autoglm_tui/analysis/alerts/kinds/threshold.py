"""Threshold rules: ``metric op threshold``, per node, GPU, process or inference service, or
aggregated per node. A per-process (per-service) alert ends when a fresh sample no longer lists
its process ("process exited") or service ("service gone").

``node.up`` (1 while the node is UP, else 0) is known at every evaluation, so a threshold on it
watches every node with ``now``; other metrics move only on a node's new sample. A node that is
only CONNECTING, or that left gracefully (LEFT), has no ``node.up`` (no data): a leave ends
alerts (engine.py) rather than raising them.
"""

from __future__ import annotations

from typing import Any

from autoglm_tui.analysis.alerts import fields
from autoglm_tui.analysis.alerts.core import (
    CHUNK_BITS,
    SCREEN_AGGS,
    Compiled,
    EngineCore,
    Frames,
    aggregate,
    held_again,
    labels_match,
)
from autoglm_tui.analysis.alerts.frame import Frame, hits
from autoglm_tui.analysis.alerts.kind import Checks, RuleKind
from autoglm_tui.analysis.alerts.rule import Rule, format_number
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.events import NodeStatus
from autoglm_tui.metrics import Scope


class ThresholdKind(RuleKind):
    name = "threshold"
    keys = frozenset({"metric", "op", "threshold", "scope", "agg", "min_requests"})

    def parse(self, raw: dict[str, object], checks: Checks, kw: dict[str, Any]) -> None:
        kw["metric"] = fields.metric(raw, checks)
        fields.comparison(raw, checks, kw)

    def describe(self, rule: Rule) -> str:
        if rule.metric is None:
            return "(no condition: switched off)"
        what = f"{rule.metric} {rule.op} {format_number(rule.threshold)}"
        if rule.aggregated:
            what = f"{rule.agg}({rule.metric}) {rule.op} {format_number(rule.threshold)}"
        return what

    def default_summary(self, rule: Rule) -> str:
        if rule.scope == Scope.PROC:
            return "{metric} of pid {pid} ({command}) on {node} is {value} {op} {threshold}"
        if rule.scope == Scope.SERVICE:
            return ("{metric} of {kind} service {service} ({model}) on {node} is {value} "
                    "{op} {threshold}")
        return "{metric} on {target} is {value} {op} {threshold}"

    def evaluate(self, engine: EngineCore, rules: list[Compiled], frames: Frames) -> None:
        for c in rules:
            if c.metric == "node.up":
                _node_up(engine, c, frames.everyone, frames.now)
            else:
                _threshold(engine, c, frames.live)


def _threshold(engine: EngineCore, c: Compiled, f: Frame) -> None:
    cmp, th = c.cmp, c.threshold
    assert cmp is not None and th is not None
    if not len(f):
        return
    active, step = c.active, engine.step
    ids, nodes, ats, pos, idx = f.ids, f.nodes, f.ats, f.pos, c.idx
    scope = c.metric_scope
    if scope == Scope.NODE:
        col = f.node_col(c.metric)
        for i in engine.candidates(c, f, hits(col, cmp, th)):
            v = col[i]
            if v is None:
                continue  # no data: nothing moves
            hold = cmp(v, th)
            if hold or ids[i] in active:
                engine.key = (pos[i] >> CHUNK_BITS, idx, pos[i])
                step(c, nodes[i], None, ats[i], (hold, v, None))
        return
    side = c.side(f)
    col = side.col(c.metric)
    if c.aggregate:
        # max and min are one of the values: where none holds, the aggregate does not
        found = (side.owners(hits(col, cmp, th)) if c.agg in SCREEN_AGGS
                 else range(len(f)))
        off = side.off
        for i in engine.candidates(c, f, found):
            v = aggregate(col[off[i]:off[i + 1]], c.agg)
            if v is None:
                continue
            hold = cmp(v, th)
            if hold or ids[i] in active:
                engine.key = (pos[i] >> CHUNK_BITS, idx, pos[i])
                step(c, nodes[i], None, ats[i], (hold, v, None))
        return
    off, for_s = side.off, c.rule.for_s
    for i in engine.candidates(c, f, side.owners(hits(col, cmp, th))):
        node, at, subs, vals = nodes[i], ats[i], side.subject(i), col[off[i]:off[i + 1]]
        act = active.get(ids[i])
        engine.key = (pos[i] >> CHUNK_BITS, idx, pos[i])
        if act is None:
            for s, v in zip(subs, vals, strict=True):
                if v is not None and cmp(v, th):
                    step(c, node, s, at, (True, v, None))
            continue
        for s, v in zip(subs, vals, strict=True):
            if v is None:
                continue
            if cmp(v, th):
                if not held_again(act.get(s), at, v, for_s):
                    step(c, node, s, at, (True, v, None))
            elif s in act:
                step(c, node, s, at, (False, v, None))
        if scope is not Scope.GPU:
            engine.gone(c, node, at, subs)


def _node_up(engine: EngineCore, c: Compiled, everyone: list[NodeState], now: float) -> None:
    """``node.up``: 1 while the node is UP, else 0; known at every evaluation."""
    cmp, th = c.cmp, c.threshold
    assert cmp is not None and th is not None
    match = c.match
    no_data = (NodeStatus.CONNECTING, NodeStatus.LEFT)
    for pos, node in enumerate(everyone):
        if match and not labels_match(node, match):
            continue
        if node.status in no_data:
            continue
        v = 1.0 if node.status == NodeStatus.UP else 0.0
        hold = cmp(v, th)
        if hold or node.node_id in c.active:
            engine.key = (pos >> CHUNK_BITS, c.idx, pos)
            engine.step(c, node, None, now, (hold, v, None))
