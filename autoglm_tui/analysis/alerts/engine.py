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

Each kind of rule (``kinds/``) evaluates all its rules at once; the state machine they share is
:class:`~autoglm_tui.analysis.alerts.core.EngineCore`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from autoglm_tui.analysis.alerts.core import FIRST, Compiled, EngineCore, Frames
from autoglm_tui.analysis.alerts.frame import Frame, Layouts
from autoglm_tui.analysis.alerts.kinds import KINDS
from autoglm_tui.analysis.alerts.model import SEVERITY_RANK, Alert, AlertEvent, AlertState
from autoglm_tui.analysis.alerts.rule import Rule
from autoglm_tui.analysis.state import FleetState, NodeState, StatusChange
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

    # ------------------------------------------------------------------ views

    def active(self) -> list[Alert]:
        """Pending and firing alerts: firing first, then by severity, then oldest first."""
        out = [a for c in self.compiled for group in c.active.values() for a in group.values()]
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
    ) -> list[AlertEvent]:
        """Run every rule once at time `now`; return the alert state changes, in order."""
        self._events = []
        self._resolved_new = []
        self.key = FIRST
        nodes = state.nodes
        removed = {c.node_id for c in status_changes if c.new is None}
        for c in self.compiled:
            for node_id in [n for n in c.active if n not in nodes or n in removed]:
                for alert in list(c.active[node_id].values()):
                    self.end(alert, now, "node removed")
            for node_id in [n for n in c.per_node if n not in nodes or n in removed]:
                del c.per_node[node_id]
        for node_id in [n for n in self._last_at if n not in nodes or n in removed]:
            del self._last_at[node_id]
        frames = self._frames(nodes, now)
        for kind, compiled in self._by_kind:
            kind.evaluate(self, compiled, frames)
        return self._finish(now)

    def _frames(self, nodes: dict[str, NodeState], now: float) -> Frames:
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
                      now)

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


def _event_key(item: tuple[Any, ...]) -> Any:
    return item[0]
