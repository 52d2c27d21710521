"""A plotext chart of a few series of one node's history, for the Service screen.

Latency series are in seconds; the chart says "ms" and scales them when every value shown is
under a second. Axes as the GPU screen's (tui/plot_axes.py): round ticks from 0 (0-100 for a
percentage), time in minutes ago. Titles and labels are fixed strings chosen by the screen
(plotext's output is parsed as ANSI, so nothing from a service ever reaches it). Rebuilt only
when the node has a new sample, the series changed or the chart was resized.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from textual_plotext import PlotextPlot

from autoglm_tui.analysis.history import Key
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.tui.plot_axes import apply_time_axis, apply_value_axis, value_axis
from autoglm_tui.tui.render import plot_runs

Series = Sequence[tuple[Key, str]]  # (history key, legend label: a fixed string)


class ServicePlot(PlotextPlot):
    """One chart; ``show(node, now, series)`` redraws it when something moved."""

    def __init__(self, title: str, *, seconds: bool = False, ymax: float | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id, classes="metric-plot")
        self.title_text = title
        self.seconds = seconds  # values in seconds: shown in ms when all are below 1 s
        self.ymax = ymax
        self._stamp: tuple[object, ...] | None = None

    def show(self, node: NodeState | None, now: float, series: Series) -> None:
        stamp = (id(node), node.last_sample_at if node else None, tuple(series), self.size)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        plt = self.plt
        plt.clear_data()
        runs = []
        if node is not None:
            for key, label in series:
                runs.append((label, node.history.points(key, peak=True)))
        scale, unit = 1.0, ""
        if self.seconds:
            known = [v for _, pts in runs for _, v in pts if v is not None]
            scale, unit = ((0.001, " ms") if known and max(known) < 1.0 else (1.0, " s"))
        plt.title(self.title_text + unit)
        window = 60.0
        values: list[float] = []
        drew = False
        for label, pts in runs:
            for n, (xs, ys) in enumerate(plot_runs(pts, now, scale)):
                plt.plot(xs, ys, marker="braille", label=label if n == 0 and label else None)
                window = max(window, -xs[0])
                values += ys
                drew = True
        if not drew:
            plt.plot([0.0], [0.0], marker=" ")
        fixed = (0.0, self.ymax) if self.ymax is not None else None
        rows = max(1, self.size.height - 3)  # title, axis line, tick labels
        apply_value_axis(plt, value_axis(values, rows, fixed=fixed))
        minutes = 60.0 * math.ceil(window / 60.0 - 1e-9)  # whole minutes, as the GPU screen
        apply_time_axis(plt, minutes, max(10, self.size.width - 8))
        self.refresh()


__all__ = ["ServicePlot"]
