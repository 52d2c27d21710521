"""The cells of the cluster's node table: node rows, label-group rows and the detail line.

Pure drawing: each function takes a node (or a group) and the repaint's facts and returns Rich
``Text`` built from cleaned strings, never markup. The order of the rows is the screen's
business (analysis/node_table.py); these build only the rows on screen.

To add a column to the node table: a ``Column`` in :func:`node_columns`, its cell in
:func:`node_cells` (and :func:`group_cells` if a group has a figure for it), and its sort value
in ``analysis/node_table.py:node_sort_value``. A cell that reads anything beyond the node's
newest sample, status, labels, alerts, stragglers, IO window and lag goes into
:func:`node_row_key` too (an unchanged key reuses the row drawn at the last repaint).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field

from rich.text import Text

from autoglm_tui import format as fmt
from autoglm_tui.analysis.aggregate import SUM, WORST, Aggregate, combine
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.node_table import GroupRow, TableFacts, gpu_sum
from autoglm_tui.analysis.peers import gpu_stragglers
from autoglm_tui.analysis.query import host_of
from autoglm_tui.events import NodeStatus
from autoglm_tui.metrics import METRICS
from autoglm_tui.text import clean
from autoglm_tui.tui.render import SPARK, Palette, bar, cell
from autoglm_tui.tui.widgets.findings import NodeMark, mark_text
from autoglm_tui.tui.widgets.gpu_health_view import worst_cell, worst_detail
from autoglm_tui.tui.widgets.io_correlation import io_cell
from autoglm_tui.tui.widgets.live_table import Column
from autoglm_tui.tui.widgets.liveness import heartbeat_why, status_reason

STRIP_MIN, STRIP_MAX = 8, 16  # width of the GPU util strip: one block per GPU


def node_columns(strip: int = STRIP_MIN) -> list[Column]:
    """Most telling first: on a narrow terminal the row still says how the node is doing."""
    return [
        Column("status", "Status", 11, help="UP, STALE, UNREACHABLE, FAILED, LEFT, INVALID"),
        Column("node", "Node", 16),
        Column("gpus", "GPUs", 4, right=True),
        Column("health", "Hlth", 5, help="the worst GPU health: OK, SLOW, RESET, LOST"),
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
        # Last, so they are the first to go on a narrow terminal (Left/Right scroll to them).
        Column("queue", "Queue", 5, right=True, help="requests waiting, all services"),
        Column("kv", "KV%", 4, right=True, help="KV cache in use, the fullest service"),
    ]


SORT_COLUMNS = [c.key for c in node_columns()]


@dataclass
class RowPaint:
    """What drawing one repaint's rows needs besides the node: the facts and the look."""

    facts: TableFacts
    palette: Palette
    strip: int  # width of the GPU util strip
    stragglers: dict[str, set[int]]  # marked GPUs of the nodes in view
    open_groups: set[str]
    findings: dict[str, NodeMark] = field(default_factory=dict)  # diagnosis, per node


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
    idx = node.gpu_indices()
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


def mem_pair(used: float | None, total: float | None) -> str:
    if used is None and total is None:
        return fmt.NA
    return f"{fmt.bytes_(used)}/{fmt.bytes_(total)}"


def rate_pair(a: float | None, b: float | None) -> str:
    if a is None and b is None:
        return fmt.NA
    return f"{fmt.bytes_(a)} {fmt.bytes_(b)}"


def tokens_text(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1000:.1f}k" if v >= 1000 else f"{v:.0f}"


def latency_text(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 1000:.0f}ms" if v < 1 else f"{v:.2f}s"


