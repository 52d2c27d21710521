"""A DataTable whose rows are slots: slot i shows the i-th item of an ordered list.

Built for live tables of hundreds or thousands of rows repainted on a timer:

- columns have fixed widths (never measured per tick);
- re-ordering rows is just a new item list;
- only the slots in view (plus a small margin) are written, and only rows whose cells changed
  (text, style, spans); scrolling fills newly visible slots before they are drawn;
- each row is ONE DataTable cell holding the row's cells laid out at their widths. A DataTable
  re-renders every visible cell whenever any cell changes, so one cell per row makes a repaint
  cost one render per visible row instead of one per visible cell (15-20 times less);
- the cursor follows its item when the order changes, so Enter acts on what the user
  highlighted; a click on a header title sorts by that column (`HeaderClicked`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import DataTable

MARGIN = 4  # rows written beyond the visible ones
# Textual's DataTable caches renders under keys that include its update count, which every
# write bumps, so on a live table only the newest screenful is ever read again; its default
# sizes (10,000 cells, 1,000 rows and lines) fill with stale renders (about 60 MB for 256 rows
# at 2 Hz). A few screens' worth is plenty.
RENDER_CACHE = 256
_RENDER_CACHES = ("_cell_render_cache", "_row_render_cache", "_row_renderable_cache",
                  "_line_cache")
PAD = 1  # blank cells on each side of a column
ROW_KEY = "row"


@dataclass(frozen=True, slots=True)
class Column:
    """A fixed-width column; `key` names it for sorting and the header."""

    key: str
    title: str
    width: int
    right: bool = False  # numbers are right-aligned
    help: str = ""


RowRenderer = Callable[[Hashable], Sequence[Text]]


def same(a: Text, b: Text) -> bool:
    """Equal text, base style, spans and alignment (Text's own == ignores the base style)."""
    return (
        a.plain == b.plain
        and a.style == b.style
        and a.spans == b.spans
        and a.justify == b.justify
    )


def lay_out(cells: Sequence[Text], columns: Sequence[Column]) -> Text:
    """One line: each cell cut (with an ellipsis) or padded to its column's width."""
    out = Text(no_wrap=True, overflow="crop", end="")
    pad = " " * PAD
    for col, cell in zip(columns, cells, strict=False):
        piece = cell.copy()
        piece.end = ""
        if piece.cell_len > col.width:
            piece.truncate(col.width, overflow="ellipsis")
        gap = col.width - piece.cell_len
        right = col.right or cell.justify == "right"
        out.append(pad)
        if right:
            out.append(" " * gap)
        out.append_text(piece)
        if not right:
            out.append(" " * gap)
        out.append(pad)
    return out


class SlotTable(DataTable):
    """Fixed columns, slots of rows, lazy row writes. Call `show(items, render)`."""

    class Activated(Message):
        """Enter (or a click on the highlighted row) on an item."""

        def __init__(self, table: SlotTable, item: Hashable) -> None:
            super().__init__()
            self.table = table
            self.item = item

        @property
        def control(self) -> SlotTable:
            return self.table

    class Moved(Message):
        """The cursor moved to another item."""

        def __init__(self, table: SlotTable, item: Hashable | None) -> None:
            super().__init__()
            self.table = table
            self.item = item

        @property
        def control(self) -> SlotTable:
            return self.table

    class HeaderClicked(Message):
        """A click on a column's title."""

        def __init__(self, table: SlotTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> SlotTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(
            id=id,
            classes=classes,
            cursor_type="row",
            zebra_stripes=False,
            cell_padding=0,
        )
        for name in _RENDER_CACHES:  # private to Textual: left alone if they change
            cache = getattr(self, name, None)
            if cache is not None and hasattr(cache, "maxsize") and not len(cache):
                cache.maxsize = RENDER_CACHE
        self.spec = list(columns)
        self.items: list[Hashable] = []
        self._render: RowRenderer | None = None
        self._written: list[tuple[Hashable, tuple[Text, ...]] | None] = []
        self._sort_key: str | None = None
        self._sort_reverse = False
        self.writes = 0  # rows written since start (for tests and benchmarks)

    @property
    def row_width(self) -> int:
        return sum(c.width + 2 * PAD for c in self.spec)

    def on_mount(self) -> None:
        self.add_column(self._header(), width=self.row_width, key=ROW_KEY)

    # ------------------------------------------------------------------ header

    def _header(self) -> Text:
        titles = []
        for col in self.spec:
            title = col.title
            if col.key == self._sort_key:
                title = f"{title}{'▼' if self._sort_reverse else '▲'}"
            titles.append(Text(title, justify="right" if col.right else "left"))
        return lay_out(titles, self.spec)

    def _relabel(self) -> None:
        column = self.columns.get(ROW_KEY)  # type: ignore[call-overload]
        if column is not None:
            column.label = self._header()
            column.width = self.row_width
            self._require_update_dimensions = True
        self._update_count += 1
        self.refresh(layout=True)

    def mark_sort(self, key: str | None, reverse: bool) -> None:
        """Show the sort column and direction in the header."""
        if (key, reverse) == (self._sort_key, self._sort_reverse):
            return
        self._sort_key, self._sort_reverse = key, reverse
        self._relabel()

    def set_width(self, key: str, width: int) -> None:
        """Change one column's width (rare: every row is written again)."""
        self.spec = [Column(c.key, c.title, width, c.right, c.help) if c.key == key else c
                     for c in self.spec]
        self._relabel()
        self.invalidate()

    def column_at(self, x: int) -> str | None:
        """The key of the column under content offset `x` (scrolling included)."""
        pos = x + int(self.scroll_x)
        for col in self.spec:
            pos -= col.width + 2 * PAD
            if pos < 0:
                return col.key
        return None

    # ------------------------------------------------------------------ rows

    @property
    def selected(self) -> Hashable | None:
        row = self.cursor_row
        return self.items[row] if 0 <= row < len(self.items) else None

    def cell(self, slot: int, key: str) -> Text | None:
        """The cell last written for column `key` of slot `slot` (None: not written)."""
        written = self._written[slot] if 0 <= slot < len(self._written) else None
        if written is None:
            return None
        keys = [c.key for c in self.spec]
        return written[1][keys.index(key)] if key in keys else None

    def show(self, items: Sequence[Hashable], render: RowRenderer) -> None:
        """Display `items` in this order; cells are built by `render(item)` when in view."""
        keep = self.selected
        self._render = render
        self.items = list(items)
        self._resize(len(self.items))
        if keep is not None and self.items and self.selected != keep:
            try:
                index = self.items.index(keep)
            except ValueError:
                index = None
            if index is not None:
                self.move_cursor(row=index, animate=False)
        self.write_visible()

    def invalidate(self) -> None:
        """Forget what was written, so the next write redraws every visible row."""
        self._written = [None] * len(self._written)

    def _resize(self, n: int) -> None:
        have = self.row_count
        if n > have:
            for i in range(have, n):
                self.add_row(Text(""), key=f"s{i}")
            self._written.extend([None] * (n - have))
        elif n < have:
            if have - n > 32:
                self.clear(columns=False)
                for i in range(n):
                    self.add_row(Text(""), key=f"s{i}")
                self._written = [None] * n
            else:
                for i in range(have - 1, n - 1, -1):
                    self.remove_row(f"s{i}")
                del self._written[n:]

    def visible_range(self) -> range:
        """Slots on screen now, with a margin."""
        height = max(1, self.scrollable_content_region.height - (1 if self.show_header else 0))
        top = max(0, int(self.scroll_y) - MARGIN)
        return range(top, min(len(self.items), int(self.scroll_y) + height + MARGIN))

    def write_visible(self) -> None:
        """Write the visible slots whose cells changed."""
        render = self._render
        if render is None:
            return
        for i in self.visible_range():
            item = self.items[i]
            cells = tuple(render(item))
            old = self._written[i]
            if (
                old is None
                or old[0] != item
                or len(old[1]) != len(cells)
                or not all(same(a, b) for a, b in zip(cells, old[1], strict=True))
            ):
                self.update_cell(f"s{i}", ROW_KEY, lay_out(cells, self.spec))
                self.writes += 1
            self._written[i] = (item, cells)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value) and self._render is not None:
            self.write_visible()

    def on_resize(self) -> None:
        if self._render is not None:
            self.write_visible()

    # ------------------------------------------------------------------ events

    def on_click(self, event: events.Click) -> None:
        if self.show_header and event.y == 0:
            key = self.column_at(event.x)
            if key is not None:
                self.post_message(self.HeaderClicked(self, key))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()  # the whole header is one column: HeaderClicked says which title

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        item = self.selected
        if item is not None:
            self.post_message(self.Activated(self, item))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Moved(self, self.selected))
