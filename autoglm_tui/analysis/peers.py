"""Stragglers: a GPU whose util or memory is far from its peers' (pure).

Peers are the GPUs of one node (a tensor-parallel group usually spans one node) or, when a
label is given, all GPUs of the nodes sharing that label's value. A GPU is marked when its
value is far from the group median both in robust terms (modified z-score over the median
absolute deviation, |z| >= 3.5 by default) and in absolute terms (at least `min_gap` points),
so a tight group with tiny jitter is never flagged, and a group where all GPUs but one agree
exactly (MAD 0) still flags the odd one. Stragglers are few by definition: when more than a
quarter of a group would be marked, the group is split in camps and nobody is marked.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from statistics import median
from typing import TypeVar

from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.events import NodeStatus

K = TypeVar("K", bound=Hashable)

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
Z_THRESHOLD = 3.5
MIN_PEERS = 3
MAX_FRACTION = 0.25  # at most this share of a group (at least one member) can be stragglers
# metric -> the smallest distance from the median (in the metric's unit) worth marking
DEFAULT_GAPS: dict[str, float] = {"gpu.util_pct": 20.0, "gpu.mem_used_pct": 15.0}

GpuKey = tuple[str, int]  # (node_id, gpu index)


@dataclass(frozen=True, slots=True)
class Deviation:
    """How far one member is from its group's median."""

    metric: str
    value: float
    median: float
    z: float  # modified z-score; +-inf when the group's MAD is 0
    group: str  # the peer group's name (node id, or label=value)

    @property
    def low(self) -> bool:
        return self.value < self.median

    def describe(self) -> str:
        word = "below" if self.low else "above"
        return f"{self.metric} {self.value:.0f} {word} peers' median {self.median:.0f}"


def outliers(
    values: Mapping[K, float | None],
    min_gap: float,
    z_threshold: float = Z_THRESHOLD,
    min_peers: int = MIN_PEERS,
    max_fraction: float = MAX_FRACTION,
    metric: str = "",
    group: str = "",
) -> dict[K, Deviation]:
    """Members of one group whose value is far from the group's median (unknown values skipped)."""
    known = {k: v for k, v in values.items() if v is not None and math.isfinite(v)}
    if len(known) < min_peers:
        return {}
    mid = median(known.values())
    mad = median(abs(v - mid) for v in known.values())
    scale = MAD_TO_SIGMA * mad
    out: dict[K, Deviation] = {}
    for k, v in known.items():
        gap = v - mid
        if abs(gap) < min_gap:
            continue
        z = gap / scale if scale > 0 else math.copysign(math.inf, gap)
        if abs(z) >= z_threshold:
            out[k] = Deviation(metric, v, mid, z, group)
    if len(out) > max(1, int(max_fraction * len(known))):
        return {}
    return out


def peer_groups(
    nodes: Iterable[NodeState], label: str | None = None
) -> dict[tuple[str, str], list[GpuKey]]:
    """GPU peer groups of UP nodes, keyed (kind, name): one per node, or one per value of
    `label` (a node without that label keeps its own GPUs as its peers)."""
    groups: dict[tuple[str, str], list[GpuKey]] = {}
    for node in nodes:
        if node.status is not NodeStatus.UP or node.last_sample is None:
            continue
        value = node.labels.get(label) if label is not None else None
        key = ("node", node.node_id) if value is None else ("label", f"{label}={value}")
        groups.setdefault(key, []).extend((node.node_id, g.index) for g in node.last_sample.gpus)
    return groups


def gpu_stragglers(
    nodes: Iterable[NodeState],
    label: str | None = None,
    gaps: Mapping[str, float] = DEFAULT_GAPS,
    z_threshold: float = Z_THRESHOLD,
) -> dict[GpuKey, list[Deviation]]:
    """Every GPU that is far from its peers, with one Deviation per metric that is off."""
    by_id = {n.node_id: n for n in nodes}
    out: dict[GpuKey, list[Deviation]] = {}
    for (_, name), members in peer_groups(by_id.values(), label).items():
        for metric, gap in gaps.items():
            values = {k: by_id[k[0]].metrics.get((metric, k[1])) for k in members}
            for key, dev in outliers(values, gap, z_threshold, metric=metric, group=name).items():
                out.setdefault(key, []).append(dev)
    return out
