"""What every cluster-mode screen shares: the breadcrumb, the `:` command line, liveness banners.

Screens mix in :class:`ClusterNav` and add ``NAV_BINDINGS`` to their own BINDINGS (Textual only
merges bindings of widget classes, not of mixins). Commands go through :func:`run_command`,
which moves along the screen stack the way k9s does: `:nodes` goes back to the cluster table,
`:node NAME` opens that node on top of it, `:gpu NODE INDEX` opens node then GPU.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.binding import Binding
from textual.screen import Screen

from autoglm_tui import format as fmt
from autoglm_tui.analysis.aggregate import label_keys
from autoglm_tui.analysis.state import NodeState
from autoglm_tui.events import NodeStatus
from autoglm_tui.text import clean
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.widgets.breadcrumb import Breadcrumb
from autoglm_tui.tui.widgets.command_line import Command, CommandError, CommandLine, parse

if TYPE_CHECKING:
    from textual.app import App


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    """Settings of cluster mode that screens need to know."""

    allow_remote_actions: bool = False
    left_linger_s: float = 120.0


COMMANDS: tuple[Command, ...] = (
    Command("nodes", (), "the node table"),
    Command("gpus", (), "every GPU of the cluster, stragglers marked"),
    Command("alerts", (), "alerts firing, pending and resolved"),
    Command("node", ("NAME",), "open a node's screen"),
    Command("gpu", ("NODE", "INDEX"), "open a GPU (on a node's screens: gpu INDEX)"),
    Command("group", ("LABEL",), "group the node table by a label ('off' ungroups)"),
    Command("sort", ("COLUMN",), "sort the table by a column (again: reverse)"),
    Command("filter", ("QUERY",), "filter rows, e.g. gpu.util>80 & label.zone=a ('' clears)"),
    Command("help", (), "every key of this screen"),
    Command("quit", (), "leave autoglm-tui", aliases=("q", "exit")),
)

NAV_BINDINGS = [
    Binding("colon", "command", "Command line (:nodes :gpus :node NAME …)", key_display=":"),
]


def options_of(app: App[Any]) -> ClusterOptions:
    opts = getattr(app, "cluster_options", None)
    return opts if isinstance(opts, ClusterOptions) else ClusterOptions()


def alert_counts(app: App[Any]) -> tuple[int, dict[str, int]]:
    """Firing alerts in all, and per node, from the app's alert engine if it has one."""
    engine = getattr(app, "alert_engine", None)
    if engine is None:
        engine = getattr(getattr(app, "monitor", None), "alerts", None)
    firing = getattr(engine, "firing", None)
    if not callable(firing):
        return 0, {}
    try:
        alerts = firing()
    except Exception:  # the table must draw even if alerting misbehaves
        return 0, {}
    per: dict[str, int] = {}
    for a in alerts:
        node = getattr(getattr(a, "target", None), "node", None)
        if isinstance(node, str):
            per[node] = per.get(node, 0) + 1
    return len(alerts), per


def liveness(
    node: NodeState | None, node_id: str, now: float, p: Palette, removed: bool = False
) -> Text | None:
    """A banner saying why a node's figures are not live (None when they are)."""
    name = clean(node_id, 64)
    out = Text(no_wrap=True, overflow="ellipsis")
    if node is None:
        out.append(f"{name} is not in the cluster: it left, or was never registered.",
                   style=f"bold {p.warning}")
        return out
    age = node.age(now)
    old = f"; figures shown are {fmt.duration(age)} old" if age is not None else ""
    reason = f" ({clean(node.reason, 160)})" if node.reason else ""
    if removed:
        out.append(f"{name} left the cluster and was removed from the table",
                   style=f"bold {p.warning}")
        out.append(f"{reason}{old}. Esc goes back.", style=p.warning)
        return out
    status = node.status
    if status is NodeStatus.UP:
        return None
    if status is NodeStatus.LEFT:
        since = time.strftime("%H:%M:%S", time.localtime(node.left_at or node.status_since))
        out.append(f"{name} LEFT the cluster at {since}", style=f"bold {p.warning}")
        out.append(f"{reason}{old}.", style=p.warning)
    elif status is NodeStatus.STALE:
        out.append(f"{name} is STALE", style=f"bold {p.warning}")
        out.append(f": no sample for {fmt.duration(age)}; figures shown are from "
                   f"{_clock(node.last_sample_at)}.", style=p.warning)
    elif status is NodeStatus.UNREACHABLE:
        out.append(f"{name} is UNREACHABLE", style=f"bold {p.error}")
        out.append(f"{reason}{old}; retrying.", style=p.error)
    elif status is NodeStatus.INVALID:
        out.append(f"{name} is INVALID", style=f"bold {p.error}")
        out.append(f"{reason}{old}.", style=p.error)
    else:
        out.append(f"{name}: connecting…{old}", style=p.muted)
    return out


