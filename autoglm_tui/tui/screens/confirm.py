"""Confirmation before a signal: names the process, offers TERM / INT / KILL; Cancel has the
focus (Enter cancels, as in htop), Esc cancels."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from autoglm_tui.actions import SIGNALS
from autoglm_tui.model import ProcSample
from autoglm_tui.text import clean
from autoglm_tui.tui.procview import command_of


class SignalDialog(ModalScreen[str | None]):
    """Dismisses with the chosen signal name ("TERM", "INT", "KILL") or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("left", "app.focus_previous", "Previous choice", show=False),
        Binding("right", "app.focus_next", "Next choice", show=False),
    ]

    def __init__(self, proc: ProcSample) -> None:
        super().__init__()
        self.proc = proc

    def compose(self) -> ComposeResult:
        p = self.proc
        with Vertical(id="dialog"):
            yield Static(Text(f"Send a signal to process {p.pid}?", style="bold"),
                         id="dialog-title")
            yield Static(Text(command_of(p)[:500]), id="dialog-cmd")
            about = f"user {clean(p.user, 32)}"
            if p.create_time is not None:
                about += "  ·  started " + time.strftime(
                    "%Y-%m-%d %H:%M:%S", time.localtime(p.create_time)
                )
            yield Static(Text(about), id="dialog-about")
            with Horizontal(id="dialog-buttons"):
                for name in SIGNALS:
                    variant = "error" if name == "KILL" else "warning"
                    yield Button(f"SIG{name}", id=f"sig-{name}", variant=variant)
                yield Button("Cancel", id="cancel", variant="default")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()  # a stray Enter sends nothing

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button_id = event.button.id or ""
        self.dismiss(button_id.removeprefix("sig-") if button_id.startswith("sig-") else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
