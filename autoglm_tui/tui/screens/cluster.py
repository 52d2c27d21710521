"""The cluster screen: a summary line and one row per node (or per label group), k9s style.

Rows are drawn from the fleet state on the app's repaint timer, never per sample, and only
the rows in view are built (SlotTable). A node that is not UP keeps its last figures, greyed,
with their age in the Lag column. Enter on a node opens its screen; Enter on a group row opens
or closes the group. `/` filters with the query language of analysis/query.py, `g` groups by a
label, `<` `>` `r` sort, `:` opens the command line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Input, Static

from autoglm_tui import format as fmt
from autoglm_tui.analysis.aggregate import (
    Aggregate,
    SamplerCost,
    cluster_summary,
    group_by_label,
    label_keys,
    node_gpu_count,
)
from autoglm_tui.analysis.correlation import IoWindow, io_window
from autoglm_tui.analysis.peers import gpu_stragglers
from autoglm_tui.analysis.query import NodeSubject, host_of
from autoglm_tui.analysis.state import NodeState
from autoglm_tui.events import NodeStatus
from autoglm_tui.text import clean
from autoglm_tui.tui.render import SPARK, Palette, cell
from autoglm_tui.tui.screens.base import StateScreen
from autoglm_tui.tui.screens.nav import (
    NAV_BINDINGS,
    ClusterNav,
    alert_counts,
    open_node,
    status_reason,
)
from autoglm_tui.tui.screens.query_filter import QueryFilter
from autoglm_tui.tui.screens.sorted_table import SortedTable
from autoglm_tui.tui.widgets.alerts_pane import AlertsPane
from autoglm_tui.tui.widgets.command_line import CommandError
from autoglm_tui.tui.widgets.io_correlation import io_cell
from autoglm_tui.tui.widgets.slot_table import Column, SlotTable, same

STATUS_ORDER = {
    NodeStatus.INVALID: 0,
    NodeStatus.FAILED: 0,
    NodeStatus.UNREACHABLE: 1,
    NodeStatus.STALE: 2,
    NodeStatus.CONNECTING: 3,
    NodeStatus.LEFT: 4,
    NodeStatus.UP: 5,
}
STRIP_MIN, STRIP_MAX = 8, 16
BLANK_CELL = Text("")
AGE_EVERY_S = 1.0  # repaint at least this often, so ages move without new samples

NodeItem = tuple[str, str]  # ("node", node_id) or ("group", value or "")


def natural_key(text: str) -> tuple[object, ...]:
    """'node-10' sorts after 'node-9'."""
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text))


def node_columns(strip: int) -> list[Column]:
    """Most telling first: on a narrow terminal the row still says how the node is doing."""
    return [
        Column("status", "Status", 11, help="UP, STALE, UNREACHABLE, LEFT, INVALID"),
        Column("node", "Node", 16),
        Column("gpus", "GPUs", 4, right=True),
        Column("strip", "GPU util", strip),
        Column("gmem", "GPU mem", 11, right=True),
        Column("cpu", "CPU", 4, right=True),
        Column("mem", "Mem", 4, right=True),
        Column("alerts", "Alrt", 4, right=True),
        Column("lag", "Lag", 5, right=True),
        Column("net", "Net ↓ ↑/s", 11, right=True),
        Column("disk", "Disk r w/s", 11, right=True),
        Column("tok", "Tok/s", 6, right=True),
        Column("p95", "P95", 6, right=True),
        Column("io", "IO r", 6, right=True,
               help="correlation of network and disk throughput; ! when a scenario matches"),
        Column("smp", "Smp", 5, right=True, help="the sampler's own CPU"),
        Column("labels", "Labels", 16),
    ]


SORT_COLUMNS = [c.key for c in node_columns(STRIP_MIN)]


class IoCells:
    """The IO correlation of each node's last 5 minutes (analysis/correlation.py), refreshed
    every 10 s, but at most a few per repaint: one window costs milliseconds, and all rows in
    view expiring together would freeze the UI for a quarter of a second. A row whose turn has
    not come keeps its previous figure (or shows '-' until its first)."""

    WINDOW_S = 300.0
    REFRESH_S = 10.0
    PER_PAINT = 2

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, IoWindow]] = {}
        self._budget = self.PER_PAINT

    def __len__(self) -> int:
        return len(self._cache)

    def next_paint(self) -> None:
        self._budget = self.PER_PAINT

    def get(self, node: NodeState, now: float) -> IoWindow | None:
        hit = self._cache.get(node.node_id)
        if hit is not None and 0 <= now - hit[0] < self.REFRESH_S:
            return hit[1]
        if self._budget <= 0:
            return hit[1] if hit is not None else None
        self._budget -= 1
        link = node.last_sample.net.link_speed_mbps if node.last_sample else None
        w = io_window(node.history, now - self.WINDOW_S, now, link)
        self._cache[node.node_id] = (now, w)
        return w

    def forget(self, keep: dict[str, NodeState]) -> None:
        for node_id in [n for n in self._cache if n not in keep]:
            del self._cache[node_id]


@dataclass
class _Ctx:
    """What one paint needs to draw rows."""

    now: float
    p: Palette
    alerts: dict[str, int]
    stragglers: dict[str, set[int]]
    cost: SamplerCost
    groups: dict[str, tuple[str, Aggregate, int]]  # value -> (title, aggregate, alerts)
    open_groups: set[str]
    strip: int
    io: IoCells | None = None  # IO correlation per node (analysis/correlation.py)


def _gsum(values: dict[tuple[str, int | None], float | None], name: str,
          indices: Sequence[int]) -> float | None:
    vals = [values.get((name, i)) for i in indices]
    known = [v for v in vals if v is not None]
    return sum(known) if known else None


def _gmean(node: NodeState, name: str) -> float | None:
    idx = _indices(node)
    vals = [node.metrics.get((name, i)) for i in idx]
    known = [v for v in vals if v is not None]
    return sum(known) / len(known) if known else None


def _indices(node: NodeState) -> list[int]:
    if node.last_sample is not None:
        return [g.index for g in node.last_sample.gpus]
    return []


def _sum2(a: float | None, b: float | None) -> float | None:
    return None if a is None and b is None else (a or 0.0) + (b or 0.0)


def sort_value(node: NodeState, key: str, now: float, ctx_alerts: dict[str, int],
               cost: SamplerCost, io: IoCells | None = None) -> object:
    """The value a node sorts by in column `key` (None sorts last)."""
    m = node.metrics
    if key == "io":
        w = io.get(node, now) if io is not None else None
        return w.r_net_disk_bps if w is not None else None
    if key == "status":
        return STATUS_ORDER.get(node.status, 9)
    if key == "node":
        return natural_key(node.node_id)
    if key == "labels":
        return " ".join(f"{k}={v}" for k, v in sorted(node.labels.items()))
    if key == "gpus":
        return node_gpu_count(node)
    if key == "strip":
        return _gmean(node, "gpu.util_pct")
    if key == "gmem":
        return _gsum(m, "gpu.mem_used_bytes", _indices(node))
    if key == "cpu":
        return m.get(("cpu.util_pct", None))
    if key == "mem":
        return m.get(("mem.used_pct", None))
    if key == "net":
        return _sum2(m.get(("net.rx_bps", None)), m.get(("net.tx_bps", None)))
    if key == "disk":
        return _sum2(m.get(("disk.read_bps", None)), m.get(("disk.write_bps", None)))
    if key == "tok":
        return m.get(("svc.tokens_per_s", None))
    if key == "p95":
        return m.get(("svc.latency_p95_s", None))
    if key == "alerts":
        return ctx_alerts.get(node.node_id, 0)
    if key == "lag":
        return node.age(now)
    if key == "smp":
        return cost.get(node.node_id)
    return None


def group_sort_value(agg: Aggregate, key: str, title: str, alerts: int) -> object:
    """The value a group row sorts by in column `key`."""
    table: dict[str, Callable[[], object]] = {
        "status": lambda: agg.live - agg.nodes,
        "node": lambda: natural_key(title),
        "labels": lambda: title,
        "gpus": lambda: agg.gpus,
        "strip": lambda: agg.mean("gpu.util_pct"),
        "gmem": lambda: agg.sum("gpu.mem_used_bytes"),
        "cpu": lambda: agg.mean("cpu.util_pct"),
        "mem": lambda: agg.mean("mem.used_pct"),
        "net": lambda: _sum2(agg.sum("net.rx_bps"), agg.sum("net.tx_bps")),
        "disk": lambda: _sum2(agg.sum("disk.read_bps"), agg.sum("disk.write_bps")),
        "tok": lambda: agg.sum("svc.tokens_per_s"),
        "p95": lambda: agg.mean("svc.latency_p95_s"),
        "alerts": lambda: alerts,
    }
    fn = table.get(key)
    return fn() if fn else None


def sort_items(items: list[tuple[object, Hashable]], reverse: bool) -> list[Hashable]:
    """Sort (value, item) pairs by value; unknown (None) values always go last."""
    known = [(v, i) for v, i in items if v is not None]
    unknown = [i for v, i in items if v is None]
    try:
        known.sort(key=lambda pair: pair[0], reverse=reverse)  # type: ignore[arg-type,return-value]
    except TypeError:  # mixed types: fall back to their text
        known.sort(key=lambda pair: str(pair[0]), reverse=reverse)
    return [i for _, i in known] + unknown


# ---------------------------------------------------------------------- cells


def status_style(status: NodeStatus, p: Palette) -> str:
    return {
        NodeStatus.UP: f"bold {p.success}",
        NodeStatus.STALE: f"bold {p.warning}",
        NodeStatus.UNREACHABLE: f"bold {p.error}",
        NodeStatus.INVALID: f"bold {p.error}",
        NodeStatus.FAILED: f"bold {p.error}",
        NodeStatus.LEFT: p.muted,
        NodeStatus.CONNECTING: p.muted,
    }.get(status, "")


def labels_text(labels: dict[str, str]) -> str:
    return " ".join(f"{clean(k, 32)}={clean(v, 64)}" for k, v in sorted(labels.items()))


def util_strip(node: NodeState, width: int, p: Palette, grey: bool, marked: set[int]) -> Text:
    """One block per GPU, its height the GPU's util; a straggler is underlined in accent."""
    out = Text(no_wrap=True, overflow="ellipsis")
    idx = _indices(node)
    shown = idx if len(idx) <= width else idx[: width - 1]
    for i in shown:
        v = node.metrics.get(("gpu.util_pct", i))
        if v is None or not math.isfinite(v):
            out.append("·", style=p.muted)
            continue
        ch = SPARK[int(min(1.0, max(0.0, v / 100.0)) * (len(SPARK) - 1) + 0.5)]
        if grey:
            style = p.muted
        elif i in marked:
            style = f"bold underline {p.accent}"
        else:
            style = p.level(v)
        out.append(ch, style=style)
    if len(shown) < len(idx):
        out.append("…", style=p.muted)
    return out


