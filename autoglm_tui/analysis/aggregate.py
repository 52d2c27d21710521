"""Cluster-level figures: label groups with sum and mean per metric, and the summary line (pure).

This is the seed's hierarchical aggregation: GPU -> node -> label group -> cluster. Live
figures count only nodes that are UP (a STALE or UNREACHABLE node's last figures are shown on its
own row, greyed, but are not mixed into live totals). A GPU metric's sum and mean run over
every GPU of the counted nodes; a node metric's over the counted nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from autoglm_tui.analysis.state import FleetState, NodeState, gpu_keys
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
GPU_METRICS: tuple[str, ...] = (
    "gpu.util_pct",
    "gpu.mem_used_bytes",
    "gpu.mem_total_bytes",
    "gpu.mem_used_pct",
    "gpu.power_w",
    "gpu.temp_c",
)
DEFAULT_METRICS = NODE_METRICS + GPU_METRICS
NO_LABEL = "(none)"


@dataclass(frozen=True, slots=True)
class Stat:
    """Sum and count of the known values of one metric (unknown values are not counted)."""

    total: float = 0.0
    count: int = 0

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


def aggregate(
    nodes: Iterable[NodeState], metrics: Sequence[str] = DEFAULT_METRICS
) -> Aggregate:
    """Sum and mean of each metric over the UP nodes in `nodes`."""
    totals = {m: 0.0 for m in metrics}
    counts = dict.fromkeys(metrics, 0)
    n_nodes = n_live = n_gpus = 0
    gpu_metrics = [m for m in metrics if METRICS[m].scope is Scope.GPU]
    # Service metrics count at their node-level value (subject None).
    node_keys = [(m, (m, None)) for m in metrics
                 if METRICS[m].scope in (Scope.NODE, Scope.SERVICE)]
    for node in nodes:
        n_nodes += 1
        if node.status is not NodeStatus.UP:
            continue
        n_live += 1
        values = node.metrics
        for m, key in node_keys:
            v = values.get(key)
            if v is not None:
                totals[m] += v
                counts[m] += 1
        indices = node.gpu_indices()
        n_gpus += len(indices)
        for m in gpu_metrics:
            total, count = 0.0, 0
            for key in gpu_keys(m, indices):
                v = values.get(key)
                if v is not None:
                    total += v
                    count += 1
            totals[m] += total
            counts[m] += count
    stats = {m: Stat(totals[m], counts[m]) for m in metrics}
    return Aggregate(n_nodes, n_live, n_gpus, stats)


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
