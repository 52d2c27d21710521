"""One GPU of one node: its health, history plots (util, memory, temperature, power, PCIe) and
its processes.

Plots are drawn with plotext, and only rebuilt when the node has a new sample (or the plot is
resized), since building a plot costs milliseconds. Enter on a process opens its screen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable

from rich.text import Text
from textual.binding import Binding
from textual.containers import Grid
from textual.widget import Widget
from textual.widgets import Static
from textual_plotext import PlotextPlot

from autoglm_tui import format as fmt
from autoglm_tui.analysis.gpu_health import clock_reason_shares, gpu_health
from autoglm_tui.analysis.history import Key
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.peers import gpu_stragglers
from autoglm_tui.events import NodeStatus
from autoglm_tui.model import ProcSample
from autoglm_tui.text import clean
from autoglm_tui.tui.focus import focus_now
from autoglm_tui.tui.intents import OpenProcess
from autoglm_tui.tui.messages import SignalRequest
from autoglm_tui.tui.plot_axes import apply_time_axis, apply_value_axis, value_axis
from autoglm_tui.tui.procview import short_command
from autoglm_tui.tui.render import Palette, cell, plot_runs
from autoglm_tui.tui.screens.base import StateScreen
from autoglm_tui.tui.widgets.gpu_health_view import health_lines
from autoglm_tui.tui.widgets.live_table import Column, LiveTable, same
from autoglm_tui.tui.widgets.node_header import NodeHeader

COMPACT_BELOW_ROWS = 32  # shorter terminals get a two-line health section
GIB = float(1 << 30)

PROC_COLUMNS = [
    Column("pid", "PID", 8, right=True),
    Column("user", "User", 10),
    Column("gmem", "GPU mem", 8, right=True),
    Column("sm", "SM", 4, right=True),
    Column("cpu", "CPU", 5, right=True),
    Column("rss", "RSS", 6, right=True),
    Column("cmd", "Command", 20, fill=True),
]


Range = Callable[[NodeState, int], "tuple[float, float] | None"]


def pct_range(node: NodeState, index: int) -> tuple[float, float]:
    return (0.0, 100.0)


def mem_range(node: NodeState, index: int) -> tuple[float, float] | None:
    total = node.metric("gpu.mem_total_bytes", index)
    return (0.0, total / GIB) if total else None


def power_range(node: NodeState, index: int) -> tuple[float, float] | None:
    limit = node.metric("gpu.power_limit_w", index)
    return (0.0, float(limit)) if limit else None


class MetricPlot(PlotextPlot):
    """A plotext chart of one or two series of one GPU's history over the last minutes:
    round ticks, never below zero, on a fixed range where the value has one (util 0-100 %,
    memory 0 to the GPU's size, power 0 to its limit)."""

    def __init__(
        self,
        title: str,
        series: list[tuple[Key, str]],
        *,
        index: int,
        scale: float = 1.0,
        fixed: Range | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, classes="metric-plot")
        self.title_text = title  # a fixed, trusted string: plotext output is parsed as ANSI
        self.series = series
        self.index = index
        self.scale = scale
        self.fixed = fixed
        self._stamp: tuple[object, ...] | None = None

    def show(self, node: NodeState | None, now: float) -> None:
        """Rebuild the plot if the node has a new sample since the last build."""
        stamp = (id(node), node.last_sample_at if node else None, self.size)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        plt = self.plt
        plt.clear_data()
        plt.title(self.title_text)
        window = 60.0
        values: list[float] = []
        drew = False
        if node is not None:
            for key, label in self.series:
                parts = plot_runs(node.history.points(key, peak=True), now, self.scale)
                for n, (xs, ys) in enumerate(parts):
                    plt.plot(xs, ys, marker="braille", label=label if n == 0 and label else None)
                    window = max(window, -xs[0])
                    values += ys
                    drew = True
        if not drew:
            plt.plot([0.0], [0.0], marker=" ")
        fixed = self.fixed(node, self.index) if self.fixed is not None and node else None
        rows = max(1, self.size.height - 3)  # title, axis line, tick labels
        apply_value_axis(plt, value_axis(values, rows, fixed=fixed))
        apply_time_axis(plt, nice_window(window), max(10, self.size.width - 8))
        self.refresh()


def nice_window(seconds: float) -> float:
    """The history shown, rounded up to a whole minute (5 minutes: 300)."""
    return 60.0 * math.ceil(seconds / 60.0 - 1e-9)


class GpuScreen(StateScreen):
    """History and processes of one GPU of one node."""

    HELP_TITLE = "GPU"
    KEY_HELP = {"enter": "Open the process"}  # widget keys, as here

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("k", "signal", "Signal the selected process"),
    ]

    def __init__(self, node_id: str, index: int) -> None:
        super().__init__()
        self.node_id = node_id
        self.index = index
        self._shown_text: dict[str, Text] = {}
        self._procs: dict[int, ProcSample] = {}

    def compose_body(self) -> Iterable[Widget]:
        i = self.index
        yield NodeHeader(self.node_id, id="header")
        yield Static(id="gpu-info", classes="detail")
        yield Static(id="gpu-health")
        with Grid(id="gpu-plots"):
            yield MetricPlot("GPU util %", [(("gpu.util_pct", i), "")], index=i,
                             fixed=pct_range, id="plot-util")
            yield MetricPlot("GPU memory used (GiB)", [(("gpu.mem_used_bytes", i), "")],
                             index=i, scale=GIB, fixed=mem_range, id="plot-mem")
            yield MetricPlot("temperature °C", [(("gpu.temp_c", i), "")], index=i,
                             id="plot-temp")
            yield MetricPlot("power W", [(("gpu.power_w", i), "")], index=i,
                             fixed=power_range, id="plot-power")
            yield MetricPlot("PCIe bytes/s", [(("gpu.pcie_rx_bps", i), "rx"),
                                              (("gpu.pcie_tx_bps", i), "tx")],
                             index=i, id="plot-pcie")
        table = LiveTable(PROC_COLUMNS, id="gpu-procs")
        table.border_title = "Processes on this GPU"
        yield table

    def focus_main(self) -> None:
        focus_now(self.table)

    @property
    def table(self) -> LiveTable:
        return self.query_one("#gpu-procs", LiveTable)

    def paint(self, now: float) -> None:
        node = self.node_state(self.node_id)
        self.paint_header(self.node_id, node, now)
        self._paint_info(node)
        self._paint_health(node, now)
        for plot in self.query(MetricPlot):
            plot.show(node, now)
        procs = []
        if node is not None and node.last_sample is not None:
            procs = [p for p in node.last_sample.procs if any(g.index == self.index
                                                              for g in p.gpus)]
        procs.sort(key=lambda p: -(_gpu_mem(p, self.index) or 0))
        self._procs = {p.pid: p for p in procs}
        self.table.show([p.pid for p in procs], self._render_proc)

    def _paint_info(self, node: NodeState | None) -> None:
        p = Palette.from_variables(self.app.theme_variables)
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(f"GPU {self.index}", style=f"bold {p.label}")
        info = node.gpu_info(self.index) if node is not None else None
        if info is not None:
            out.append(f"  {clean(info.name, 64)}", style="bold")
            out.append(f"  {clean(info.uuid, 64)}", style=p.muted)
            if info.pci_bus_id:
                out.append(f"  bus {clean(info.pci_bus_id, 32)}", style=p.muted)
        g = node.gpu(self.index) if node is not None else None
        if node is not None and g is None:
            out.append("  not in the newest sample", style=p.warning)
        elif g is not None and g.state != "ok":
            out.append(f"  {clean(g.state, 12).upper()}: {clean(g.error or '', 200)}",
                       style=f"bold {p.error}")
        elif g is not None:
            m = node.metrics if node else {}
            i = self.index
            grey = node is not None and node.status is not NodeStatus.UP
            st = p.muted if grey else ""

            def kv(label: str, value: str) -> None:
                out.append(f"  {label} ", style=p.muted)
                out.append(value, style=st)

            kv("util", fmt.pct(m.get(("gpu.util_pct", i))))
            kv("mem", f"{fmt.bytes_(m.get(('gpu.mem_used_bytes', i)))}/"
                      f"{fmt.bytes_(m.get(('gpu.mem_total_bytes', i)))}")
            kv("temp", fmt.num(m.get(("gpu.temp_c", i)), "°C"))
            kv("power", f"{fmt.num(m.get(('gpu.power_w', i)), 'W')}/"
                        f"{fmt.num(m.get(('gpu.power_limit_w', i)), 'W')}")
            kv("SM", fmt.num(m.get(("gpu.sm_clock_mhz", i)), "MHz"))
            kv("ECC", fmt.num(m.get(("gpu.ecc_errors", i))))
            if node is not None:
                devs = gpu_stragglers([node]).get((node.node_id, i), [])
                for d in devs:
                    out.append(f"  ⚠ {d.describe()}", style=f"bold {p.accent}")
        old = self._shown_text.get("info")
        if old is None or not same(old, out):
            self._shown_text["info"] = out
            self.query_one("#gpu-info", Static).update(out, layout=False)  # one line: no re-layout

    def _paint_health(self, node: NodeState | None, now: float) -> None:
        """Clock-event reasons (now and over the history), Xids, remaps and links of this GPU
        (widgets/gpu_health_view)."""
        p = Palette.from_variables(self.app.theme_variables)
        g = node.gpu(self.index) if node is not None else None
        over = None
        if node is not None and g is not None and g.clock_reasons is not None:
            points = node.history.points(("gpu.clock_reasons", self.index), since=now - 900.0)
            if points:
                n, shares = clock_reason_shares(points)
                over = (f"last {fmt.duration(now - points[0][0])}", n, shares)
        lines = [] if g is None else health_lines(gpu_health(g), g, p,
                                                  compact=self.size.height < COMPACT_BELOW_ROWS,
                                                  over=over)
        out = Text("\n").join(lines)
        old = self._shown_text.get("health")
        if old is None or not same(old, out):
            self._shown_text["health"] = out
            box = self.query_one("#gpu-health", Static)
            box.display = bool(lines)
            box.update(out)  # its height follows its lines

    def _render_proc(self, item: Hashable) -> list[Text]:
        proc = self._procs.get(item)  # type: ignore[arg-type]
        if proc is None:
            return [cell("")] * len(PROC_COLUMNS)
        gpu = next((g for g in proc.gpus if g.index == self.index), None)
        main, launcher = short_command(proc)  # the script or module first
        cmd = cell(main)
        if launcher:
            cmd.append(f"  ({launcher})", style=Palette.from_variables(
                self.app.theme_variables).muted)
        return [
            cell(str(proc.pid), "bold", True),
            cell(clean(proc.user, 32)),
            cell(fmt.bytes_(gpu.mem_bytes if gpu else None), "", True),
            cell(fmt.pct(gpu.sm_pct if gpu else None), "", True),
            cell(fmt.pct(proc.cpu_pct, digits=0), "", True),
            cell(fmt.bytes_(proc.rss_bytes), "", True),
            cmd,
        ]

    def selected_proc(self) -> ProcSample | None:
        pid = self.table.selected
        return self._procs.get(pid) if isinstance(pid, int) else None

    def on_live_table_activated(self, event: LiveTable.Activated) -> None:
        event.stop()
        proc = self._procs.get(event.item)  # type: ignore[arg-type]
        if proc is not None:
            self.go(OpenProcess(self.node_id, proc.pid, proc.create_time))

    def on_live_table_moved(self, event: LiveTable.Moved) -> None:
        event.stop()

    def action_signal(self) -> None:
        proc = self.selected_proc()
        if proc is None:
            self.notify("no process selected", severity="warning")
            return
        self.post_message(SignalRequest(self.node_id, proc))


def _gpu_mem(proc: ProcSample, index: int) -> int | None:
    g = next((g for g in proc.gpus if g.index == index), None)
    return g.mem_bytes if g else None
