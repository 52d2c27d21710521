"""The help screen: every key of the screen underneath, generated from its bindings."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

from rich.console import Console, Group
from rich.table import Table
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


# Textual's own bindings that mean nothing here: no screen has a second focusable widget to
# Tab to, and Ctrl+C copies only a mouse selection (without one it quits: listed with Quit).
HIDDEN_ACTIONS = frozenset({"app.focus_next", "app.focus_previous", "screen.copy_text",
                            "help_quit"})
QUIT_KEYS = "q ^q ^c"
WIDE = 240  # columns for the plain text of the help: no line wraps


def help_entries(
    app_display: object, active: Iterable[tuple[str, ActiveBinding]],
    screen: object | None = None,
) -> list[HelpEntry]:
    """One entry per described binding that does something here, grouped by where it is
    defined (screen, widget, app).

    `app_display` is the app (for ``get_key_display``); `active` is
    ``screen.active_bindings.items()`` taken before the help screen opens; `screen` (that
    screen) may say better what a key does there (``KEY_HELP``: "enter" -> "Open the
    process"), its widgets' keys included. Keys that would do nothing are left out:
    sideways scrolling of a table that fits, scrolling of a pane that does not scroll.
    """
    overrides: dict[str, str] = dict(getattr(screen, "KEY_HELP", {}) or {})
    seen: dict[tuple[str, str], HelpEntry] = {}
    order: list[tuple[str, str]] = []
    for key, ab in active:
        b: Binding = ab.binding
        if not b.description or b.system or b.action in HIDDEN_ACTIONS:
            continue
        group = _group(ab)
        if group == "table" and not does_something(ab.node, b.action):
            continue
        if b.action == "quit":
            ident = ("Quit", group)
            if ident not in seen:
                seen[ident] = HelpEntry(QUIT_KEYS, "Quit", group)
                order.append(ident)
            continue
        description = overrides.get(key, b.description)
        ident = (description, group)  # one line per thing the user can do
        display = app_display.get_key_display(b)  # type: ignore[attr-defined]
        if ident in seen:  # several keys for one thing: list them together
            old = seen[ident]
            if display not in old.keys.split(" "):
                seen[ident] = HelpEntry(f"{old.keys} {display}", old.description, group)
            continue
        tooltip = "" if key in overrides else b.tooltip
        text = f"{description}: {tooltip}" if tooltip else description
        seen[ident] = HelpEntry(display, text, group)
        order.append(ident)
    rank = {"screen": 0, "app": 1, "table": 2}
    entries = [HelpEntry(digit_runs(e.keys), e.description, e.group)
               for e in (seen[i] for i in order)]
    return sorted(entries, key=lambda e: rank.get(e.group, 1))


def digit_runs(keys: str) -> str:
    """Keys as listed, a run of three or more digit keys in a row shortened ("0 1 2 ... 9"
    -> "0-9"), so the keys' column stays narrow."""
    tokens = keys.split(" ")
    if len(tokens) >= 3 and all(len(k) == 1 and k.isdigit() for k in tokens) \
            and [int(k) for k in tokens] == list(range(int(tokens[0]), int(tokens[-1]) + 1)):
        return f"{tokens[0]}-{tokens[-1]}"
    return keys


def does_something(node: object, action: str) -> bool:
    """Whether a widget's key would move anything now: sideways keys only when the widget is
    wider than its view; scrolling keys of a pane (not a table's cursor) only when it scrolls."""
    if "left" in action or "right" in action:
        return getattr(node, "max_scroll_x", 0) > 0
    if action.startswith(("scroll_", "page_")) and not hasattr(node, "cursor_type") \
            and not hasattr(node, "move_cursor"):
        return getattr(node, "max_scroll_y", 0) > 0
    return True


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
            yield Static(self._renderable(), id="help-text")

    def _text(self) -> Text:
        """The help as drawn on a terminal wide enough for every line (plain text)."""
        console = Console(file=io.StringIO(), width=WIDE, record=True, color_system=None)
        console.print(self._renderable())
        return Text(console.export_text())

    def _renderable(self) -> Group:
        """The help as drawn: keys right-aligned in one column, a description too long for
        the box wrapped under itself (not under the keys)."""
        parts: list[Text | Table] = [Text(self.title_text, style="bold")]
        for heading, entries in self._sections():
            parts.append(Text(f"\n{heading}", style="bold underline"))
            grid = Table.grid(padding=(0, 0, 0, 2))
            grid.add_column(justify="right", no_wrap=True, min_width=self._keys_width() - 2)
            grid.add_column(overflow="fold")
            for e in entries:
                grid.add_row(Text(e.keys, style="bold"), Text(e.description))
            parts.append(grid)
        parts.append(self._tail())
        return Group(*parts)

    def _keys_width(self) -> int:
        return max([len(e.keys) for e in self.entries] + [5]) + 2

    def _sections(self) -> list[tuple[str, list[HelpEntry]]]:
        """(heading, entries) per group, in the entries' order."""
        names = {"screen": "This screen", "table": "Table", "app": "Everywhere"}
        out: list[tuple[str, list[HelpEntry]]] = []
        group = None
        for e in self.entries:
            if e.group != group:
                group = e.group
                out.append((names.get(group, group), []))
            out[-1][1].append(e)
        return out

    def _tail(self) -> Text:
        out = Text()
        if self.notes:
            out.append("\nLegend\n", style="bold underline")
            out.append(self.notes + "\n")
        out.append("\nEsc closes this help.", style="italic")
        return out

    def action_close(self) -> None:
        self.dismiss(None)
