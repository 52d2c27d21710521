"""The engine's core, shared by every rule kind: compiled rules and the alert state machine.

A kind's :meth:`~autoglm_tui.analysis.alerts.kind.RuleKind.evaluate` finds, for each of its
rules, the targets where the condition holds or where the rule already has an alert, sets
:attr:`EngineCore.key` to where that node's events fall in the output, and calls
:meth:`EngineCore.step` with one observation per target. The state machine (pending, firing,
resolved, inactive, ``for`` and ``keep_firing_for``) lives only here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from autoglm_tui.analysis.alerts.frame import NODE_SUBJECTS, Frame, Members, Value
from autoglm_tui.analysis.alerts.kind import kind_of
from autoglm_tui.analysis.alerts.model import Alert, AlertEvent, AlertState, Target
from autoglm_tui.analysis.alerts.rule import OPS, SERVICE_LABELS, Rule
from autoglm_tui.analysis.diagnosis.model import Finding
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.services import ServiceView
from autoglm_tui.metrics import Scope
from autoglm_tui.text import clean

# One observation of a target: (holds, value, detail). holds None means no data.
Outcome = tuple[bool | None, float | None, dict[str, Any] | None]
# Where an event falls in an evaluation's output: (chunk of 16 nodes, rule, node position). The
# events come out as if all rules ran over 16 nodes at a time, in fleet order (the order the
# log has always had; ties in `active()` keep it too), whatever order the rules ran in.
EventKey = tuple[int, int, int]
CHUNK_BITS = 4
FIRST: EventKey = (-1, 0, 0)  # alerts ended because their node left the fleet
LAST: EventKey = (1 << 62, 0, 0)  # label and fleet peer groups, scored after all nodes
SCREEN_AGGS = ("max", "min")  # aggregates that are one of the values they aggregate


def node_key(pos: int, idx: int) -> EventKey:
    """The output position of rule `idx`'s events on the node at fleet position `pos`."""
    return (pos >> CHUNK_BITS, idx, pos)


@dataclass(frozen=True, slots=True)
class Frames:
    """What one evaluation looks at: every node; the UP nodes with a sample new since the last
    evaluation (what metric rules move on); the UP nodes whose sample is not new (label and
    fleet peer groups count them too); the evaluation's time; and the diagnosis findings
    shown now (None when no diagnosis runs: diagnosis rules have no data)."""

    everyone: list[NodeState]
    live: Frame
    unchanged: Frame
    now: float
    findings: Sequence[Finding] | None = None


class Compiled:
    """A rule with what evaluation needs precomputed, and its alerts and kind state per node."""

    __slots__ = ("active", "agg", "aggregate", "clear_reason", "cmp", "idx", "kind", "limit",
                 "match", "metric", "metric_scope", "min_requests", "per_node", "rule",
                 "svc_match", "threshold")

    def __init__(self, idx: int, rule: Rule) -> None:
        self.idx = idx
        self.rule = rule
        self.kind = rule.kind
        self.metric = rule.metric or ""
        self.cmp = OPS.get(rule.op)
        self.threshold = rule.threshold
        self.metric_scope = rule.metric_scope
        self.aggregate = self.metric_scope != Scope.NODE and rule.scope == Scope.NODE
        self.agg = rule.agg
        match = dict(rule.match)
        self.svc_match: tuple[tuple[str, str], ...] | None = None
        if Scope.SERVICE in rule.member_scopes():
            # On a service rule, match keys naming the service pick services; the others
            # are the node's labels.
            self.svc_match = tuple((k, v) for k, v in rule.match if k in SERVICE_LABELS) or None
            match = {k: v for k, v in match.items() if k not in SERVICE_LABELS}
        self.match = match
        self.min_requests = rule.min_requests
        self.clear_reason = "condition cleared"  # why an alert ends when its condition clears
        self.limit = 0.0  # a kind's precomputed bound (peer: z * min_std)
        self.active: dict[str, dict[Any, Alert]] = {}  # node -> subject -> alert
        self.per_node: dict[str, Any] = {}  # node -> the kind's own state (z-score windows)
        kind_of(rule.kind).prepare(self)

    def side(self, f: Frame) -> Members:
        """The GPUs, processes or services of `f` the rule reads (services: those its match
        picks, figures masked by its minimum of requests)."""
        if self.metric_scope is Scope.SERVICE:
            return f.services(self.svc_match, self.min_requests)
        return f.members(self.metric_scope)

    def column(self, f: Frame) -> tuple[list[Value], list[int] | None]:
        """The rule's values on the nodes of `f`, flat, with the offsets that cut them per node
        (None: one value per node, for a node metric or one aggregated per node)."""
        scope = self.metric_scope
        if scope == Scope.NODE:
            return f.node_col(self.metric), None
        side = self.side(f)
        col = side.col(self.metric)
        if self.aggregate:
            agg = self.agg
            return [aggregate(col[x], agg) for x in side.slices()], None
        return col, side.off

    def subjects(self, f: Frame) -> Sequence[Sequence[Any]]:
        """Per node of `f`, the subjects of :meth:`column`'s values."""
        if self.metric_scope == Scope.NODE or self.aggregate:
            return [NODE_SUBJECTS] * len(f)
        return self.side(f).subjects()


