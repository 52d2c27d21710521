"""The alert rule engine (pure: the fleet state and ``now`` in, alert events out).

``AlertEngine(rules).evaluate(state, now, status_changes)`` runs every enabled rule against every
node and returns the state changes it caused, one :class:`AlertEvent` each. States follow
Prometheus: inactive -> pending (the condition holds, ``for`` not yet elapsed) -> firing ->
resolved. A pending alert whose condition clears goes back to inactive (an event with state
``inactive``, so the log shows where the pending ended). ``keep_firing_for`` keeps a firing alert
firing that long after its condition last held, so a noisy value does not flap.

Missing data is not zero: when a node is not UP, a value is unknown (None), or a GPU drops out
of a sample, the rule has "no data" for that target and nothing changes, neither firing nor
resolving. Two things do end an alert without data: the process it names is no longer listed in
a fresh sample (it exited), or the node is removed from the fleet.

Dynamic rules keep a compact sliding window per target (time buckets of count, sum and sum of
squares) fed with each new sample as the engine sees it; peer rules compare a value with the
other GPUs of its node, or with the other members of a label group, leaving the value itself out.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from itertools import accumulate, chain, compress, count, repeat
from typing import Any

from autoglm_tui import metrics
from autoglm_tui.analysis.alert_frame import NODE_SUBJECTS, Frame, Layouts, Value, hits
from autoglm_tui.analysis.alert_windows import GOLDEN, Block, Window, z_exceeds, zscore
from autoglm_tui.analysis.rules import OPS, Rule
from autoglm_tui.analysis.state import FleetState, NodeState, StatusChange
from autoglm_tui.events import NodeStatus
from autoglm_tui.format import duration as fmt_duration
from autoglm_tui.metrics import Scope
from autoglm_tui.text import clean


class AlertState(str, Enum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Target:
    """What an alert is about: a node, one of its GPUs, or one of its processes."""

    node: str
    gpu: int | None = None
    pid: int | None = None

    @property
    def subject(self) -> int | None:
        return self.gpu if self.gpu is not None else self.pid

    def __str__(self) -> str:
        if self.gpu is not None:
            return f"{self.node} gpu{self.gpu}"
        if self.pid is not None:
            return f"{self.node} pid {self.pid}"
        return self.node


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One state change of one alert: a line in the alert log, a push to Alertmanager."""

    t: float
    state: AlertState
    rule: str
    severity: str
    target: Target
    value: float | None
    summary: str
    started_at: float
    fired_at: float | None = None
    ended_at: float | None = None
    command: str | None = None
    reason: str | None = None  # why it ended: "condition cleared", "process exited", ...
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.target)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the alert log's line)."""
        return {
            "t": round(self.t, 3),
            "kind": "alert",
            "rule": self.rule,
            "state": self.state.value,
            "severity": self.severity,
            "node": self.target.node,
            "gpu": self.target.gpu,
            "pid": self.target.pid,
            "command": self.command,
            "value": _json_num(self.value),
            "summary": self.summary,
            "started_at": round(self.started_at, 3),
            "fired_at": None if self.fired_at is None else round(self.fired_at, 3),
            "ended_at": None if self.ended_at is None else round(self.ended_at, 3),
            "reason": self.reason,
            "labels": dict(self.labels),
            "id": self.fingerprint,
        }


def fingerprint(rule: str, target: Target) -> str:
    """A stable id for one rule on one target (used by silences and Alertmanager)."""
    return f"{rule}|{target.node}|{'' if target.gpu is None else target.gpu}|" + (
        "" if target.pid is None else str(target.pid)
    )


@dataclass(slots=True)
class Alert:
    """One rule on one target that is pending, firing, or recently resolved."""

    rule: Rule
    target: Target
    state: AlertState
    active_since: float
    last_true: float
    value: float | None = None  # the newest value seen
    held_value: float | None = None  # the newest value while the condition held
    fired_at: float | None = None
    resolved_at: float | None = None
    reason: str | None = None
    command: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    false_since: float | None = None  # first observation where the condition no longer held
    rule_index: int = -1  # the engine's index of the rule (internal)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule.name, self.target)

    @property
    def severity(self) -> str:
        return self.rule.severity

    def labels(self) -> tuple[tuple[str, str], ...]:
        """Alertmanager-style labels: alertname, severity, node, gpu/pid, plus the rule's own."""
        out = {"alertname": self.rule.name, "severity": self.rule.severity,
               "node": self.target.node}
        if self.target.gpu is not None:
            out["gpu"] = str(self.target.gpu)
        if self.target.pid is not None:
            out["pid"] = str(self.target.pid)
        for k, v in self.rule.labels:
            out.setdefault(k, v)
        return tuple(sorted(out.items()))

    def summary(self) -> str:
        """The rule's summary template filled in with the newest value that held (plain text;
        untrusted parts cleaned), so a resolved alert still says what it was about."""
        return render_summary(self)

    def event(self, t: float, state: AlertState) -> AlertEvent:
        return AlertEvent(
            t=t,
            state=state,
            rule=self.rule.name,
            severity=self.rule.severity,
            target=self.target,
            value=self.value,
            summary=self.summary(),
            started_at=self.active_since,
            fired_at=self.fired_at,
            ended_at=self.resolved_at if state in (AlertState.RESOLVED, AlertState.INACTIVE)
            else None,
            command=self.command,
            reason=self.reason if state in (AlertState.RESOLVED, AlertState.INACTIVE) else None,
            labels=self.labels(),
        )


