"""The alert rule engine (pure: the fleet state and ``now`` in, alert events out).

``AlertEngine(rules).evaluate(state, now, status_changes)`` runs every enabled rule against every
node and returns the state changes it caused, one :class:`AlertEvent` each. States follow
Prometheus: inactive -> pending (the condition holds, ``for`` not yet elapsed) -> firing ->
resolved. A pending alert whose condition clears goes back to inactive (an event with state
``inactive``, so the log shows where the pending ended). ``keep_firing_for`` keeps a firing alert
firing that long after its condition last held, so a noisy value does not flap.

Missing data is not zero: when a node is not UP, a value is unknown (None), or a GPU drops out
of a sample, the rule has "no data" for that target and nothing changes, neither firing nor
resolving. An alert ends only for a reason, which its ending event carries (``reason``): its
condition cleared (a diagnosis alert: its finding cleared); the process or service it names
is no longer listed in a fresh sample ("process exited", "service gone"); its node left
gracefully (a status change to LEFT: "left gracefully"); or its node was removed, with the
removal's own reason ("forgotten by operator", "reaped: FAILED for 72h", ...). A node that
is merely missing from ``state.nodes`` ends nothing.

After a restart, :meth:`AlertEngine.restore` takes back the pending and firing alerts the
previous run logged (the caller reads the log), before the first evaluation. A restored alert
whose node the state does not know yet keeps its state until the node shows up and its rules
decide; if it never shows up within ``restore_grace_s`` (counted while the registry, if any, is
readable), it ends with that reason.

Each kind of rule (``kinds/``) evaluates all its rules at once; the state machine they share is
:class:`~autoglm_tui.analysis.alerts.core.EngineCore`.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import compress, repeat
from operator import attrgetter, eq, is_, is_not
from typing import Any

from autoglm_tui.analysis.alerts.core import FIRST, Compiled, EngineCore, Frames
from autoglm_tui.analysis.alerts.frame import Frame, Layouts
from autoglm_tui.analysis.alerts.kind import kind_of
from autoglm_tui.analysis.alerts.kinds import KINDS
from autoglm_tui.analysis.alerts.model import SEVERITY_RANK, Alert, AlertEvent, AlertState
from autoglm_tui.analysis.alerts.rule import Rule, format_duration
from autoglm_tui.analysis.diagnosis.model import Finding
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.state import FleetState, StatusChange
from autoglm_tui.events import NodeStatus


class AlertEngine(EngineCore):
    """Evaluates rules against the fleet state; keeps pending, firing and recently resolved.

    Metric rules run on each node's newest sample and measure ``for`` and
    ``keep_firing_for`` in sample time (when the monitor received it): a rule only moves when
    a new sample arrives, so a node that stops reporting neither fires nor resolves. Node
    rules watch the node's status and measure time with ``now``.

    Each evaluation extracts the values of the nodes with a new sample once (a
    :class:`~autoglm_tui.analysis.alerts.frame.Frame`), and each rule scans whole columns for
    the few nodes where its condition can hold; only those, and the nodes where the rule
    already has an alert, are visited one by one.
    """

    def __init__(
        self,
        rules: Iterable[Rule],
        resolved_keep_s: float = 900.0,
        resolved_max: int = 200,
        restore_grace_s: float = 300.0,
    ) -> None:
        super().__init__(rules)
        by_kind: dict[str, list[Compiled]] = {}
        for c in self.compiled:
            by_kind.setdefault(c.kind, []).append(c)
        self._by_kind = [(k, by_kind[k.name]) for k in KINDS if k.name in by_kind]
        self.resolved_keep_s = resolved_keep_s
        self.resolved: deque[Alert] = deque(maxlen=resolved_max)
        self.version = 0  # bumped whenever an alert changes state
        self._last_at: dict[str, float] = {}  # node -> sample time seen at the last evaluation
        self._gpu_tuples: dict[tuple[int, ...], tuple[int, ...]] = {}
        self._layouts = Layouts()  # what stays the same between ticks (checked each time)
        self.restore_grace_s = restore_grace_s
        # Nodes with restored alerts that the state has not shown yet -> when restored.
        self.awaiting: dict[str, float] = {}

    # ------------------------------------------------------------------ views

    def active(self) -> list[Alert]:
        """Pending and firing alerts: firing first, then by severity, then oldest first."""
        out = [a for c in self.compiled for group in c.active.values() for a in group.values()]
        # Sorts and splits in C (thousands of alerts in a large fleet): oldest first, then
        # kept in that order within each state and severity (Python's sort is stable).
        out.sort(key=_SINCE)
        states = list(map(_STATE, out))
        firing = list(compress(out, map(is_, states, repeat(AlertState.FIRING))))
        if len(firing) in (0, len(out)):
            return _by_severity(out)
        pending = list(compress(out, map(is_not, states, repeat(AlertState.FIRING))))
        return _by_severity(firing) + _by_severity(pending)

    def alerts(self) -> list[Alert]:
        """Firing, then pending, then recently resolved (newest first)."""
        return self.active() + sorted(self.resolved, key=lambda a: -(a.resolved_at or 0))

    def firing(self) -> list[Alert]:
        return [a for a in self.active() if a.state == AlertState.FIRING]

    def deliverable(self) -> list[Alert]:
        """Firing alerts to keep telling Alertmanager about: all but those restored for a node
        not seen since the restart (this run cannot vouch for them yet)."""
        awaiting = self.awaiting
        return [a for a in self.firing() if a.target.node not in awaiting]

    def counts(self) -> dict[AlertState, int]:
        out = dict.fromkeys((AlertState.FIRING, AlertState.PENDING, AlertState.RESOLVED), 0)
        for c in self.compiled:
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
        findings: Sequence[Finding] | None = None,
    ) -> list[AlertEvent]:
        """Run every rule once at time `now`; return the alert state changes, in order.
        `findings` are the diagnosis findings shown now (``DiagnosisRunner.findings``, after
        the runner's own tick), what ``kind = "diagnosis"`` rules read; None when no
        diagnosis runs (those rules then have no data)."""
        self._events = []
        self._resolved_new = []
        self.key = FIRST
        nodes = state.nodes
        removed: set[str] = set()
        for change in status_changes:
            if change.new is None:
                removed.add(change.node_id)
                self.awaiting.pop(change.node_id, None)
                self.end_node(change.node_id, change.t, change.reason or "removed")
            elif change.new is NodeStatus.LEFT:
                self.end_node(change.node_id, change.t, leave_reason(change.reason),
                              keep=NodeStatus.LEFT)
        if self.awaiting:
            self._check_awaiting(state, now)
        # Memory only (alerts are not touched): kind state and sample times of nodes gone.
        n = len(nodes)
        for c in self.compiled:
            if removed or len(c.per_node) > n:
                for node_id in [x for x in c.per_node if x not in nodes or x in removed]:
                    del c.per_node[node_id]
        if removed or len(self._last_at) > n:
            for node_id in [x for x in self._last_at if x not in nodes or x in removed]:
                del self._last_at[node_id]
        frames = self._frames(nodes, now, findings)
        for kind, compiled in self._by_kind:
            kind.evaluate(self, compiled, frames)
        return self._finish(now)

    def end_node(self, node_id: str, at: float, reason: str,
                 keep: NodeStatus | None = None) -> None:
        """End every alert of one node with `reason`, except node rules that list `keep`
        (a rule that watches LEFT keeps its alert through the leave)."""
        for c in self.compiled:
            act = c.active.get(node_id)
            if not act:
                continue
            if keep is not None and keep in c.rule.statuses and c.kind == "node":
                continue
            for alert in list(act.values()):
                self.end(alert, at, reason)

    def _check_awaiting(self, state: FleetState, now: float) -> None:
        """Restored alerts: a node the state shows is claimed (its rules decide from now on);
        one still unknown after the grace ends its alerts, unless the registry is unreadable
        (then nobody can say it is gone)."""
        nodes, awaiting = state.nodes, self.awaiting
        for node_id in [x for x in awaiting if x in nodes]:
            del awaiting[node_id]
        if not awaiting or state.registry_ok is False:
            return
        grace = self.restore_grace_s
        for node_id in [x for x, since in awaiting.items() if now - since >= grace]:
            del awaiting[node_id]
            self.end_node(node_id, now,
                          f"not seen in {format_duration(grace)} after the monitor restarted")

    # ------------------------------------------------------------------ restart

    def restore(self, events: Iterable[AlertEvent], now: float) -> list[AlertEvent]:
        """Take back the pending and firing alerts a previous run left: for each, the last
        event it logged. Call it before the first evaluation. Each keeps its start and fire
        times, so nothing is paged again, and waits for its node to show up in the state
        (:attr:`awaiting`). Returns the ending events of alerts that cannot come back (their
        rule is no longer loaded, or no longer watches that target), to be logged and sent."""
        by_name = {c.rule.name: c for c in self.compiled}
        out: list[AlertEvent] = []
        taken = 0
        for e in events:
            if e.state not in (AlertState.PENDING, AlertState.FIRING):
                continue
            c = by_name.get(e.rule)
            target = e.target
            why = None
            subject = None
            if c is None:
                why = "rule no longer loaded"
            else:
                watched, subject = kind_of(c.kind).subject_of(c, target)
                if not watched:
                    why = "rule changed: it no longer watches this target"
            if why is not None or c is None:
                ended = (AlertState.RESOLVED if e.state == AlertState.FIRING
                         else AlertState.INACTIVE)
                out.append(dataclasses.replace(e, t=now, state=ended, ended_at=now, reason=why))
                continue
            act = c.active.setdefault(target.node, {})
            if subject in act:
                continue  # listed twice: the first one stands
            firing = e.state == AlertState.FIRING
            act[subject] = Alert(
                rule=c.rule, target=target, state=e.state, active_since=e.started_at,
                last_true=e.t, value=e.value, held_value=e.value,
                fired_at=(e.fired_at if e.fired_at is not None else e.started_at) if firing
                else None,
                command=e.command, rule_index=c.idx, restored_at=now,
                restored_summary=e.summary, annotations=dict(e.annotations),
            )
            if target.node:  # a group's or the fleet's alert waits for no node
                self.awaiting.setdefault(target.node, now)
            taken += 1
        if taken or out:
            self.version += 1
        return out

    def _frames(self, nodes: dict[str, NodeState], now: float,
                findings: Sequence[Finding] | None = None) -> Frames:
        """All nodes; those UP with a sample new since the last evaluation; those UP whose
        sample is not new."""
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
        return Frames(list(nodes.values()),
                      Frame(new_ids, new_nodes, new_pos, new_ats, interned, layouts, "new"),
                      Frame(old_ids, old_nodes, old_pos, old_ats, interned, layouts, "old"),
                      now, findings)

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

    def _expire_resolved(self, now: float) -> None:
        while self.resolved and now - (self.resolved[0].resolved_at or now) > self.resolved_keep_s:
            self.resolved.popleft()


_SINCE = attrgetter("active_since")
_STATE = attrgetter("state")
_SEVERITY = attrgetter("rule.severity")


def _by_severity(alerts: list[Alert]) -> list[Alert]:
    """`alerts` with the most severe first, their order kept within each severity."""
    ranks = list(map(SEVERITY_RANK.get, map(_SEVERITY, alerts), repeat(9)))
    distinct = set(ranks)
    if len(distinct) <= 1:
        return alerts
    out: list[Alert] = []
    for rank in sorted(distinct):
        out += compress(alerts, map(eq, ranks, repeat(rank)))
    return out


def _event_key(item: tuple[Any, ...]) -> Any:
    return item[0]


def leave_reason(reason: str | None) -> str:
    """Why a node's alerts end when it leaves: "left gracefully", "left: removed from the hosts
    file", ..."""
    if not reason:
        return "left gracefully"
    return reason if reason.startswith("left") else f"left: {reason}"
