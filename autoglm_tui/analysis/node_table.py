"""The cluster's node table as values (pure): row order, sort keys, label groups, IO windows.

The cluster screen builds its rows' order once per repaint with :func:`order_rows` (filter,
group, sort), then draws only the rows on screen. Nothing here knows about Rich or Textual.
A row is an item: ``("node", node_id)`` or ``("group", label value)`` ("" for nodes without
the label).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter

from autoglm_tui.analysis.aggregate import Aggregate, group_by_label
from autoglm_tui.analysis.correlation import IoWindow, io_window
from autoglm_tui.analysis.derive import GPU_FIELDS
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.events import NodeStatus

NodeItem = tuple[str, str]  # ("node", node_id) or ("group", value)

STATUS_ORDER = {
    NodeStatus.INVALID: 0,
    NodeStatus.FAILED: 0,
    NodeStatus.UNREACHABLE: 1,
    NodeStatus.STALE: 2,
    NodeStatus.CONNECTING: 3,
    NodeStatus.LEFT: 4,
    NodeStatus.UP: 5,
}


@lru_cache(maxsize=8192)
def natural_key(text: str) -> tuple[object, ...]:
    """'node-10' sorts after 'node-9' (made once per name: the table sorts by it each repaint)."""
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text))


def sort_items(pairs: Iterable[tuple[object, Hashable]], reverse: bool) -> list[Hashable]:
    """Items of (sort value, item) pairs in value order; unknown (None) values always go last."""
    known: list[tuple[object, Hashable]] = []
    unknown: list[Hashable] = []
    for value, item in pairs:
        if value is None:
            unknown.append(item)
        else:
            known.append((value, item))
    try:
        known.sort(key=lambda pair: pair[0], reverse=reverse)  # type: ignore[arg-type,return-value]
    except TypeError:  # mixed types: fall back to their text
        known.sort(key=lambda pair: str(pair[0]), reverse=reverse)
    return [i for _, i in known] + unknown


def gpu_values(node: NodeState, metric: str) -> list[float]:
    """The known values of a GPU metric on the node's GPUs, read off its newest sample."""
    sample, field = node.last_sample, GPU_FIELDS.get(metric)
    if sample is None or field is None:
        return []
    return [v for v in map(field, sample.gpus) if v is not None]


def gpu_sum(node: NodeState, metric: str) -> float | None:
    """The sum of a GPU metric over the node's GPUs (None: no GPU reports it)."""
    known = gpu_values(node, metric)
    return sum(known) if known else None


def gpu_mean(node: NodeState, metric: str) -> float | None:
    """The mean of a GPU metric over the node's GPUs that report it."""
    known = gpu_values(node, metric)
    return sum(known) / len(known) if known else None


def add_known(a: float | None, b: float | None) -> float | None:
    """a + b, where an unknown side counts as 0 unless both are unknown."""
    return None if a is None and b is None else (a or 0.0) + (b or 0.0)


class IoWindows:
    """The IO correlation of each node's last 5 minutes (analysis/correlation.py), refreshed
    every 30 s, one per repaint at most: a window costs several milliseconds, and every row in
    view expiring together would freeze the UI for a quarter of a second (a 5-minute figure
    moves little in 30 s). A row whose turn has not come keeps its previous figure (or shows
    '-' until its first)."""

    WINDOW_S = 300.0
    REFRESH_S = 30.0
    PER_PAINT = 1

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, IoWindow]] = {}
        self._budget = self.PER_PAINT

    def __len__(self) -> int:
        return len(self._cache)

    def next_paint(self) -> None:
        """A new repaint: a new budget of windows to compute."""
        self._budget = self.PER_PAINT

    def computed_at(self, node_id: str) -> float | None:
        """When the node's last window was computed (None: never)."""
        hit = self._cache.get(node_id)
        return hit[0] if hit is not None else None

    def cached(self, node_id: str) -> IoWindow | None:
        """The last window computed for the node, however old (never computes one)."""
        hit = self._cache.get(node_id)
        return hit[1] if hit is not None else None

    def get(self, node: NodeState, now: float) -> IoWindow | None:
        """The node's window: fresh if within budget, else the last one computed."""
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
        """Drop nodes that are no longer in the fleet."""
        for node_id in [n for n in self._cache if n not in keep]:
            del self._cache[node_id]


