"""What every monitor screen shares: it repaints from the monitor's state when asked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

from autoglm_tui.analysis.state import FleetState, NodeState
from autoglm_tui.tui.widgets.node_header import NodeHeader

if TYPE_CHECKING:
    from autoglm_tui.tui.app import MonitorApp


class StateScreen(Screen):
    """A screen drawn from the fleet state; the app's repaint timer calls `repaint(now)`."""

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self._painted_version: object = -1

    @property
    def monitor_app(self) -> MonitorApp:
        return self.app  # type: ignore[return-value]

    @property
    def state(self) -> FleetState:
        return self.monitor_app.monitor.state

    def node_state(self, node_id: str) -> NodeState | None:
        return self.state.nodes.get(node_id)

    def repaint(self, now: float, force: bool = False) -> None:
        """Redraw if the state changed since this screen last drew it (or when forced)."""
        alerts = self.monitor_app.monitor.alerts  # alert changes repaint too (pane, counts)
        version = (self.state.version, alerts.version if alerts is not None else 0)
        if not force and version == self._painted_version:
            return
        self._painted_version = version
        self.paint(now)

    def paint_header(self, node_id: str, node: NodeState | None, now: float) -> None:
        """Draw the screen's NodeHeader (status, sampler cost, source errors) for `node`."""
        app = self.monitor_app
        self.query_one(NodeHeader).show(node, now, app.error_text(), app.sampler_cpu_pct(node_id))

    def paint(self, now: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_screen_resume(self) -> None:
        self.repaint(self.monitor_app.clock(), force=True)