def _clock(t: float | None) -> str:
    return "-" if t is None else time.strftime("%H:%M:%S", time.localtime(t))


def status_reason(node: NodeState, now: float) -> str | None:
    """Why a node has its status, with ages computed now (a STALE reason is not frozen)."""
    if node.status is NodeStatus.STALE:
        return f"no sample for {fmt.duration(node.age(now))}"
    return clean(node.reason, 300) if node.reason else None


class ClusterNav:
    """Mixin for cluster-mode screens: a crumb, the command line and its commands."""

    crumb_text: str = ""

    @property
    def crumb(self) -> str:
        return self.crumb_text

    def nav_top(self) -> Breadcrumb:
        return Breadcrumb(classes="breadcrumb")

    def nav_bottom(self) -> CommandLine:
        return CommandLine(COMMANDS, self.command_values, id="command-line")

    # ------------------------------------------------------------------ command line

    def action_command(self) -> None:
        screen: Any = self
        screen.query_one(CommandLine).open()

    def on_command_line_submitted(self, event: CommandLine.Submitted) -> None:
        event.stop()
        self.focus_main()
        try:
            run_command(self, event.value)  # type: ignore[arg-type]
        except CommandError as exc:
            screen: Any = self
            screen.notify(str(exc), severity="error", timeout=6)

    def on_command_line_closed(self, event: CommandLine.Closed) -> None:
        event.stop()
        self.focus_main()

    def focus_main(self) -> None:
        """Give the focus back to the screen's main widget (override)."""

    def command_values(self, command: str, index: int, args: list[str]) -> Sequence[str]:
        """Completion values for argument `index` of `command`."""
        screen: Any = self
        state = screen.app.monitor.state
        nodes = state.nodes
        names = sorted(clean(n, 128) for n in nodes)  # what the user can see and type
        if command == "node" and index == 0:
            return names
        if command == "gpu":
            here = getattr(self, "node_id", None)
            if index == 0:
                extra = [str(i) for i in _gpu_indices(nodes.get(here))] if here else []
                return extra + names
            if index == 1 and args:
                found = find_node(nodes, args[0])
                return [str(i) for i in _gpu_indices(nodes.get(found or ""))]
        if command == "group" and index == 0:
            return ["off", *label_keys(nodes.values())]
        if command == "sort" and index == 0:
            return list(getattr(self, "sort_columns", ()))
        if command == "filter" and index == 0:
            from autoglm_tui.analysis.query import field_names

            return field_names()
        return []

    # Screens with a table override these three.
    def set_group(self, label: str | None) -> None:
        raise CommandError("grouping works on the node table (:nodes)")

    def set_sort(self, column: str) -> None:
        raise CommandError("this screen has no sortable table")

    def set_filter(self, query: str) -> None:
        raise CommandError("this screen has no filterable table")


def find_node(nodes: dict[str, NodeState], name: str) -> str | None:
    """The node id the user means: exact, else the one whose printable form is `name`."""
    if name in nodes:
        return name
    matches = [n for n in nodes if clean(n, 128) == name]
    return matches[0] if len(matches) == 1 else None


def _gpu_indices(node: NodeState | None) -> list[int]:
    if node is None:
        return []
    if node.last_sample is not None:
        return [g.index for g in node.last_sample.gpus]
    return [g.index for g in node.hello.static.gpus] if node.hello else []


