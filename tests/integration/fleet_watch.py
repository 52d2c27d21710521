"""Test helper: run the monitor's Runner in the background and read its FleetState."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from autoglm_tui.aio import stop_tasks
from autoglm_tui.analysis.state import FleetState, StatusChange
from autoglm_tui.cluster.runner import Runner, RunnerConfig
from autoglm_tui.events import Event, NodeStatus, SampleReceived


class FleetWatch:
    """``async with FleetWatch(config) as w: await w.until(...)``; closing closes every stream."""

    def __init__(self, config: RunnerConfig) -> None:
        self.state = FleetState()
        self.events: list[Event] = []
        self.changes: list[StatusChange] = []
        self.runner = Runner(config, self._emit)
        self._task: asyncio.Task[None] | None = None

    def _emit(self, event: Event) -> None:
        self.events.append(event)
        self.changes.extend(self.state.apply(event))

    async def __aenter__(self) -> FleetWatch:
        self._task = asyncio.ensure_future(self.runner.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.runner.close()
        if self._task is not None:
            await stop_tasks([self._task])
            self._task = None

    async def until(self, predicate: Callable[[], Any], timeout: float = 20.0) -> bool:
        """Poll (ageing the fleet state as a UI would) until `predicate()` holds or time is up."""
        deadline = time.monotonic() + timeout
        while True:
            self.changes.extend(self.state.tick(time.time()))
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)

    def status(self, node_id: str) -> NodeStatus | None:
        node = self.state.nodes.get(node_id)
        return node.status if node is not None else None

    def reason(self, node_id: str) -> str:
        node = self.state.nodes.get(node_id)
        return (node.reason or "") if node is not None else ""

    def samples(self, node_id: str) -> int:
        return sum(1 for e in self.events if isinstance(e, SampleReceived) and e.node_id == node_id)

    def describe(self) -> str:
        """For assertion messages: every node's status and reason."""
        return "; ".join(
            f"{n.node_id}: {n.status.value} {n.reason or ''}" for n in self.state.nodes.values()
        )