# ---------------------------------------------------------------------------- summaries


class _Value(float):
    """A float that formats itself with its metric's unit when the template gives no spec."""

    unit: str = ""

    def __format__(self, spec: str) -> str:
        if spec:
            return float.__format__(self, spec)
        return _human(float(self), self.unit)


class _Missing:
    """Stands in for an unknown number in a template, whatever the format spec."""

    def __format__(self, spec: str) -> str:
        return "N/A"

    def __str__(self) -> str:
        return "N/A"


def _human(v: float, unit: str) -> str:
    from autoglm_tui import format as fmt

    if unit == "pct":
        return f"{v:.1f}%"
    if unit == "bytes":
        return fmt.bytes_(v)
    if unit == "bytes/s":
        return fmt.rate(v)
    if unit in ("ms", "s", "w", "c"):
        return f"{v:.3g}{unit if unit != 'c' else '°C'}"
    return f"{v:.4g}"


def _wrap(v: float | None, unit: str = "") -> object:
    if v is None or not math.isfinite(v):
        return _Missing()
    out = _Value(v)
    out.unit = unit
    return out


def _default_summary(rule: Rule) -> str:
    if rule.kind == "node":
        return "node {node} is {status}: {reason}"
    if rule.kind == "joint":
        return "{rule} on {target}: {values}"
    if rule.kind == "zscore":
        return "{metric} on {target} is {value} (z={z:.1f} against mean {mean})"
    if rule.kind == "peer":
        return "{metric} on {target} is {value}, peers average {mean} (z={z:.1f})"
    if rule.scope == Scope.PROC:
        return "{metric} of pid {pid} ({command}) on {node} is {value} {op} {threshold}"
    return "{metric} on {target} is {value} {op} {threshold}"


def render_summary(alert: Alert) -> str:
    rule = alert.rule
    unit = metrics.METRICS[rule.metric].unit if rule.metric in metrics.METRICS else ""
    d = alert.detail
    fields: dict[str, object] = {
        "rule": rule.name,
        "node": clean(alert.target.node, 120),
        "gpu": "-" if alert.target.gpu is None else alert.target.gpu,
        "pid": "-" if alert.target.pid is None else alert.target.pid,
        "command": clean(alert.command or "?", 80),
        "target": clean(str(alert.target), 140),
        "metric": rule.metric or rule.kind,
        "value": _wrap(alert.held_value if alert.held_value is not None else alert.value, unit),
        "op": rule.op,
        "threshold": _wrap(rule.threshold, unit),
        "for": fmt_duration(rule.for_s) if rule.for_s else "0s",
        "severity": rule.severity,
        "z": _wrap(d.get("z")),
        "mean": _wrap(d.get("mean"), unit),
        "std": _wrap(d.get("std"), unit),
        "status": clean(d.get("status", "?"), 40),
        "reason": clean(d.get("reason") or "-", 200),
        "values": ", ".join(
            f"{k}={_human(v, metrics.METRICS[k].unit) if v is not None else 'N/A'}"
            for k, v in d.get("values", {}).items()
        ),
    }
    template = rule.summary or _default_summary(rule)
    try:
        return clean(template.format_map(fields), 400)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return clean(_default_summary(rule).format_map(fields), 400)


# ---------------------------------------------------------------------------- the engine

# One observation of a target: (holds, value, detail). holds None means no data.
Outcome = tuple[bool | None, float | None, dict[str, Any] | None]
_IS_KNOWN = partial(operator.is_not, None)
# Where an event falls in an evaluation's output: (chunk of 16 nodes, rule, node position). The
# events come out as if all rules ran over 16 nodes at a time, in fleet order (the order the
# log has always had; ties in `active()` keep it too), whatever order the rules ran in.
EventKey = tuple[int, int, int]
_CHUNK_BITS = 4
_FIRST: EventKey = (-1, 0, 0)  # alerts ended because their node left the fleet
_LAST: EventKey = (1 << 62, 0, 0)  # label and fleet peer groups, scored after all nodes
_SCREEN_AGGS = ("max", "min")  # aggregates that are one of the values they aggregate
_PEER_EPS = 1e-12  # relative slack of the peer screen against rounding in the exact test
_SUBJECTS = operator.attrgetter("subjects")  # Block fields, read in C over many blocks
_START = operator.attrgetter("start")
_END = operator.attrgetter("end")
_COLS = operator.attrgetter("cols")
_STARTS = operator.attrgetter("starts")
_HI = operator.attrgetter("hi")
_LO = operator.attrgetter("lo")


