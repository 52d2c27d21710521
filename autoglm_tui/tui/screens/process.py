"""Process detail: full command line, owner, start time, GPU use and history charts."""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.text import Text
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from autoglm_tui import format as fmt
from autoglm_tui.model import ProcSample
from autoglm_tui.text import clean
from autoglm_tui.tui.messages import SignalRequest
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.screens.base import StateScreen
from autoglm_tui.tui.widgets.chart import NO_DATA, HistoryChart, bytes_fmt, pct_fmt
from autoglm_tui.tui.widgets.node_header import NodeHeader


class ProcessScreen(StateScreen):
    """One process of one node; reads `node_id`'s state like every other screen."""

    HELP_TITLE = "Process"

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("k", "signal", "Send signal"),
    ]

    def __init__(self, node_id: str, pid: int, create_time: float | None = None) -> None:
        super().__init__()
        self.node_id = node_id
        self.pid = pid
        self.create_time = create_time

    def compose_body(self) -> Iterable[Widget]:
        yield NodeHeader(self.node_id, id="header")
        with VerticalScroll(id="proc-info-box") as box:
            box.border_title = f"Process {self.pid}"
            yield Static(id="proc-info")
        with Grid(id="charts"):
            yield HistoryChart("CPU", ("proc.cpu_pct", self.pid), pct_fmt, id="chart-cpu")
            yield HistoryChart("RSS", ("proc.rss_bytes", self.pid), bytes_fmt, binary=True,
                               id="chart-rss")
            yield HistoryChart("GPU memory", ("proc.gpu_mem_bytes", self.pid), bytes_fmt,
                               binary=True, id="chart-gpu")
            yield HistoryChart("SM (sum over its GPUs)", ("proc.sm_util_pct", self.pid), pct_fmt,
                               id="chart-sm")

    def current(self) -> tuple[ProcSample | None, str | None]:
        """The process as last listed, and why it is not live (exited, pid reused)."""
        node = self.node_state(self.node_id)
        if node is None:
            return None, "node is gone"
        proc = node.proc_info.get(self.pid)
        if proc is None:
            return None, "process is no longer listed (exited, or out of the sampler's top N)"
        if (
            self.create_time is not None
            and proc.create_time is not None
            and abs(proc.create_time - self.create_time) > 0.05
        ):
            return None, "process exited and its pid now belongs to another process"
        listed = node.last_sample is not None and any(
            q.pid == self.pid for q in node.last_sample.procs
        )
        if listed:
            return proc, None
        return proc, "not in the latest sample (exited, or out of the top N): last values shown"

    def paint(self, now: float) -> None:
        node = self.node_state(self.node_id)
        self.paint_header(self.node_id, node, now)
        proc, problem = self.current()
        p = Palette.from_variables(self.app.theme_variables)
        self.query_one("#proc-info", Static).update(self._info(proc, problem, node, p))
        no_gpu = proc is not None and not proc.gpus  # its GPU charts: why they are empty
        for chart in self.query(HistoryChart):
            if chart.id in ("chart-gpu", "chart-sm"):
                chart.empty = "uses no GPU" if no_gpu else NO_DATA
            chart.show(node, now)

    def _info(self, proc: ProcSample | None, problem: str | None, node: object, p: Palette) -> Text:
        out = Text()
        if problem:
            out.append(problem + "\n", style=f"bold {p.warning}")
        if proc is None:
            return out
        cmd = clean(proc.cmdline, 4096).strip() or f"[{clean(proc.name, 256)}]"
        out.append(cmd + "\n\n")
        fields: list[tuple[str, str]] = [
            ("pid ", str(proc.pid)),
            ("ppid ", fmt.num(proc.ppid)),
            ("user ", clean(proc.user, 64)),
            ("name ", clean(proc.name, 64)),
            ("status ", clean(proc.status or fmt.NA, 32)),
            ("threads ", fmt.num(proc.num_threads)),
        ]
        for label, value in fields:
            out.append(label, style=p.muted)
            out.append(value + "   ")
        out.append("\n")
        sample = getattr(node, "last_sample", None)
        if proc.create_time is not None:
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(proc.create_time))
            out.append("started ", style=p.muted)
            out.append(started)
            if sample is not None:
                out.append(f"  ({fmt.duration(sample.t - proc.create_time)} ago)", style=p.muted)
            out.append("\n")
        out.append("CPU ", style=p.muted)
        out.append(fmt.pct(proc.cpu_pct, digits=1) + "   ")
        out.append("RSS ", style=p.muted)
        out.append(fmt.bytes_(proc.rss_bytes) + "\n")
        for g in proc.gpus:
            out.append(f"GPU {g.index} ", style=f"bold {p.label}")
            out.append("memory ", style=p.muted)
            out.append(fmt.bytes_(g.mem_bytes) + "   ")
            out.append("SM ", style=p.muted)
            out.append(fmt.pct(g.sm_pct) + "\n")
        if proc.error:
            out.append("note ", style=p.muted)
            out.append(clean(proc.error, 200), style=p.warning)
        out.rstrip()
        return out

    def action_signal(self) -> None:
        proc, problem = self.current()
        if proc is None or problem:
            self.notify(problem or "no process", severity="warning")
            return
        self.post_message(SignalRequest(self.node_id, proc))
