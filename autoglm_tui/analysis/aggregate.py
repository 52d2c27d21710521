"""Cluster-level figures: label groups with sum, mean and max per metric, and the summary line
(pure).

This is the seed's hierarchical aggregation: GPU -> node -> label group -> cluster. Live
figures count only nodes that are UP (a STALE or UNREACHABLE node's last figures are shown on its
own row, greyed, but are not mixed into live totals). A GPU metric's sum, mean and max run over
every GPU of the counted nodes; a node metric's over the counted nodes.

What a group shows for a metric depends on what it is (:func:`combine`): percentages and
other levels (temperature, clock, load) their mean and max (a sum of percentages means
nothing); absolute quantities (bytes, rates, watts, tokens/s) their sum; latencies the worst
member's (the mean of P95s is not a P95 of anything).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import filterfalse
from operator import itemgetter

from autoglm_tui.analysis.derive import GPU_FIELDS
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.rollup import KNOWN, ROLLUP_METRICS, Rollup, rollup_of
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import NodeStatus
from autoglm_tui.metrics import METRICS, Scope

NODE_METRICS: tuple[str, ...] = (
    "cpu.util_pct",
    "mem.used_pct",
    "net.rx_bps",
    "net.tx_bps",
    "disk.read_bps",
    "disk.write_bps",
    "svc.tokens_per_s",
    "svc.latency_p95_s",
    "svc.queue_len",
    "svc.kv_cache_pct",
)
GPU_METRICS: tuple[str, ...] = ROLLUP_METRICS  # summed as each sample is folded in
DEFAULT_METRICS = NODE_METRICS + GPU_METRICS
NO_LABEL = "(none)"


MEAN, SUM, WORST = "mean", "sum", "worst"
LEVEL_UNITS = ("pct", "c", "mhz", "")  # levels: a group shows their mean (and max)
LATENCY_UNITS = ("s", "ms")  # quantiles and latencies: a group shows its worst member's


def combine(metric: str) -> str:
    """How a group shows `metric`: MEAN (and max) for levels such as percentages, WORST for
    latencies, SUM for absolute quantities."""
    unit = METRICS[metric].unit
    if unit in LATENCY_UNITS:
        return WORST
    return MEAN if unit in LEVEL_UNITS else SUM


@dataclass(frozen=True, slots=True)
class Stat:
    """Sum, count and maximum of the known values of one metric (unknown values are not
    counted)."""

    total: float = 0.0
    count: int = 0
    peak: float = float("-inf")

    @property
    def max(self) -> float | None:
        return self.peak if self.count else None

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    @property
    def sum(self) -> float | None:
        return self.total if self.count else None


@dataclass(frozen=True, slots=True)
class Aggregate:
    """Figures over a set of nodes."""

    nodes: int  # all nodes in the set
    live: int  # nodes whose figures were counted (UP)
    gpus: int  # GPUs of the counted nodes
    stats: dict[str, Stat] = field(default_factory=dict)

    def sum(self, metric: str) -> float | None:
        s = self.stats.get(metric)
        return s.sum if s else None

    def mean(self, metric: str) -> float | None:
        s = self.stats.get(metric)
        return s.mean if s else None

    def max(self, metric: str) -> float | None:
        s = self.stats.get(metric)
        return s.max if s else None

    def figure(self, metric: str) -> float | None:
        """The group's figure for `metric`, as :func:`combine` says: the mean of a level, the
        sum of an amount, the worst (highest) latency."""
        how = combine(metric)
        if how == SUM:
            return self.sum(metric)
        return self.mean(metric) if how == MEAN else self.max(metric)


def aggregate(
    nodes: Iterable[NodeState], metrics: Sequence[str] = DEFAULT_METRICS
) -> Aggregate:
    """Sum and mean of each metric over the UP nodes in `nodes`.

    Each UP node gives one row of its node-level values and one of its GPU rollups (lists made
    in C); the columns are summed once at the end, so a thousand nodes cost a few calls each
    rather than a Python step per node and metric."""
    n_nodes = n_live = n_gpus = 0
    gpu_all: list[tuple[str, list[float | None]]] = [
        (m, []) for m in metrics if METRICS[m].scope is Scope.GPU]
    rollup_at = [(m, ROLLUP_METRICS.index(m)) for m, _ in gpu_all if m in ROLLUP_METRICS]
    gpu_cols = [(m, col) for m, col in gpu_all if m not in ROLLUP_METRICS]
    # Service metrics count at their node-level value (subject None).
    node_ms = [m for m in metrics if METRICS[m].scope in (Scope.NODE, Scope.SERVICE)]
    node_keys = [(m, None) for m in node_ms]
    node_rows: list[list[float | None]] = []
    rollup_rows: list[list[Rollup]] = []
    for node in nodes:
        n_nodes += 1
        if node.status is not NodeStatus.UP:
            continue
        n_live += 1
        node_rows.append(list(map(node.node_metrics.get, node_keys)))
        n_gpus += len(node.gpu_indices())
        rolled = node.rollups
        if rolled is not None and rolled[0] is node.last_sample:  # summed when it came
            rollup_rows.append(rolled[1])
            cols = gpu_cols
        else:
            cols = gpu_all
        gpus = node.last_sample.gpus if node.last_sample is not None else ()
        for m, col in cols:  # the GPUs' values gathered in C, summed once at the end
            read = GPU_FIELDS.get(m)
            if read is not None:
                col.extend(map(read, gpus))
    stats = {m: Stat() for m in metrics}
    for j, m in enumerate(node_ms):
        stats[m] = _stat(list(filter(KNOWN, map(itemgetter(j), node_rows))))
    for m, i in rollup_at:
        rolls = list(map(itemgetter(i), rollup_rows))
        stats[m] = Stat(sum(map(_TOTAL, rolls), 0.0), sum(map(_COUNT, rolls)),
                        max(filterfalse(math.isnan, map(_PEAK, rolls)), default=-math.inf))
    for m, col in gpu_all:
        total, count, peak = rollup_of(col)
        s = stats[m]
        stats[m] = Stat(s.total + total, s.count + count, max(s.peak, peak))
    return Aggregate(n_nodes, n_live, n_gpus, stats)


_TOTAL, _COUNT, _PEAK = itemgetter(0), itemgetter(1), itemgetter(2)


def _stat(known: list[float]) -> Stat:
    """The Stat of known values (NaN counts in the sum, never as the peak)."""
    return Stat(sum(known, 0.0), len(known), max(filterfalse(math.isnan, known),
                                                 default=-math.inf))


@dataclass(frozen=True, slots=True)
class Group:
    """Nodes sharing one value of a label (value None: nodes without that label)."""

    key: str
    value: str | None
    node_ids: tuple[str, ...]
    agg: Aggregate

    @property
    def title(self) -> str:
        return NO_LABEL if self.value is None else self.value


def group_by_label(
    nodes: Iterable[NodeState], key: str, metrics: Sequence[str] = DEFAULT_METRICS
) -> list[Group]:
    """One group per value of label `key` (sorted; nodes without the label last)."""
    buckets: dict[str | None, list[NodeState]] = {}
    for node in nodes:
        buckets.setdefault(node.labels.get(key), []).append(node)
    order = sorted(v for v in buckets if v is not None) + ([None] if None in buckets else [])
    return [
        Group(key, v, tuple(n.node_id for n in buckets[v]), aggregate(buckets[v], metrics))
        for v in order
    ]


def label_keys(nodes: Iterable[NodeState]) -> list[str]:
    """Every label key used by any node, sorted."""
    keys: set[str] = set()
    for node in nodes:
        keys.update(node.labels)
    return sorted(keys)


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    """The cluster screen's summary line."""

    nodes_total: int
    nodes_up: int
    counts: dict[NodeStatus, int]
    gpus: int
    gpu_mem_used: float | None
    gpu_mem_total: float | None
    gpu_util_mean: float | None
    cpu_mean: float | None
    alerts_firing: int
    registry: str  # "ok", "degraded" or "none" (no registry in use)
    registry_reason: str | None = None


def cluster_summary(state: FleetState, alerts_firing: int = 0) -> ClusterSummary:
    """Nodes up / total, GPUs, GPU memory, mean GPU util and CPU over UP nodes, registry state."""
    nodes = list(state.nodes.values())
    agg = aggregate(
        nodes, ("gpu.util_pct", "gpu.mem_used_bytes", "gpu.mem_total_bytes", "cpu.util_pct")
    )
    ok = state.registry_ok
    registry = "none" if ok is None else "ok" if ok else "degraded"
    return ClusterSummary(
        nodes_total=agg.nodes,
        nodes_up=agg.live,
        counts=state.counts(),
        gpus=agg.gpus,
        gpu_mem_used=agg.sum("gpu.mem_used_bytes"),
        gpu_mem_total=agg.sum("gpu.mem_total_bytes"),
        gpu_util_mean=agg.mean("gpu.util_pct"),
        cpu_mean=agg.mean("cpu.util_pct"),
        alerts_firing=alerts_firing,
        registry=registry,
        registry_reason=state.registry_reason,
    )
