"""The node and process screens of cluster mode: the local view's screens, for a remote node.

They add what cluster mode needs on top of the node and process screens of the local view:
the breadcrumb, the `:` command line, a banner when the node is not live (STALE, UNREACHABLE,
LEFT, removed), and a way down to a GPU (a digit, `G`, `:gpu N`, or a click on a GPU line).
A node that leaves never closes its screen: the last figures stay, and the banner says so.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from autoglm_tui.analysis.state import NodeState
from autoglm_tui.model import ProcSample
from autoglm_tui.text import clean
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.screens.gpu import GpuScreen
from autoglm_tui.tui.screens.nav import NAV_BINDINGS, ClusterNav, liveness
from autoglm_tui.tui.screens.node import NodeScreen
from autoglm_tui.tui.screens.process import ProcessScreen
from autoglm_tui.tui.widgets.command_line import CommandLine
from autoglm_tui.tui.widgets.process_table import ProcessTable


class KeptNode:
    """Remembers the last state of one node, so a screen outlives the node's removal."""

    def __init__(self) -> None:
        self.node: NodeState | None = None
        self.removed = False

    def get(self, live: NodeState | None) -> NodeState | None:
        if live is not None:
            self.node, self.removed = live, False
            return live
        self.removed = self.node is not None
        return self.node


def paint_banner(screen: Any, node_id: str, kept: KeptNode, now: float) -> None:
    """Show or hide the screen's liveness banner."""
    p = Palette.from_variables(screen.app.theme_variables)
    text = liveness(kept.node, node_id, now, p, removed=kept.removed)
    banner = screen.query_one("#liveness", Static)
    shown = text is not None
    if banner.display != shown:
        banner.display = shown  # re-lays out the screen, only when it appears or goes
    if text is not None:
        banner.update(text, layout=False)  # one fixed line


class ClusterNodeScreen(ClusterNav, NodeScreen):
    """One node of the cluster (the local view's layout, fed by the node's remote sampler)."""

    is_node_screen = True

    BINDINGS = [
        Binding("G", "gpu_prompt", "Open a GPU by index", key_display="G"),
        *NAV_BINDINGS,
    ]

    def __init__(self, node_id: str, *, top: int = 100) -> None:
        super().__init__(node_id, top=top)
        self.kept = KeptNode()

    @property
    def crumb(self) -> str:
        return clean(self.node_id, 64)

    def compose(self) -> ComposeResult:
        yield self.nav_top()
        yield Static(id="liveness", classes="liveness")
        yield from super().compose()
        yield self.nav_bottom()

    def node_state(self, node_id: str) -> NodeState | None:
        return self.kept.get(super().node_state(node_id))

    def paint(self, now: float) -> None:
        super().paint(now)
        paint_banner(self, self.node_id, self.kept, now)

    def focus_main(self) -> None:
        self.query_one(ProcessTable).focus()

    # ------------------------------------------------------------------ down to a GPU

    def gpu_screen(self, index: int) -> GpuScreen:
        return ClusterGpuScreen(self.node_id, index)

    def action_gpu_prompt(self) -> None:
        self.query_one(CommandLine).open("gpu ")

    def on_process_table_open(self, event: ProcessTable.Open) -> None:
        event.stop()
        event.prevent_default()  # the local view's handler would open its own process screen
        proc = event.proc
        self.app.push_screen(ClusterProcessScreen(self.node_id, proc.pid, proc.create_time))


class ClusterGpuScreen(ClusterNav, GpuScreen):
    """One GPU of a cluster node."""

    BINDINGS = [*NAV_BINDINGS]

    def __init__(self, node_id: str, index: int) -> None:
        super().__init__(node_id, index)
        self.kept = KeptNode()

    @property
    def crumb(self) -> str:
        return f"GPU {self.index}"

    def compose(self) -> ComposeResult:
        yield self.nav_top()
        yield Static(id="liveness", classes="liveness")
        yield from super().compose()
        yield self.nav_bottom()

    def focus_main(self) -> None:
        self.table.focus()

    def node_state(self, node_id: str) -> NodeState | None:
        return self.kept.get(super().node_state(node_id))

    def paint(self, now: float) -> None:
        super().paint(now)
        paint_banner(self, self.node_id, self.kept, now)

    def process_screen(self, proc: ProcSample) -> ProcessScreen:
        return ClusterProcessScreen(self.node_id, proc.pid, proc.create_time)


class ClusterProcessScreen(ClusterNav, ProcessScreen):
    """One process of a cluster node."""

    BINDINGS = [*NAV_BINDINGS]

    def __init__(self, node_id: str, pid: int, create_time: float | None = None) -> None:
        super().__init__(node_id, pid, create_time)
        self.kept = KeptNode()

    @property
    def crumb(self) -> str:
        return f"pid {self.pid}"

    def compose(self) -> ComposeResult:
        yield self.nav_top()
        yield Static(id="liveness", classes="liveness")
        yield from super().compose()
        yield self.nav_bottom()

    def node_state(self, node_id: str) -> NodeState | None:
        return self.kept.get(super().node_state(node_id))

    def paint(self, now: float) -> None:
        super().paint(now)
        paint_banner(self, self.node_id, self.kept, now)
