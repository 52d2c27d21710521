"""Confirmation before forgetting a node: says what it is and what forgetting does.

Cancel has the focus, so Enter alone does nothing harmful; Esc cancels; Forget must be chosen
(Tab or Left, then Enter, or a click). The dialog dismisses with True only for Forget.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from autoglm_tui import format as fmt
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.events import NodeStatus
from autoglm_tui.text import clean
from autoglm_tui.tui.widgets.liveness import status_reason


def forget_summary(node: NodeState, now: float) -> str:
    """What the node is now, in one line: 'FAILED since 12:03:04 (4m): lost heartbeat'."""
    age = fmt.duration(max(0.0, now - node.status_since))
    since = f" since {fmt.clock_time(node.status_since)} ({age})"
    why = status_reason(node, now)
    reason = f": {why}" if why else ""
    return f"{node.status.value}{since}{reason}"


FORGET_WHAT = {
    NodeStatus.FAILED: (
        "Forgetting removes its member record from the registry: every monitor drops it at "
        "once and its alerts end with the reason 'forgotten by operator'. If its agent comes "
        "back, it registers again."
    ),
    NodeStatus.LEFT: (
        "It left gracefully and would go by itself after the linger time; forgetting removes "
        "it now."
    ),
}


class ForgetDialog(ModalScreen[bool]):
    """Asks whether to forget one node; Cancel is focused."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("left", "app.focus_previous", "Previous choice", show=False),
        Binding("right", "app.focus_next", "Next choice", show=False),
    ]

    def __init__(self, node: NodeState, now: float) -> None:
        super().__init__()
        self.node = node
        self.now = now

    def compose(self) -> ComposeResult:
        node = self.node
        name = clean(node.node_id, 64)
        with Vertical(id="dialog"):
            yield Static(Text(f"Forget node {name}?", style="bold"), id="dialog-title")
            yield Static(Text(forget_summary(node, self.now)), id="dialog-cmd")
            yield Static(Text(FORGET_WHAT.get(node.status, "")), id="dialog-about")
            with Horizontal(id="dialog-buttons"):
                yield Button("Forget", id="forget", variant="error")
                yield Button("Cancel", id="cancel", variant="default")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "forget")

    def action_cancel(self) -> None:
        self.dismiss(False)
