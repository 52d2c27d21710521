"""A monitor without a UI for the membership tests: the real RegistryWatcher feeding a real
Monitor (FleetState) with the real alert engine as its tick hook, ticked on the wall clock the
way the cluster view's repaint timer does. It records every status change and alert event."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from autoglm_tui.alerting.rule_files import default_rules
from autoglm_tui.analysis.alerts import AlertEngine, AlertEvent, AlertState
from autoglm_tui.analysis.state import FleetState, StatusChange
from autoglm_tui.cluster.backoff import Backoff
from autoglm_tui.cluster.discovery import RegistryWatcher
from autoglm_tui.cluster.etcd_client import EtcdConfig
from autoglm_tui.events import Event, NodeStatus
from autoglm_tui.monitor import Monitor

TICK_S = 0.1


def node_not_up(for_s: float = 1.0) -> Any:
    """The shipped node_not_up rule with a shorter `for` (the tests are short)."""
    rule = next(r for r in default_rules() if r.name == "node_not_up")
    return dataclasses.replace(rule, for_s=for_s)


class MonitorRig:
    """``async with MonitorRig(config, left_linger_s=2) as rig``."""

    def __init__(self, config: EtcdConfig, *, left_linger_s: float = 120.0,
                 for_s: float = 1.0, **watcher_kw: Any) -> None:
        self.state = FleetState(left_linger_s=left_linger_s)
        self.monitor = Monitor(self.state)
        self.engine = AlertEngine([node_not_up(for_s)])
        self.events: list[Event] = []
        self.changes: list[StatusChange] = []
        self.alert_events: list[AlertEvent] = []
        self.monitor.hooks.append(self._hook)
        watcher_kw.setdefault("backoff", Backoff(base=0.2, cap=0.5))
        self.watcher = RegistryWatcher(config, self._emit, **watcher_kw)
        self._tasks: list[asyncio.Task[None]] = []

    def _emit(self, event: Event) -> None:
        self.events.append(event)
        self.monitor.apply(event)

    def _hook(self, state: FleetState, now: float, changes: list[StatusChange]) -> None:
        self.changes.extend(changes)
        self.alert_events.extend(self.engine.evaluate(state, now, changes))

    async def _ticker(self) -> None:
        while True:
            self.monitor.tick(time.time())
            await asyncio.sleep(TICK_S)

    async def __aenter__(self) -> MonitorRig:
        self._tasks = [
            asyncio.ensure_future(self.watcher.run()),
            asyncio.ensure_future(self._ticker()),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.watcher.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def until(self, predicate: Callable[[], Any], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            for task in self._tasks:
                if task.done():
                    task.result()  # surface a crash
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)

    async def run_until(self, wall_deadline: float) -> None:
        """Let the monitor run until the wall clock reads `wall_deadline`."""
        await asyncio.sleep(max(0.0, wall_deadline - time.time()))

    def status(self, node_id: str) -> NodeStatus | None:
        node = self.state.nodes.get(node_id)
        return None if node is None else node.status

    def changes_of(self, node_id: str) -> list[tuple[NodeStatus | None, NodeStatus | None]]:
        return [(c.old, c.new) for c in self.changes if c.node_id == node_id]

    def removed(self, node_id: str) -> list[StatusChange]:
        """The node's removals as the tick hooks (the alert engine) saw them."""
        return [c for c in self.changes if c.node_id == node_id and c.new is None]

    def alerts_of(self, node_id: str) -> list[AlertState]:
        return [e.state for e in self.alert_events if e.target.node == node_id]

    def firing(self) -> set[str]:
        return {a.target.node for a in self.engine.firing()}

    def describe(self) -> str:
        nodes = "; ".join(
            f"{n.node_id}: {n.status.value} {n.reason or ''}" for n in self.state.nodes.values()
        )
        recent = "\n".join(repr(e)[:200] for e in self.events[-15:])
        return f"nodes: {nodes}\nchanges: {self.changes[-10:]}\nevents:\n{recent}"
