"""A live table that draws only the rows on screen, so its cost follows the screen, not the fleet.

``LiveTable`` is a Textual ``ScrollView`` (the Line API): the screen hands it the rows' order once
per repaint (``show(items, render)``: item keys, already sorted, filtered and grouped) and a
function that builds one row's cells; ``render_line`` builds only the rows that are on screen,
once per ``show``, and caches them until the next one. So a repaint costs the rows in view, a
key press costs the two rows whose highlight changes, and a fleet of 1,000 nodes costs what 40
rows cost.

- columns have fixed widths (never measured per tick), one may fill what the others leave;
  a title click posts ``HeaderClicked``;
- the cursor follows its item when the order changes (so Enter acts on what the user
  highlighted); Up/Down, PageUp/PageDown, Home/End move it; Left/Right scroll a wide table;
- Enter, or a click on the highlighted row, posts ``Activated``; a move posts ``Moved``;
- cells are ``rich.text.Text`` (never markup); the header shows the sort column and direction.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace

from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

PAD = 1  # blank cells on each side of a column
HEADER_ROWS = 1


@dataclass(frozen=True, slots=True)
class Column:
    """A fixed-width column; `key` names it for sorting and the header."""

    key: str
    title: str
    width: int
    right: bool = False  # numbers are right-aligned
    help: str = ""
    fill: bool = False  # takes the width the others leave (at least `width`)


RowRenderer = Callable[[Hashable], Sequence[Text]]  # item -> one Text per column, in order
RowKey = Callable[[Hashable], Hashable]  # item -> what its row shows (equal: the row is reused)


def same(a: Text, b: Text) -> bool:
    """Equal text, base style, spans and alignment (Text's own == ignores the base style)."""
    return (
        a.plain == b.plain
        and a.style == b.style
        and a.spans == b.spans
        and a.justify == b.justify
    )


def _in_order(spans: list[Span]) -> bool:
    """Whether each span ends before the next begins (as Text.append makes them)."""
    end = 0
    for span in spans:
        if span.start < end:
            return False
        end = span.end
    return True


def lay_out(cells: Sequence[Text], columns: Sequence[Column]) -> Text:
    """One line: each cell cut (with an ellipsis) or padded to its column's width."""
    out = Text(no_wrap=True, overflow="crop", end="")
    pad = " " * PAD
    for col, cell in zip(columns, cells, strict=False):
        piece = cell
        if piece.cell_len > col.width:
            piece = cell.copy()
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


class TableMessage(Message):
    """A message from a LiveTable about one of its items (or, for a title, a column key)."""

    def __init__(self, table: LiveTable, item: Hashable | None) -> None:
        super().__init__()
        self.table = table
        self.item = item

    @property
    def control(self) -> LiveTable:
        return self.table


class LiveTable(ScrollView, can_focus=True):
    """Fixed columns over an ordered list of items; rows are built only when on screen."""

    DEFAULT_CSS = """
    LiveTable {
        background: $background;
        scrollbar-size-vertical: 1;
    }
    LiveTable > .live-table--header {
        background: $panel;
        color: $foreground;
        text-style: bold;
    }
    LiveTable > .live-table--cursor {
        background: $block-cursor-background;
        text-style: bold;
    }
    LiveTable:blur > .live-table--cursor {
        background: $block-cursor-blurred-background;
        text-style: none;
    }
    """
    COMPONENT_CLASSES = {"live-table--header", "live-table--cursor"}
    BINDINGS = [
        Binding("up", "cursor(-1)", "Previous row", show=False),
        Binding("down", "cursor(1)", "Next row", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First row", show=False),
        Binding("end", "edge(1)", "Last row", show=False),
        Binding("left", "scroll_left", "Scroll left", show=False),
        Binding("right", "scroll_right", "Scroll right", show=False),
        Binding("enter", "activate", "Open the highlighted row", show=False),
    ]

    class Activated(TableMessage):
        """Enter, or a click on the highlighted row, on `item`."""

    class Moved(TableMessage):
        """The cursor moved to `item` (None: the table is empty)."""

    class HeaderClicked(TableMessage):
        """A click on the title of column `key`."""

        @property
        def key(self) -> str:
            return str(self.item)

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.columns = list(columns)
        self._laid = list(columns)  # the columns at their widths now (a fill column resized)
        self.items: list[Hashable] = []
        self.cursor_row = 0
        self._index: dict[Hashable, int] | None = None  # item -> row, built when first needed
        self._render: RowRenderer | None = None
        self._rows: dict[int, Strip] = {}  # rows built since the last `show`, by index
        self._row_key: RowKey | None = None
        self._built: dict[Hashable, tuple[Hashable, Strip]] = {}  # item -> (its key, its row)
        self._kept: dict[Hashable, tuple[Hashable, Strip]] = {}  # the last show's, reusable
        self._header: Strip | None = None
        self._sort_key: str | None = None
        self._sort_reverse = False
        self.rows_built = 0  # rows built since start (benchmarks read it)
        # The widget's own Rich style (background and text colour, a walk up the DOM), read
        # once per `show` and whenever the styles change, not once per line drawn.
        self._base: Style | None = None
        self._empty = Text()  # what the body says while there is no row (show's `empty`)
        self._empty_lines: tuple[int, list[Strip]] | None = None  # wrapped, for a width

    def _set_empty(self, text: Text) -> None:
        """What the body says while the table has no row, wrapped to the table's width; an
        empty Text says nothing."""
        if same(text, self._empty):
            return
        self._empty, self._empty_lines = text, None
        if not self.items:
            self.refresh()

    def _empty_line(self, row: int, width: int) -> Strip | None:
        """Line `row` of the empty table's message (a blank line above it), or None."""
        if not self._empty.plain:
            return None
        if self._empty_lines is None or self._empty_lines[0] != width:
            console = self.app.console
            wrapped = self._empty.wrap(console, max(1, width - 2 * PAD))
            self._empty_lines = (width, [self._to_strip(Text(" " * PAD) + line)
                                         for line in wrapped])
        lines = self._empty_lines[1]
        return lines[row - 1] if 1 <= row <= len(lines) else None

    # ------------------------------------------------------------------ columns

    @property
    def row_width(self) -> int:
        return sum(c.width + 2 * PAD for c in self._laid)

    def _lay_columns(self) -> None:
        """Give a fill column the width the others leave; rebuild rows if that changed."""
        fixed = sum(c.width + 2 * PAD for c in self.columns if not c.fill)
        room = self.scrollable_content_region.width - fixed - 2 * PAD
        laid = [replace(c, width=max(c.width, room)) if c.fill else c for c in self.columns]
        if laid != self._laid:
            self._laid = laid
            self._forget_rows()
            self._resize_virtual()

    def mark_sort(self, key: str | None, reverse: bool) -> None:
        """Show the sort column and its direction in the header."""
        if (key, reverse) != (self._sort_key, self._sort_reverse):
            self._sort_key, self._sort_reverse = key, reverse
            self._header = None
            self.refresh()

    def set_width(self, key: str, width: int) -> None:
        """Change one column's width (rare: every row is built again)."""
        self.columns = [replace(c, width=width) if c.key == key else c for c in self.columns]
        self._laid = list(self.columns)
        self._lay_columns()
        self._forget_rows()
        self._resize_virtual()
        self.refresh()

    def _forget_rows(self) -> None:
        """Build every row again (widths or styles changed)."""
        self._header = None
        self._rows.clear()
        self._built.clear()
        self._kept.clear()

    def column_at(self, x: int) -> str | None:
        """The key of the column under content offset `x` (horizontal scrolling included)."""
        pos = x + int(self.scroll_x)
        for col in self._laid:
            pos -= col.width + 2 * PAD
            if pos < 0:
                return col.key
        return None

    # ------------------------------------------------------------------ rows

    @property
    def selected(self) -> Hashable | None:
        """The item under the cursor."""
        row = self.cursor_row
        return self.items[row] if 0 <= row < len(self.items) else None

    def show(
        self,
        items: list[Hashable],
        render: RowRenderer,
        *,
        key: RowKey | None = None,
        fill: bool = True,
        empty: Callable[[], Text] | None = None,
    ) -> None:
        """Display `items` in this order; `render(item)` builds a row's cells when it is in view.

        The rows on screen are built now (`fill`), so they show the same moment as the rest of
        the screen; rows scrolled into view later are built then. The list is kept as given
        (the caller builds a new one per repaint). With `fill=False` call :meth:`fill`.
        With `key`, a row whose key is what it was at the last `show` is not built again.
        With no item, `empty()` is what the body says (why, and what to do next)."""
        self._set_empty(empty() if empty is not None and not items else Text())
        keep = self.selected
        old_row = self.cursor_row
        self.items = items
        self._index = None
        self._render = render
        self._row_key = key
        self._rows.clear()
        self._base = None
        self._kept, self._built = self._built, {}
        if keep is not None and (old_row >= len(items) or items[old_row] != keep):
            row = self.row_of(keep)
            if row is not None:
                self.cursor_row = row
        self.cursor_row = max(0, min(self.cursor_row, len(items) - 1))
        self._resize_virtual()
        if self.cursor_row != old_row:
            self._scroll_to_cursor()
        if fill:
            self.fill()
        self.refresh()

    def fill(self) -> None:
        """Build the rows on screen now."""
        for row in self.visible_rows():
            self._row_strip(row)

    def row_of(self, item: Hashable) -> int | None:
        """The row showing `item` (None: not shown)."""
        if self._index is None:
            self._index = {it: i for i, it in enumerate(self.items)}
        return self._index.get(item)

    def select(self, item: Hashable) -> bool:
        """Move the cursor to `item`; False when it is not shown."""
        row = self.row_of(item)
        if row is None:
            return False
        self.move_cursor(row)
        return True

    def move_cursor(self, row: int) -> None:
        """Put the cursor on `row` (clamped), scroll it into view and say so (`Moved`)."""
        row = max(0, min(row, len(self.items) - 1))
        if row == self.cursor_row:
            self._scroll_to_cursor()
            return
        old = self.cursor_row
        self.cursor_row = row
        self._scroll_to_cursor()
        self.refresh_row(old)
        self.refresh_row(row)
        self.post_message(self.Moved(self, self.selected))

    def refresh_row(self, row: int) -> None:
        """Repaint one row (the cursor moved on or off it)."""
        self.refresh_lines(row + HEADER_ROWS)

    def visible_rows(self) -> range:
        """Rows on screen now."""
        top = int(self.scroll_y)
        return range(top, min(len(self.items), top + self._body_height()))

    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - HEADER_ROWS)

    def _resize_virtual(self) -> None:
        size = Size(self.row_width, len(self.items) + HEADER_ROWS)
        if size != self.virtual_size:
            self.virtual_size = size

    def _scroll_to_cursor(self) -> None:
        top, height = int(self.scroll_y), self._body_height()
        row = self.cursor_row
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False, immediate=True)

    # ------------------------------------------------------------------ drawing

    def _base_style(self) -> Style:
        base = self._base
        if base is None:
            base = self._base = self.rich_style
        return base

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x = int(self.scroll_x)
        base = self._base_style()
        if y < HEADER_ROWS:
            strip = self._header_strip()
        else:
            row = int(self.scroll_y) + y - HEADER_ROWS
            if row >= len(self.items):
                line = self._empty_line(row, width) if not self.items else None
                if line is None:
                    return Strip.blank(width, base)
                return line.apply_style(base).crop_extend(0, width, base)
            strip = self._row_strip(row)
            if row == self.cursor_row:
                cursor = self.get_component_rich_style("live-table--cursor", partial=True)
                strip = Strip(Segment.apply_style(strip, post_style=Style(
                    bgcolor=cursor.bgcolor, bold=cursor.bold)), strip.cell_length)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _header_strip(self) -> Strip:
        if self._header is None:
            titles = []
            for col in self._laid:
                title = col.title
                if col.key == self._sort_key:
                    title = f"{title}{'▼' if self._sort_reverse else '▲'}"
                titles.append(Text(title, justify="right" if col.right else "left"))
            style = self.get_component_rich_style("live-table--header")
            line = lay_out(titles, self._laid)
            self._header = self._to_strip(line).apply_style(style)
        return self._header

    def _row_strip(self, row: int) -> Strip:
        strip = self._rows.get(row)
        if strip is not None:
            return strip
        item = self.items[row]
        key = self._row_key(item) if self._row_key is not None else None
        kept = self._kept.get(item) if key is not None else None
        if kept is not None and kept[0] == key:
            strip = kept[1]
        else:
            render = self._render
            cells = render(item) if render is not None else ()
            strip = self._cells_strip(cells)
            self.rows_built += 1
        if key is not None:
            self._built[item] = (key, strip)
        self._rows[row] = strip
        return strip

    def _cells_strip(self, cells: Sequence[Text]) -> Strip:
        """One row's cells laid out at their columns' widths, as segments in the widget's
        style (what `lay_out` does, without building one Text of the whole row first). A cell
        of one style (most are) is one segment, and one of pieces appended one after another a
        segment per piece, made here; a cell whose spans overlap is rendered by Rich, its own
        style under its spans' and the widget's under both."""
        console = self.app.console
        get_style = console.get_style
        null = Style.null()
        widget = self._base_style()
        segments: list[Segment] = []
        add = segments.append
        for col, cell in zip(self._laid, cells, strict=False):
            piece = cell
            if piece.cell_len > col.width:
                piece = cell.copy()
                piece.truncate(col.width, overflow="ellipsis")
            gap = col.width - piece.cell_len
            right = col.right or cell.justify == "right"
            add(Segment(" " * (PAD + gap if right else PAD), widget))
            style = widget + get_style(piece.style, default=null) if piece.style else widget
            spans, plain = piece.spans, piece.plain
            if not _in_order(spans):  # overlapping spans: Rich combines their styles
                segments.extend(Segment.apply_style(piece.render(console, end=""), style))
            else:  # one style, or pieces appended one after another (a GPU strip)
                at = 0
                for span in spans:
                    start, end = span.start, span.end
                    if start > at:
                        add(Segment(plain[at:start], style))
                    if end > start:
                        add(Segment(plain[start:end],
                                    style + get_style(span.style, default=null)))
                    at = max(at, end)
                if at < len(plain):
                    add(Segment(plain[at:], style))
            add(Segment(" " * (PAD if right else PAD + gap), widget))
        return Strip(segments, self.row_width)

    def _to_strip(self, line: Text) -> Strip:
        segments = list(line.render(self.app.console, end=""))
        return Strip(segments, line.cell_len)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base = None
        self._forget_rows()  # theme changed: build rows again with the new styles

    def on_resize(self, event: events.Resize) -> None:
        self._lay_columns()
        self._scroll_to_cursor()

    # ------------------------------------------------------------------ keys and mouse

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor_row + direction * max(1, self._body_height() - 1))

    def action_edge(self, end: int) -> None:
        self.move_cursor(len(self.items) - 1 if end else 0)

    def action_activate(self) -> None:
        item = self.selected
        if item is not None:
            self.post_message(self.Activated(self, item))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.stop()
        if offset.y < HEADER_ROWS:
            key = self.column_at(offset.x)
            if key is not None:
                self.post_message(self.HeaderClicked(self, key))
            return
        row = int(self.scroll_y) + offset.y - HEADER_ROWS
        if not 0 <= row < len(self.items):
            return
        if row == self.cursor_row:
            self.action_activate()  # a click on the highlighted row opens it (twice: open)
        else:
            self.move_cursor(row)