def _mem_pair(used: float | None, total: float | None) -> str:
    if used is None and total is None:
        return fmt.NA
    return f"{fmt.bytes_(used)}/{fmt.bytes_(total)}"


def _rate_pair(a: float | None, b: float | None) -> str:
    if a is None and b is None:
        return fmt.NA
    return f"{_short_rate(a)} {_short_rate(b)}"


def _short_rate(v: float | None) -> str:
    return fmt.NA if v is None else fmt.bytes_(v)


def _tokens(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1000:.1f}k" if v >= 1000 else f"{v:.0f}"


def _latency(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 1000:.0f}ms" if v < 1 else f"{v:.2f}s"


def node_cells(node: NodeState, ctx: _Ctx) -> dict[str, Text]:
    """The cells of one node row, by column key."""
    p = ctx.p
    m = node.metrics
    grey = node.status is not NodeStatus.UP
    fig = p.muted if grey else ""
    idx = _indices(node)
    gpus = node_gpu_count(node)
    used = _gsum(m, "gpu.mem_used_bytes", idx)
    total = _gsum(m, "gpu.mem_total_bytes", idx)
    mem_pct = 100.0 * used / total if used is not None and total else None
    cpu = m.get(("cpu.util_pct", None))
    mem = m.get(("mem.used_pct", None))
    alerts = ctx.alerts.get(node.node_id, 0)
    age = node.age(ctx.now)
    lag_style = fig
    if age is not None and age > 3 * node.interval_s:
        lag_style = f"bold {p.warning}"
    smp = ctx.cost.get(node.node_id)
    io = ctx.io.get(node, ctx.now) if ctx.io is not None else None
    return {
        "status": cell(node.status.value, status_style(node.status, p)),
        "node": cell(clean(node.node_id, 128), "bold" if not grey else p.muted),
        "labels": cell(labels_text(node.labels), p.muted),
        "gpus": cell(str(gpus) if gpus else "-", fig, True),
        "strip": util_strip(node, ctx.strip, p, grey, ctx.stragglers.get(node.node_id, set())),
        "gmem": cell(_mem_pair(used, total), fig or (p.level(mem_pct, 70, 90) if mem_pct else ""),
                   True),
        "cpu": cell(fmt.pct(cpu), fig or p.level(cpu), True),
        "mem": cell(fmt.pct(mem), fig or p.level(mem, 70, 90), True),
        "net": cell(_rate_pair(m.get(("net.rx_bps", None)), m.get(("net.tx_bps", None))), fig,
                  True),
        "disk": cell(_rate_pair(m.get(("disk.read_bps", None)), m.get(("disk.write_bps", None))),
                   fig, True),
        "tok": cell(_tokens(m.get(("svc.tokens_per_s", None))), fig, True),
        "p95": cell(_latency(m.get(("svc.latency_p95_s", None))), fig, True),
        "io": io_cell(io, p),
        "alerts": cell(str(alerts) if alerts else "-", f"bold {p.error}" if alerts else p.muted,
                     True),
        "lag": cell(fmt.duration(age) if age is not None else "-", lag_style, True),
        "smp": cell(fmt.pct(smp, digits=1) if smp is not None else "-", fig or p.muted, True),
    }


