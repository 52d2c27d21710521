"""The node screen (the local view): header, GPUs, host, IO and the process table.

It reads one node, by id, from the monitor's fleet state, so the cluster view can open the
same screen for any node it knows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Input

from autoglm_tui.tui.focus import focus_now
from autoglm_tui.tui.intents import OpenAlerts, OpenDiagnosis, OpenGpu, OpenProcess, OpenService
from autoglm_tui.tui.messages import SignalRequest
from autoglm_tui.tui.procview import SORT_KEYS, ViewOptions
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.screens.base import SORT_BINDINGS, StateScreen
from autoglm_tui.tui.widgets.alerts_pane import AlertsPane
from autoglm_tui.tui.widgets.command_line import CommandLine
from autoglm_tui.tui.widgets.findings import FindingsLine
from autoglm_tui.tui.widgets.gpu_pane import GpuPane
from autoglm_tui.tui.widgets.host_pane import HostPane
from autoglm_tui.tui.widgets.io_correlation import IoCorrelationPane
from autoglm_tui.tui.widgets.io_pane import IoPane
from autoglm_tui.tui.widgets.node_header import NodeHeader
from autoglm_tui.tui.widgets.pane import NodePane
from autoglm_tui.tui.widgets.process_table import ProcessTable
from autoglm_tui.tui.widgets.services_pane import ServicesPane

COMPACT_BELOW_ROWS = 32  # shorter terminals get the compact layout (app.tcss: .-compact)
PROCS_MIN_ROWS = {True: 5, False: 6}  # the process table's least height (app.tcss), by compact
PROCS_SQUEEZED_ROWS = 3  # its title, column heads and one process, when rows run short


class NodeScreen(StateScreen):
    """Everything about one node on one screen."""

    HELP_TITLE = "Node"
    KEY_HELP = {  # what keys do here, widget keys included
        "enter": "Open the highlighted process (command line, owner, history)",
        "k": "Send a signal to the highlighted process (asks first)",
        "A": "All alerts (grouped by rule)",
        "i": "IO correlation: network beside disk, Pearson r (again: hide)",
        "t": "Process tree (again: flat list)",
    }

    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/",
                priority=True),
        Binding("escape", "back", "Clear filter / back", show=False),
        Binding("c", "sort('cpu')", "Sort by CPU%", show=False),
        Binding("m", "sort('mem')", "Sort by memory (RSS)", show=False),
        Binding("g", "sort('gpu')", "Sort by GPU memory", show=False),
        Binding("s", "sort('sm')", "Sort by SM%", show=False),
        Binding("p", "sort('pid')", "Sort by PID", show=False),
        Binding("e", "sort('time')", "Sort by elapsed time", show=False),
        Binding("u", "sort('user')", "Sort by user", show=False),
        *SORT_BINDINGS,
        Binding("t", "tree", "Tree"),
        Binding("k", "signal", "Signal"),
        Binding("A", "alerts", "Alerts", key_display="A"),
        Binding("d", "diagnosis", "Diagnosis", show=False),  # the findings line says (d)
        Binding("i", "io_correlation", "IO"),
        Binding("S", "services", "Services", key_display="S", show=False,
                tooltip="to the Services pane and back"),
        Binding("z", "fold_services", "Fold / unfold the Services pane", show=False),
        Binding("G", "gpu_prompt", "Open a GPU by index", key_display="G", priority=True,
                show=False),
        *(Binding(str(n), f"open_gpu({n})", "Open the GPU with that index", show=False)
          for n in range(10)),
    ]

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id
        self.opts = ViewOptions()
        self._subtitle: tuple[bool, str] = (False, "")

    def compose_body(self) -> Iterable[Widget]:
        yield NodeHeader(self.node_id, id="header")
        yield FindingsLine(id="findings-line")
        yield GpuPane(id="gpus")
        yield ServicesPane(id="services")
        with Horizontal(id="middle"):
            yield HostPane(id="host")
            yield IoPane(id="io")
        yield AlertsPane(id="alerts")
        yield IoCorrelationPane(id="iocorr", shown=False)
        with Vertical(id="procs") as procs:
            procs.border_title = "Processes"
            yield Input(placeholder="filter by user, command or pid", id="filter",
                        select_on_focus=False)  # opened again, the first key adds to it
            yield ProcessTable(id="proc-table")

    def on_mount(self) -> None:
        self.opts = replace(self.opts, top=self.monitor_app.process_top)

    def focus_main(self) -> None:
        focus_now(self.table)

    @property
    def table(self) -> ProcessTable:
        return self.query_one(ProcessTable)

    @property
    def compact(self) -> bool:
        return self.size.height < COMPACT_BELOW_ROWS

    def on_resize(self, event: events.Resize) -> None:
        self.repaint(self.monitor_app.clock(), force=True)

    # ------------------------------------------------------------------ drawing

    def paint(self, now: float) -> None:
        node = self.node_state(self.node_id)
        self.paint_header(self.node_id, node, now)
        compact = self.compact
        # Below 32 rows the panes keep only their top border (app.tcss); with `i` the IO
        # correlation takes the place of the host/IO panes (short: of GPUs and alerts too).
        self.set_class(compact, "-compact")
        self.query_one(ServicesPane).follow(node)
        iocorr = self.query_one(IoCorrelationPane)
        for pane in self.query(NodePane):
            if pane.display:
                pane.show(node, now, compact)
        alerts = self.query_one(AlertsPane)
        taken = self._taken("alerts", "procs")  # as last laid out (auto heights)
        least = self._squeeze(compact, taken)
        if compact and (iocorr.display or self.has_class("-command")):
            alerts.display = False  # its rows go to the IO correlation or the command line
        else:
            # What the screen leaves the alerts once the table has its least height.
            borders = 1 if compact else 2
            alerts.room = max(1, self.size.height - taken - least - borders) \
                if self.size.height else None
            alerts.show(self.node_id, now, compact)
        runner = self.monitor_app.monitor.diagnosis
        self.query_one(FindingsLine).show(runner.for_node(self.node_id) if runner else [],
                                          Palette.from_variables(self.app.theme_variables))
        if iocorr.display:
            iocorr.show(node, now)
        self._paint_table()

    def _taken(self, *but: str) -> int:
        """The rows of every shown child but `but` (auto heights, as last laid out)."""
        return sum(child.outer_size.height for child in self.children
                   if child.display and child.id not in but)

    def _squeeze(self, compact: bool, taken: int) -> int:
        """On a short screen that cannot hold every pane (a FAILED node's banner, services,
        8 GPUs), shrink the table to one process, then fold the Services pane, so that
        nothing is pushed off the top; returns the table's least height."""
        services = self.query_one(ServicesPane)
        procs = self.query_one("#procs")
        least = PROCS_MIN_ROWS[compact]
        squeezed = False
        if compact and self.size.height:
            alerts = self.query_one(AlertsPane)
            unfold = services.rows_unfolded() if services.squeezed else 0
            short = (taken + unfold + least - self.size.height
                     + (alerts.outer_size.height and 2))  # its title and one alert
            if short > 0:
                least = max(PROCS_SQUEEZED_ROWS, least - short)
                squeezed = short > PROCS_MIN_ROWS[compact] - least and services.display
        services.squeeze(squeezed)
        procs.styles.min_height = least
        return least

    def _paint_table(self) -> None:
        node = self.node_state(self.node_id)
        table = self.table
        palette = Palette.from_variables(self.app.theme_variables)
        table.show(node.last_sample if node else None, self.opts, palette)
        sub = Text(f"sort {self.opts.describe()}")
        if self.opts.tree:
            sub.append("  ·  tree")
        if self.opts.filter:
            sub.append("  ·  filter ")
            sub.append(repr(self.opts.filter))
        sub.append(f"  ·  {table.shown} shown")
        compact = self.compact
        if (compact, sub.plain) != self._subtitle:
            self._subtitle = (compact, sub.plain)
            procs = self.query_one("#procs")
            if compact:  # no bottom border: the sort and counts follow the title
                title = Text("Processes  ")
                title.append_text(Text(sub.plain, style="not bold"))
                procs.border_title, procs.border_subtitle = title, ""
            else:
                procs.border_title, procs.border_subtitle = "Processes", sub

    # ------------------------------------------------------------------ actions

    def _set_opts(self, **changes: object) -> None:
        self.opts = replace(self.opts, **changes)  # type: ignore[arg-type]
        self._paint_table()

    def _resort(self, **changes: object) -> None:
        """A new order: show its top, not the row the cursor was on (as htop does)."""
        self._set_opts(**changes)
        self.table.to_top()

    def action_sort(self, key: str) -> None:
        self._resort(sort=key, reverse=False)

    def action_cycle_sort(self, step: int) -> None:
        i = SORT_KEYS.index(self.opts.sort)
        self._resort(sort=SORT_KEYS[(i + step) % len(SORT_KEYS)], reverse=False)

    def action_reverse(self) -> None:
        self._resort(reverse=not self.opts.reverse)

    def action_tree(self) -> None:
        self._set_opts(tree=not self.opts.tree)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-active")
        box.cursor_position = len(box.value)
        focus_now(box)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self._set_opts(filter=event.value.strip())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            if not event.value.strip():
                event.input.remove_class("-active")
            focus_now(self.table)

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("-active") or self.opts.filter:
            box.value = ""
            box.remove_class("-active")
            self._set_opts(filter="")
            focus_now(self.table)
        else:
            super().action_back()

    # ------------------------------------------------------------------ down to a GPU

    def gpu_indices(self) -> list[int]:
        node = self.node_state(self.node_id)
        return node.gpu_indices() if node is not None and node.last_sample is not None else []

    def action_open_gpu(self, index: int) -> None:
        self.open_gpu(index)

    def open_gpu(self, index: int) -> None:
        if index not in self.gpu_indices():
            self.notify(f"this node has no GPU {index}", severity="warning")
            return
        self.go(OpenGpu(self.node_id, index))

    def action_gpu_prompt(self) -> None:
        self.query_one(CommandLine).open("gpu ")
        self._command_line_shown(True)

    def action_command(self) -> None:
        super().action_command()
        self._command_line_shown(True)

    def on_command_line_submitted(self, event: CommandLine.Submitted) -> None:
        self._command_line_shown(False)

    def on_command_line_closed(self, event: CommandLine.Closed) -> None:
        self._command_line_shown(False)

    def _command_line_shown(self, shown: bool) -> None:
        """The `:` line takes two rows: on a short terminal, those of the alerts pane."""
        if shown != self.has_class("-command"):
            self.set_class(shown, "-command")
            self.repaint(self.monitor_app.clock(), force=True)

    def on_click(self, event: events.Click) -> None:
        pane = event.widget
        if not isinstance(pane, GpuPane):
            return
        offset = event.get_content_offset(pane)
        indices = self.gpu_indices()
        if offset is not None and 0 <= offset.y < len(indices):
            event.stop()
            self.open_gpu(indices[offset.y])

    def on_process_table_open(self, event: ProcessTable.Open) -> None:
        event.stop()
        proc = event.proc
        self.go(OpenProcess(self.node_id, proc.pid, proc.create_time))

    # ------------------------------------------------------------------ services

    def action_services(self) -> None:
        pane = self.query_one(ServicesPane)
        if not pane.display:
            self.notify("no inference service seen on this node", severity="warning")
        elif pane.has_focus:
            focus_now(self.table)
        else:
            if pane.collapsed:
                pane.toggle()
            focus_now(pane)

    def action_fold_services(self) -> None:
        pane = self.query_one(ServicesPane)
        if pane.display and pane.squeezed:
            self.notify("no room to unfold the Services pane at this terminal height: "
                        "S then Enter opens the service, :services lists them all",
                        severity="warning")
        elif pane.display:
            pane.toggle()

    def on_services_pane_open(self, event: ServicesPane.Open) -> None:
        event.stop()
        self.go(OpenService(self.node_id, event.service_id))

    def action_alerts(self) -> None:
        self.go(OpenAlerts())

    def action_diagnosis(self) -> None:
        self.go(OpenDiagnosis(self.node_id))

    def action_io_correlation(self) -> None:
        iocorr = self.query_one(IoCorrelationPane)
        iocorr.display = not iocorr.display
        self.set_class(iocorr.display, "-iocorr")
        self.repaint(self.monitor_app.clock(), force=True)

    def action_signal(self) -> None:
        proc = self.table.selected
        if proc is None:
            self.notify("no process selected", severity="warning")
            return
        self.post_message(SignalRequest(self.node_id, proc))
