"""Sorting for a screen built around one SlotTable: column cycling, reverse, header clicks.

Shared by the cluster's node table and the all-GPUs table. A screen sets ``sort_columns``,
``ascending_first`` (columns whose first click sorts A to Z) and ``table_id``, and keeps
``sort_key`` and ``sort_reverse``.
"""

from __future__ import annotations

from typing import Any

from autoglm_tui.text import clean
from autoglm_tui.tui.widgets.command_line import CommandError
from autoglm_tui.tui.widgets.slot_table import SlotTable


class SortedTable:
    """Mixin for a StateScreen whose main widget is a sortable SlotTable."""

    sort_columns: list[str]
    ascending_first: tuple[str, ...] = ()
    table_id: str
    sort_key: str
    sort_reverse: bool

    @property
    def table(self) -> SlotTable:
        screen: Any = self
        return screen.query_one(f"#{self.table_id}", SlotTable)

    def focus_main(self) -> None:
        self.table.focus()

    def on_slot_table_header_clicked(self, event: SlotTable.HeaderClicked) -> None:
        event.stop()
        self.set_sort(event.key)

    def action_cycle_sort(self, step: int) -> None:
        cols = self.sort_columns
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
        screen: Any = self
        self.sort_key, self.sort_reverse = key, reverse
        self.table.mark_sort(key, reverse)
        screen.repaint(screen.monitor_app.clock(), force=True)
