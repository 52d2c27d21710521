"""The alerts pane: alerts grouped by rule (firing, then pending, then recently resolved),
one line per group, as Alertmanager groups notifications.

A rule that holds on many targets is one line ("gpu_util_high · 341 GPUs on 43 nodes · worst
node-017 gpu3 97.0%", alerting/groups.py); a rule on one target shows that alert. It reads the
monitor's alert pipeline (``monitor.alerts``); on a node screen it shows that node's alerts, on
the cluster screen every node's. It hides itself when there is nothing to show, so a quiet
system keeps its rows for the figures. Every string from a node (its name, a process command)
is cleaned and drawn as plain Text, never markup.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from itertools import compress, repeat
from operator import attrgetter, is_
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.widget import Widget

from autoglm_tui import format as fmt
from autoglm_tui.alerting.groups import AlertGroup, group_alerts
from autoglm_tui.analysis.alerts import AlertState
from autoglm_tui.text import clean
from autoglm_tui.tui.render import Palette

if TYPE_CHECKING:
    from autoglm_tui.alerting.pipeline import AlertPipeline, AlertRow
    from autoglm_tui.monitor import Monitor

STATE_LABEL = {
    AlertState.FIRING: "FIRING",
    AlertState.PENDING: "pending",
    AlertState.RESOLVED: "resolved",
    AlertState.INACTIVE: "inactive",
}
SEVERITY_MARK = {"critical": "!!", "warning": "! ", "info": "i "}


@dataclass
class AlertView:
    """The pipeline's rows and the firing count per node, shared by everything drawn in a
    repaint. Read again when the alerts change (``version``); with many alerts (a large fleet
    with hundreds pending, where listing them is the costly part of a repaint) at most once a
    second unless the counts by state move, and with thousands at most once a second."""

    version: int
    second: int
    counts: dict[AlertState, int]  # alerts by state (the pipeline's counts)
    rows: list[AlertRow]
    firing_per_node: dict[str, int]

    @property
    def firing(self) -> int:
        return sum(self.firing_per_node.values())


LIST_FIRING_UP_TO = 3  # a firing rule on this many targets or fewer: one line per alert
MANY_ALERTS = 200  # beyond this many, the list is read at most once a second
_VIEWS: WeakKeyDictionary[AlertPipeline, AlertView] = WeakKeyDictionary()
_STATE = attrgetter("alert.state")
_NODE = attrgetter("alert.target.node")


def alert_view(pipeline: AlertPipeline | None) -> AlertView:
    """The pipeline's alerts as of now (alerting off: an empty view)."""
    if pipeline is None:
        return AlertView(0, 0, {}, [], {})
    view = _VIEWS.get(pipeline)
    if view is not None and view.version == pipeline.version:
        return view
    counts = pipeline.counts()
    second = int(pipeline.now)
    total = sum(counts.values())
    if (view is not None and view.second == second and total > MANY_ALERTS
            and (view.counts == counts or total > 10 * MANY_ALERTS)):
        return view
    rows = pipeline.rows()
    firing = compress(rows, map(is_, map(_STATE, rows), repeat(AlertState.FIRING)))
    per = dict(Counter(map(_NODE, firing)))  # (in C: thousands of alerts in a large fleet)
    view = _VIEWS[pipeline] = AlertView(pipeline.version, second, counts, rows, per)
    return view


def state_style(row: AlertRow, p: Palette) -> str:
    a = row.alert
    if row.silence is not None:
        return p.muted
    if a.state == AlertState.FIRING:
        return f"bold {p.error}" if a.severity == "critical" else f"bold {p.warning}"
    if a.state == AlertState.PENDING:
        return p.warning
    return p.success


