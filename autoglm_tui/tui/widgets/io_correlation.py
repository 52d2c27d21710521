"""IO correlation pane: network beside disk on one time axis, Pearson's r, scenario hints.

Two plotext charts share the time axis (seconds ago): network throughput (rx + tx) with its
utilisation of the link speed, and disk IOPS with await latency. Beside them: the current
figures, the correlation of network throughput with disk throughput, IOPS and latency over the
window, and the seed's scenario hints when they match. All numbers come from
analysis/correlation.py; this widget only draws.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from autoglm_tui import format as fmt
from autoglm_tui.analysis.correlation import IoWindow, describe_r, io_window
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.tui.plot_axes import apply_time_axis, apply_value_axis, value_axis
from autoglm_tui.tui.render import Palette, plot_runs

WINDOW_S = 300.0
MB = 1e6


class TimeChart(PlotextPlot):
    """One chart of two series: one on the left axis, one on the right; both axes start at
    zero (rates, counts and latencies are never negative) and tick at round values."""

    def draw(
        self,
        title: str,
        times: Sequence[float],
        left: tuple[str, Sequence[float | None], float],
        right: tuple[str, Sequence[float | None], float],
        now: float,
        window_s: float,
        right_max: float | None = None,
    ) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title(title)  # fixed, trusted strings only: plotext output is parsed as ANSI
        drew = False
        rows = max(1, self.size.height - 4)  # title, frame lines, tick labels
        for side, (label, values, scale) in (("left", left), ("right", right)):
            shown: list[float] = []
            for n, (xs, ys) in enumerate(plot_runs(zip(times, values, strict=True), now, scale)):
                plt.plot(xs, ys, marker="braille", yside=side,
                         label=label if n == 0 else None)
                shown += ys
                drew = True
            fixed = (0.0, right_max) if side == "right" and right_max is not None else None
            apply_value_axis(plt, value_axis(shown, rows, fixed=fixed), yside=side)
        if not drew:
            plt.plot([0.0], [0.0], marker=" ")
        apply_time_axis(plt, window_s, max(10, self.size.width - 14))
        self.refresh()


class IoCorrelationPane(Vertical):
    """``show(node, now)`` redraws it from the node's history (only when a sample is new)."""

    DEFAULT_CSS = """
    IoCorrelationPane {
        height: 16;
        border: round $primary 60%;
        border-title-color: $primary;
        border-title-style: bold;
        border-subtitle-color: $foreground-muted;
    }
    IoCorrelationPane > Horizontal { height: 1fr; }
    IoCorrelationPane .io-charts { width: 1fr; }
    IoCorrelationPane PlotextPlot { height: 1fr; }
    IoCorrelationPane #io-facts { width: 44; padding: 0 1; }
    """

    def __init__(self, *, window_s: float = WINDOW_S, shown: bool = True,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.display = shown
        self.window_s = window_s
        self.border_title = "IO correlation"
        self.window: IoWindow | None = None
        self._stamp: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(classes="io-charts"):
                yield TimeChart(id="io-net")
                yield TimeChart(id="io-disk")
            yield Static(id="io-facts")

    def show(self, node: NodeState | None, now: float) -> None:
        stamp = (id(node), node.last_sample_at if node else None, self.size)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        p = Palette.from_variables(self.app.theme_variables)
        facts = self.query_one("#io-facts", Static)
        if node is None or node.last_sample is None:
            self.window = None
            facts.update(Text("waiting for samples…", style=p.muted))
            return
        link = node.last_sample.net.link_speed_mbps
        w = io_window(node.history, now - self.window_s, now, link_mbps=link)
        self.window = w
        self.query_one("#io-net", TimeChart).draw(
            "network: bytes/s (left), % of link (right)", w.times,
            ("net B/s", w.net_bps, 1.0), ("util %", w.net_util_pct, 1.0), now, self.window_s,
            right_max=100.0,
        )
        self.query_one("#io-disk", TimeChart).draw(
            "disk: IOPS (left), await ms (right)", w.times,
            ("IOPS", w.disk_iops, 1.0), ("await ms", w.disk_await_ms, 1.0), now, self.window_s,
        )
        facts.update(facts_text(w, p))
        self.border_subtitle = f"last {fmt.duration(self.window_s)} · Pearson r"


def facts_text(w: IoWindow, p: Palette) -> Text:
    """The figures, correlations and hints beside the charts."""
    out = Text()
    latest = IoWindow.latest
    out.append("net  ", style=f"bold {p.label}")
    out.append(fmt.rate(latest(w.net_bps)))
    util = latest(w.net_util_pct)
    out.append("  util ", style=p.muted)
    out.append(fmt.pct(util, digits=0), style=p.level(util, 60, 80))
    if w.link_mbps:
        speed = f"{w.link_mbps / 1000:g} Gb/s" if w.link_mbps >= 1000 else f"{w.link_mbps} Mb/s"
        out.append(f" of {speed}", style=p.muted)
    out.append("\ndisk ", style=f"bold {p.label}")
    out.append(fmt.rate(latest(w.disk_bps)))
    iops = latest(w.disk_iops)
    out.append(f"  {'N/A' if iops is None else f'{iops:.0f}'} IOPS")
    wait = latest(w.disk_await_ms)
    out.append("  await ", style=p.muted)
    out.append(fmt.num(wait, "ms", digits=1), style=p.level(wait, 20, 100))
    out.append("\n\nr(net, disk MB/s) ", style=p.muted)
    out.append(_r_text(w.r_net_disk_bps))
    out.append(f" {describe_r(w.r_net_disk_bps)}", style=p.muted)
    out.append("\nr(net, IOPS)      ", style=p.muted)
    out.append(_r_text(w.r_net_iops))
    out.append("\nr(net, await)     ", style=p.muted)
    out.append(_r_text(w.r_net_await))
    out.append(f"\n{w.points} aligned points", style=p.muted)
    for hint in w.hints:
        out.append(f"\n\n{hint.name}", style=f"bold {p.warning}")
        out.append(f": {hint.message}", style=p.warning)
        out.append(f"\n({hint.evidence})", style=p.muted)
    return out


def _r_text(r: float | None) -> str:
    return " n/a " if r is None else f"{r:+.2f}"


def io_cell(w: IoWindow | None, p: Palette) -> Text:
    """A table cell summing up a node's IO correlation: r of network vs disk throughput, and
    '!' when a scenario hint matches."""
    if w is None or w.r_net_disk_bps is None:
        return Text("-", style=p.muted, justify="right")
    r = w.r_net_disk_bps
    style = p.warning if w.hints else (p.label if abs(r) >= 0.7 else "")
    return Text(f"{r:+.2f}" + ("!" if w.hints else ""), style=style, justify="right")
