"""The help screen: every key of the screen underneath, generated from its bindings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


@dataclass(frozen=True, slots=True)
class HelpEntry:
    keys: str
    description: str
    group: str


def help_entries(
    app_display: object, active: Iterable[tuple[str, ActiveBinding]]
) -> list[HelpEntry]:
    """One entry per described binding, grouped by where it is defined (screen, widget, app).

    `app_display` is the app (for ``get_key_display``); `active` is
    ``screen.active_bindings.items()`` taken before the help screen opens.
    """
    seen: dict[tuple[str, str], HelpEntry] = {}
    order: list[tuple[str, str]] = []
    for _key, ab in active:
        b: Binding = ab.binding
        if not b.description or b.system:
            continue
        group = _group(ab)
        ident = (b.description, group)  # one line per thing the user can do
        display = app_display.get_key_display(b)  # type: ignore[attr-defined]
        if ident in seen:  # several keys for one thing: list them together
            old = seen[ident]
            if display not in old.keys.split(" "):
                seen[ident] = HelpEntry(f"{old.keys} {display}", old.description, group)
            continue
        text = f"{b.description}: {b.tooltip}" if b.tooltip else b.description
        seen[ident] = HelpEntry(display, text, group)
        order.append(ident)
    rank = {"screen": 0, "app": 1, "table": 2}
    entries = [seen[i] for i in order]
    return sorted(entries, key=lambda e: rank.get(e.group, 1))


def _group(ab: ActiveBinding) -> str:
    from textual.app import App
    from textual.screen import Screen

    if isinstance(ab.node, App):
        return "app"
    if isinstance(ab.node, Screen):
        return "screen"
    return "table"


class HelpScreen(ModalScreen[None]):
    """Lists keys with their descriptions; Esc or ? closes it."""

    BINDINGS = [
        Binding("escape", "close", "Close help"),
        Binding("question_mark", "close", "Close help", key_display="?"),
    ]

    def __init__(self, title: str, entries: list[HelpEntry], notes: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.entries = entries
        self.notes = notes  # e.g. the node table's status legend (a screen's `help_notes`)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys"
            yield Static(self._text(), id="help-text")

    def _text(self) -> Text:
        width = max([len(e.keys) for e in self.entries] + [5]) + 2
        out = Text()
        out.append(self.title_text + "\n", style="bold")
        names = {"screen": "This screen", "table": "Table", "app": "Everywhere"}
        group = None
        for e in self.entries:
            if e.group != group:
                group = e.group
                out.append(f"\n{names.get(group, group)}\n", style="bold underline")
            out.append(e.keys.rjust(width), style="bold")
            out.append("  " + e.description + "\n")
        if self.notes:
            out.append("\nLegend\n", style="bold underline")
            out.append(self.notes + "\n")
        out.append("\nEsc closes this help.", style="italic")
        return out

    def action_close(self) -> None:
        self.dismiss(None)
