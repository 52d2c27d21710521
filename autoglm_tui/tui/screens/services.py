"""Every inference service of the fleet in one table (`:services`), or of one node.

One row per service: node, name and model, kind, P95, TTFT P95, tokens/s, running, queue, KV
cache %, error rate and what is wrong (down and why, queue growing, KV cache near full...).
Sortable (`<` `>` `r`, a header click, `:sort COLUMN`), filterable with `/` (the query
language; service metrics read the row's service: ``latency>1 & kv>90``). Enter opens the
service's screen.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.service_marks import BAD, OK, warned
from autoglm_tui.analysis.service_table import ASCENDING_FIRST, SORT_KEYS, service_rows
from autoglm_tui.events import NodeStatus
from autoglm_tui.text import clean
from autoglm_tui.tui.intents import OpenService
from autoglm_tui.tui.render import Palette, cell
from autoglm_tui.tui.screens.base import SORT_BINDINGS
from autoglm_tui.tui.screens.table_screen import TableScreen
from autoglm_tui.tui.widgets.live_table import Column, LiveTable, same
from autoglm_tui.tui.widgets.service_row import rate, seconds, service_cells, short_model
from autoglm_tui.tui.widgets.services_pane import service_marks

COLUMNS = [
    Column("node", "Node", 14),
    Column("service", "Service", 12),
    Column("kind", "Kind", 7),
    Column("p95", "P95", 6, right=True, help="end-to-end latency, P95 over 60 s"),
    Column("tok", "tok/s", 6, right=True),
    Column("queue", "Queue", 5, right=True, help="requests waiting; ↑ growing"),
    Column("kv", "KV%", 4, right=True),
    Column("model", "Model", 16),
    Column("ttft", "TTFT", 6, right=True, help="time to first token, P95"),
    Column("run", "Run", 4, right=True),
    Column("err", "Err%", 5, right=True),
    Column("state", "State", 24, fill=True),
]


class ServicesScreen(TableScreen):
    """The fleet's services (or one node's: `node_id`), sortable and filterable."""

    sort_columns = SORT_KEYS
    ascending_first = ASCENDING_FIRST
    table_id = "svc-table"
    filter_id = "svc-filter"
    age_every_s = 1.0

    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="clear the filter, then back"),
        Binding("enter", "open", "Open the service", show=False),
        Binding("slash", "filter", "Filter", key_display="/", priority=True,
                tooltip="e.g. latency>1 & label.zone=a"),
        *SORT_BINDINGS,
    ]

    def __init__(self, node_id: str | None = None) -> None:
        super().__init__("node")
        self.only_node = node_id
        self._p = Palette()
        self._now = 0.0
        self._shown: dict[str, Text] = {}

    def compose_body(self) -> Iterable[Widget]:
        yield Static(id="svc-summary", classes="summary")
        yield LiveTable(COLUMNS, id="svc-table")
        yield Static(id="svc-detail", classes="detail")
        yield self.filter_box("filter: latency>1 & kv>90 & label.zone=a  (Enter keeps, Esc "
                              "clears)")

    # ------------------------------------------------------------------ painting

    def paint(self, now: float) -> None:
        self._p = Palette.from_variables(self.app.theme_variables)
        self._now = now
        nodes = self.state.nodes.values()
        items = service_rows(nodes, self.sort_key, self.sort_reverse, self.filter_query,
                             self.only_node)
        self.table.show(items, self._render_row, empty=lambda: self._empty_hint(nodes))
        self._paint_summary(items)
        self._paint_detail()

    def _empty_hint(self, nodes: Iterable[NodeState]) -> Text:
        """What the empty table says: a filter that matches nothing, or how services are
        found."""
        if self.filter_query and service_rows(nodes, self.sort_key, False, None, self.only_node):
            return Text("No service matches the filter. Esc clears it.", style=self._p.warning)
        where = "on this node" if self.only_node else "on any node"
        return Text(
            f"No inference service found {where}.\n\nThe samplers find vLLM, SGLang, TGI, "
            "Triton and llama.cpp servers among the ports of GPU processes and of known "
            "server programs (run the sampler as root to see every user's). Name others with "
            "`--service URL` on the sampler or the agent.", style=self._p.muted)

    def _render_row(self, item: Hashable) -> list[Text]:
        node_id, sid = item  # type: ignore[misc]
        p = self._p
        node = self.state.nodes.get(node_id)
        view = node.services.get(sid) if node is not None else None
        if node is None or view is None:
            return [cell("")] * len(COLUMNS)
        marks = service_marks(node, view, self._now)
        grey = node.status is not NodeStatus.UP
        cells = service_cells(view, marks, p, grey=grey)
        cells["node"] = cell(clean(node_id, 128), p.muted if grey else "bold")
        cells["service"] = cell(clean(view.name, 64) if view.name else clean(sid, 64),
                                p.muted if grey else "")
        cells["kind"] = cell(clean(view.kind, 16), p.muted)
        cells["model"] = cell(short_model(view.model), p.muted if grey else "")
        if not view.up:
            cells["p95"] = cell("DOWN", f"bold {p.error}", True)
        state = "; ".join(marks.reasons or warned(marks)) or "ok"
        style = (f"bold {p.error}" if marks.row == BAD else p.warning if marks.row != OK
                 else p.muted)
        cells["state"] = cell(clean(state, 300), style)
        return [cells.get(c.key, cell("")) for c in COLUMNS]

    def _paint_summary(self, items: list[tuple[str, str]]) -> None:
        p = self._p
        views = [v for n in self.state.nodes.values()
                 if self.only_node is None or n.node_id == self.only_node
                 for v in n.services.values()]
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append("services ", style=p.muted)
        out.append(f"{len(items)} of {len(views)} shown" if self.filter_query else str(len(views)),
                   style="bold")
        down = sum(1 for v in views if not v.up)
        if down:
            out.append(f" ({down} down)", style=f"bold {p.error}")
        toks = [v.tokens_per_s for v in views if v.tokens_per_s is not None]
        out.append("  ·  tok/s ", style=p.muted)
        out.append(rate(sum(toks)) if toks else "-", style="bold")
        p95s = [v.e2e.p95.value for v in views if v.e2e is not None and v.e2e.p95 is not None]
        out.append("  ·  worst P95 ", style=p.muted)
        out.append(seconds(max(p95s)) if p95s else "-", style="bold")
        queue = [v.waiting for v in views if v.waiting is not None]
        out.append("  ·  queued ", style=p.muted)
        out.append(f"{sum(queue):.0f}" if queue else "-", style="bold")
        if self.only_node is not None:
            out.append("  ·  node ", style=p.muted)
            out.append(clean(self.only_node, 64), style="bold")
        self._update("#svc-summary", out)

    def _paint_detail(self) -> None:
        p = self._p
        out = Text(no_wrap=True, overflow="ellipsis")
        if self.query_error:
            out.append("filter: ", style=f"bold {p.error}")
            out.append(self.query_error, style=p.error)
        else:
            item = self.table.selected
            node = self.state.nodes.get(item[0]) if isinstance(item, tuple) else None
            view = node.services.get(item[1]) if node is not None and item else None
            if view is not None:
                out.append(f"{clean(view.kind, 16)} ", style="bold")
                out.append(clean(view.model or "", 200))
                out.append("  ·  ", style=p.muted)
                out.append(clean(view.url, 300))
                if view.pid is not None:
                    out.append(f"  ·  pid {view.pid}", style=p.muted)
                if view.gpus:
                    out.append("  ·  GPUs " + ",".join(map(str, view.gpus)), style=p.muted)
                if not view.up:
                    out.append("  ·  " + clean(view.error or "down", 300), style=p.error)
        self._update("#svc-detail", out)

    def _update(self, selector: str, text: Text) -> None:
        old = self._shown.get(selector)
        if old is None or not same(old, text):
            self._shown[selector] = text
            self.query_one(selector, Static).update(text, layout=False)

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
        if isinstance(item, tuple):
            node_id, sid = item
            self.go(OpenService(node_id, sid))

    def action_back(self) -> None:
        if not self.clear_filter():
            super().action_back()


__all__ = ["ServicesScreen"]
