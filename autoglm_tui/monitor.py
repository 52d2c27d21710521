"""The monitor core: fleet state plus what runs on each tick (alerting), with no UI and no I/O.

The UI owns one ``Monitor``: it calls ``apply`` for each event a source posts and ``tick`` on
its repaint timer, and reads ``state`` (and whatever the tick hooks expose) to draw.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from autoglm_tui.analysis.state import FleetState, StatusChange
from autoglm_tui.events import Event

if TYPE_CHECKING:
    from autoglm_tui.alerting.pipeline import AlertPipeline

TickHook = Callable[[FleetState, float, list[StatusChange]], None]


class Monitor:
    def __init__(self, state: FleetState | None = None) -> None:
        self.state = state or FleetState()
        self.hooks: list[TickHook] = []
        self.status_log: deque[StatusChange] = deque(maxlen=1000)
        self._pending: list[StatusChange] = []
        self.alerts: AlertPipeline | None = None  # set by AlertPipeline.install (alerting on)

    def apply(self, event: Event) -> None:
        self._pending.extend(self.state.apply(event))

    def tick(self, now: float) -> list[StatusChange]:
        """Age the state and run every hook with the status changes since the last tick."""
        changes = self._pending + self.state.tick(now)
        self._pending = []
        self.status_log.extend(changes)
        for hook in self.hooks:
            hook(self.state, now, changes)
        return changes