def group_cells(value: str, ctx: _Ctx) -> dict[str, Text]:
    """The cells of one aggregated group row, by column key (sums for amounts, means for
    percentages; columns without a group figure stay blank)."""
    p = ctx.p
    title, agg, alerts = ctx.groups[value]
    opened = value in ctx.open_groups
    head = f"{'▾' if opened else '▸'} {agg.live}/{agg.nodes} up"
    util = agg.mean("gpu.util_pct")
    strip = Text(no_wrap=True, overflow="ellipsis")
    if util is not None:
        from autoglm_tui.tui.render import bar

        strip.append_text(bar(util, max(1, ctx.strip - 4), p))
        strip.append(f"{util:3.0f}%"[-4:])
    else:
        strip.append(fmt.NA, style=p.muted)
    cpu = agg.mean("cpu.util_pct")
    mem = agg.mean("mem.used_pct")
    style = "bold"
    return {
        "status": cell(head, f"bold {p.label}"),
        "node": cell(title, f"bold {p.label}"),
        "labels": cell(f"{agg.nodes} nodes", p.muted),
        "gpus": cell(str(agg.gpus), style, True),
        "strip": strip,
        "gmem": cell(_mem_pair(agg.sum("gpu.mem_used_bytes"), agg.sum("gpu.mem_total_bytes")),
                   style, True),
        "cpu": cell(fmt.pct(cpu), style, True),
        "mem": cell(fmt.pct(mem), style, True),
        "net": cell(_rate_pair(agg.sum("net.rx_bps"), agg.sum("net.tx_bps")), style, True),
        "disk": cell(_rate_pair(agg.sum("disk.read_bps"), agg.sum("disk.write_bps")), style, True),
        "tok": cell(_tokens(agg.sum("svc.tokens_per_s")), style, True),
        "p95": cell(_latency(agg.mean("svc.latency_p95_s")), style, True),
        "alerts": cell(str(alerts) if alerts else "-", f"bold {p.error}" if alerts else p.muted,
                     True),
    }


