"""A history chart of one metric of one node (a column chart filling the widget).

Columns are evenly spaced in time: one second each while the history fits the width, else the
shortest of 2 s, 5 s, 10 s... that fits it all; a column shows the highest value in its time
(history older than the fine tier is kept as 10 s buckets of mean and max: the max is drawn).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from rich.text import Text

from autoglm_tui import format as fmt
from autoglm_tui.analysis.history import Key
from autoglm_tui.tui.render import chart_rows
from autoglm_tui.tui.widgets.pane import NodePane

Formatter = Callable[[float | None], str]
NO_DATA = "no data recorded"


class HistoryChart(NodePane):
    """Title line (now / max / span), then the values as columns; newest at the right."""

    def __init__(
        self, title: str, key: Key, formatter: Formatter, *, hi: float | None = None,
        binary: bool = False, id: str | None = None,
    ) -> None:
        super().__init__(title, id=id)
        self.key = key
        self.formatter = formatter
        self.hi = hi
        self.binary = binary  # round the scale in powers of 1024 (byte charts)
        self.empty = NO_DATA  # what the chart says with no value to draw (its screen knows why)

    def build(self, width: int) -> list[Text]:
        p = self.palette
        node = self.node
        points = node.history.points(self.key, peak=True) if node else []
        height = max(1, self.content_size.height - 1)
        known = [v for _, v in points if v is not None]
        head = Text(no_wrap=True, overflow="ellipsis")
        if not known:
            head.append(self.empty, style=p.muted)
            return [head]
        top = self.hi if self.hi is not None else nice_top(max(known), self.binary)
        axis_w = max(len(self.formatter(top)), 1) + 1
        plot_w = max(1, width - axis_w)
        values, step = time_columns(points, plot_w)
        shown = [v for v in values if v is not None]
        head.append("now ", style=p.muted)
        head.append(self.formatter(points[-1][1]))
        head.append("  max ", style=p.muted)
        head.append(self.formatter(max(shown) if shown else None))
        head.append(f"  last {fmt.duration(step * len(values))}", style=p.muted)
        if step > 1:
            head.append(f", {step:g} s a column", style=p.muted)
        rows = chart_rows(values, plot_w, height, top if top > 0 else None)
        out = [head]
        for i, row in enumerate(rows):
            label = self.formatter(top) if i == 0 else ("0" if i == len(rows) - 1 else "")
            line = Text(no_wrap=True)
            line.append(label.rjust(axis_w - 1) + ("┤" if label else "│"), style=p.muted)
            line.append(row, style=p.spark)
            out.append(line)
        return out


COLUMN_STEPS = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def time_columns(
    points: list[tuple[float, float | None]], width: int, cover_s: float = 10.0
) -> tuple[list[float | None], float]:
    """The newest history as at most `width` columns evenly spaced in time (oldest first),
    each the highest known value in its time (None: none), and the seconds a column spans.

    A point stands for the time until the next one, at most `cover_s` (a 10 s bucket of the
    coarse tier fills its 10 s; a node that went silent leaves a gap)."""
    if not points or width <= 0:
        return [], 1.0
    newest = points[-1][0]
    span = newest - points[0][0]
    step = next((s for s in COLUMN_STEPS if span / s < width), COLUMN_STEPS[-1])
    count = min(width, int(span // step) + 1)
    cols: list[float | None] = [None] * count
    start = newest + step - count * step  # column j spans [start + j step, start + (j+1) step)
    for k, (t, v) in enumerate(points):
        if v is None:
            continue
        end = min(points[k + 1][0] if k + 1 < len(points) else t + step, t + cover_s)
        first = math.floor((t - start) / step + 1e-9)
        last = max(first, math.ceil((end - start) / step - 1e-9) - 1)
        for i in range(max(0, first), min(count - 1, last) + 1):
            old = cols[i]
            cols[i] = v if old is None else max(old, v)
    return cols, step


def nice_top(value: float, binary: bool = False) -> float:
    """A round chart ceiling a little above `value`: 1, 2, 2.5 or 5 times a power of ten
    (of the largest power of 1024 below it when `binary`, so byte scales read 20G, 200M)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    if binary and value >= 1024:
        unit = 1024.0 ** math.floor(math.log(value, 1024))
        return unit * nice_top(value / unit)
    target = value * 1.05
    power = 10.0 ** math.floor(math.log10(target))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * power >= target:
            return step * power
    return 10.0 * power  # pragma: no cover


def pct_fmt(v: float | None) -> str:
    return fmt.pct(v, digits=1)


def bytes_fmt(v: float | None) -> str:
    return fmt.bytes_(v)
