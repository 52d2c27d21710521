"""The alerts screen (`:alerts`, or A): firing first, then pending, then recently resolved.

Enter jumps to what fired (the node, its GPU, or the process); ``a`` acknowledges (again:
un-acknowledges), ``s`` silences for a chosen time (this target or the whole rule), ``u`` lifts
the silence. Acks and silences persist across restarts (alerting/silences.py). The footer line
says how the sinks are doing (log file, Alertmanager delivery).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, OptionList, Static
from textual.widgets.option_list import Option

from autoglm_tui import format as fmt
from autoglm_tui.analysis.alerts import Alert, AlertState
from autoglm_tui.text import clean
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.screens.base import StateScreen
from autoglm_tui.tui.widgets.alerts_pane import SEVERITY_MARK, STATE_LABEL, state_style

if TYPE_CHECKING:
    from autoglm_tui.alerting.pipeline import AlertPipeline, AlertRow

SILENCE_CHOICES: tuple[tuple[str, float, bool], ...] = (
    ("15 minutes, this target", 15 * 60, False),
    ("1 hour, this target", 3600, False),
    ("4 hours, this target", 4 * 3600, False),
    ("1 day, this target", 86400, False),
    ("1 hour, the whole rule (every target)", 3600, True),
    ("1 day, the whole rule (every target)", 86400, True),
)
COLUMNS = ("state", "sev", "rule", "target", "value", "since", "marks", "summary")


class SilenceDialog(ModalScreen[tuple[float, bool] | None]):
    """Asks how long to silence, and whether the target or the whole rule."""

    DEFAULT_CSS = """
    SilenceDialog { align: center middle; }
    SilenceDialog > Vertical {
        width: 60; height: auto; border: round $warning; background: $surface; padding: 0 1;
    }
    SilenceDialog OptionList { height: auto; max-height: 10; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, alert: Alert) -> None:
        super().__init__()
        self.alert = alert

    def compose(self) -> ComposeResult:
        with Vertical():
            title = Text("Silence ", style="bold")
            title.append(clean(self.alert.rule.name, 60))
            title.append(" on ")
            title.append(clean(str(self.alert.target), 80))
            yield Static(title)
            yield OptionList(*(Option(Text(label), id=str(i))
                               for i, (label, _, _) in enumerate(SILENCE_CHOICES)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        _, seconds, whole = SILENCE_CHOICES[int(event.option.id or 0)]
        self.dismiss((seconds, whole))

    def action_cancel(self) -> None:
        self.dismiss(None)


class AlertsScreen(StateScreen):
    """Every alert the pipeline knows, newest state first within each group."""

    DEFAULT_CSS = """
    AlertsScreen #alerts-title { height: 1; background: $panel; padding: 0 1; }
    AlertsScreen #alerts-table { height: 1fr; }
    AlertsScreen #alerts-status { height: 1; padding: 0 1; color: $foreground-muted; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "jump", "Go to target"),
        Binding("a", "ack", "Ack"),
        Binding("s", "silence", "Silence"),
        Binding("u", "unsilence", "Unsilence"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[AlertRow] = []
        self._painted: tuple[int, int, int] | None = None

    @property
    def pipeline(self) -> AlertPipeline | None:
        return getattr(self.monitor_app.monitor, "alerts", None)

    def compose(self) -> ComposeResult:
        yield Static(id="alerts-title")
        table: DataTable[Text] = DataTable(id="alerts-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(id="alerts-status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col in COLUMNS:
            table.add_column(col, key=col)
        table.focus()

    def repaint(self, now: float, force: bool = False) -> None:
        pipeline = self.pipeline
        stamp = (self.state.version, pipeline.version if pipeline else -1, int(now))
        if not force and stamp == self._painted:
            return
        self._painted = stamp
        self.paint(now)

    def paint(self, now: float) -> None:
        pipeline = self.pipeline
        p = Palette.from_variables(self.app.theme_variables)
        title = Text("Alerts", style="bold")
        status = Text()
        table = self.query_one(DataTable)
        if pipeline is None:
            title.append("  alerting is off (start with --rules, or check the rules file)",
                         style=p.muted)
            self.query_one("#alerts-title", Static).update(title)
            table.clear()
            self._rows = []
            return
        counts = pipeline.counts()
        title.append(f"  {counts[AlertState.FIRING]} firing", style=f"bold {p.error}")
        title.append(f" · {counts[AlertState.PENDING]} pending", style=p.warning)
        title.append(f" · {counts[AlertState.RESOLVED]} resolved recently", style=p.muted)
        title.append(f" · {len(pipeline.engine.rules)} rules", style=p.muted)
        self.query_one("#alerts-title", Static).update(title)
        status.append(clean(pipeline.status_line(), 400) or "no sinks", style=p.muted)
        self.query_one("#alerts-status", Static).update(status)
        self._fill(table, pipeline.rows(), now, p)

    def _fill(self, table: DataTable[Text], rows: list[AlertRow], now: float, p: Palette) -> None:
        keep = None
        if self._rows and 0 <= table.cursor_row < len(self._rows):
            keep = self._rows[table.cursor_row].alert.fingerprint
        self._rows = rows
        table.clear()
        cursor = 0
        for i, row in enumerate(rows):
            a = row.alert
            style = state_style(row, p)
            marks = Text()
            if row.acked:
                marks.append("ack ", style=p.success)
            if row.silence is not None:
                marks.append(f"silenced {fmt.duration(row.silence.until - now)}", style=p.muted)
            since = (f"{fmt.duration(now - a.resolved_at)} ago"
                     if a.state == AlertState.RESOLVED and a.resolved_at is not None
                     else fmt.duration(now - a.active_since))
            value = "-" if a.value is None else f"{a.value:.4g}"
            table.add_row(
                Text(STATE_LABEL[a.state], style=style),
                Text(SEVERITY_MARK.get(a.severity, "").strip() or "·", style=style),
                Text(clean(a.rule.name, 48)),
                Text(clean(str(a.target), 60)),
                Text(value),
                Text(since),
                marks,
                Text(clean(a.summary(), 300), style=p.muted if row.silence else ""),
                key=a.fingerprint + f"#{i}",
            )
            if a.fingerprint == keep and cursor == 0:
                cursor = i
        if rows:
            table.move_cursor(row=cursor)

    # ------------------------------------------------------------------ actions

    def _selected(self) -> AlertRow | None:
        table = self.query_one(DataTable)
        i = table.cursor_row
        return self._rows[i] if 0 <= i < len(self._rows) else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_jump()

    def action_jump(self) -> None:
        row = self._selected()
        if row is None:
            return
        jump_to(self.app, row.alert)

    def action_ack(self) -> None:
        row, pipeline = self._selected(), self.pipeline
        if row is None or pipeline is None:
            return
        pipeline.ack(row.alert)
        self.repaint(self.monitor_app.clock(), force=True)

    def action_silence(self) -> None:
        row, pipeline = self._selected(), self.pipeline
        if row is None or pipeline is None:
            return
        alert = row.alert

        def chosen(choice: tuple[float, bool] | None) -> None:
            if choice is None or self.pipeline is None:
                return
            seconds, whole = choice
            s = self.pipeline.silence(alert, seconds, whole_rule=whole)
            until = time.strftime("%H:%M", time.localtime(s.until))
            self.notify(Text(f"silenced {s.describe()} until {until}").plain, timeout=4)
            self.repaint(self.monitor_app.clock(), force=True)

        self.app.push_screen(SilenceDialog(alert), chosen)

    def action_unsilence(self) -> None:
        row, pipeline = self._selected(), self.pipeline
        if row is None or pipeline is None or row.silence is None:
            return
        pipeline.unsilence(row.silence)
        self.repaint(self.monitor_app.clock(), force=True)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()


def jump_to(app: Any, alert: Alert) -> None:
    """Open what fired: the process, else the GPU, else the node (cluster or local layout)."""
    from autoglm_tui.tui.screens.gpu import GpuScreen

    target = alert.target
    state = app.monitor.state
    if target.node not in state.nodes:
        app.notify(f"{clean(target.node, 64)} is no longer in the fleet", severity="warning")
        return
    stack = app.screen_stack
    try:
        from autoglm_tui.tui.screens.cluster import ClusterScreen

        cluster = any(isinstance(s, ClusterScreen) for s in stack)
    except ImportError:  # pragma: no cover - cluster screens always ship
        cluster = False
    if cluster:
        from autoglm_tui.tui.screens.cluster_node import ClusterProcessScreen
        from autoglm_tui.tui.screens.nav import open_gpu, open_node

        if target.gpu is not None:
            open_gpu(app, target.node, target.gpu)
            return
        open_node(app, target.node)
        if target.pid is not None:
            app.push_screen(ClusterProcessScreen(target.node, target.pid))
        return
    from autoglm_tui.tui.screens.node import NodeScreen
    from autoglm_tui.tui.screens.process import ProcessScreen

    # local layout: back to the node screen at the bottom, then open the target on top
    while len(app.screen_stack) > 2 and not isinstance(app.screen, NodeScreen):
        app.pop_screen()
    if not isinstance(app.screen, NodeScreen) or getattr(app.screen, "node_id", None) != \
            target.node:
        app.push_screen(NodeScreen(target.node))
    if target.gpu is not None:
        app.push_screen(GpuScreen(target.node, target.gpu))
    elif target.pid is not None:
        info = state.nodes[target.node].proc_info.get(target.pid)
        app.push_screen(ProcessScreen(target.node, target.pid,
                                      info.create_time if info else None))
