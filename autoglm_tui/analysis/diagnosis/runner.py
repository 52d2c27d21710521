"""Diagnosis on every monitor tick, amortised: each analyzer evaluates each node once per its
period, a slice of the nodes per tick, so a large fleet's work is spread evenly; fleet-wide
analyzers run once per period. Pure: the fleet state and `now` in, findings out."""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from autoglm_tui.analysis.diagnosis.config import DiagnosisConfig
from autoglm_tui.analysis.diagnosis.model import Finding
from autoglm_tui.analysis.diagnosis.registry import Analyzer, Context, is_up, selected
from autoglm_tui.analysis.diagnosis.tracker import Change, FindingTracker
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.state import FleetState, StatusChange

if TYPE_CHECKING:
    from autoglm_tui.monitor import Monitor


class DiagnosisRunner:
    """A Monitor tick hook; ``findings`` (worst first) is what the UI reads."""

    def __init__(self, config: DiagnosisConfig | None = None,
                 analyzers: Sequence[Analyzer] | None = None) -> None:
        self.config = config or DiagnosisConfig()
        self.analyzers = list(analyzers) if analyzers is not None else selected()
        self.tracker = FindingTracker(self.config.clear_after_s)
        self.findings: list[Finding] = []
        self.version = 0
        self.now = 0.0
        self.evaluations = 0  # analyzer runs (a node or the fleet each), for benchmarks
        self._last_tick: float | None = None
        self._fleet_due: dict[str, float] = {}
        self._heaps: dict[str, list[tuple[float, str]]] = {}  # analyzer -> (due, node id)
        self._known: dict[str, set[str]] = {}

    def install(self, monitor: Monitor) -> DiagnosisRunner:
        """Run on the monitor's tick, first: the alert pipeline's hook (installed before or
        after) then reads this tick's findings (``kind = "diagnosis"`` rules)."""
        monitor.hooks.insert(0, self.hook)
        monitor.diagnosis = self
        return self

    def reset(self) -> None:
        """Forget everything (the monitor's state was replaced, as by a replay seek)."""
        self.__init__(self.config, self.analyzers)  # type: ignore[misc]

    _STATE = ("tracker", "findings", "version", "now", "evaluations", "_last_tick",
              "_fleet_due", "_heaps", "_known")

    def snapshot(self) -> dict[str, Any]:
        """A copy of everything that moves (for replay checkpoints, taken every few seconds of
        a replay: findings are immutable and shared, the containers are copied)."""
        return _copy_state({k: getattr(self, k) for k in self._STATE})

    def restore(self, snap: dict[str, Any]) -> None:
        for k, v in _copy_state(snap).items():
            setattr(self, k, v)

    # ------------------------------------------------------------------ the hook

    def hook(self, state: FleetState, now: float, changes: list[StatusChange]) -> None:
        self.step(state.nodes, now)

    def step(self, nodes: Mapping[str, NodeState], now: float) -> None:
        """Run what is due at `now`."""
        self.now = now
        elapsed = 0.0 if self._last_tick is None else max(0.0, now - self._last_tick)
        self._last_tick = now
        ctx = Context(nodes, now, self.config)
        for gone in [s for s in self.tracker.scopes()
                     if isinstance(s, tuple) and len(s) == 2 and s[1] not in nodes]:
            self.tracker.drop_scope(gone, now)
        for a in self.analyzers:
            period = a.period(self.config)
            if a.scope == "fleet":
                if now >= self._fleet_due.get(a.name, -math.inf):
                    self._fleet_due[a.name] = now + period
                    self._run(a, ctx, None, period)
                continue
            for node in self._due_nodes(a, nodes, now, elapsed, period):
                self._run(a, ctx, node, period)
        if self.tracker.version != self.version:
            self.version = self.tracker.version
            self.findings = self.tracker.active()

    def _due_nodes(self, a: Analyzer, nodes: Mapping[str, NodeState], now: float,
                   elapsed: float, period: float) -> list[NodeState]:
        """The nodes whose turn has come, at most a fair share per tick (each node once per
        period; a node new to the analyzer gets a turn spread over the first period)."""
        heap = self._heaps.setdefault(a.name, [])
        known = self._known.setdefault(a.name, set())
        fresh = sorted(n for n in nodes if n not in known)
        for rank, node_id in enumerate(fresh):
            known.add(node_id)
            heapq.heappush(heap, (now + period * rank / len(fresh), node_id))
        cap = math.ceil(len(nodes) * min(1.0, elapsed / period if period > 0 else 1.0)) + 1
        out: list[NodeState] = []
        while heap and heap[0][0] <= now and len(out) < cap:
            _, node_id = heapq.heappop(heap)
            node = nodes.get(node_id)
            if node is None:
                known.discard(node_id)  # gone: forgotten here, re-staggered if it returns
                continue
            heapq.heappush(heap, (now + period, node_id))
            out.append(node)
        return out

    def _run(self, a: Analyzer, ctx: Context, node: NodeState | None, period: float) -> None:
        self.evaluations += 1
        if node is None:
            found = a.run_fleet(ctx)
            scope: tuple = (a.name,)
        else:
            found = a.run_node(ctx, node) if is_up(node) else []
            scope = (a.name, node.node_id)
        self.tracker.update(scope, found, ctx.now, a.appear_after(self.config))

    # ------------------------------------------------------------------ what the UI reads

    def for_node(self, node_id: str) -> list[Finding]:
        """Findings about one node (its GPUs, processes and services included), worst first."""
        return [f for f in self.findings if f.subject.node == node_id]

    def counts(self) -> dict[str, int]:
        """Shown findings per node id (what a cluster-row marker reads)."""
        out: dict[str, int] = {}
        for f in self.findings:
            if f.subject.node is not None:
                out[f.subject.node] = out.get(f.subject.node, 0) + 1
        return out

    def drain_changes(self) -> list[Change]:
        """Findings that appeared or cleared since the last call (for alerting)."""
        return self.tracker.drain()


def _copy_state(state: dict[str, Any]) -> dict[str, Any]:
    """A copy of a runner's moving parts (`DiagnosisRunner._STATE`) that shares nothing that
    changes: the tracker and the containers are copied, findings and numbers are immutable."""
    out = dict(state)
    out["tracker"] = state["tracker"].copy()
    out["findings"] = list(state["findings"])
    out["_fleet_due"] = dict(state["_fleet_due"])
    out["_heaps"] = {k: list(v) for k, v in state["_heaps"].items()}
    out["_known"] = {k: set(v) for k, v in state["_known"].items()}
    return out


def diagnose(nodes: Mapping[str, NodeState], now: float, config: DiagnosisConfig | None = None,
             analyzers: Sequence[Analyzer] | None = None) -> list[Finding]:
    """Every analyzer once over the fleet at `now`, no hysteresis: findings worst first."""
    ctx = Context(nodes, now, config)
    out: list[Finding] = []
    for a in (analyzers if analyzers is not None else selected()):
        if a.scope == "fleet":
            out.extend(a.run_fleet(ctx))
        else:
            for node in nodes.values():
                if is_up(node):
                    out.extend(a.run_node(ctx, node))
    return sorted(out, key=Finding.sort_key)