def group_detail(title: str, agg: Aggregate, key: str) -> Text:
    """Sum and mean of every metric of a group, for the detail line."""
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(f"{clean(key, 32)}={title}", style="bold")
    out.append(f"  {agg.nodes} nodes, {agg.live} up, {agg.gpus} GPUs")

    def both(label: str, metric: str, show: Callable[[float | None], str]) -> None:
        s, m = agg.sum(metric), agg.mean(metric)
        if s is None:
            return
        out.append(f"  ·  {label} Σ {show(s)} x̄ {show(m)}")

    both("GPU util", "gpu.util_pct", fmt.pct)
    both("GPU mem", "gpu.mem_used_bytes", fmt.bytes_)
    both("CPU", "cpu.util_pct", fmt.pct)
    both("mem", "mem.used_pct", fmt.pct)
    both("net rx", "net.rx_bps", fmt.rate)
    both("net tx", "net.tx_bps", fmt.rate)
    both("disk r", "disk.read_bps", fmt.rate)
    both("disk w", "disk.write_bps", fmt.rate)
    both("tokens/s", "svc.tokens_per_s", lambda v: fmt.num(v))
    both("P95", "svc.latency_p95_s", lambda v: fmt.num(v, "s", digits=2))
    both("power", "gpu.power_w", lambda v: fmt.num(v, "W"))
    return out