@dataclass
class TableFacts:
    """What one repaint knows beyond the nodes themselves: shared by sorting and drawing."""

    now: float
    alerts: dict[str, int]  # firing alerts per node
    io: IoWindows | None = None
    groups: dict[str, GroupRow] = field(default_factory=dict)  # label value -> its group row


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One label group: its title, figures and firing alerts, and its members."""

    title: str
    agg: Aggregate
    alerts: int
    members: tuple[str, ...]


def node_sort_value(node: NodeState, key: str, facts: TableFacts) -> object:
    """The value a node sorts by in column `key` (None sorts last)."""
    m = node.node_metrics
    if key == "status":
        return STATUS_ORDER.get(node.status, 9)
    if key == "node":
        return natural_key(node.node_id)
    if key == "labels":
        return " ".join(f"{k}={v}" for k, v in sorted(node.labels.items()))
    if key == "gpus":
        return len(node.gpu_indices())
    if key == "health":  # the worst GPU's health (first sort: worst first)
        worst = node.worst_gpu_health()
        return None if worst is None else worst.rank
    if key == "strip":
        return gpu_mean(node, "gpu.util_pct")
    if key == "gmem":
        return gpu_sum(node, "gpu.mem_used_bytes")
    if key == "cpu":
        return m.get(("cpu.util_pct", None))
    if key == "mem":
        return m.get(("mem.used_pct", None))
    if key == "net":
        return add_known(m.get(("net.rx_bps", None)), m.get(("net.tx_bps", None)))
    if key == "disk":
        return add_known(m.get(("disk.read_bps", None)), m.get(("disk.write_bps", None)))
    if key == "tok":
        return m.get(("svc.tokens_per_s", None))
    if key == "p95":
        return m.get(("svc.latency_p95_s", None))
    if key == "queue":
        return m.get(("svc.queue_len", None))
    if key == "kv":
        return m.get(("svc.kv_cache_pct", None))
    if key == "alerts":
        return facts.alerts.get(node.node_id, 0)
    if key == "lag":
        return node.age(facts.now)
    if key == "smp":
        return node.sampler_cpu_pct
    if key == "io":
        w = facts.io.cached(node.node_id) if facts.io is not None else None
        return w.r_net_disk_bps if w is not None else None
    return None


def group_sort_value(group: GroupRow, key: str) -> object:
    """The value a group row sorts by in column `key`."""
    agg = group.agg
    table: dict[str, Callable[[], object]] = {
        "status": lambda: agg.live - agg.nodes,
        "node": lambda: natural_key(group.title),
        "labels": lambda: group.title,
        "gpus": lambda: agg.gpus,
        "strip": lambda: agg.mean("gpu.util_pct"),
        "gmem": lambda: agg.sum("gpu.mem_used_bytes"),
        "cpu": lambda: agg.figure("cpu.util_pct"),
        "mem": lambda: agg.figure("mem.used_pct"),
        "net": lambda: add_known(agg.sum("net.rx_bps"), agg.sum("net.tx_bps")),
        "disk": lambda: add_known(agg.sum("disk.read_bps"), agg.sum("disk.write_bps")),
        "tok": lambda: agg.sum("svc.tokens_per_s"),
        "p95": lambda: agg.figure("svc.latency_p95_s"),
        "queue": lambda: agg.figure("svc.queue_len"),
        "kv": lambda: agg.figure("svc.kv_cache_pct"),
        "alerts": lambda: group.alerts,
    }
    fn = table.get(key)
    return fn() if fn else None


_NODE_ID = attrgetter("node_id")


@lru_cache(maxsize=8)
def by_name(node_ids: tuple[str, ...], reverse: bool) -> tuple[NodeItem, ...]:
    """Node rows in name order (natural: node-9 before node-10); ties keep the given order.
    Kept for the few lists last asked for: a repaint asks again with the same nodes."""
    order = sorted(node_ids, key=natural_key, reverse=reverse)
    return tuple(("node", nid) for nid in order)


def order_rows(
    nodes: list[NodeState],
    facts: TableFacts,
    sort_key: str,
    reverse: bool,
    group_key: str | None = None,
    open_groups: set[str] | frozenset[str] = frozenset(),
    title: Callable[[str], str] = str,
) -> list[NodeItem]:
    """The table's rows in order: nodes sorted by `sort_key`; or, grouped by label
    `group_key`, group rows sorted the same way, each open group followed by its members.
    Fills ``facts.groups``; `title` makes a group's title printable."""

    def ordered(members: Iterable[NodeState]) -> list[NodeItem]:
        if sort_key == "node":  # the default: the same order while the same nodes are shown
            return list(by_name(tuple(map(_NODE_ID, members)), reverse))
        pairs = ((node_sort_value(n, sort_key, facts), n.node_id) for n in members)
        return [("node", nid) for nid in sort_items(pairs, reverse)]  # type: ignore[misc]

    if group_key is None:
        return ordered(nodes)
    by_id = {n.node_id: n for n in nodes}
    pairs: list[tuple[object, Hashable]] = []
    for g in group_by_label(nodes, group_key):
        value = "" if g.value is None else g.value
        alerts = sum(facts.alerts.get(n, 0) for n in g.node_ids)
        row = GroupRow(title(g.title), g.agg, alerts, g.node_ids)
        facts.groups[value] = row
        pairs.append((group_sort_value(row, sort_key), value))
    out: list[NodeItem] = []
    for value in sort_items(pairs, reverse):
        out.append(("group", value))  # type: ignore[arg-type]
        if value in open_groups:
            out.extend(ordered(by_id[n] for n in facts.groups[value].members))  # type: ignore[index]
    return out