class _Compiled:
    """A rule with what evaluation needs precomputed, and its alerts and windows per node."""

    __slots__ = ("active", "agg", "aggregate", "blocks", "cmp", "idx", "kind", "match",
                 "metric", "metric_scope", "peer_limit", "rule", "threshold", "windows")

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
        self.match = dict(rule.match)
        # Peer rules: on a node whose values span less than z * min_std no member can be more
        # than z deviations from the others (0: no such shortcut).
        self.peer_limit = rule.z * rule.min_std if rule.kind == "peer" else 0.0
        self.active: dict[str, dict[int | None, Alert]] = {}  # node -> subject -> alert
        self.windows: dict[str, dict[int | None, Window]] = {}  # zscore on processes
        self.blocks: dict[str, Block] = {}  # zscore on GPUs or the node: one per node

    def column(self, f: Frame) -> tuple[list[Value], list[int] | None]:
        """The rule's values on the nodes of `f`, flat, with the offsets that cut them per node
        (None: one value per node, for a node metric or one aggregated per node)."""
        scope = self.metric_scope
        if scope == Scope.NODE:
            return f.node_col(self.metric), None
        side = f.members(scope)
        col = side.col(self.metric)
        if self.aggregate:
            agg = self.agg
            return [_aggregate(col[x], agg) for x in side.slices()], None
        return col, side.off

    def subjects(self, f: Frame) -> Sequence[Sequence[Any]]:
        """Per node of `f`, the subjects of :meth:`column`'s values."""
        if self.metric_scope == Scope.NODE or self.aggregate:
            return [NODE_SUBJECTS] * len(f)
        return f.members(self.metric_scope).subjects()


