"""A LiveTable row is the cells laid out as Rich would lay them out, in the widget's style."""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.app import App, ComposeResult

from autoglm_tui.tui.widgets.live_table import HEADER_ROWS, Column, LiveTable, lay_out

COLUMNS = [Column("a", "A", 6), Column("b", "B", 8, right=True), Column("c", "C", 5),
           Column("d", "D", 4)]


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LiveTable(COLUMNS)


def _pieces(segments: list[Segment]) -> list[tuple[str, object]]:
    """Text and style of each run of one style (how the segments are split does not show)."""
    return [(s.text, s.style or None) for s in Segment.simplify(segments) if s.text]


async def test_rows_match_rich_layout_for_plain_appended_overlapping_and_cut_cells() -> None:
    appended = Text(no_wrap=True)
    for ch, colour in (("▁", "green"), ("▅", "yellow"), ("█", "red")):
        appended.append(ch, style=colour)
    overlapping = Text("busy", style="bold")
    overlapping.stylize("red", 0, 3)
    overlapping.stylize("underline", 2, 4)
    too_long = Text("a-very-long-node-name", style="cyan")
    too_long.stylize("bold", 2, 12)
    rows = [
        [Text("UP", style="bold green"), Text("12%", justify="right"), appended, Text("")],
        [overlapping, too_long, Text("x", style="no-such-style"), Text("1", style="dim")],
        [too_long, appended, overlapping, Text("abcdefgh")],
    ]
    shown = [[Text("cursor")], *rows]  # the cursor sits on the first row, drawn its own way
    app = _TableApp()
    async with app.run_test(size=(60, 10)):
        table = app.query_one(LiveTable)
        table.show(list(range(len(shown))), lambda i: shown[i])  # type: ignore[index]
        base = table.rich_style
        for i, cells in enumerate(rows, start=1):
            got = list(table.render_line(HEADER_ROWS + i))
            want = list(lay_out(cells, COLUMNS).render(app.console, end=""))
            # lay_out's line has no style of its own: the cells' styles under the spans',
            # the widget's under all of them; then blank to the table's width
            want = list(Segment.apply_style(want, base))
            width = table.scrollable_content_region.width
            want.append(Segment(" " * (width - table.row_width), base))
            assert _pieces(got) == _pieces(want)
