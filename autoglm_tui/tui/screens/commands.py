"""The `:` command line's commands (cluster mode): what each does, and argument completion.

Navigation commands post intents with ``reset=True`` (k9s style: `:nodes` goes back to the node
table, `:node NAME` opens that node on top of it, `:gpu NODE INDEX` opens node then GPU); the
table commands (`:sort`, `:filter`, `:group`) call the screen's ``set_sort``, ``set_filter``,
``set_group``. Nothing here imports a screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from textual.screen import Screen

from autoglm_tui.analysis.aggregate import label_keys
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.query import field_names
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import NodeStatus
from autoglm_tui.text import clean
from autoglm_tui.tui.intents import (
    OpenAlerts,
    OpenDiagnosis,
    OpenGpu,
    OpenGpus,
    OpenNode,
    OpenNodes,
    OpenService,
    OpenServices,
)
from autoglm_tui.tui.messages import ForgetRequest, ReplayGoto
from autoglm_tui.tui.widgets.command_line import Command, CommandError, parse

COMMANDS: tuple[Command, ...] = (
    Command("nodes", (), "the node table"),
    Command("gpus", (), "every GPU of the cluster, stragglers marked"),
    Command("alerts", (), "alerts firing, pending and resolved"),
    Command("node", ("NAME",), "open a node's screen"),
    Command("diagnose", ("[NODE]",), "findings, worst first: the fleet's, or a node's"),
    Command("gpu", ("NODE", "INDEX"), "open a GPU (on a node's screens: gpu INDEX)"),
    Command("services", (), "every inference service of the fleet, sortable"),
    Command("service", ("NODE", "ID"), "open a service (on a node's screens: service ID)"),
    Command("forget", ("NODE",), "forget a FAILED or LEFT node for every monitor (asks first)"),
    Command("group", ("LABEL",), "group the node table by a label ('off' ungroups)"),
    Command("sort", ("COLUMN",), "sort the table by a column (again: reverse)"),
    Command("filter", ("QUERY",), "filter rows, e.g. gpu.util>80 & label.zone=a ('' clears)"),
    Command("help", (), "every key of this screen"),
    Command("quit", (), "leave autoglm-tui", aliases=("q", "exit")),
)
# Offered only in a replay (`autoglm-tui replay`), where the timeline can move.
REPLAY_COMMANDS: tuple[Command, ...] = (
    Command("goto", ("TIME",), "replay: go to 03:12:40, +5m (from the start), -2m (from the end)"),
)


def commands_for(replay: bool) -> tuple[Command, ...]:
    """The commands of the `:` line: the replay's too when replaying."""
    return (*COMMANDS, *REPLAY_COMMANDS) if replay else COMMANDS


class CommandTarget(Protocol):
    """What a screen offers the command line."""

    node_id: str | None
    sort_columns: Sequence[str]

    @property
    def state(self) -> FleetState: ...

    def set_group(self, label: str | None) -> None: ...

    def set_sort(self, column: str) -> None: ...

    def set_filter(self, query: str) -> None: ...


def find_node(nodes: dict[str, NodeState], name: str) -> str | None:
    """The node id the user means: exact, else the one whose printable form is `name`."""
    if name in nodes:
        return name
    matches = [n for n in nodes if clean(n, 128) == name]
    return matches[0] if len(matches) == 1 else None


def command_values(target: CommandTarget, command: str, index: int, args: list[str]) -> list[str]:
    """Completion values for argument `index` of `command`, on `target`'s screen."""
    nodes = target.state.nodes
    names = sorted(clean(n, 128) for n in nodes)  # what the user can see and type
    if command in ("node", "diagnose") and index == 0:
        return names
    if command == "forget" and index == 0:  # the nodes that can be forgotten
        return sorted(clean(n, 128) for n, node in nodes.items()
                      if node.status in (NodeStatus.FAILED, NodeStatus.LEFT))
    if command == "gpu":
        here = nodes.get(target.node_id) if target.node_id is not None else None
        if index == 0:
            return [str(i) for i in (here.gpu_indices() if here else [])] + names
        if index == 1 and args:
            found = nodes.get(find_node(nodes, args[0]) or "")
            return [str(i) for i in (found.gpu_indices() if found else [])]
    if command == "service":
        here = nodes.get(target.node_id) if target.node_id is not None else None
        if index == 0:
            return [clean(s, 128) for s in (here.services if here else ())] + names
        if index == 1 and args:
            found = nodes.get(find_node(nodes, args[0]) or "")
            return [clean(s, 128) for s in (found.services if found else ())]
    if command == "group" and index == 0:
        return ["off", *label_keys(nodes.values())]
    if command == "sort" and index == 0:
        return list(target.sort_columns)
    if command == "filter" and index == 0:
        return field_names()
    return []