def count_text(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def pct_text(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}%"


def alerts_cell(count: int, p: Palette) -> Text:
    return cell(str(count) if count else "-", f"bold {p.error}" if count else p.muted, True)


def node_row_key(node: NodeState, paint: RowPaint) -> Hashable:
    """Everything a node's row shows, in short: equal keys draw the same row."""
    facts = paint.facts
    age = node.age(facts.now)
    marks = paint.stragglers.get(node.node_id)
    return (
        node.last_sample_at,  # moves with every sample: every figure of the row
        node.status,
        node.reason,
        frozenset(node.labels.items()),
        facts.alerts.get(node.node_id, 0),
        frozenset(marks) if marks else None,
        facts.io.computed_at(node.node_id) if facts.io is not None else None,
        fmt.duration(age) if age is not None else None,
        age is not None and age > 3 * node.interval_s,
        node.agent_lost_at,  # the agent-lost mark changes no status
        node.sampler_restarts,
        paint.findings.get(node.node_id),
    )


AGENT_LOST_MARK = "⚠agent"  # an UP node whose heartbeat is lost: samples flow, the agent not


def status_cell(node: NodeState, mark: NodeMark | None, p: Palette) -> Text:
    """The status word; an UP node whose agent (heartbeat) is lost says so beside it; then the
    diagnosis marker ('UP ◆2') when the node has findings."""
    if node.status is NodeStatus.UP and node.agent_lost:
        out = Text("UP", style=status_style(node.status, p), no_wrap=True, overflow="ellipsis")
        out.append(" " + AGENT_LOST_MARK, style=f"bold {p.warning}")
    else:
        out = cell(node.status.value, status_style(node.status, p))
    if mark is not None:
        out.append(" ")
        out.append_text(mark_text(mark, p))
    return out


def node_cells(node: NodeState, paint: RowPaint) -> dict[str, Text]:
    """The cells of one node row, by column key."""
    p, facts = paint.palette, paint.facts
    m = node.metrics
    grey = node.status is not NodeStatus.UP
    dim = p.muted if grey else ""  # the figures of a node that is not live are greyed
    gpus = len(node.gpu_indices())
    used = gpu_sum(node, "gpu.mem_used_bytes")
    total = gpu_sum(node, "gpu.mem_total_bytes")
    mem_pct = 100.0 * used / total if used is not None and total else None
    cpu = m.get(("cpu.util_pct", None))
    mem = m.get(("mem.used_pct", None))
    age = node.age(facts.now)
    lag_style = dim
    if age is not None and age > 3 * node.interval_s:
        lag_style = f"bold {p.warning}"
    smp = node.sampler_cpu_pct
    io = facts.io.get(node, facts.now) if facts.io is not None else None
    return {
        "status": status_cell(node, paint.findings.get(node.node_id), p),
        "health": worst_cell(node, p, grey),
        "node": cell(clean(node.node_id, 128), "bold" if not grey else p.muted),
        "labels": cell(labels_text(node.labels), p.muted),
        "gpus": cell(str(gpus) if gpus else "-", dim, True),
        "strip": util_strip(node, paint.strip, p, grey, paint.stragglers.get(node.node_id, set())),
        "gmem": cell(mem_pair(used, total), dim or (p.level(mem_pct, 70, 90) if mem_pct else ""),
                     True),
        "cpu": cell(fmt.pct(cpu), dim or p.level(cpu), True),
        "mem": cell(fmt.pct(mem), dim or p.level(mem, 70, 90), True),
        "net": cell(rate_pair(m.get(("net.rx_bps", None)), m.get(("net.tx_bps", None))), dim,
                    True),
        "disk": cell(rate_pair(m.get(("disk.read_bps", None)), m.get(("disk.write_bps", None))),
                     dim, True),
        "tok": cell(tokens_text(m.get(("svc.tokens_per_s", None))), dim, True),
        "p95": cell(latency_text(m.get(("svc.latency_p95_s", None))), dim, True),
        "queue": cell(count_text(m.get(("svc.queue_len", None))), dim, True),
        "kv": cell(pct_text(m.get(("svc.kv_cache_pct", None))),
                   dim or p.level(m.get(("svc.kv_cache_pct", None)), 85, 95), True),
        "io": io_cell(io, p),
        "alerts": alerts_cell(facts.alerts.get(node.node_id, 0), p),
        "lag": cell(fmt.duration(age) if age is not None else "-", lag_style, True),
        "smp": cell(fmt.pct(smp, digits=1) if smp is not None else "-", dim or p.muted, True),
    }


def group_cells(value: str, group: GroupRow, paint: RowPaint) -> dict[str, Text]:
    """The cells of one label group's row, by column key: means of levels (the GPU util
    strip also its max), sums of amounts, the worst latency (aggregate.combine); columns
    without a group figure stay blank."""
    p, agg = paint.palette, group.agg
    head = f"{'▾' if value in paint.open_groups else '▸'} {agg.live}/{agg.nodes} up"
    util, top = agg.mean("gpu.util_pct"), agg.max("gpu.util_pct")
    strip = Text(no_wrap=True, overflow="ellipsis")
    if util is not None:
        figures = f"{util:.0f}%" + (f" ↑{top:.0f}%" if top is not None else "")
        room = paint.strip - len(figures) - 1
        if room >= 2:
            strip.append_text(bar(util, room, p))
            strip.append(" ")
        strip.append(figures)
    else:
        strip.append(fmt.NA, style=p.muted)
    style = "bold"
    return {
        "status": cell(head, f"bold {p.label}"),
        "node": cell(group.title, f"bold {p.label}"),
        "labels": cell(f"{agg.nodes} nodes", p.muted),
        "gpus": cell(str(agg.gpus), style, True),
        "strip": strip,
        "gmem": cell(mem_pair(agg.sum("gpu.mem_used_bytes"), agg.sum("gpu.mem_total_bytes")),
                     style, True),
        "cpu": cell(fmt.pct(agg.figure("cpu.util_pct")), style, True),
        "mem": cell(fmt.pct(agg.figure("mem.used_pct")), style, True),
        "net": cell(rate_pair(agg.sum("net.rx_bps"), agg.sum("net.tx_bps")), style, True),
        "disk": cell(rate_pair(agg.sum("disk.read_bps"), agg.sum("disk.write_bps")), style, True),
        "tok": cell(tokens_text(agg.figure("svc.tokens_per_s")), style, True),
        "p95": cell(latency_text(agg.figure("svc.latency_p95_s")), style, True),
        "queue": cell(count_text(agg.figure("svc.queue_len")), style, True),
        "kv": cell(pct_text(agg.figure("svc.kv_cache_pct")), style, True),
        "alerts": alerts_cell(group.alerts, p),
    }


DETAIL_METRICS = (
    ("GPU util", "gpu.util_pct"), ("GPU mem", "gpu.mem_used_bytes"), ("CPU", "cpu.util_pct"),
    ("mem", "mem.used_pct"), ("net rx", "net.rx_bps"), ("net tx", "net.tx_bps"),
    ("disk r", "disk.read_bps"), ("disk w", "disk.write_bps"), ("tokens/s", "svc.tokens_per_s"),
    ("P95", "svc.latency_p95_s"), ("power", "gpu.power_w"), ("GPU temp", "gpu.temp_c"),
)


def group_detail(group: GroupRow, key: str) -> Text:
    """A group's figures for the detail line: mean and max of levels ("GPU util x̄ 82% max
    97%"), sums of amounts ("GPU mem Σ 3.7T"), the worst latency ("P95 worst 1.58s")."""
    agg: Aggregate = group.agg
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(f"{clean(key, 32)}={group.title}", style="bold")
    out.append(f"  {agg.nodes} nodes, {agg.live} up, {agg.gpus} GPUs")
    for label, metric in DETAIL_METRICS:
        figure = agg.figure(metric)
        if figure is None:
            continue
        unit = METRICS[metric].unit
        how = combine(metric)
        if how == SUM:
            out.append(f"  ·  {label} Σ {fmt.in_unit(figure, unit)}")
        elif how == WORST:
            out.append(f"  ·  {label} worst {fmt.in_unit(figure, unit)}")
        else:
            out.append(f"  ·  {label} x̄ {level_text(figure, unit)} "
                       f"max {level_text(agg.max(metric), unit)}")
    return out


def level_text(v: float | None, unit: str) -> str:
    """A level as the table shows it: 82%, 71°C (no decimals)."""
    if v is None:
        return fmt.NA
    if unit == "pct":
        return fmt.pct(v)
    return fmt.in_unit(v, unit)


def node_detail(node: NodeState, now: float, p: Palette) -> Text:
    """The line below the table for a highlighted node: status and why, host, address,
    labels, and its GPUs that lag their peers."""
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(clean(node.node_id, 128), style="bold")
    out.append("  ")
    out.append(node.status.value, style=status_style(node.status, p))
    reason = status_reason(node, now)
    if reason and node.status is not NodeStatus.UP:
        out.append(": " + reason, style=status_style(node.status, p))
    if node.status is NodeStatus.UP and node.agent_lost:
        out.append(f"  ·  agent lost at {fmt.clock_time(node.agent_lost_at)}",
                   style=f"bold {p.warning}")
        why = heartbeat_why(node)
        out.append((f" ({why})" if why else "") + "; samples still flow", style=p.warning)
    problems = node.registration_problems()
    if problems:  # bad entries the registry's value held, left out (the node is watched)
        out.append("  ·  registration: " + "; ".join(problems) + " (left out)",
                   style=f"bold {p.warning}")
    if node.sampler_restarts:
        out.append(f"  ·  sampler restarted {node.sampler_restarts}x", style=p.warning)
        if node.sampler_exit:
            out.append(f", last: {clean(node.sampler_exit, 120)}", style=p.warning)
    health = worst_detail(node, p)
    if health is not None:
        out.append("  ·  ", style=p.muted)
        out.append_text(health)
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
    for (_, index), devs in sorted(gpu_stragglers([node]).items()):
        out.append(f"  ·  GPU {index}: ", style=f"bold {p.accent}")
        out.append("; ".join(d.describe() for d in devs), style=p.accent)
    return out
