"""A screen built around one live table: sorting by keys, header clicks and `:sort`, and the `/`
query filter (analysis/query.py), parsed as the user types.

Shared by the cluster's node table and the all-GPUs table. A subclass sets ``sort_columns``,
``ascending_first`` (columns whose first sort is A to Z), ``table_id`` and ``filter_id``,
yields ``filter_box(...)`` in its body, and orders its rows in ``paint`` from ``sort_key``,
``sort_reverse`` and ``filter_query``.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.widgets import Input

from autoglm_tui.analysis.query import ParseError, Query, parse
from autoglm_tui.text import clean
from autoglm_tui.tui.focus import focus_now
from autoglm_tui.tui.screens.base import StateScreen
from autoglm_tui.tui.widgets.command_line import CommandError
from autoglm_tui.tui.widgets.live_table import LiveTable


def caret(text: str, exc: ParseError) -> str:
    """The error with the text near the problem, for the one-line detail bar."""
    where = clean(text[max(0, exc.pos - 12) : exc.pos + 12], 40)
    return f"{exc.message} at column {exc.pos + 1} (near {where!r})"


class TableScreen(StateScreen):
    """A StateScreen whose main widget is a sortable, filterable LiveTable."""

    sort_columns: Sequence[str] = ()
    ascending_first: tuple[str, ...] = ()
    table_id = "table"
    filter_id = "filter"

    def __init__(self, sort_key: str) -> None:
        super().__init__()
        self.sort_key = sort_key
        self.sort_reverse = False
        self.filter_query: Query = parse("")
        self.query_error: str | None = None

    @property
    def table(self) -> LiveTable:
        return self.query_one(f"#{self.table_id}", LiveTable)

    def focus_main(self) -> None:
        focus_now(self.table)

    def on_mount(self) -> None:
        self.table.mark_sort(self.sort_key, self.sort_reverse)

    def refresh_now(self) -> None:
        """Repaint at once (after a change the user made)."""
        self.repaint(self.monitor_app.clock(), force=True)

    # ------------------------------------------------------------------ sorting

    def on_live_table_header_clicked(self, event: LiveTable.HeaderClicked) -> None:
        event.stop()
        self.set_sort(event.key)

    def action_cycle_sort(self, step: int) -> None:
        cols = list(self.sort_columns)
        i = cols.index(self.sort_key) if self.sort_key in cols else 0
        self._sort(cols[(i + step) % len(cols)], False)

    def action_reverse(self) -> None:
        self._sort(self.sort_key, not self.sort_reverse)

    def set_sort(self, column: str) -> None:
        """Sort by `column` (again: reverse); CommandError names the columns there are."""
        if column not in self.sort_columns:
            raise CommandError(f"no column {clean(column, 32)!r}; columns: "
                               + ", ".join(self.sort_columns))
        reverse = (not self.sort_reverse if column == self.sort_key
                   else column not in self.ascending_first)
        self._sort(column, reverse)

    def _sort(self, key: str, reverse: bool) -> None:
        """Sort by `key` and show the top of the new order (as htop and k9s do)."""
        self.sort_key, self.sort_reverse = key, reverse
        self.table.mark_sort(key, reverse)
        self.refresh_now()
        self.table.move_cursor(0)

    # ------------------------------------------------------------------ filter

    def filter_box(self, placeholder: str) -> Input:
        # select_on_focus off: opened again over a filter, the first key adds to it
        return Input(placeholder=placeholder, id=self.filter_id, classes="filter-box",
                     select_on_focus=False)

    def action_filter(self) -> None:
        box = self.query_one(f"#{self.filter_id}", Input)
        box.add_class("-active")
        box.value = self.filter_query.source
        box.cursor_position = len(box.value)
        focus_now(box)

    def set_filter(self, query: str) -> None:
        """Apply `query` (from the `:` command line); a bad one raises CommandError."""
        try:
            self.filter_query = parse(query)
        except ParseError as exc:
            raise CommandError(f"filter: {exc}") from None
        self.query_error = None
        self.query_one(f"#{self.filter_id}", Input).value = query
        self.refresh_now()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != self.filter_id:
            return
        event.stop()
        try:
            self.filter_query = parse(event.value)
            self.query_error = None
        except ParseError as exc:
            self.query_error = caret(event.value, exc)
        self.refresh_now()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != self.filter_id:
            return
        event.stop()
        if self.query_error:
            self.notify(self.query_error, severity="error", timeout=6)
            return
        if not event.value.strip():
            event.input.remove_class("-active")
        focus_now(self.table)

    def clear_filter(self) -> bool:
        """Esc: close and empty an open or set filter; False when there was none."""
        box = self.query_one(f"#{self.filter_id}", Input)
        if not (box.has_class("-active") or self.filter_query or self.query_error):
            return False
        box.value = ""
        box.remove_class("-active")
        self.filter_query = parse("")
        self.query_error = None
        focus_now(self.table)
        self.refresh_now()
        return True
