"""Every GPU of the cluster in one table (`:gpus`), with stragglers marked.

A GPU whose util or memory is far from its peers' (the GPUs of its node, or of its label group
after `g`) is marked in the Peers column: a lagging rank of a tensor-parallel group shows up
here. `x` shows only marked GPUs. Enter opens the GPU's screen.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from autoglm_tui import format as fmt
from autoglm_tui.analysis.aggregate import label_keys
from autoglm_tui.analysis.gpu_health import gpu_health
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.node_table import add_known, natural_key, sort_items
from autoglm_tui.analysis.peers import Deviation, gpu_stragglers
from autoglm_tui.analysis.query import GpuSubject
from autoglm_tui.events import NodeStatus
from autoglm_tui.text import clean
from autoglm_tui.tui.intents import OpenGpu
from autoglm_tui.tui.render import Palette, bar, cell
from autoglm_tui.tui.screens.base import SORT_BINDINGS
from autoglm_tui.tui.screens.table_screen import TableScreen
from autoglm_tui.tui.widgets.gpu_health_view import badge
from autoglm_tui.tui.widgets.gpu_pane import short_name
from autoglm_tui.tui.widgets.live_table import Column, LiveTable, same
from autoglm_tui.tui.widgets.node_row import status_style

GpuItem = tuple[str, int]  # (node_id, gpu index)
PEERS_EVERY_S = 1.0  # straggler marks are recomputed at most this often

COLUMNS = [
    Column("node", "Node", 16),
    Column("gpu", "GPU", 3, right=True),
    Column("status", "Status", 11),
    Column("health", "Health", 20, help="OK, SLOW, RESET or LOST and the main reason"),
    Column("name", "Model", 14),
    Column("util", "Util", 11),
    Column("mem", "Memory", 11, right=True),
    Column("mempct", "Mem%", 4, right=True),
    Column("temp", "Temp", 4, right=True),
    Column("power", "Power", 5, right=True),
    Column("pcie", "PCIe rx tx/s", 12, right=True),
    Column("procs", "Proc", 4, right=True),
    Column("peers", "Peers", 30),
]
SORT_COLUMNS = [c.key for c in COLUMNS]
METRIC_OF = {"util": "gpu.util_pct", "mem": "gpu.mem_used_bytes", "mempct": "gpu.mem_used_pct",
             "temp": "gpu.temp_c", "power": "gpu.power_w"}


def gpu_procs(node: NodeState, index: int) -> int:
    """How many listed processes use GPU `index`."""
    sample = node.last_sample
    if sample is None:
        return 0
    return sum(1 for p in sample.procs if any(g.index == index for g in p.gpus))


def peer_text(devs: list[Deviation] | None, p: Palette, grey: bool) -> Text:
    if not devs:
        return cell("", "")
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append("⚠ ", style=p.muted if grey else f"bold {p.accent}")
    words = []
    for d in devs:
        short = d.metric.removeprefix("gpu.").removesuffix("_pct").replace("mem_used", "mem")
        arrow = "▼" if d.low else "▲"
        words.append(f"{short} {arrow}{d.value:.0f} vs {d.median:.0f}")
    out.append(", ".join(words), style=p.muted if grey else p.accent)
    return out


class GpusScreen(TableScreen):
    """All GPUs, sortable and filterable, with peer outliers marked."""

    HELP_TITLE = "All GPUs"
    KEY_HELP = {"enter": "Open the GPU"}  # widget keys, as here

    sort_columns = SORT_COLUMNS
    ascending_first = ("node", "gpu", "status", "name")
    table_id = "gpu-table"
    filter_id = "gpus-filter"

    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="clear the filter, then back"),
        Binding("slash", "filter", "Filter", key_display="/", priority=True,
                tooltip="e.g. gpu.util<10 & label.zone=a"),
        Binding("g", "group", "Peers", tooltip="by the next label (default: the node's GPUs)"),
        Binding("x", "only_marked", "Stragglers", tooltip="only the stragglers (again: all)"),
        *SORT_BINDINGS,
    ]

    def __init__(self) -> None:
        super().__init__("node")
        self.peer_label: str | None = None
        self.only_marked = False
        self.marks: dict[GpuItem, list[Deviation]] = {}
        self._marks_at = -math.inf
        self._p = Palette()
        self._shown_text: dict[str, Text] = {}

    def compose_body(self) -> Iterable[Widget]:
        yield Static(id="gpus-summary", classes="summary")
        yield LiveTable(COLUMNS, id="gpu-table")
        yield Static(id="gpus-detail", classes="detail")
        yield self.filter_box("filter: gpu.util<10 & label.zone=a & host~=dgx")

    # ------------------------------------------------------------------ painting

    def paint(self, now: float) -> None:
        self._p = Palette.from_variables(self.app.theme_variables)
        nodes = self.state.nodes
        if now - self._marks_at >= PEERS_EVERY_S or now < self._marks_at:
            self._marks_at = now
            self.marks = gpu_stragglers(nodes.values(), label=self.peer_label)
        pairs: list[tuple[object, Hashable]] = []
        q = self.filter_query
        for node in nodes.values():
            for index in node.gpu_indices() if node.last_sample is not None else ():
                item = (node.node_id, index)
                if self.only_marked and item not in self.marks:
                    continue
                if q and not q.matches(GpuSubject(node, index)):
                    continue
                pairs.append((self._sort_value(node, index), item))
        ordered = sort_items(pairs, self.sort_reverse)
        self.table.show(ordered, self._render_row, empty=self._empty_hint)
        self._paint_summary(len(ordered))
        self._paint_detail()

    def _empty_hint(self) -> Text:
        """What the empty table says: why no GPU shows."""
        p = self._p
        if not any(n.gpu_indices() for n in self.state.nodes.values()
                   if n.last_sample is not None):
            return Text("No GPU reported yet.", style=p.muted)
        if self.only_marked:
            return Text("No straggler: no GPU stands out from its peers. x shows every GPU.",
                        style=p.muted)
        return Text("No GPU matches the filter. Esc clears it.", style=p.warning)

    def _sort_value(self, node: NodeState, index: int) -> object:
        key = self.sort_key
        m = node.metrics
        if key == "node":
            return (natural_key(node.node_id), index)
        if key == "gpu":
            return (index, natural_key(node.node_id))
        if key == "status":
            return node.status.value
        if key == "name":
            info = node.gpu_info(index)
            return info.name if info else None
        if key == "health":
            g = node.gpu(index)
            return None if g is None else gpu_health(g).state.rank  # first sort: worst first
        if key == "peers":
            devs = self.marks.get((node.node_id, index))
            return max((abs(d.value - d.median) for d in devs), default=0.0) if devs else 0.0
        if key == "procs":
            return gpu_procs(node, index)
        if key == "pcie":
            return add_known(m.get(("gpu.pcie_rx_bps", index)), m.get(("gpu.pcie_tx_bps", index)))
        metric = METRIC_OF.get(key)
        return m.get((metric, index)) if metric else None

    def _render_row(self, item: Hashable) -> list[Text]:
        node_id, index = item  # type: ignore[misc]
        p = self._p
        node = self.state.nodes.get(node_id)
        if node is None:
            return [cell("")] * len(COLUMNS)
        m = node.metrics
        grey = node.status is not NodeStatus.UP
        fig = p.muted if grey else ""
        util = m.get(("gpu.util_pct", index))
        mem_pct = m.get(("gpu.mem_used_pct", index))
        info = node.gpu_info(index)
        util_cell = Text(no_wrap=True, overflow="ellipsis")
        util_cell.append_text(bar(util, 6, p, p.muted if grey else None))
        util_cell.append(fmt.pct(util).rjust(5), style=fig)
        g = node.gpu(index)
        gpu_state = "gone" if g is None else g.state
        status = node.status.value if gpu_state == "ok" else clean(gpu_state, 10).upper()
        status_st = status_style(node.status, p) if gpu_state == "ok" else f"bold {p.error}"
        health = badge(gpu_health(g), g, p, width=20) if g is not None else cell("-", p.muted)
        if grey:
            health.stylize(p.muted)
        return [
            cell(clean(node_id, 128), p.muted if grey else "bold"),
            cell(str(index), fig, True),
            cell(status, status_st),
            health,
            cell(short_name(info.name) if info else "-", p.muted),
            util_cell,
            cell(f"{fmt.bytes_(m.get(('gpu.mem_used_bytes', index)))}/"
                 f"{fmt.bytes_(m.get(('gpu.mem_total_bytes', index)))}", fig, True),
            cell(fmt.pct(mem_pct), fig or p.level(mem_pct, 70, 90), True),
            cell(fmt.num(m.get(("gpu.temp_c", index)), "°"), fig, True),
            cell(fmt.num(m.get(("gpu.power_w", index)), "W"), fig, True),
            cell(f"{fmt.bytes_(m.get(('gpu.pcie_rx_bps', index)))} "
                 f"{fmt.bytes_(m.get(('gpu.pcie_tx_bps', index)))}", fig, True),
            cell(str(gpu_procs(node, index)), fig, True),
            peer_text(self.marks.get((node_id, index)), p, grey),
        ]

    def _paint_summary(self, shown: int) -> None:
        p = self._p
        total = sum(len(n.last_sample.gpus) for n in self.state.nodes.values()
                    if n.last_sample is not None)
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append("GPUs ", style=p.muted)
        out.append(f"{shown} of {total} shown", style="bold")
        out.append("  ·  peers: ", style=p.muted)
        out.append(f"label {clean(self.peer_label, 32)}" if self.peer_label else "each node's GPUs",
                   style="bold")
        out.append("  ·  stragglers ", style=p.muted)
        out.append(str(len(self.marks)), style=f"bold {p.accent}" if self.marks else "bold")
        if self.only_marked:
            out.append("  (only stragglers shown: x)", style=p.accent)
        self._update("#gpus-summary", out)

    def _paint_detail(self) -> None:
        p = self._p
        out = Text(no_wrap=True, overflow="ellipsis")
        if self.query_error:
            out.append("filter: ", style=f"bold {p.error}")
            out.append(self.query_error, style=p.error)
        else:
            item = self.table.selected
            if isinstance(item, tuple):
                node_id, index = item
                node = self.state.nodes.get(node_id)
                info = node.gpu_info(index) if node is not None else None
                out.append(f"{clean(node_id, 64)} GPU {index}", style="bold")
                if info is not None:
                    out.append(f"  {clean(info.name, 64)}  {clean(info.uuid, 64)}", style=p.muted)
                    if info.pci_bus_id:
                        out.append(f"  {clean(info.pci_bus_id, 32)}", style=p.muted)
                g = node.gpu(index) if node is not None else None
                err = "not in the newest sample" if node and g is None else g.error if g else None
                if err:
                    out.append("  " + clean(err, 200), style=p.error)
                for d in self.marks.get(item, []):
                    out.append(f"  ·  {d.describe()} ({clean(d.group, 64)})", style=p.accent)
        self._update("#gpus-detail", out)

    def _update(self, selector: str, text: Text) -> None:
        old = self._shown_text.get(selector)
        if old is None or not same(old, text):
            self._shown_text[selector] = text
            self.query_one(selector, Static).update(text, layout=False)  # fixed height

    # ------------------------------------------------------------------ actions

    def on_live_table_activated(self, event: LiveTable.Activated) -> None:
        event.stop()
        node_id, index = event.item  # type: ignore[misc]
        self.go(OpenGpu(node_id, index))

    def on_live_table_moved(self, event: LiveTable.Moved) -> None:
        event.stop()
        self._paint_detail()

    def action_group(self) -> None:
        keys = label_keys(self.state.nodes.values())
        if self.peer_label is None:
            nxt = keys[0] if keys else None
        else:
            i = keys.index(self.peer_label) if self.peer_label in keys else len(keys)
            nxt = keys[i + 1] if i + 1 < len(keys) else None
        self.set_group(nxt)

    def set_group(self, label: str | None) -> None:
        self.peer_label = label
        self._marks_at = -math.inf
        self.refresh_now()

    def action_only_marked(self) -> None:
        self.only_marked = not self.only_marked
        self.refresh_now()

    def action_back(self) -> None:
        if not self.clear_filter():
            super().action_back()
