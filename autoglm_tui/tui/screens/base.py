"""What every monitor screen shares: it repaints from the state, and wears the navigation chrome.

A screen reads the monitor's fleet state and never writes it; the app's repaint timer calls
``repaint(now)``, which redraws only when the state (or the alerts) moved. A screen says where
the user wants to go by posting intents (tui/intents.py) and never imports another screen.

In cluster mode every screen gets the same chrome from here: the breadcrumb on top, a liveness
banner on the screens of one node, the `:` command line at the bottom. In both modes a screen
gets the sink banner, shown while the alert log or the silences file cannot be written. A new
screen subclasses :class:`StateScreen`, yields its widgets from ``compose_body`` and draws in
``paint``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input

from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.monitor import Monitor
from autoglm_tui.tui.intents import Back, Intent
from autoglm_tui.tui.screens.commands import command_values, commands_for, run_command
from autoglm_tui.tui.widgets.breadcrumb import Breadcrumb
from autoglm_tui.tui.widgets.command_line import CommandError, CommandLine
from autoglm_tui.tui.widgets.liveness import KeptNode, LivenessBanner
from autoglm_tui.tui.widgets.node_header import NodeHeader
from autoglm_tui.tui.widgets.replay_bar import ReplayBar
from autoglm_tui.tui.widgets.sink_banner import SinkBanner


class MonitorHost(Protocol):
    """What screens read from the app (tui/app.py's MonitorApp)."""

    monitor: Monitor
    clock: Callable[[], float]
    cluster_mode: bool
    process_top: int

    def error_text(self) -> str | None: ...

    def data_hint(self, data_s: float) -> str | None: ...


CLUSTER_ONLY = frozenset({"command", "gpu_prompt"})  # actions that need the command line
# Keys that open a text box are priority bindings, run as the key is read, so the letters typed
# right after them land in the box (an ordinary binding runs later, after those letters were
# handed to the table); while a text box has the focus, they are typed into it instead.
TEXT_ENTRY = frozenset({"command", "gpu_prompt", "filter"})


# The sort keys of a screen with a sortable table (its screen has cycle_sort and reverse).
SORT_BINDINGS = [
    Binding("less_than_sign", "cycle_sort(-1)", "Previous sort column", key_display="<",
            show=False),
    Binding("greater_than_sign", "cycle_sort(1)", "Sort", key_display=">",
            tooltip="next sort column"),
    Binding("r", "reverse", "Reverse sort", show=False),
]


class StateScreen(Screen):
    """A screen drawn from the fleet state; the app's repaint timer calls `repaint(now)`."""

    BINDINGS = [
        Binding("colon", "command", "Command", key_display=":", priority=True,
                tooltip=":nodes :gpus :node NAME … (Tab completes)"),
    ]

    node_id: str | None = None  # set by the screens of one node (banner, `:gpu INDEX`)
    sort_columns: Sequence[str] = ()  # what `:sort` completes
    age_every_s: float | None = None  # repaint at least this often, even with no new data

    def __init__(self) -> None:
        super().__init__()
        self.place: Intent | None = None  # set by the navigator: where this screen is
        self.ready = False
        self.kept = KeptNode()
        self._painted_version: object = -1
        self._painted_at = -1e18

    # ------------------------------------------------------------------ what the app offers

    @property
    def monitor_app(self) -> MonitorHost:
        return cast(MonitorHost, self.app)

    @property
    def state(self) -> FleetState:
        return self.monitor_app.monitor.state

    @property
    def cluster_mode(self) -> bool:
        return bool(getattr(self.app, "cluster_mode", False))

    def node_state(self, node_id: str) -> NodeState | None:
        """The node's state; after it was removed from the fleet, its last state (`kept`)."""
        return self.kept.get(self.state.nodes.get(node_id))

    def go(self, intent: Intent) -> None:
        """Ask the navigator to take the user somewhere."""
        self.post_message(intent)

    def action_back(self) -> None:
        self.go(Back())

    # ------------------------------------------------------------------ layout

    @property
    def replay_mode(self) -> bool:
        """A replay (`autoglm-tui replay`): the timeline bar and the `:` line on every screen."""
        return getattr(self.app, "replay", None) is not None

    @property
    def has_command_line(self) -> bool:
        return self.cluster_mode or self.replay_mode

    def compose(self) -> ComposeResult:
        chrome = self.cluster_mode
        if chrome:
            yield Breadcrumb(classes="breadcrumb")
            if self.node_id is not None:
                yield LivenessBanner(id="liveness", classes="liveness")
        yield SinkBanner(id="sink-banner", classes="sink-banner")
        yield from self.compose_body()
        if self.has_command_line:
            yield CommandLine(commands_for(self.replay_mode), self._command_values,
                              id="command-line")
        if self.replay_mode:  # docked with the footer: always on screen, whatever the body
            with Vertical(id="replay-bottom"):
                yield ReplayBar(id="replay-bar")
                yield Footer()
        else:
            yield Footer()

    def compose_body(self) -> Iterable[Widget]:  # pragma: no cover - abstract
        raise NotImplementedError

    def focus_main(self) -> None:
        """Give the focus to the screen's main widget (override)."""

    def on_mount(self) -> None:
        # Textual calls every class's on_mount, this one last: subclasses are set up by now.
        self.ready = True
        self.focus_main()
        self.repaint(self.monitor_app.clock(), force=True)

    def on_screen_resume(self) -> None:
        self.repaint(self.monitor_app.clock(), force=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in TEXT_ENTRY and isinstance(self.focused, Input):
            return None  # typed into the box that has the focus (shown, but not run)
        # Without the command line its keys are hidden from the footer and help, and do nothing.
        return self.has_command_line or action not in CLUSTER_ONLY

    # ------------------------------------------------------------------ drawing

    def repaint(self, now: float, force: bool = False) -> None:
        """Redraw if the state or the alerts changed since this screen last drew (or when
        forced, or when `age_every_s` has passed)."""
        # `display` turns false once Textual starts taking the screen down (the app exits or
        # the screen is removed): a paint queued just before would find its widgets gone.
        if not self.ready or not self.display:
            return
        alerts = self.monitor_app.monitor.alerts  # alert changes repaint too (pane, counts)
        # The writers' health changes on their own threads: read it at every repaint.
        for banner in self.query(SinkBanner):  # none while the screen is being taken down
            banner.show(alerts.sink_health() if alerts is not None else None)
        version = (self.state.version, alerts.version if alerts is not None else 0)
        due = self.age_every_s is not None and not 0 <= now - self._painted_at < self.age_every_s
        if not force and not due and version == self._painted_version:
            return
        self._painted_version = version
        self._painted_at = now
        self.paint(now)
        if self.node_id is not None and self.cluster_mode:
            self.query_one(LivenessBanner).show(self.node_id, self.kept, now)

    def paint(self, now: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def paint_header(self, node_id: str, node: NodeState | None, now: float) -> None:
        """Draw the screen's NodeHeader (status, sampler and monitor cost, source errors)."""
        app = self.monitor_app
        cost = node.sampler_cpu_pct if node is not None else None
        self.query_one(NodeHeader).show(node, now, app.error_text(), cost,
                                        self.state.monitor_cost)

    # ------------------------------------------------------------------ command line

    def action_command(self) -> None:
        self.query_one(CommandLine).open()

    def _command_values(self, command: str, index: int, args: list[str]) -> list[str]:
        return command_values(cast(Any, self), command, index, args)

    def on_command_line_submitted(self, event: CommandLine.Submitted) -> None:
        event.stop()
        self.focus_main()
        try:
            run_command(self, cast(Any, self), event.value)
        except CommandError as exc:
            self.notify(str(exc), severity="error", timeout=6)

    def on_command_line_closed(self, event: CommandLine.Closed) -> None:
        event.stop()
        self.focus_main()

    # Screens with a table override these three.
    def set_group(self, label: str | None) -> None:
        raise CommandError("grouping works on the node table (:nodes)")

    def set_sort(self, column: str) -> None:
        raise CommandError("this screen has no sortable table")

    def set_filter(self, query: str) -> None:
        raise CommandError("this screen has no filterable table")