# ---------------------------------------------------------------------- screen


class ClusterScreen(SortedTable, QueryFilter, ClusterNav, StateScreen):
    """Every node of the cluster; the root of the drill-down."""

    FILTER_ID = "cluster-filter"

    crumb_text = "cluster"
    sort_columns = SORT_COLUMNS
    ascending_first = ("node", "labels", "status")
    table_id = "nodes"

    BINDINGS = [
        Binding("enter", "open", "Open node / group", show=False),
        Binding("slash", "filter", "Filter (gpu.util>80 & label.zone=a)", key_display="/"),
        Binding("g", "group", "Group by next label"),
        Binding("less_than_sign", "cycle_sort(-1)", "Sort by previous column", key_display="<"),
        Binding("greater_than_sign", "cycle_sort(1)", "Sort by next column", key_display=">"),
        Binding("r", "reverse", "Reverse sort"),
        Binding("G", "gpus", "All GPUs (:gpus)", key_display="G"),
        Binding("escape", "escape", "Clear filter / close groups", show=False),
        *NAV_BINDINGS,
    ]

    def __init__(self) -> None:
        super().__init__()
        self.ready = False
        self.init_filter()
        self.group_key: str | None = None
        self.open_groups: set[str] = set()
        self.sort_key = "node"
        self.sort_reverse = False
        self.cost = SamplerCost()
        self.io_cache = IoCells()
        self.strip = STRIP_MIN
        self._summary_text = Text()
        self._detail_text = Text()
        self._last_paint = -math.inf
        self._ctx: _Ctx | None = None
        self._members: dict[str, list[str]] = {}
        self.shown_nodes: list[str] = []  # node ids in table order (for tests and tools)

    def compose(self) -> ComposeResult:
        yield self.nav_top()
        yield Static(id="cluster-summary", classes="summary")
        yield SlotTable(node_columns(self.strip), id="nodes")
        yield Static(id="cluster-detail", classes="detail")
        yield AlertsPane(id="cluster-alerts", hint=":alerts for all")
        yield Input(placeholder="filter: gpu.util>80 & label.zone=a & host~=dgx  (Enter keeps, "
                    "Esc clears)", id="cluster-filter", classes="filter-box")
        yield self.nav_bottom()
        yield Footer()

    def on_mount(self) -> None:
        self.table.mark_sort(self.sort_key, self.sort_reverse)
        self.table.focus()
        self.ready = True
        self.repaint(self.monitor_app.clock(), force=True)

    # ------------------------------------------------------------------ painting

    def repaint(self, now: float, force: bool = False) -> None:
        if not self.ready:
            return
        version = self.state.version
        if force or version != self._painted_version or now - self._last_paint >= AGE_EVERY_S:
            self._painted_version = version
            self.paint(now)

    def paint(self, now: float) -> None:
        self._last_paint = now
        p = Palette.from_variables(self.app.theme_variables)
        state = self.state
        nodes = list(state.nodes.values())
        for node in nodes:
            self.cost.update(node)
        if len(self.cost) > len(nodes) + 64:
            self.cost.forget(state.nodes)
        total_alerts, per_node = alert_counts(self.app)
        self._update_strip(nodes)
        if self.filter_query:
            nodes = [n for n in nodes if self.filter_query.matches(NodeSubject(n))]
        ctx = _Ctx(now, p, per_node, {}, self.cost, {}, self.open_groups, self.strip,
                   self.io_cache)
        items = self._items(nodes, ctx)
        self._ctx = ctx
        visible_nodes = {i[1] for i in items if i[0] == "node"}
        ctx.stragglers = self._stragglers(state.nodes, visible_nodes)
        self.shown_nodes = [i[1] for i in items if i[0] == "node"]
        self.table.show(items, self._render_row)
        self._paint_summary(p, total_alerts, len(nodes))
        self._paint_detail()
        self.query_one(AlertsPane).show(None, now)
        if len(self.io_cache) > len(state.nodes) + 64:
            self.io_cache.forget(state.nodes)
        self.io_cache.next_paint()

    def _update_strip(self, nodes: list[NodeState]) -> None:
        most = max((node_gpu_count(n) for n in nodes), default=0)
        want = min(STRIP_MAX, max(STRIP_MIN, most))
        if want != self.strip:  # a wider node joined: widen the strip once
            self.strip = want
            self.table.set_width("strip", want)

    def _stragglers(self, nodes: dict[str, NodeState], ids: set[str]) -> dict[str, set[int]]:
        """Marked GPUs of the nodes in view, peers being the node's own GPUs."""
        table = self.table
        rows = table.visible_range()
        in_view = [table.items[i] for i in rows if i < len(table.items)]
        wanted = [nodes[i[1]] for i in in_view if isinstance(i, tuple) and i[0] == "node"
                  and i[1] in nodes]
        if not wanted:
            wanted = [nodes[i] for i in list(ids)[:64] if i in nodes]
        out: dict[str, set[int]] = {}
        for (node_id, index) in gpu_stragglers(wanted):
            out.setdefault(node_id, set()).add(index)
        return out

    def _items(self, nodes: list[NodeState], ctx: _Ctx) -> list[NodeItem]:
        key, reverse = self.sort_key, self.sort_reverse
        now = ctx.now

        def order(members: list[NodeState]) -> list[str]:
            pairs = [(sort_value(n, key, now, ctx.alerts, self.cost, ctx.io), n.node_id)
                     for n in members]
            ids = sort_items(pairs, reverse)  # type: ignore[arg-type]
            return ids  # type: ignore[return-value]

        if self.group_key is None:
            return [("node", nid) for nid in order(nodes)]
        groups = group_by_label(nodes, self.group_key)
        by_id = {n.node_id: n for n in nodes}
        pairs = []
        for g in groups:
            value = "" if g.value is None else g.value
            alerts = sum(ctx.alerts.get(n, 0) for n in g.node_ids)
            title = clean(g.title, 64)
            ctx.groups[value] = (title, g.agg, alerts)
            self._members[value] = list(g.node_ids)
            pairs.append((group_sort_value(g.agg, key, title, alerts), value))
        out: list[NodeItem] = []
        for value in sort_items(pairs, reverse):  # type: ignore[arg-type]
            out.append(("group", value))  # type: ignore[arg-type]
            if value in self.open_groups:
                members = [by_id[n] for n in self._members[value]]  # type: ignore[index]
                out.extend(("node", nid) for nid in order(members))
        return out

    def _render_row(self, item: Hashable) -> list[Text]:
        ctx = self._ctx
        assert ctx is not None
        kind, key = item  # type: ignore[misc]
        node = self.state.nodes.get(key) if kind == "node" else None
        if kind == "group":
            cells = group_cells(key, ctx)
        elif node is not None:
            cells = node_cells(node, ctx)
        else:
            cells = {}
        return [cells.get(c.key, BLANK_CELL) for c in self.table.spec]

    def _paint_summary(self, p: Palette, alerts: int, shown: int) -> None:
        s = cluster_summary(self.state, alerts)
        out = Text(no_wrap=True, overflow="ellipsis")

        def part(label: str, value: str, style: str = "") -> None:
            if out.plain:
                out.append("  ·  ", style=p.muted)
            out.append(label, style=p.muted)
            out.append(value, style=style or "bold")

        part("nodes ", f"{s.nodes_up}/{s.nodes_total} up")
        others = [f"{n} {st.value}" for st, n in s.counts.items()
                  if n and st is not NodeStatus.UP]
        if others:
            out.append(" (" + ", ".join(others) + ")", style=p.warning)
        part("GPUs ", str(s.gpus))
        mem_pct = (100.0 * s.gpu_mem_used / s.gpu_mem_total
                   if s.gpu_mem_used is not None and s.gpu_mem_total else None)
        part("GPU mem ", f"{_mem_pair(s.gpu_mem_used, s.gpu_mem_total)}"
             + (f" ({mem_pct:.0f}%)" if mem_pct is not None else ""))
        part("GPU util ", fmt.pct(s.gpu_util_mean), p.level(s.gpu_util_mean))
        part("CPU ", fmt.pct(s.cpu_mean), p.level(s.cpu_mean))
        part("alerts ", f"{s.alerts_firing} firing", f"bold {p.error}" if s.alerts_firing else "")
        reg_style = {"ok": p.success, "degraded": f"bold {p.error}"}.get(s.registry, p.muted)
        part("registry ", s.registry if s.registry != "none" else "not used", reg_style)
        if s.registry == "degraded" and s.registry_reason:
            out.append(f" ({clean(s.registry_reason, 120)})", style=p.error)
        if self.filter_query:
            part("filter ", f"{shown} of {s.nodes_total} shown")
        if not same(out, self._summary_text):
            self._summary_text = out
            self.query_one("#cluster-summary", Static).update(out, layout=False)

    def _paint_detail(self) -> None:
        p = Palette.from_variables(self.app.theme_variables)
        out = Text(no_wrap=True, overflow="ellipsis")
        if self.query_error:
            out.append("filter: ", style=f"bold {p.error}")
            out.append(self.query_error, style=p.error)
        else:
            item = self.table.selected
            if isinstance(item, tuple) and item[0] == "group" and self._ctx is not None:
                title, agg, _ = self._ctx.groups.get(item[1], (item[1], None, 0))
                if agg is not None:
                    out = group_detail(title, agg, self.group_key or "")
            elif isinstance(item, tuple) and item[0] == "node":
                node = self.state.nodes.get(item[1])
                if node is not None:
                    out = self._node_detail(node, p)
        if not same(out, self._detail_text):
            self._detail_text = out
            self.query_one("#cluster-detail", Static).update(out, layout=False)

    def _node_detail(self, node: NodeState, p: Palette) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(clean(node.node_id, 128), style="bold")
        out.append("  ")
        out.append(node.status.value, style=status_style(node.status, p))
        reason = status_reason(node, self._ctx.now if self._ctx else node.status_since)
        if reason and node.status is not NodeStatus.UP:
            out.append(": " + reason, style=status_style(node.status, p))
        host = host_of(node)
        if host != node.node_id:
            out.append("  ·  host ", style=p.muted)
            out.append(clean(host, 128))
        if node.address:
            out.append("  ·  ", style=p.muted)
            port = f":{node.ssh_port}" if node.ssh_port else ""
            out.append(clean(node.address, 128) + port)
        if node.labels:
            out.append("  ·  ", style=p.muted)
            out.append(labels_text(node.labels))
        marked = gpu_stragglers([node])
        for (_, index), devs in sorted(marked.items()):
            out.append(f"  ·  GPU {index}: ", style=f"bold {p.accent}")
            out.append("; ".join(d.describe() for d in devs), style=p.accent)
        return out

    # ------------------------------------------------------------------ actions

    def on_slot_table_activated(self, event: SlotTable.Activated) -> None:
        event.stop()
        self._open(event.item)

    def on_slot_table_moved(self, event: SlotTable.Moved) -> None:
        event.stop()
        if self._ctx is not None:
            self._paint_detail()

    def action_open(self) -> None:
        self._open(self.table.selected)

    def _open(self, item: Hashable | None) -> None:
        if not isinstance(item, tuple):
            return
        kind, key = item
        if kind == "group":
            if key in self.open_groups:
                self.open_groups.discard(key)
            else:
                self.open_groups.add(key)
            self.repaint(self.monitor_app.clock(), force=True)
        elif kind == "node":
            open_node(self.app, key)

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
        self.table.move_cursor(row=0)
        self.repaint(self.monitor_app.clock(), force=True)

    def action_gpus(self) -> None:
        from autoglm_tui.tui.screens.gpus import GpusScreen

        self.app.push_screen(GpusScreen())

    # ------------------------------------------------------------------ filter

    def action_filter(self) -> None:
        box = self.query_one("#cluster-filter", Input)
        box.add_class("-active")
        box.value = self.filter_query.source
        box.focus()

    def action_escape(self) -> None:
        if self.clear_filter():
            return
        if self.open_groups:
            self.open_groups = set()
            self.repaint(self.monitor_app.clock(), force=True)


