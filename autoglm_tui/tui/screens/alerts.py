"""The alerts screen (`:alerts`, or A): firing first, then pending, then recently resolved.

Enter jumps to what fired (the node, its GPU, or the process); ``a`` acknowledges (again:
un-acknowledges), ``s`` silences for a chosen time (this target or the whole rule), ``u`` lifts
the silence. Acks and silences persist across restarts (alerting/silences.py). The footer line
says how the sinks are doing (log file, Alertmanager delivery).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import DataTable, OptionList, Static
from textual.widgets.option_list import Option

from autoglm_tui import format as fmt
from autoglm_tui.analysis.alerts import Alert, AlertState
from autoglm_tui.analysis.state import NodeState
from autoglm_tui.text import clean
from autoglm_tui.tui.focus import focus_now
from autoglm_tui.tui.intents import Intent, OpenGpu, OpenNode, OpenProcess
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
    age_every_s = 1.0  # the Since column moves without new data
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

    @property
    def pipeline(self) -> AlertPipeline | None:
        return self.monitor_app.monitor.alerts

    def compose_body(self) -> Iterable[Widget]:
        yield Static(id="alerts-title")
        table: DataTable[Text] = DataTable(id="alerts-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(id="alerts-status")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col in COLUMNS:
            table.add_column(col, key=col)

    def focus_main(self) -> None:
        focus_now(self.query_one(DataTable))

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

    @property
    def selected(self) -> AlertRow | None:
        table = self.query_one(DataTable)
        i = table.cursor_row
        return self._rows[i] if 0 <= i < len(self._rows) else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_jump()

    def action_jump(self) -> None:
        row = self.selected
        if row is None:
            return
        target = row.alert.target
        node = self.state.nodes.get(target.node)
        if node is None:
            self.notify(f"{clean(target.node, 64)} is no longer in the fleet", severity="warning")
            return
        self.go(target_intent(node, target.gpu, target.pid))

    def action_ack(self) -> None:
        row, pipeline = self.selected, self.pipeline
        if row is None or pipeline is None:
            return
        pipeline.ack(row.alert)
        self.repaint(self.monitor_app.clock(), force=True)

    def action_silence(self) -> None:
        row, pipeline = self.selected, self.pipeline
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
        row, pipeline = self.selected, self.pipeline
        if row is None or pipeline is None or row.silence is None:
            return
        pipeline.unsilence(row.silence)
        self.repaint(self.monitor_app.clock(), force=True)


def target_intent(node: NodeState, gpu: int | None, pid: int | None) -> Intent:
    """Where an alert's target lives: its GPU, else its process, else its node."""
    if gpu is not None:
        return OpenGpu(node.node_id, gpu)
    if pid is not None:
        info = node.proc_info.get(pid)
        return OpenProcess(node.node_id, pid, info.create_time if info else None)
    return OpenNode(node.node_id)