def alert_line(row: AlertRow, now: float, width: int, p: Palette, show_node: bool) -> Text:
    """One alert as one line: state, severity, rule, target, age, marks, summary."""
    a = row.alert
    out = Text(no_wrap=True, overflow="ellipsis")
    style = state_style(row, p)
    out.append(STATE_LABEL[a.state].ljust(9), style=style)
    out.append(SEVERITY_MARK.get(a.severity, "  "), style=style)
    out.append(" ")
    out.append(clean(a.rule.name, 40), style=f"bold {p.label}" if a.state != AlertState.RESOLVED
               else p.muted)
    out.append(" ")
    target = str(a.target) if show_node else str(a.target).removeprefix(a.target.node).strip()
    if target:
        out.append(clean(target, 60))
        out.append(" ")
    if a.state == AlertState.RESOLVED and a.resolved_at is not None:
        out.append(f"{fmt.duration(now - a.resolved_at)} ago ", style=p.muted)
    else:
        out.append(f"for {fmt.duration(now - a.active_since)} ", style=p.muted)
    if row.acked:
        out.append("[ack] ", style=p.success)
    if row.silence is not None:
        out.append(f"[silenced {fmt.duration(row.silence.until - now)}] ", style=p.muted)
    out.append("· ", style=p.muted)
    out.append(clean(a.summary(), 300), style=p.muted if row.silence else "")
    return out


def group_line(group: AlertGroup, p: Palette, show_node: bool) -> Text:
    """One group of alerts as one line: state, severity, rule, how many on how many nodes,
    the worst member and its value, age, ack and silence counts."""
    out = Text(no_wrap=True, overflow="ellipsis")
    style = state_style(group.worst, p) if group.silenced < group.size else p.muted
    out.append(STATE_LABEL[group.state].ljust(9), style=style)
    out.append(SEVERITY_MARK.get(group.severity, "  "), style=style)
    out.append(" ")
    out.append(clean(group.rule, 40), style=f"bold {p.label}"
               if group.state != AlertState.RESOLVED else p.muted)
    out.append(" · ", style=p.muted)
    out.append(group.what(with_nodes=show_node), style="bold")
    out.append(" · worst ", style=p.muted)
    out.append(clean(group.worst_text(with_node=show_node), 120))
    age = fmt.duration(group.age_s)
    out.append(f" · {age} ago" if group.state == AlertState.RESOLVED else f" · for {age}",
               style=p.muted)
    if group.acked:
        out.append(f" [{group.acked} ack]", style=p.success)
    if group.silenced:
        out.append(f" [{group.silenced} silenced]", style=p.muted)
    return out


