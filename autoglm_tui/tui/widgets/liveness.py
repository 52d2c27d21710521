"""Why a node's figures are not live: the banner of its screens, and the memory that keeps them.

A screen of one node (node, GPU, process) never closes under the user: when the node goes
STALE, UNREACHABLE, FAILED or LEFT, or is removed from the fleet, the last figures stay and the
banner says what happened (:class:`KeptNode` remembers the node's last state). An UP node whose
agent lost its heartbeat (samples still flow) gets a warning banner too.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from autoglm_tui import format as fmt
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.events import NodeStatus
from autoglm_tui.text import clean
from autoglm_tui.tui.render import Palette


class KeptNode:
    """Remembers the last state of one node, so a screen outlives the node's removal."""

    def __init__(self) -> None:
        self.node: NodeState | None = None
        self.removed = False

    def get(self, live: NodeState | None) -> NodeState | None:
        """`live` if the node is in the fleet; else its last known state (and `removed`)."""
        if live is not None:
            self.node, self.removed = live, False
            return live
        self.removed = self.node is not None
        return self.node


def heartbeat_why(node: NodeState) -> str:
    """Why the heartbeat was lost, without the words 'lost heartbeat' ('lease expired')."""
    why = clean(node.member_reason or "", 160).removeprefix("lost heartbeat").strip(" :;")
    return why[1:-1] if why.startswith("(") and why.endswith(")") else why


def status_reason(node: NodeState, now: float) -> str | None:
    """Why a node has its status, with ages computed now (a STALE reason is not frozen)."""
    if node.status is NodeStatus.STALE:
        return f"no sample for {fmt.duration(node.age(now))}"
    if node.status is NodeStatus.FAILED:
        lost = node.agent_lost_at if node.agent_lost_at is not None else node.status_since
        out = f"heartbeat lost {fmt.duration(max(0.0, now - lost))} ago"
        why = heartbeat_why(node)
        if why:
            out += f" ({why})"
        if node.data_status is NodeStatus.UNREACHABLE and node.data_reason:
            out += f"; {clean(node.data_reason, 160)}"
        elif node.age(now) is not None:
            out += f"; no sample for {fmt.duration(node.age(now))}"
        return out
    return clean(node.reason, 300) if node.reason else None


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
        if not node.agent_lost:
            return None
        out.append(f"{name}: agent lost at {fmt.clock_time(node.agent_lost_at)}",
                   style=f"bold {p.warning}")
        why = heartbeat_why(node)
        out.append((f" ({why})" if why else "") + ": its heartbeat lapsed but samples still "
                   "flow, so it stays UP. Check the agent on the node.", style=p.warning)
        return out
    if status is NodeStatus.FAILED:
        lost = node.agent_lost_at if node.agent_lost_at is not None else node.status_since
        why = heartbeat_why(node)
        out.append(f"{name} FAILED: heartbeat lost at {fmt.clock_time(lost)}",
                   style=f"bold {p.error}")
        ago = fmt.duration(max(0.0, now - lost)) + " ago" + (f", {why}" if why else "")
        out.append(f" ({ago}); kept with its alerts until it returns or :forget {name}{old}.",
                   style=p.error)
        return out
    if status is NodeStatus.LEFT:
        left = fmt.clock_time(node.left_at or node.status_since)
        out.append(f"{name} LEFT the cluster at {left}",
                   style=f"bold {p.warning}")
        out.append(f"{reason}{old}.", style=p.warning)
    elif status is NodeStatus.STALE:
        out.append(f"{name} is STALE", style=f"bold {p.warning}")
        out.append(f": no sample for {fmt.duration(age)}; figures shown are from "
                   f"{fmt.clock_time(node.last_sample_at)}.", style=p.warning)
    elif status is NodeStatus.UNREACHABLE:
        out.append(f"{name} is UNREACHABLE", style=f"bold {p.error}")
        out.append(f"{reason}{old}; retrying.", style=p.error)
    elif status is NodeStatus.INVALID:
        out.append(f"{name} is INVALID", style=f"bold {p.error}")
        out.append(f"{reason}{old}.", style=p.error)
    else:
        out.append(f"{name}: connecting…{old}", style=p.muted)
    return out


class LivenessBanner(Static):
    """One line above a node's screens, shown only while the node is not live."""

    def show(self, node_id: str, kept: KeptNode, now: float) -> None:
        p = Palette.from_variables(self.app.theme_variables)
        text = liveness(kept.node, node_id, now, p, removed=kept.removed)
        shown = text is not None
        if self.display != shown:
            self.display = shown  # re-lays out the screen, only when it appears or goes
        if text is not None:
            self.update(text, layout=False)  # one fixed line
