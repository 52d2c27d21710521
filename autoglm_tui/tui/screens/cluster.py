"""The cluster screen: a summary line and one row per node (or per label group), k9s style.

Each repaint orders the rows once (filter, group, sort: analysis/node_table.py) and hands the
order to a LiveTable, which builds only the rows on screen (widgets/node_row.py). A node that
is not UP keeps its last figures, greyed, with their age in the Lag column. Enter on a node
opens its screen; Enter on a group row opens or closes the group. `/` filters with the query
language of analysis/query.py, `g` groups by a label, `<` `>` `r` sort, `:` opens the command
line.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import replace

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from autoglm_tui import format as fmt
from autoglm_tui.analysis.aggregate import ClusterSummary, cluster_summary, label_keys
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.node_table import IoWindows, TableFacts, order_rows
from autoglm_tui.analysis.peers import gpu_stragglers
from autoglm_tui.analysis.query import NodeSubject
from autoglm_tui.events import NodeStatus
from autoglm_tui.text import clean
from autoglm_tui.tui.intents import OpenAlerts, OpenDiagnosis, OpenGpus, OpenNode, OpenServices
from autoglm_tui.tui.messages import ForgetRequest
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.screens.base import SORT_BINDINGS
from autoglm_tui.tui.screens.table_screen import TableScreen
from autoglm_tui.tui.widgets.alerts_pane import AlertsPane, alert_view
from autoglm_tui.tui.widgets.command_line import CommandError
from autoglm_tui.tui.widgets.findings import NodeMark, findings_line, node_marks
from autoglm_tui.tui.widgets.live_table import LiveTable, same
from autoglm_tui.tui.widgets.node_row import (
    SORT_COLUMNS,
    STRIP_MAX,
    STRIP_MIN,
    RowPaint,
    group_cells,
    group_detail,
    mem_pair,
    node_cells,
    node_columns,
    node_detail,
    node_row_key,
)

BLANK_CELL = Text("")
STRAGGLER_SCAN_MAX = 64  # nodes whose GPUs are compared with their peers in one repaint


STATUS_LEGEND = """\
UP           fresh samples (⚠agent: its heartbeat is
             lost, but samples still flow)
STALE        no sample for 3 intervals, heartbeat alive
UNREACHABLE  SSH fails; retrying with backoff
FAILED       heartbeat lost without a graceful leave,
             no fresh samples: kept with its alerts
             until it returns or is forgotten
             (:forget NODE, ctrl+d)