class AlertsPane(Widget):
    """A few lines of alerts; ``show(node_id, now)`` redraws it (node_id None: all nodes)."""

    DEFAULT_CSS = """
    AlertsPane {
        height: auto;
        max-height: 8;
        border: round $error 60%;
        border-title-color: $error;
        border-title-style: bold;
        border-subtitle-color: $foreground-muted;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    AlertsPane.-quiet {
        border: round $primary 40%;
        border-title-color: $primary;
    }
    """

    def __init__(
        self,
        *,
        max_lines: int = 6,
        hide_when_empty: bool = True,
        hint: str = "A: all alerts",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Alerts"
        self.max_lines = max_lines
        self.hide_when_empty = hide_when_empty
        self.hint = hint
        self.node_id: str | None = None
        self.now = 0.0
        self.compact = False
        self._wanted = 0
        self._lines: list[Text] = []
        self.room: int | None = None  # the most lines its screen leaves it (None: no limit)
        self._group_stamp: tuple[object, ...] | None = None
        self._groups: tuple[int, int, list[AlertGroup]] = (0, 0, [])

    @property
    def pipeline(self) -> AlertPipeline | None:
        monitor: Monitor = self.app.monitor  # type: ignore[attr-defined]
        return monitor.alerts

    def rows(self) -> list[AlertRow]:
        """What this pane lists: active alerts (and recently resolved) of its node, if any."""
        rows = alert_view(self.pipeline).rows
        if self.node_id is not None:
            rows = [r for r in rows if r.alert.target.node == self.node_id]
        return rows

    def _grouped(self, node_id: str | None, now: float) -> tuple[int, int, list[AlertGroup]]:
        """Firing and pending counts and the groups, worked out again only when the alert
        view was read again (thousands of alerts in a large fleet); the ages follow `now`."""
        view = alert_view(self.pipeline)
        stamp = (id(view), view.version, view.second, node_id)
        if self._group_stamp != stamp:
            rows = self.rows()
            if node_id is None and view.counts:  # every alert: the pipeline counted them
                firing = view.counts[AlertState.FIRING]
                pending = view.counts[AlertState.PENDING]
            else:
                states = list(map(_STATE, rows))
                firing = states.count(AlertState.FIRING)
                pending = states.count(AlertState.PENDING)
            self._group_stamp = stamp
            self._groups = (firing, pending, group_alerts(rows, now))
        firing, pending, groups = self._groups
        return firing, pending, [replace(g, age_s=max(0.0, now - g.since)) for g in groups]

    def show(self, node_id: str | None, now: float, compact: bool | None = None) -> None:
        """Redraw for `node_id` (None: every node). `compact`: the pane has only its top
        border, so the counts join the title. As many alerts as fit the pane's height are
        listed; the pane asks for at most `max_lines`, and the rest are counted as "more"."""
        self.node_id = node_id
        self.now = now
        if compact is not None:
            self.compact = compact
        p = Palette.from_variables(self.app.theme_variables)
        pipeline = self.pipeline
        firing, pending, groups = self._grouped(node_id, now)
        active = [g for g in groups if g.state in (AlertState.FIRING, AlertState.PENDING)]
        recent = [g for g in groups if g.state == AlertState.RESOLVED][:2]
        show_node = node_id is None
        entries: list[Text] = []
        for g in active + recent:
            if g.size == 1 or (g.state == AlertState.FIRING and g.size <= LIST_FIRING_UP_TO):
                entries.extend(alert_line(r, now, 0, p, show_node) for r in g.rows)
            else:
                entries.append(group_line(g, p, show_node))
        wanted = entries[: self.max_lines]
        room = self.content_size.height if self.size.height else len(wanted)
        if self.room is not None:
            room = min(room, self.room) if self.size.height else self.room
        lines = wanted[: max(1, room)]
        if pipeline is None:
            lines = [Text("alerting is off", style=p.muted)]
        elif not lines:
            lines = [Text("no alerts", style=p.muted)]
        more = len(entries) - min(len(entries), len(lines))
        counts = Text()
        counts.append(f"{firing} firing · {pending} pending")
        if more > 0:
            counts.append(f" · {more} more")
        if self.hint:
            counts.append(f" · {self.hint}")
        if self.compact:  # no bottom border: the counts follow the title
            title = Text("Alerts ")
            title.append_text(Text(" ").join([Text("·", style=p.muted), counts]))
            self.border_title = title
            self.border_subtitle = ""
        else:
            self.border_title = "Alerts"
            self.border_subtitle = counts
        self.set_class(not active, "-quiet")
        shown_now = bool(active or recent) or not self.hide_when_empty
        borders = 1 if self.compact else 2
        old_wanted = self._wanted
        self._wanted = max(1, len(wanted))  # the lines it asks for (an auto height's size)
        if self.room is not None:
            self._wanted = max(1, min(self._wanted, self.room))
        self.styles.max_height = self._wanted + borders
        relayout = shown_now != self.display or self._wanted != old_wanted
        self.display = shown_now
        self._lines = lines
        self.refresh(layout=relayout)  # the screen's layout moves only when the height does

    def on_resize(self, event: events.Resize) -> None:
        if self.display and self._lines:
            self.show(self.node_id, self.now)  # as many alerts as fit the new height

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, self._wanted)

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        for i, line in enumerate(self._lines):
            if i:
                out.append("\n")
            out.append_text(line)
        return out