class EngineCore:
    """The alert state machine over compiled rules; kinds drive it through :meth:`step`."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = [r for r in rules if r.enabled]
        self.compiled = [Compiled(i, r) for i, r in enumerate(self.rules)]
        self.key: EventKey = FIRST  # where the events being made fall in the output
        self.phase = 0.0  # spreads the bucket edges of z-score windows
        self._events: list[tuple[EventKey, AlertEvent]] = []
        self._resolved_new: list[tuple[EventKey, Alert]] = []

    def candidates(self, c: Compiled, f: Frame, found: Iterable[int]) -> list[int]:
        """Frame indices to visit, ascending: `found` (ascending: where the condition may hold)
        and the nodes where the rule has an alert, less the nodes its labels do not match."""
        out = list(found)
        if c.active:
            index = f.index
            extra = [i for i in map(index.get, c.active) if i is not None]
            if extra:
                out = sorted(set(out).union(extra))
        if c.match and out:
            nodes, match = f.nodes, c.match
            out = [i for i in out if labels_match(nodes[i], match)]
        return out

    def gone(self, c: Compiled, node: NodeState, at: float, live: Iterable[Any]) -> None:
        """End alerts on processes (services) that a fresh sample no longer lists."""
        act = c.active.get(node.node_id)
        if not act:
            return
        live_set = set(live)
        for s in [s for s in act if s not in live_set]:
            if c.metric_scope is not Scope.SERVICE:
                why = "process exited"
            elif s in node.services:  # listed, but no longer picked by the rule's match
                why = "service no longer matches the rule"
            else:
                why = "service gone"
            self.end(act[s], at, why)

    def step(
        self,
        c: Compiled,
        node: NodeState | None,
        subject: Any,
        at: float,
        outcome: Outcome,
        start: float | None = None,
        target: Target | None = None,
    ) -> None:
        """Move one target's alert on one observation made at time `at`. A kind whose
        targets are not a node's own subjects (diagnosis findings) passes `target`, and
        `node` may then be None (a group or the fleet)."""
        hold, value, detail = outcome
        if hold is None:  # no data: nothing moves
            return
        nid = target.node if target is not None else node.node_id  # type: ignore[union-attr]
        act = c.active.get(nid)
        alert = act.get(subject) if act else None
        rule = c.rule
        events = self._events
        if alert is None:
            if not hold:
                return
            if target is None:
                scope = Scope.NODE if c.aggregate else c.metric_scope
                target = make_target(nid, subject, scope)
            begin = at if start is None else start
            alert = Alert(rule=rule, target=target, state=AlertState.PENDING,
                          active_since=begin, last_true=at, value=value, held_value=value,
                          rule_index=c.idx)
            if node is not None:
                if target.pid is not None:
                    info = node.proc_info.get(target.pid)
                    if info is not None:
                        alert.command = clean(info.cmdline or info.name, 200)
                elif target.service is not None:
                    view = node.services.get(target.service)
                    if view is not None:
                        alert.annotations = service_annotations(view)
            if detail:
                alert.detail = detail
            if act is None:
                act = c.active[nid] = {}
            act[subject] = alert
            if at - begin >= rule.for_s:
                alert.state = AlertState.FIRING
                alert.fired_at = at
                events.append((self.key, alert.event(at, AlertState.FIRING)))
            else:
                events.append((self.key, alert.event(at, AlertState.PENDING)))
            return
        if alert.restored_summary is not None:
            alert.restored_summary = None  # observed again: the summary is its own from now on
        if value is not None:
            alert.value = value
        if detail and (hold or not alert.detail):
            alert.detail = detail
        if hold:
            alert.last_true = at
            alert.false_since = None
            alert.held_value = value
            if alert.state == AlertState.PENDING and at - alert.active_since >= rule.for_s:
                alert.state = AlertState.FIRING
                alert.fired_at = at
                events.append((self.key, alert.event(at, AlertState.FIRING)))
            return
        if alert.false_since is None:
            alert.false_since = at
        if alert.state == AlertState.PENDING or at - alert.false_since >= rule.keep_firing_for_s:
            self.end(alert, at, c.clear_reason)

    def end(self, alert: Alert, at: float, reason: str) -> None:
        """End an alert: firing -> resolved, pending -> inactive."""
        c = self.compiled[alert.rule_index]
        act = c.active.get(alert.target.node)
        if act is not None:
            for subject, a in list(act.items()):
                if a is alert:
                    del act[subject]
            if not act:
                del c.active[alert.target.node]
        alert.resolved_at = at
        alert.reason = reason
        if alert.state == AlertState.FIRING:
            alert.state = AlertState.RESOLVED
            self._resolved_new.append((self.key, alert))
            self._events.append((self.key, alert.event(at, AlertState.RESOLVED)))
        else:
            alert.state = AlertState.INACTIVE
            self._events.append((self.key, alert.event(at, AlertState.INACTIVE)))


def held_again(alert: Alert | None, at: float, value: float, for_s: float) -> bool:
    """:meth:`EngineCore.step` of an observation where the condition holds (no detail) on a
    target whose alert stays as it is: firing, or pending with its ``for`` not yet run out,
    and not restored from the log. Records the value and time and says True; False (nothing
    done) for every other case, which ``step`` then takes. Thousands of alerts of a busy fleet
    are held again every tick: this is their path, without step's checks."""
    if (alert is None or alert.restored_summary is not None
            or (alert.state is not AlertState.FIRING
                and at - alert.active_since >= for_s)):
        return False
    alert.value = alert.held_value = value
    alert.last_true = at
    alert.false_since = None
    return True


def make_target(node: str, subject: Any, scope: Scope) -> Target:
    if subject is None or scope == Scope.NODE:
        return Target(node)
    if scope == Scope.GPU:
        return Target(node, gpu=subject)
    if scope == Scope.SERVICE:
        return Target(node, service=subject)
    return Target(node, pid=subject)


def service_annotations(view: ServiceView) -> dict[str, str]:
    """What a service alert says about its service beside the summary: model and kind, and
    why it is down when it is."""
    out = {"service_kind": clean(view.kind, 40)}
    if view.model:
        out["model"] = clean(view.model, 200)
    if not view.up and view.error:
        out["service_error"] = clean(view.error, 200)
    return out


def labels_match(node: NodeState, match: dict[str, str]) -> bool:
    labels = node.labels
    return all(labels.get(k) == v for k, v in match.items())


def aggregate(vals: Iterable[float | None], agg: str) -> float | None:
    """max, min, sum or avg of the known values (None when none is known)."""
    known = [v for v in vals if v is not None]
    if not known:
        return None
    if agg == "max":
        return max(known)
    if agg == "min":
        return min(known)
    if agg == "sum":
        return math.fsum(known)
    return math.fsum(known) / len(known)
