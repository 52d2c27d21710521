"""The `/` query filter shared by the cluster and all-GPUs screens: parse as the user types."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input

from autoglm_tui.analysis.query import ParseError, Query, parse
from autoglm_tui.text import clean
from autoglm_tui.tui.widgets.command_line import CommandError


def caret(text: str, exc: ParseError) -> str:
    """The error with the text near the problem, for the one-line detail bar."""
    where = clean(text[max(0, exc.pos - 12) : exc.pos + 12], 40)
    return f"{exc.message} at column {exc.pos + 1} (near {where!r})"


class QueryFilter:
    """Mixin for a screen with an Input `#<FILTER_ID>`, a `table` and a `repaint(now, force)`.

    Keeps ``filter_query`` (the parsed query) and ``query_error`` (shown instead of a crash).
    """

    FILTER_ID = "filter"
    filter_query: Query
    query_error: str | None

    def init_filter(self) -> None:
        self.filter_query = parse("")
        self.query_error = None

    def _filter_repaint(self) -> None:
        me: Any = self
        me.repaint(me.monitor_app.clock(), force=True)

    def set_filter(self, query: str) -> None:
        """Apply `query` (from the `:` command line); a bad one raises CommandError."""
        try:
            self.filter_query = parse(query)
        except ParseError as exc:
            raise CommandError(f"filter: {exc}") from None
        self.query_error = None
        me: Any = self
        me.query_one(f"#{self.FILTER_ID}", Input).value = query
        self._filter_repaint()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != self.FILTER_ID:
            return
        event.stop()
        try:
            self.filter_query = parse(event.value)
            self.query_error = None
        except ParseError as exc:
            self.query_error = caret(event.value, exc)
        self._filter_repaint()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != self.FILTER_ID:
            return
        event.stop()
        me: Any = self
        if self.query_error:
            me.notify(self.query_error, severity="error", timeout=6)
            return
        if not event.value.strip():
            event.input.remove_class("-active")
        me.table.focus()

    def clear_filter(self) -> bool:
        """Esc: close and empty an open or set filter; False when there was none."""
        me: Any = self
        box = me.query_one(f"#{self.FILTER_ID}", Input)
        if not (box.has_class("-active") or self.filter_query or self.query_error):
            return False
        box.value = ""
        box.remove_class("-active")
        self.init_filter()
        me.table.focus()
        self._filter_repaint()
        return True