class AlertEngine:
    """Evaluates rules against the fleet state; keeps pending, firing and recently resolved.

    Metric rules run on each node's newest sample and measure ``for`` and
    ``keep_firing_for`` in sample time (when the monitor received it): a rule only moves when
    a new sample arrives, so a node that stops reporting neither fires nor resolves. Node
    rules watch the node's status and measure time with ``now``.

    Each evaluation extracts the values of the nodes with a new sample once (a
    :class:`~autoglm_tui.analysis.alert_frame.Frame`), and each rule scans whole columns for the
    few nodes where its condition can hold; only those, and the nodes where the rule already
    has an alert, are visited one by one.
    """

    def __init__(
        self,
        rules: Iterable[Rule],
        resolved_keep_s: float = 900.0,
        resolved_max: int = 200,
    ) -> None:
        self.rules = [r for r in rules if r.enabled]
        self._compiled = [_Compiled(i, r) for i, r in enumerate(self.rules)]
        self._zscores = [c for c in self._compiled if c.kind == "zscore"]
        self.resolved_keep_s = resolved_keep_s
        self.resolved: deque[Alert] = deque(maxlen=resolved_max)
        self.version = 0  # bumped whenever an alert changes state
        self._last_at: dict[str, float] = {}  # node -> sample time seen at the last evaluation
        self._phase = 0.0  # spreads the bucket edges of z-score windows
        self._gpu_tuples: dict[tuple[int, ...], tuple[int, ...]] = {}
        self._layouts = Layouts()  # what stays the same between ticks (checked each time)
        self._key: EventKey = _FIRST  # where the events being made fall in the output
        self._events: list[tuple[EventKey, AlertEvent]] = []
        self._resolved_new: list[tuple[EventKey, Alert]] = []

    # ------------------------------------------------------------------ views

    def active(self) -> list[Alert]:
        """Pending and firing alerts: firing first, then by severity, then oldest first."""
        out = [a for c in self._compiled for group in c.active.values() for a in group.values()]
        out.sort(key=lambda a: (a.state != AlertState.FIRING,
                                SEVERITY_RANK.get(a.severity, 9), a.active_since))
        return out

    def alerts(self) -> list[Alert]:
        """Firing, then pending, then recently resolved (newest first)."""
        return self.active() + sorted(self.resolved, key=lambda a: -(a.resolved_at or 0))

    def firing(self) -> list[Alert]:
        return [a for a in self.active() if a.state == AlertState.FIRING]

    def counts(self) -> dict[AlertState, int]:
        out = dict.fromkeys((AlertState.FIRING, AlertState.PENDING, AlertState.RESOLVED), 0)
        for c in self._compiled:
            for group in c.active.values():
                for a in group.values():
                    out[a.state] += 1
        out[AlertState.RESOLVED] = len(self.resolved)
        return out

    def for_node(self, node_id: str) -> list[Alert]:
        return [a for a in self.active() if a.target.node == node_id]

    # ------------------------------------------------------------------ evaluation

    def evaluate(
        self,
        state: FleetState,
        now: float,
        status_changes: Sequence[StatusChange] = (),
    ) -> list[AlertEvent]:
        """Run every rule once at time `now`; return the alert state changes, in order."""
        self._events = []
        self._resolved_new = []
        self._key = _FIRST
        nodes = state.nodes
        removed = {c.node_id for c in status_changes if c.new is None}
        for c in self._compiled:
            for node_id in [n for n in c.active if n not in nodes or n in removed]:
                for alert in list(c.active[node_id].values()):
                    self._end(alert, now, "node removed")
            for node_id in [n for n in (*c.windows, *c.blocks) if n not in nodes or n in removed]:
                c.windows.pop(node_id, None)
                c.blocks.pop(node_id, None)
        for node_id in [n for n in self._last_at if n not in nodes or n in removed]:
            del self._last_at[node_id]
        everyone, live, unchanged = self._frames(nodes, now)
        groups: dict[int, dict[str, _Group]] = {}
        for c in self._compiled:
            kind = c.kind
            if kind == "threshold":
                if c.metric == "node.up":
                    self._node_up(c, everyone, now)
                else:
                    self._threshold(c, live)
            elif kind == "peer":
                if c.rule.group == "node":
                    self._peer_nodes(c, live)
                else:
                    self._peer_gather(c, live, unchanged, groups.setdefault(c.idx, {}))
            elif kind == "joint":
                self._joint(c, live)
            elif kind == "node":
                self._node_status(c, everyone, now)
        if self._zscores and len(live):
            self._zscore_rules(live)
        self._key = _LAST
        for idx, by_group in groups.items():
            for group in by_group.values():
                self._peer_group(self._compiled[idx], *group)
        return self._finish(now)

    def _frames(self, nodes: dict[str, NodeState], now: float) -> tuple[
            list[NodeState], Frame, Frame]:
        """All nodes; those UP with a sample new since the last evaluation (what metric rules
        look at); and those UP whose sample is not new (label and fleet peer groups count them)."""
        last_at = self._last_at
        up = NodeStatus.UP
        new_ids: list[str] = []
        new_nodes: list[NodeState] = []
        new_pos: list[int] = []
        new_ats: list[float] = []
        old_ids: list[str] = []
        old_nodes: list[NodeState] = []
        old_pos: list[int] = []
        old_ats: list[float] = []
        for pos, (node_id, node) in enumerate(nodes.items()):
            at = node.last_sample_at
            if at is None:
                at = now
            if last_at.get(node_id) != at:
                last_at[node_id] = at
                if node.last_sample is not None and node.status is up:
                    new_ids.append(node_id)
                    new_nodes.append(node)
                    new_pos.append(pos)
                    new_ats.append(at)
            elif node.last_sample is not None and node.status is up:
                old_ids.append(node_id)
                old_nodes.append(node)
                old_pos.append(pos)
                old_ats.append(at)
        interned, layouts = self._gpu_tuples, self._layouts
        return (list(nodes.values()),
                Frame(new_ids, new_nodes, new_pos, new_ats, interned, layouts, "new"),
                Frame(old_ids, old_nodes, old_pos, old_ats, interned, layouts, "old"))

    def _finish(self, now: float) -> list[AlertEvent]:
        """Put the evaluation's events (and newly resolved alerts) in order."""
        out = self._events
        if len(out) > 1:
            out.sort(key=_event_key)
        if self._resolved_new:
            self._resolved_new.sort(key=_event_key)
            self.resolved.extend(a for _, a in self._resolved_new)
            self._resolved_new = []
        self._expire_resolved(now)
        events = [e for _, e in out]
        self._events = []
        if events:
            self.version += 1
        return events

    def _candidates(self, c: _Compiled, f: Frame, found: Iterable[int]) -> list[int]:
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
            out = [i for i in out if _labels_match(nodes[i], match)]
        return out

    # ------------------------------------------------------------------ rule kinds

    def _threshold(self, c: _Compiled, f: Frame) -> None:
        cmp, th = c.cmp, c.threshold
        assert cmp is not None and th is not None
        if not len(f):
            return
        active, step = c.active, self._step
        ids, nodes, ats, pos, idx = f.ids, f.nodes, f.ats, f.pos, c.idx
        scope = c.metric_scope
        if scope == Scope.NODE:
            col = f.node_col(c.metric)
            for i in self._candidates(c, f, hits(col, cmp, th)):
                v = col[i]
                if v is None:
                    continue  # no data: nothing moves
                hold = cmp(v, th)
                if hold or ids[i] in active:
                    self._key = (pos[i] >> _CHUNK_BITS, idx, pos[i])
                    step(c, nodes[i], None, ats[i], (hold, v, None))
            return
        side = f.members(scope)
        col = side.col(c.metric)
        if c.aggregate:
            # max and min are one of the values: where none holds, the aggregate does not
            found = (side.owners(hits(col, cmp, th)) if c.agg in _SCREEN_AGGS
                     else range(len(f)))
            off = side.off
            for i in self._candidates(c, f, found):
                v = _aggregate(col[off[i]:off[i + 1]], c.agg)
                if v is None:
                    continue
                hold = cmp(v, th)
                if hold or ids[i] in active:
                    self._key = (pos[i] >> _CHUNK_BITS, idx, pos[i])
                    step(c, nodes[i], None, ats[i], (hold, v, None))
            return
        off = side.off
        for i in self._candidates(c, f, side.owners(hits(col, cmp, th))):
            node, at, subs, vals = nodes[i], ats[i], side.subject(i), col[off[i]:off[i + 1]]
            act = active.get(ids[i])
            self._key = (pos[i] >> _CHUNK_BITS, idx, pos[i])
            if act is None:
                for s, v in zip(subs, vals, strict=True):
                    if v is not None and cmp(v, th):
                        step(c, node, s, at, (True, v, None))
                continue
            for s, v in zip(subs, vals, strict=True):
                if v is not None:
                    hold = cmp(v, th)
                    if hold or s in act:
                        step(c, node, s, at, (hold, v, None))
            if scope == Scope.PROC:
                self._gone(c, node, at, subs)

    def _node_up(self, c: _Compiled, everyone: list[NodeState], now: float) -> None:
        """``node.up``: 1 while the node is UP, else 0; known at every evaluation."""
        cmp, th = c.cmp, c.threshold
        assert cmp is not None and th is not None
        match = c.match
        for pos, node in enumerate(everyone):
            if match and not _labels_match(node, match):
                continue
            v = 1.0 if node.status == NodeStatus.UP else 0.0
            hold = cmp(v, th)
            if hold or node.node_id in c.active:
                self._key = (pos >> _CHUNK_BITS, c.idx, pos)
                self._step(c, node, None, now, (hold, v, None))

    def _joint(self, c: _Compiled, f: Frame) -> None:
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
            elif c.aggregate and c.agg not in _SCREEN_AGGS:
                continue
            else:
                side = f.members(c.metric_scope)
                where = side.owners(hits(side.col(cond.metric), cmp, cond.threshold))
            found = set(where) if found is None else found.intersection(where)
            if not found:
                break
        cand = self._candidates(c, f, range(len(f)) if found is None else sorted(found))
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
            self._key = (f.pos[i] >> _CHUNK_BITS, c.idx, f.pos[i])
            for s in targets:
                hold: bool | None = True
                values: dict[str, float | None] = {}
                for cond, on_node in zip(conds, node_scoped, strict=True):
                    if on_node:
                        v = m.get((cond.metric, None))
                    elif c.aggregate:
                        v = _aggregate([m.get((cond.metric, x)) for x in all_subjects],
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
                    self._step(c, node, s, at, (hold, first, {"values": values}))
            if act and scope == Scope.PROC and not c.aggregate:
                self._gone(c, node, at, all_subjects)

    def _zscore_rules(self, f: Frame) -> None:
        """All z-score rules, a chunk of 16 nodes at a time (so new windows take their bucket
        phases in the same order as ever: by chunk, then rule, then node)."""
        prepared = [(c, *c.column(f), c.subjects(f)) for c in self._zscores]
        n = len(f)
        if len(prepared) == 1:
            bounds = [(0, n)]
        else:
            pos = f.pos
            starts = [0, *(i for i in range(1, n)
                           if pos[i] >> _CHUNK_BITS != pos[i - 1] >> _CHUNK_BITS)]
            bounds = list(zip(starts, [*starts[1:], n], strict=True))
        for lo, hi in bounds:
            for c, col, off, subjects in prepared:
                if c.metric_scope == Scope.PROC and not c.aggregate:
                    self._zscore_procs(c, f, range(lo, hi), col, off or [], subjects)
                else:
                    self._zscore_block(c, f, range(lo, hi), col, off, subjects)

    def _zscore_block(
        self, c: _Compiled, f: Frame, span: range, col: list[Value], off: list[int] | None,
        subjects: Sequence[Sequence[Any]],
    ) -> None:
        """Feed nodes `span` of `f` into their windows, then score the values outside their
        bands and those of nodes with an alert. Apart from new windows and rolls (a bucket
        ends), every step runs in C over all the nodes at once."""
        rule = c.rule
        blocks, match = c.blocks, c.match
        starts: Sequence[int] = range(len(f)) if off is None else off
        if match:
            seen = [i for i in span if _labels_match(f.nodes[i], match)]
            if not seen:
                return
            ids: Sequence[str] = [f.ids[i] for i in seen]
            ats: Sequence[float] = [f.ats[i] for i in seen]
            subs = [subjects[i] for i in seen]
        else:
            seen = list(span)
            ids, ats, subs = f.ids[span.start:span.stop], f.ats[span.start:span.stop], \
                subjects[span.start:span.stop]
        blks: list[Block] = list(map(blocks.get, ids))
        try:
            fresh = any(map(operator.is_not, map(_SUBJECTS, blks), subs))
        except AttributeError:  # a node without a window yet
            fresh = True
        if fresh:  # new windows, in node order (each takes the next bucket phase)
            for j, (nid, sub) in enumerate(zip(ids, subs, strict=True)):
                blk = blks[j]
                if blk is None or blk.subjects is not sub:
                    if blk is None or tuple(blk.subjects) != tuple(sub):
                        self._phase = (self._phase + GOLDEN) % 1.0
                        blk = Block(tuple(sub), rule.window_s, rule,
                                    self._phase * rule.window_s)
                    blocks[nid] = blk
                    blk.subjects = sub  # type: ignore[assignment]
                    blks[j] = blk
        # Roll the windows whose bucket does not hold the sample's time, then add each row.
        for j in compress(count(), map(operator.or_, map(operator.gt, map(_START, blks), ats),
                                       map(operator.le, map(_END, blks), ats))):
            blks[j].roll(ats[j])
        firsts = [starts[i] for i in seen] if match else starts[span.start:span.stop]
        any(map(list.append, map(_COLS, blks), repeat(col)))  # Block.add, in C
        any(map(list.append, map(_STARTS, blks), firsts))
        # Values outside their bands, in C over every node fed (the common case: none).
        if off is None:
            fed = [col[i] for i in seen] if match else col[span.start:span.stop]
        elif match:
            slices = f.members(c.metric_scope).slices()
            fed = list(chain.from_iterable(map(col.__getitem__, map(slices.__getitem__, seen))))
        else:
            fed = col[off[span.start]:off[span.stop]]
        try:
            his = list(chain.from_iterable(map(_HI, blks)))
            los = list(chain.from_iterable(map(_LO, blks)))
            if any(map(operator.gt, fed, his)) or any(map(operator.lt, fed, los)):
                flat = [j for j, (v, hi, lo) in enumerate(zip(fed, his, los, strict=True))
                        if v > hi or v < lo]
                width = list(accumulate(map(len, subs), initial=0))
                out = {bisect_right(width, j) - 1 for j in flat}
            else:
                out = set()
        except TypeError:  # an unknown value: every node looks one by one
            out = set(range(len(seen)))
        if c.active:
            out.update(j for j, nid in enumerate(ids) if nid in c.active)
        for j in sorted(out):
            i = seen[j]
            self._zscore_node(c, f, i, blks[j], col, starts[i], subjects)

    def _zscore_node(
        self, c: _Compiled, f: Frame, i: int, blk: Block, col: list[Value], a: int,
        subjects: Sequence[Sequence[Any]],
    ) -> None:
        """Score node i's values against its bands (its row is ``col[a:...]``)."""
        rule = c.rule
        subs = subjects[i]
        vals = col[a:a + len(subs)]
        act = c.active.get(f.ids[i])
        self._key = (f.pos[i] >> _CHUNK_BITS, c.idx, f.pos[i])
        for j, (s, v) in enumerate(zip(subs, vals, strict=True)):
            if v is None:
                continue  # no data
            hold = v > blk.hi[j] or v < blk.lo[j]
            if hold or (act and s in act):
                mean, std = blk.mean[j], blk.std[j]
                sd = std if std > rule.min_std else rule.min_std
                z = (v - mean) / sd if sd > 0 and blk.n[j] else None
                self._step(c, f.nodes[i], s, f.ats[i],
                           (hold, v, {"z": z, "mean": mean, "std": std}))

    def _zscore_procs(
        self, c: _Compiled, f: Frame, span: range, col: list[Value], off: list[int],
        subjects: Sequence[Sequence[Any]],
    ) -> None:
        """Per-process z-scores: processes come and go, so each has its own window."""
        rule = c.rule
        window_s = rule.window_s
        limit, min_n, min_std, direction = rule.z, rule.min_samples, rule.min_std, rule.direction
        step = self._step
        match = c.match
        for i in span:
            node = f.nodes[i]
            if match and not _labels_match(node, match):
                continue
            nid, at, pids, vals = f.ids[i], f.ats[i], subjects[i], col[off[i]:off[i + 1]]
            self._key = (f.pos[i] >> _CHUNK_BITS, c.idx, f.pos[i])
            act = c.active.get(nid)
            wins = c.windows.get(nid)
            if wins is None:
                wins = c.windows[nid] = {}
            for s, v in zip(pids, vals, strict=True):
                if v is None:
                    continue
                w = wins.get(s)
                if w is None:
                    self._phase = (self._phase + GOLDEN) % 1.0
                    w = wins[s] = Window(window_s, phase=self._phase * window_s)
                if w.push(at, v) < min_n:
                    continue  # not enough history yet: no data
                mean, std = w.mean, w.std
                sd = std if std > min_std else min_std
                if sd > 0:
                    z = (v - mean) / sd
                    hold = z_exceeds(z, limit, direction)
                    if hold or (act and s in act):
                        step(c, node, s, at, (hold, v, {"z": z, "mean": mean, "std": std}))
                elif act and s in act:
                    step(c, node, s, at, (False, v, {"z": None, "mean": mean, "std": std}))
            if len(wins) > len(pids):
                live = set(pids)
                for s in [s for s in wins if s not in live]:
                    del wins[s]
            if act:
                self._gone(c, node, at, pids)

    def _peer_nodes(self, c: _Compiled, f: Frame) -> None:
        """Peers within each node (its GPUs or processes), on the nodes with a new sample."""
        if not len(f):
            return
        rule = c.rule
        col, off = c.column(f)
        if off is not None and c.peer_limit > 0:
            found: Iterable[int] = _peer_screen(col, f.members(c.metric_scope).slices(),
                                                c.peer_limit)
        else:
            found = range(len(f))
        for i in self._candidates(c, f, found):
            nid = f.ids[i]
            if off is None:
                subs, vals = NODE_SUBJECTS, [col[i]]
            else:
                subs, vals = f.members(c.metric_scope).subject(i), col[off[i]:off[i + 1]]
            if nid not in c.active and not self._peer_may_fire(rule, vals):
                continue
            node, at = f.nodes[i], f.ats[i]
            known_subs, known = subs, vals
            if None in vals:
                known_subs = [s for s, v in zip(subs, vals, strict=True) if v is not None]
                known = [v for v in vals if v is not None]
            self._key = (f.pos[i] >> _CHUNK_BITS, c.idx, f.pos[i])
            self._peer_group(c, [node] * len(known), known_subs, known, [at] * len(known))
            if c.metric_scope == Scope.PROC and nid in c.active:
                self._gone(c, node, at, subs)

    def _peer_gather(
        self, c: _Compiled, live: Frame, unchanged: Frame, by_group: dict[str, _Group]
    ) -> None:
        """Gather label or fleet groups from every UP node (new sample or not), in fleet order;
        they are scored once all nodes are in."""
        rule = c.rule
        label = rule.group[6:] if rule.group.startswith("label:") else None
        match = c.match
        parts = [f for f in (live, unchanged) if len(f)]
        if not parts:
            return
        entries: Iterable[tuple[int, int, int]]
        if len(parts) == 1:
            entries = zip(parts[0].pos, repeat(0), range(len(parts[0])))
        else:
            entries = sorted(chain(*(zip(f.pos, repeat(j), range(len(f)))
                                     for j, f in enumerate(parts))))
        columns = [(c.column(f), c.subjects(f)) for f in parts]
        for _, j, i in entries:
            f = parts[j]
            node = f.nodes[i]
            if match and not _labels_match(node, match):
                continue
            if label is not None:
                key = node.labels.get(label)
                if key is None:
                    continue
            else:
                key = ""
            group = by_group.get(key)
            if group is None:
                group = by_group[key] = ([], [], [], [])
            (col, off), subjects = columns[j]
            at = f.ats[i]
            if off is None:
                v = col[i]
                if v is not None:
                    group[0].append(node)
                    group[1].append(None)
                    group[2].append(v)
                    group[3].append(at)
                continue
            for s, v in zip(subjects[i], col[off[i]:off[i + 1]], strict=True):
                if v is not None:
                    group[0].append(node)
                    group[1].append(s)
                    group[2].append(v)
                    group[3].append(at)

    @staticmethod
    def _peer_may_fire(rule: Rule, vals: list[float | None]) -> bool:
        """Cheap test on one node's values: could the most extreme one exceed `z`?"""
        known = list(filter(_IS_KNOWN, vals))
        n = len(known)
        if n - 1 < rule.min_samples:
            return False
        k = known[0]
        total = sum(known) - n * k
        total_sq = sum([(x - k) * (x - k) for x in known])
        others = n - 1
        for x in ((max(known),) if rule.direction == "above" else (min(known),)
                  if rule.direction == "below" else (max(known), min(known))):
            x -= k
            mean = (total - x) / others
            var = (total_sq - x * x) / others - mean * mean
            std = math.sqrt(var) if var > 0 else 0.0
            if z_exceeds(zscore(x, mean, std, rule.min_std), rule.z, rule.direction):
                return True
        return False

    def _peer_group(
        self, c: _Compiled, nodes: list[NodeState], subjects: Sequence[int | None],
        vals: list[float], ats: list[float],
    ) -> None:
        """Leave-one-out z of each member (``nodes[j]``, ``subjects[j]``, ``vals[j]`` seen at
        ``ats[j]``) against the rest; only extremes and active alerts are scored (the value
        farthest from the group's mean has the largest |z|)."""
        rule = c.rule
        n = len(vals)
        if n - 1 < rule.min_samples:
            return  # too few peers: no data
        k = vals[0]
        xs = list(map(operator.sub, vals, repeat(k)))
        total = sum(xs)
        total_sq = sum(map(operator.mul, xs, xs))
        candidates = set()
        if rule.direction in ("both", "above"):
            candidates.add(xs.index(max(xs)))  # the first of the largest
        if rule.direction in ("both", "below"):
            candidates.add(xs.index(min(xs)))
        if c.active:
            for j, (node, s) in enumerate(zip(nodes, subjects, strict=True)):
                act = c.active.get(node.node_id)
                if act and s in act:
                    candidates.add(j)
        others = n - 1
        for j in sorted(candidates):
            node, s, v, at = nodes[j], subjects[j], vals[j], ats[j]
            x = xs[j]
            mean = (total - x) / others
            var = (total_sq - x * x) / others - mean * mean
            std = math.sqrt(var) if var > 0 else 0.0
            z = zscore(x, mean, std, rule.min_std)
            hold = z_exceeds(z, rule.z, rule.direction)
            act = c.active.get(node.node_id)
            if hold or (act and s in act):
                self._step(c, node, s, at, (hold, v, {"z": z, "mean": mean + k, "std": std}))

    def _node_status(self, c: _Compiled, everyone: list[NodeState], now: float) -> None:
        statuses = c.rule.statuses
        match = c.match
        for pos, node in enumerate(everyone):
            if match and not _labels_match(node, match):
                continue
            hold = node.status in statuses
            if hold or node.node_id in c.active:
                detail = {"status": node.status.value, "reason": node.reason}
                self._key = (pos >> _CHUNK_BITS, c.idx, pos)
                self._step(c, node, None, now, (hold, None, detail),
                           start=min(now, node.status_since))

    def _gone(self, c: _Compiled, node: NodeState, at: float, live: Iterable[int]) -> None:
        """End alerts on processes that a fresh sample no longer lists."""
        act = c.active.get(node.node_id)
        if not act:
            return
        live_set = set(live)
        for s in [s for s in act if s not in live_set]:
            self._end(act[s], at, "process exited")

    # ------------------------------------------------------------------ state machine

    def _step(
        self,
        c: _Compiled,
        node: NodeState,
        subject: int | None,
        at: float,
        outcome: Outcome,
        start: float | None = None,
    ) -> None:
        """Move one target's alert on one observation made at time `at`."""
        hold, value, detail = outcome
        if hold is None:  # no data: nothing moves
            return
        act = c.active.get(node.node_id)
        alert = act.get(subject) if act else None
        rule = c.rule
        events = self._events
        if alert is None:
            if not hold:
                return
            scope = Scope.NODE if c.aggregate else c.metric_scope
            target = _target(node.node_id, subject, scope)
            begin = at if start is None else start
            alert = Alert(rule=rule, target=target, state=AlertState.PENDING,
                          active_since=begin, last_true=at, value=value, held_value=value,
                          rule_index=c.idx)
            if target.pid is not None:
                info = node.proc_info.get(target.pid)
                if info is not None:
                    alert.command = clean(info.cmdline or info.name, 200)
            if detail:
                alert.detail = detail
            if act is None:
                act = c.active[node.node_id] = {}
            act[subject] = alert
            if at - begin >= rule.for_s:
                alert.state = AlertState.FIRING
                alert.fired_at = at
                events.append((self._key, alert.event(at, AlertState.FIRING)))
            else:
                events.append((self._key, alert.event(at, AlertState.PENDING)))
            return
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
                events.append((self._key, alert.event(at, AlertState.FIRING)))
            return
        if alert.false_since is None:
            alert.false_since = at
        if alert.state == AlertState.PENDING or at - alert.false_since >= rule.keep_firing_for_s:
            self._end(alert, at, "condition cleared")

    def _end(self, alert: Alert, at: float, reason: str) -> None:
        c = self._compiled[alert.rule_index]
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
            self._resolved_new.append((self._key, alert))
            self._events.append((self._key, alert.event(at, AlertState.RESOLVED)))
        else:
            alert.state = AlertState.INACTIVE
            self._events.append((self._key, alert.event(at, AlertState.INACTIVE)))

    def _expire_resolved(self, now: float) -> None:
        while self.resolved and now - (self.resolved[0].resolved_at or now) > self.resolved_keep_s:
            self.resolved.popleft()


# ---------------------------------------------------------------------------- helpers

# A label or fleet peer group: its members' nodes, subjects, values and sample times.
_Group = tuple[list[NodeState], list["int | None"], list[float], list[float]]


def _event_key(item: tuple[Any, ...]) -> Any:
    return item[0]


def _peer_screen(col: list[Value], slices: list[slice], limit: float) -> list[int]:
    """Nodes (ascending) whose values (``col[slices[i]]``) span at least `limit` =
    z * min_std, less a slack for rounding: on the others no member's leave-one-out |z| can
    exceed z."""
    try:  # in C while every node has members and no unknown value
        rows = list(map(col.__getitem__, slices))
        his = list(map(max, rows))
        los = list(map(min, rows))
        spans = list(map(operator.sub, his, los))
        if not math.isfinite(sum(spans)):
            raise ValueError("not finite")
    except (TypeError, ValueError):
        return [i for i, x in enumerate(slices) if _span_may_reach(col[x], limit)]
    big = max(max(map(abs, his)), max(map(abs, los)))
    width = max(map(len, rows))
    cut = limit - _PEER_EPS * (limit + 2 * width * big)
    return list(compress(count(), map(operator.ge, spans, repeat(cut))))


def _span_may_reach(row: list[Value], limit: float) -> bool:
    """One node's version of :func:`_peer_screen` (unknown values left out)."""
    known = [v for v in row if v is not None]
    if len(known) < 2:
        return False  # a lone value has no peers
    hi, lo = max(known), min(known)
    cut = limit - _PEER_EPS * (limit + 2 * len(known) * max(abs(hi), abs(lo)))
    return not hi - lo < cut  # NaN: let the exact test decide


def _target(node: str, subject: int | None, scope: Scope) -> Target:
    if subject is None or scope == Scope.NODE:
        return Target(node)
    if scope == Scope.GPU:
        return Target(node, gpu=subject)
    return Target(node, pid=subject)


def _labels_match(node: NodeState, match: dict[str, str]) -> bool:
    labels = node.labels
    return all(labels.get(k) == v for k, v in match.items())


def _aggregate(vals: Iterable[float | None], agg: str) -> float | None:
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


def _json_num(v: float | None) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return round(v, 6)
