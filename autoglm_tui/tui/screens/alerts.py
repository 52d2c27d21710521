"""The alerts screen (`:alerts`, or A): alerts grouped by rule, firing first, then pending,
then recently resolved (alerting/groups.py).

A group is one line ("▸ gpu_util_high · 341 GPUs on 43 nodes", its worst member's value);
firing groups of up to 10 alerts are open, the others closed until Enter opens them. On an alert,
Enter jumps to what fired (the node, its GPU, or the process); ``a`` acknowledges (again:
un-acknowledges), ``s`` silences for a chosen time (this target or the whole rule), ``u`` lifts
the silence; on a group they act on every member (``s``: the whole rule). Acks and silences
persist across restarts (alerting/silences.py). The footer line says how the sinks are doing
(log file, Alertmanager delivery).
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
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from autoglm_tui import format as fmt
from autoglm_tui.alerting.groups import (
    AlertGroup,
    Line,
    alert_value,
    group_alerts,
    is_open,
    visible,
)
from autoglm_tui.analysis.alerts import Alert, AlertState
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.paths import tilde
from autoglm_tui.text import clean
from autoglm_tui.tui.focus import focus_now
from autoglm_tui.tui.intents import Intent, OpenGpu, OpenNode, OpenProcess
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.screens.base import StateScreen
from autoglm_tui.tui.widgets.alerts_pane import SEVERITY_MARK, STATE_LABEL, state_style
from autoglm_tui.tui.widgets.live_table import Column, LiveTable, same

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
COLUMNS = [
    Column("state", "State", 8),
    Column("sev", "Sev", 3),
    Column("rule", "Rule", 20),
    Column("target", "Target", 24),
    Column("value", "Value", 9, right=True),
    Column("since", "Since", 8, right=True),
    Column("marks", "Marks", 20),
    Column("summary", "Summary", 24, fill=True),
]
# A line of the table: ("group", key) for a group's header, (fingerprint, n) for an alert
# (n: how many lines above show the same fingerprint, normally 0).
AlertItem = tuple[str, object]


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

    def __init__(self, alert: Alert, whole_rule_only: bool = False) -> None:
        super().__init__()
        self.alert = alert
        self.whole_rule_only = whole_rule_only  # a group: only the whole rule makes sense

    def compose(self) -> ComposeResult:
        with Vertical():
            title = Text("Silence ", style="bold")
            title.append(clean(self.alert.rule.name, 60))
            if not self.whole_rule_only:
                title.append(" on ")
                title.append(clean(str(self.alert.target), 80))
            yield Static(title)
            yield OptionList(*(Option(Text(label), id=str(i))
                               for i, (label, _, whole) in enumerate(SILENCE_CHOICES)
                               if whole or not self.whole_rule_only))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        _, seconds, whole = SILENCE_CHOICES[int(event.option.id or 0)]
        self.dismiss((seconds, whole))

    def action_cancel(self) -> None:
        self.dismiss(None)


class AlertsScreen(StateScreen):
    """Every alert the pipeline knows, grouped by rule and state (firing first)."""

    HELP_TITLE = "Alerts"
    KEY_HELP = {"enter": "On a group: show or hide its alerts; on an alert: open its "
                         "node, GPU or process"}  # widget keys, as here

    DEFAULT_CSS = """
    AlertsScreen #alerts-title { height: 1; background: $panel; padding: 0 1; }
    AlertsScreen #alerts-table { height: 1fr; }
    AlertsScreen #alerts-detail { height: auto; max-height: 5; padding: 0 1; }
    AlertsScreen #alerts-status { height: 1; padding: 0 1; color: $foreground-muted; }
    """
    age_every_s = 1.0  # the Since column moves without new data
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "jump", "Open group / go to target",
                tooltip="on a group: show or hide its alerts; on an alert: open its node, "
                "GPU or process"),
        Binding("a", "ack", "Ack", tooltip="acknowledge (again: un-acknowledge); on a group, "
                "every alert of it"),
        Binding("s", "silence", "Silence", tooltip="mute for a while: this target or the "
                "whole rule; on a group, the whole rule"),
        Binding("u", "unsilence", "Unsilence", tooltip="lift the silence (on a group: of "
                "every alert of it)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[AlertItem, Line] = {}
        self.toggled: set[str] = set()  # group keys opened or closed against the default
        self._status = Text()
        self._detail: Text | None = None  # what the detail lines show (None: not yet)
        self._now = 0.0
        self._p = Palette()

    @property
    def pipeline(self) -> AlertPipeline | None:
        return self.monitor_app.monitor.alerts

    def compose_body(self) -> Iterable[Widget]:
        yield Static(id="alerts-title")
        yield LiveTable(COLUMNS, id="alerts-table")
        yield Static(id="alerts-detail")
        yield Static(id="alerts-status")

    @property
    def table(self) -> LiveTable:
        return self.query_one("#alerts-table", LiveTable)

    def focus_main(self) -> None:
        focus_now(self.table)

    def paint(self, now: float) -> None:
        pipeline = self.pipeline
        p = self._p = Palette.from_variables(self.app.theme_variables)
        self._now = now
        title = Text("Alerts", style="bold")
        if pipeline is None:
            title.append("  alerting is off", style=p.muted)
            self.query_one("#alerts-title", Static).update(title)
            self._rows = {}
            self.table.show([], self._render_row, empty=lambda: Text(
                "Alerting is off (--no-alerts): no rule is checked and nothing is logged or "
                "sent. Start without --no-alerts to check the rules (`autoglm-tui rules list` "
                "shows them).", style=p.muted))
            return
        counts = pipeline.counts()
        title.append(f"  {counts[AlertState.FIRING]} firing", style=f"bold {p.error}")
        title.append(f" · {counts[AlertState.PENDING]} pending", style=p.warning)
        title.append(f" · {counts[AlertState.RESOLVED]} resolved recently", style=p.muted)
        title.append(f" · {len(pipeline.engine.rules)} rules", style=p.muted)
        self.query_one("#alerts-title", Static).update(title)
        self._status = Text(clean(pipeline.status_line(), 400) or "no sinks", style=p.muted)
        rows: dict[AlertItem, Line] = {}
        seen: dict[str, int] = {}
        for line in visible(group_alerts(pipeline.rows(), now), self.toggled):
            if line.row is None:
                rows[("group", line.group.key)] = line
                continue
            fp = line.row.alert.fingerprint
            rows[(fp, seen.get(fp, 0))] = line
            seen[fp] = seen.get(fp, 0) + 1
        self._rows = rows
        self.table.show(list(rows), self._render_row,  # only the rows in view are drawn
                        empty=lambda: self._empty_hint(pipeline))
        self._paint_detail()

    def _empty_hint(self, pipeline: AlertPipeline) -> Text:
        """What the empty table says: that the rules were checked and held nowhere."""
        rules = len(pipeline.engine.rules)
        if not rules:
            return Text("No rule is in force, so nothing is checked: `autoglm-tui rules list` "
                        "says where rules come from.", style=self._p.warning)
        keep = fmt.duration(pipeline.engine.resolved_keep_s)
        return Text(f"Nothing is firing or pending: the {rules} rule{'' if rules == 1 else 's'} "
                    f"in force hold nowhere. An alert that ends stays here as resolved for "
                    f"{keep}; `autoglm-tui rules list` shows the rules.", style=self._p.muted)

    def _paint_detail(self) -> None:
        """The highlighted alert's whole summary (on a group's header, its worst member's),
        which a narrow terminal cannot show in the table, and its flight recording (the file
        to open with `autoglm-tui replay`); below, the sinks' health."""
        line = self.selected_line
        row = None if line is None else line.row or line.group.worst
        detail = Text()
        if row is not None:
            if line is not None and line.row is None:
                detail.append("worst: ", style=self._p.muted)
            detail.append(clean(row.alert.summary(), 400))
            if line is not None and line.row is not None and row.flight_recording:
                detail.append("\nflight recording", style=f"bold {self._p.label}")
                detail.append(" (open it with autoglm-tui replay):\n", style=self._p.muted)
                detail.append(clean(tilde(row.flight_recording), 400))
        if self._detail is None or not same(detail, self._detail):  # else nothing to lay out
            self._detail = detail
            box = self.query_one("#alerts-detail", Static)
            box.display = bool(detail.plain)
            box.update(detail)
        self.query_one("#alerts-status", Static).update(self._status)

    def _render_row(self, item: object) -> list[Text]:
        line = self._rows.get(item)  # type: ignore[call-overload]
        if line is None:
            return []
        if line.row is None:
            return self._render_group(line.group)
        row, p, now = line.row, self._p, self._now
        a = row.alert
        style = state_style(row, p)
        marks = Text()
        if row.acked:
            marks.append("ack ", style=p.success)
        if row.silence is not None:
            marks.append(f"silenced {fmt.duration(row.silence.until - now)}", style=p.muted)
        if a.restored_at is not None:  # taken back from the alert log after a restart
            marks.append(" restored" if marks.plain else "restored",
                         style=p.warning if a.restored_summary is not None else p.muted)
        if a.state == AlertState.RESOLVED and a.reason:  # why it ended
            marks.append((" " if marks.plain else "") + clean(a.reason, 60), style=p.muted)
        if row.flight_recording:
            marks.append(" rec" if marks.plain else "rec", style=p.label)
        since = (f"{fmt.duration(now - a.resolved_at)} ago"
                 if a.state == AlertState.RESOLVED and a.resolved_at is not None
                 else fmt.duration(now - a.active_since))
        member = line.group.size > 1  # under its group's header: indented
        return [
            Text(STATE_LABEL[a.state], style=style),
            Text(SEVERITY_MARK.get(a.severity, "").strip() or "·", style=style),
            Text(("  " if member else "") + clean(a.rule.name, 48)),
            Text(clean(str(a.target), 60)),
            Text(alert_value(a)),
            Text(since),
            marks,
            Text(clean(a.summary(), 300), style=p.muted if row.silence else ""),
        ]

    def _render_group(self, g: AlertGroup) -> list[Text]:
        p = self._p
        style = state_style(g.worst, p) if g.silenced < g.size else p.muted
        marks = Text()
        if g.acked:
            marks.append(f"{g.acked} ack ", style=p.success)
        if g.silenced:
            marks.append(f"{g.silenced} silenced", style=p.muted)
        age = fmt.duration(g.age_s)
        summary = Text("worst ", style=p.muted)
        summary.append(clean(str(g.worst.alert.target), 120), style="bold")
        summary.append(" · " + clean(g.worst.alert.summary(), 300), style=p.muted)
        return [
            Text(STATE_LABEL[g.state], style=f"bold {style}"),
            Text(SEVERITY_MARK.get(g.severity, "").strip() or "·", style=style),
            Text(("▾ " if is_open(g, self.toggled) else "▸ ") + clean(g.rule, 48),
                 style="bold"),
            Text(g.what(), style="bold"),
            Text(alert_value(g.worst.alert)),
            Text(f"{age} ago" if g.state == AlertState.RESOLVED else age),
            marks,
            summary,
        ]

    # ------------------------------------------------------------------ actions

    @property
    def selected_line(self) -> Line | None:
        """The line under the cursor: a group's header or one alert."""
        return self._rows.get(self.table.selected)  # type: ignore[arg-type]

    @property
    def selected(self) -> AlertRow | None:
        """The alert under the cursor (None on a group's header)."""
        line = self.selected_line
        return None if line is None else line.row

    def _targets(self) -> list[AlertRow]:
        """What an action applies to: the alert under the cursor, or every alert of the
        group whose header it is on."""
        line = self.selected_line
        if line is None:
            return []
        return list(line.group.rows) if line.row is None else [line.row]

    def on_live_table_activated(self, event: LiveTable.Activated) -> None:
        event.stop()
        self.action_jump()

    def on_live_table_moved(self, event: LiveTable.Moved) -> None:
        event.stop()
        self._paint_detail()

    def action_jump(self) -> None:
        line = self.selected_line
        if line is None:
            return
        if line.row is None:  # a group's header: open or close it
            self.toggled ^= {line.group.key}
            self.repaint(self.monitor_app.clock(), force=True)
            return
        target = line.row.alert.target
        node = self.state.nodes.get(target.node)
        if node is None:
            self.notify(f"{clean(target.node, 64)} is no longer in the fleet", severity="warning")
            return
        self.go(target_intent(node, target.gpu, target.pid))

    def action_ack(self) -> None:
        rows, pipeline = self._targets(), self.pipeline
        if not rows or pipeline is None:
            return
        if len(rows) == 1:
            pipeline.ack(rows[0].alert)
        else:  # a group: ack every alert, or, when all are acked, un-ack them
            everyone = all(r.acked for r in rows)
            for r in rows:
                if r.acked == everyone:
                    pipeline.ack(r.alert)
        self.repaint(self.monitor_app.clock(), force=True)

    def action_silence(self) -> None:
        line, pipeline = self.selected_line, self.pipeline
        if line is None or pipeline is None:
            return
        group = line.row is None
        alert = line.group.worst.alert if group else line.row.alert  # type: ignore[union-attr]

        def chosen(choice: tuple[float, bool] | None) -> None:
            if choice is None or self.pipeline is None:
                return
            seconds, whole = choice
            s = self.pipeline.silence(alert, seconds, whole_rule=whole)
            until = time.strftime("%H:%M", time.localtime(s.until))
            self.notify(Text(f"silenced {s.describe()} until {until}").plain, timeout=4)
            self.repaint(self.monitor_app.clock(), force=True)

        self.app.push_screen(SilenceDialog(alert, whole_rule_only=group), chosen)

    def action_unsilence(self) -> None:
        pipeline = self.pipeline
        if pipeline is None:
            return
        silences = {r.silence.id: r.silence for r in self._targets() if r.silence is not None}
        for silence in silences.values():
            pipeline.unsilence(silence)
        if silences:
            self.repaint(self.monitor_app.clock(), force=True)


def target_intent(node: NodeState, gpu: int | None, pid: int | None) -> Intent:
    """Where an alert's target lives: its GPU, else its process, else its node."""
    if gpu is not None:
        return OpenGpu(node.node_id, gpu)
    if pid is not None:
        info = node.proc_info.get(pid)
        return OpenProcess(node.node_id, pid, info.create_time if info else None)
    return OpenNode(node.node_id)