def _to_root(app: App[Any]) -> None:
    """Pop screens until the cluster table is on top (it is never popped)."""
    from autoglm_tui.tui.screens.cluster import ClusterScreen

    stack = app.screen_stack
    if not any(isinstance(s, ClusterScreen) for s in stack):
        return
    for screen in reversed(stack):
        if isinstance(screen, ClusterScreen):
            break
        app.pop_screen()


def open_node(app: App[Any], node_id: str) -> None:
    from autoglm_tui.tui.screens.cluster_node import ClusterNodeScreen

    _to_root(app)
    app.push_screen(ClusterNodeScreen(node_id))


def open_gpu(app: App[Any], node_id: str, index: int, via_node: bool = True) -> None:
    """GPU screen of `node_id` (with the node screen beneath it when `via_node`)."""
    from autoglm_tui.tui.screens.cluster_node import ClusterGpuScreen, ClusterNodeScreen

    if via_node:
        _to_root(app)
        app.push_screen(ClusterNodeScreen(node_id))
    app.push_screen(ClusterGpuScreen(node_id, index))


def run_command(screen: Screen[Any], text: str) -> None:
    """Run one command line on behalf of `screen`; CommandError says what is wrong."""
    app = screen.app
    cmd, args = parse(text, COMMANDS)
    nav: Any = screen
    state = app.monitor.state  # type: ignore[attr-defined]
    if len(args) > len(cmd.args) and cmd.name != "filter":
        raise CommandError(f"usage: :{cmd.usage}")
    if cmd.name == "nodes":
        _to_root(app)
    elif cmd.name == "gpus":
        from autoglm_tui.tui.screens.gpus import GpusScreen

        _to_root(app)
        app.push_screen(GpusScreen())
    elif cmd.name == "alerts":
        open_alerts(app)
    elif cmd.name == "node":
        if not args:
            raise CommandError("usage: :node NAME (Tab completes)")
        node_id = find_node(state.nodes, args[0])
        if node_id is None:
            raise CommandError(f"no node {clean(args[0], 64)!r} (Tab completes)")
        open_node(app, node_id)
    elif cmd.name == "gpu":
        _gpu_command(screen, args)
    elif cmd.name == "group":
        nav.set_group(None if not args or args[0] == "off" else args[0])
    elif cmd.name == "sort":
        if not args:
            raise CommandError("usage: :sort COLUMN (Tab completes)")
        nav.set_sort(args[0])
    elif cmd.name == "filter":
        nav.set_filter(" ".join(args))
    elif cmd.name == "help":
        app.action_help()  # type: ignore[attr-defined]
    elif cmd.name == "quit":
        app.exit(0)


def _gpu_command(screen: Screen[Any], args: list[str]) -> None:
    app = screen.app
    nodes = app.monitor.state.nodes  # type: ignore[attr-defined]
    here = getattr(screen, "node_id", None)
    if len(args) == 1 and here is not None:
        node_id, index_text = here, args[0]
    elif len(args) == 2:
        node_id, index_text = args
    else:
        raise CommandError("usage: :gpu NODE INDEX (or :gpu INDEX on a node's screen)")
    found = find_node(nodes, node_id)
    if found is None:
        raise CommandError(f"no node {clean(node_id, 64)!r}")
    node_id = found
    try:
        index = int(index_text)
    except ValueError:
        raise CommandError(f"GPU index must be a number, not {clean(index_text, 20)!r}") from None
    if index not in _gpu_indices(nodes[node_id]):
        raise CommandError(f"{clean(node_id, 64)} has no GPU {index}")
    if here == node_id and getattr(screen, "is_node_screen", False):
        open_gpu(app, node_id, index, via_node=False)
    else:
        open_gpu(app, node_id, index)


def open_alerts(app: App[Any]) -> None:
    """The alerts screen, if this build has one."""
    try:
        from autoglm_tui.tui.screens import alerts as alerts_mod
    except ImportError:
        raise CommandError("the alerts view is not available in this build") from None
    factory = getattr(alerts_mod, "AlertsScreen", None)
    if factory is None:
        raise CommandError("the alerts view is not available in this build")
    try:
        screen = factory()
    except TypeError as exc:
        raise CommandError(f"cannot open the alerts view: {exc}") from None
    app.push_screen(screen)