LEFT         left gracefully; goes after the linger time
INVALID      registration or stream does not validate
CONNECTING   known, no sample yet
Hlth         worst GPU: OK, SLOW (degraded), RESET
             (reset needed), LOST"""


class ClusterScreen(TableScreen):
    """Every node of the cluster; the root of the drill-down."""

    HELP_TITLE = "Cluster"
    KEY_HELP = {"enter": "Open the node (on a group row: open or close the group)"}
    help_notes = STATUS_LEGEND  # the help screen shows it under the keys

    sort_columns = SORT_COLUMNS
    ascending_first = ("node", "labels", "status")
    table_id = "nodes"
    filter_id = "cluster-filter"
    age_every_s = 1.0  # ages in the Lag column move without new samples

    BINDINGS = [
        Binding("enter", "open", "Open node / group", show=False),
        Binding("slash", "filter", "Filter", key_display="/", priority=True,
                tooltip="e.g. gpu.util>80 & label.zone=a"),
        Binding("g", "group", "Group", tooltip="by the next label"),
        *SORT_BINDINGS,
        Binding("G", "gpus", "GPUs", key_display="G", tooltip="every GPU of the fleet (:gpus)"),
        Binding("d", "diagnosis", "Diagnosis", tooltip="what is wrong, with evidence (:diagnose)"),
        Binding("A", "alerts", "All alerts (grouped by rule; :alerts)", key_display="A",
                show=False),
        Binding("S", "services", "Inference services of the fleet (:services)",
                key_display="S", show=False),
        Binding("ctrl+d", "forget", "Forget the FAILED/LEFT node (asks first)", show=False),
        Binding("escape", "escape", "Clear filter / close groups", show=False),
    ]

    def __init__(self) -> None:
        super().__init__("node")
        self.group_key: str | None = None
        self.open_groups: set[str] = set()
        self.io_windows = IoWindows()
        self.strip = STRIP_MIN
        self._strip_stamp: tuple[int, int] | None = None
        self._summary_at: object = None
        self._summary_cache: ClusterSummary | None = None
        self._paint: RowPaint | None = None
        self._summary_text = Text()
        self._detail_text = Text()
        self._marks_version: int | None = -1
        self._marks_cache: dict[str, NodeMark] = {}
        self._straggler_marks: dict[str, tuple[object, NodeStatus, frozenset[int]]] = {}

    def compose_body(self) -> Iterable[Widget]:
        yield Static(id="cluster-summary", classes="summary")
        yield LiveTable(node_columns(self.strip), id="nodes")
        yield Static(id="cluster-detail", classes="detail")
        yield AlertsPane(id="cluster-alerts", hint="A: all alerts")
        yield self.filter_box("filter: gpu.util>80 & label.zone=a & host~=dgx  (Enter keeps, "
                              "Esc clears)")

    # ------------------------------------------------------------------ painting

    def paint(self, now: float) -> None:
        p = Palette.from_variables(self.app.theme_variables)
        state = self.state
        nodes = list(state.nodes.values())
        alerts = alert_view(self.monitor_app.monitor.alerts)
        self._update_strip(nodes, now)
        if self.filter_query:
            nodes = [n for n in nodes if self.filter_query.matches(NodeSubject(n))]
        facts = TableFacts(now, alerts.firing_per_node, self.io_windows)
        items = order_rows(nodes, facts, self.sort_key, self.sort_reverse, self.group_key,
                           self.open_groups, title=lambda t: clean(t, 64))
        self._paint = RowPaint(facts, p, self.strip, {}, self.open_groups, self._marks())
        table = self.table
        table.show(items, self._render_row, key=self._row_key, fill=False,  # type: ignore[arg-type]
                   empty=lambda: self._empty_hint(p))
        self._paint.stragglers = self._stragglers(table)  # of the rows in view, then built
        table.fill()
        self._paint_summary(p, alerts.firing, len(nodes))
        self._paint_detail()
        self.query_one(AlertsPane).show(None, now)
        if len(self.io_windows) > len(state.nodes) + 64:
            self.io_windows.forget(state.nodes)
        self.io_windows.next_paint()

    def _marks(self) -> dict[str, NodeMark]:
        """Each node's findings in short (the rows' marker), read when the diagnosis moved."""
        runner = self.monitor_app.monitor.diagnosis
        version = runner.version if runner is not None else None
        if version != self._marks_version:
            self._marks_version = version
            self._marks_cache = node_marks(runner.findings) if runner is not None else {}
        return self._marks_cache

    def _update_strip(self, nodes: list[NodeState], now: float) -> None:
        """Widen the GPU strip once a node with more GPUs shows up (looked for when the node
        count changes, and every 10 s: a node's GPU count changes rarely)."""
        stamp = (len(nodes), int(now // 10))
        if stamp == self._strip_stamp:
            return
        self._strip_stamp = stamp
        most = max((len(n.gpu_indices()) for n in nodes), default=0)
        want = min(STRIP_MAX, max(STRIP_MIN, most))
        if want != self.strip:  # a wider node joined: widen the strip once
            self.strip = want
            self.table.set_width("strip", want)

    def _stragglers(self, table: LiveTable) -> dict[str, set[int]]:
        """Marked GPUs of the nodes in view, peers being each node's own GPUs: a node's marks
        depend on its newest sample and status alone, so they are worked out again only when
        one of those changed (the repaint runs twice per sample)."""
        nodes = self.state.nodes
        in_view = [table.items[i] for i in table.visible_rows()][:STRAGGLER_SCAN_MAX]
        known, kept = self._straggler_marks, {}
        out: dict[str, set[int]] = {}
        for kind, key in in_view:  # type: ignore[misc]
            node = nodes.get(key) if kind == "node" else None
            if node is None:
                continue
            hit = known.get(key)
            if hit is not None and hit[0] is node.last_sample and hit[1] is node.status:
                marks = hit[2]
            else:
                marks = frozenset(index for _, index in gpu_stragglers([node]))
            kept[key] = (node.last_sample, node.status, marks)
            if marks:
                out[key] = set(marks)
        self._straggler_marks = kept  # the rows in view only
        return out

    def _row_key(self, item: Hashable) -> Hashable:
        """A node row is drawn again only when what it shows changed; group rows always."""
        paint = self._paint
        kind, key = item  # type: ignore[misc]
        node = self.state.nodes.get(key) if kind == "node" else None
        if node is None or paint is None:
            return None
        return node_row_key(node, paint)

    def _render_row(self, item: Hashable) -> list[Text]:
        paint = self._paint
        assert paint is not None
        kind, key = item  # type: ignore[misc]
        cells: dict[str, Text] = {}
        if kind == "group":
            group = paint.facts.groups.get(key)
            if group is not None:
                cells = group_cells(key, group, paint)
        else:
            node = self.state.nodes.get(key)
            if node is not None:
                cells = node_cells(node, paint)
        return [cells.get(c.key, BLANK_CELL) for c in self.table.columns]

    def _summary(self, now: float, alerts: int) -> ClusterSummary:
        """The cluster's figures: read again each second, or at once when a node changes
        status (over 1,000 nodes they cost milliseconds); the firing count follows at once."""
        stamp = (int(now), tuple(self.state.counts().values()),
                 self.state.registry_ok, self.state.registry_reason)
        if self._summary_at != stamp or self._summary_cache is None:
            self._summary_at = stamp
            self._summary_cache = cluster_summary(self.state, alerts)
        elif self._summary_cache.alerts_firing != alerts:  # the count alone: no new sums
            self._summary_cache = replace(self._summary_cache, alerts_firing=alerts)
        return self._summary_cache

    def _paint_summary(self, p: Palette, alerts: int, shown: int) -> None:
        s = self._summary(self._paint.facts.now if self._paint else 0.0, alerts)
        out = Text(no_wrap=True, overflow="ellipsis")

        def part(label: str, value: str, style: str = "") -> None:
            if out.plain:
                out.append("  ·  ", style=p.muted)
            out.append(label, style=p.muted)
            out.append(value, style=style or "bold")

        if s.registry == "degraded":  # first: at 80 columns the end of the line is cut off
            out.append("registry degraded", style=f"bold {p.error}")
        part("nodes ", f"{s.nodes_up}/{s.nodes_total} up")
        others = [f"{n} {st.value}" for st, n in s.counts.items()
                  if n and st is not NodeStatus.UP]
        if others:
            out.append(" (" + ", ".join(others) + ")", style=p.warning)
        part("GPUs ", str(s.gpus))
        mem_pct = (100.0 * s.gpu_mem_used / s.gpu_mem_total
                   if s.gpu_mem_used is not None and s.gpu_mem_total else None)
        part("GPU mem ", mem_pair(s.gpu_mem_used, s.gpu_mem_total)
             + (f" ({mem_pct:.0f}%)" if mem_pct is not None else ""))
        part("GPU util ", fmt.pct(s.gpu_util_mean), p.level(s.gpu_util_mean))
        part("CPU ", fmt.pct(s.cpu_mean), p.level(s.cpu_mean))
        part("alerts ", f"{s.alerts_firing} firing", f"bold {p.error}" if s.alerts_firing else "")
        if s.registry == "degraded":
            if s.registry_reason:
                part("", clean(s.registry_reason, 120), p.error)
        else:
            part("registry ", s.registry if s.registry != "none" else "not used",
                 p.success if s.registry == "ok" else p.muted)
        if self.filter_query:
            part("filter ", f"{shown} of {s.nodes_total} shown")
        self._summary_text = self._update("#cluster-summary", self._summary_text, out)

    def _paint_detail(self) -> None:
        paint = self._paint
        p = paint.palette if paint else Palette.from_variables(self.app.theme_variables)
        out = Text(no_wrap=True, overflow="ellipsis")
        if self.query_error:
            out.append("filter: ", style=f"bold {p.error}")
            out.append(self.query_error, style=p.error)
        elif paint is not None:
            item = self.table.selected
            if isinstance(item, tuple) and item[0] == "group":
                group = paint.facts.groups.get(item[1])
                if group is not None:
                    out = group_detail(group, self.group_key or "")
            elif isinstance(item, tuple) and item[0] == "node":
                node = self.state.nodes.get(item[1])
                if node is not None:
                    out = node_detail(node, paint.facts.now, p)
                    runner = self.monitor_app.monitor.diagnosis
                    found = runner.for_node(node.node_id) if runner is not None else []
                    if found:  # the worst finding first: it says most at 80 columns
                        head = Text(clean(node.node_id, 128) + "  ", style="bold",
                                    no_wrap=True, overflow="ellipsis")
                        out = head.append_text(findings_line(found, p)) \
                            .append("  ·  ", style=p.muted).append_text(out)
        self._detail_text = self._update("#cluster-detail", self._detail_text, out)

    def _empty_hint(self, p: Palette) -> Text:
        """What the empty table says: why no node shows, and what to do next."""
        if self.state.nodes:
            return Text("No node matches the filter. Esc clears it.", style=p.warning)
        ok, reason = self.state.registry_ok, self.state.registry_reason
        if ok is False:
            out = Text("No nodes: ", style=f"bold {p.error}")
            out.append(clean(reason or "the registry is unreachable", 400), style=p.error)
            out.append("\n\nThe monitor keeps trying. Check the address (--etcd HOST:PORT or "
                       "--prometheus URL), that the server runs there, and its TLS and user "
                       "options (autoglm-tui cluster --help).")
            return out
        if ok:
            return Text(
                "No node has registered yet.\n\nOn each node run `autoglm-tui agent --etcd "
                "HOST:PORT` (with the same --prefix as here), or give the hosts with --hosts; "
                "with --prometheus, check that the job (--job) has targets up.",
                style=p.warning)
        return Text("Waiting for the first nodes…", style=p.muted)

    def _update(self, selector: str, old: Text, new: Text) -> Text:
        if not same(old, new):
            self.query_one(selector, Static).update(new, layout=False)  # one fixed line
        return new

    # ------------------------------------------------------------------ actions

    def on_live_table_activated(self, event: LiveTable.Activated) -> None:
        event.stop()
        self._open(event.item)

    def on_live_table_moved(self, event: LiveTable.Moved) -> None:
        event.stop()
        self._paint_detail()

    def action_open(self) -> None:
        self._open(self.table.selected)

    def _open(self, item: Hashable | None) -> None:
        if not isinstance(item, tuple):
            return
        kind, key = item
        if kind == "group":
            self.open_groups ^= {key}
            self.refresh_now()
        elif kind == "node":
            self.go(OpenNode(key))

    def action_group(self) -> None:
        keys = label_keys(self.state.nodes.values())
        if not keys:
            self.notify("no node has labels to group by", severity="warning")
            self.set_group(None)
            return
        if self.group_key not in keys:
            nxt: str | None = keys[0] if self.group_key is None else None
        else:
            i = keys.index(self.group_key)
            nxt = keys[i + 1] if i + 1 < len(keys) else None
        self.set_group(nxt)

    def set_group(self, label: str | None) -> None:
        if label is not None and label not in label_keys(self.state.nodes.values()):
            raise CommandError(f"no node has a label {clean(label, 32)!r}")
        self.group_key = label
        self.open_groups = set()
        self.table.move_cursor(0)
        self.refresh_now()

    def action_gpus(self) -> None:
        self.go(OpenGpus())

    def action_forget(self) -> None:
        item = self.table.selected
        if isinstance(item, tuple) and item[0] == "node":
            self.post_message(ForgetRequest(item[1]))  # the app checks the status and asks

    def action_diagnosis(self) -> None:
        self.go(OpenDiagnosis())

    def action_alerts(self) -> None:
        self.go(OpenAlerts())

    def action_services(self) -> None:
        self.go(OpenServices())

    def action_escape(self) -> None:
        if self.clear_filter():
            return
        if self.open_groups:
            self.open_groups = set()
            self.refresh_now()