def run_command(screen: Screen[Any], target: CommandTarget, text: str) -> None:
    """Run one command line on behalf of `screen`; CommandError says what is wrong."""
    cmd, args = parse(text, commands_for(getattr(screen.app, "replay", None) is not None))
    nodes = target.state.nodes
    if len(args) > len(cmd.args) and cmd.name != "filter":
        raise CommandError(f"usage: :{cmd.usage}")
    if cmd.name == "nodes":
        screen.post_message(OpenNodes(reset=True))
    elif cmd.name == "gpus":
        screen.post_message(OpenGpus(reset=True))
    elif cmd.name == "alerts":
        screen.post_message(OpenAlerts(reset=True))
    elif cmd.name == "node":
        if not args:
            raise CommandError("usage: :node NAME (Tab completes)")
        node_id = find_node(nodes, args[0])
        if node_id is None:
            raise CommandError(f"no node {clean(args[0], 64)!r} (Tab completes)")
        screen.post_message(OpenNode(node_id, reset=True))
    elif cmd.name == "diagnose":
        found: str | None = None
        if args:
            found = find_node(nodes, args[0])
            if found is None:
                raise CommandError(f"no node {clean(args[0], 64)!r} (Tab completes)")
        screen.post_message(OpenDiagnosis(found, reset=True))
    elif cmd.name == "goto":
        if getattr(screen.app, "replay", None) is None:
            raise CommandError(":goto moves a replay (autoglm-tui replay FILE)")
        if not args:
            raise CommandError("usage: :goto TIME (03:12:40, 03:12:40Z for UTC, +5m, -2m)")
        screen.post_message(ReplayGoto(args[0]))
    elif cmd.name == "gpu":
        node_id, index = gpu_args(nodes, target.node_id, args)
        screen.post_message(OpenGpu(node_id, index, reset=True))
    elif cmd.name == "services":
        screen.post_message(OpenServices(reset=True))
    elif cmd.name == "service":
        node_id, service_id = service_args(nodes, target.node_id, args)
        screen.post_message(OpenService(node_id, service_id, reset=True))
    elif cmd.name == "forget":
        name = args[0] if args else target.node_id
        if name is None:
            raise CommandError("usage: :forget NODE (Tab completes the FAILED and LEFT nodes)")
        node_id = find_node(nodes, name)
        if node_id is None:
            raise CommandError(f"no node {clean(name, 64)!r} (Tab completes)")
        screen.post_message(ForgetRequest(node_id))  # the app asks first
    elif cmd.name == "group":
        target.set_group(None if not args or args[0] == "off" else args[0])
    elif cmd.name == "sort":
        if not args:
            raise CommandError("usage: :sort COLUMN (Tab completes)")
        target.set_sort(args[0])
    elif cmd.name == "filter":
        target.set_filter(" ".join(args))
    elif cmd.name == "help":
        screen.app.action_help()  # type: ignore[attr-defined]
    elif cmd.name == "quit":
        screen.app.exit(0)


def gpu_args(nodes: dict[str, NodeState], here: str | None, args: list[str]) -> tuple[str, int]:
    """The node and GPU index of `:gpu NODE INDEX` (or `:gpu INDEX` on a node's screens)."""
    if len(args) == 1 and here is not None:
        node_id, index_text = here, args[0]
    elif len(args) == 2:
        node_id, index_text = args
    else:
        raise CommandError("usage: :gpu NODE INDEX (or :gpu INDEX on a node's screen)")
    found = find_node(nodes, node_id)
    if found is None:
        raise CommandError(f"no node {clean(node_id, 64)!r}")
    try:
        index = int(index_text)
    except ValueError:
        raise CommandError(f"GPU index must be a number, not {clean(index_text, 20)!r}") from None
    if index not in nodes[found].gpu_indices():
        raise CommandError(f"{clean(found, 64)} has no GPU {index}")
    return found, index


def find_service(node: NodeState, name: str) -> str | None:
    """The service id the user means on `node`: exact, else the one whose printable form is
    `name`."""
    if name in node.services:
        return name
    matches = [s for s in node.services if clean(s, 128) == name]
    return matches[0] if len(matches) == 1 else None


def service_args(nodes: dict[str, NodeState], here: str | None, args: list[str]
                 ) -> tuple[str, str]:
    """The node and service id of `:service NODE ID` (or `:service ID` on a node's screens)."""
    if len(args) == 1 and here is not None and here in nodes:
        node_id, name = here, args[0]
    elif len(args) == 2:
        node_id, name = args
    else:
        raise CommandError("usage: :service NODE ID (or :service ID on a node's screen; "
                           ":services lists them)")
    found = find_node(nodes, node_id)
    if found is None:
        raise CommandError(f"no node {clean(node_id, 64)!r}")
    sid = find_service(nodes[found], name)
    if sid is None:
        raise CommandError(f"{clean(found, 64)} has no service {clean(name, 64)!r} (Tab "
                           "completes)")
    return found, sid
