"""A history chart of one metric of one node (a column chart filling the widget)."""

from __future__ import annotations

import math
from collections.abc import Callable

from rich.text import Text

from autoglm_tui import format as fmt
from autoglm_tui.analysis.history import Key
from autoglm_tui.tui.render import chart_rows
from autoglm_tui.tui.widgets.pane import NodePane

Formatter = Callable[[float | None], str]


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

    def build(self, width: int) -> list[Text]:
        p = self.palette
        node = self.node
        points = node.history.points(self.key, peak=True) if node else []
        height = max(1, self.content_size.height - 1)
        values = [v for _, v in points]
        known = [v for v in values if v is not None]
        head = Text(no_wrap=True, overflow="ellipsis")
        if not known:
            head.append("no data recorded", style=p.muted)
            return [head]
        top = self.hi if self.hi is not None else nice_top(max(known), self.binary)
        span = points[-1][0] - points[max(0, len(points) - width)][0]
        head.append("now ", style=p.muted)
        head.append(self.formatter(values[-1]))
        head.append("  max ", style=p.muted)
        head.append(self.formatter(max(known)))
        head.append(f"  last {fmt.duration(span)}", style=p.muted)
        axis_w = max(len(self.formatter(top)), 1) + 1
        rows = chart_rows(values, max(1, width - axis_w), height, top if top > 0 else None)
        out = [head]
        for i, row in enumerate(rows):
            label = self.formatter(top) if i == 0 else ("0" if i == len(rows) - 1 else "")
            line = Text(no_wrap=True)
            line.append(label.rjust(axis_w - 1) + ("┤" if label else "│"), style=p.muted)
            line.append(row, style=p.spark)
            out.append(line)
        return out


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
