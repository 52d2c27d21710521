"""Events that sources (local sampler, SSH, etcd discovery, replay) feed into the fleet state.

Sources produce these; ``analysis.state.FleetState.apply(event)`` consumes them. Each carries
``t``, the monitor-side time (unix seconds) at which it was observed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from autoglm_tui.model import Hello, Sample


class NodeStatus(str, Enum):
    """What the cluster table shows for a node (DESIGN.md, "Node status")."""

    UP = "UP"  # fresh samples
    CONNECTING = "CONNECTING"  # known, no sample yet
    STALE = "STALE"  # no sample for 3 intervals
    UNREACHABLE = "UNREACHABLE"  # SSH fails; retrying
    LEFT = "LEFT"  # lease gone / removed from the list
    INVALID = "INVALID"  # registration or stream does not validate


@dataclass(frozen=True, slots=True)
class NodeJoined:
    """A node exists (registered in etcd, listed in a hosts file, or the local machine).

    Sent again with new fields when its registration changes (an update)."""

    t: float
    node_id: str
    address: str | None = None
    ssh_port: int | None = None
    user: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    source: str = "local"  # "local", "etcd", "hosts", "replay", "synthetic"
    registration: dict[str, object] | None = None  # the validated registration, when from etcd


@dataclass(frozen=True, slots=True)
class NodeLeft:
    t: float
    node_id: str
    reason: str = "left"  # "lease revoked or expired", "removed from host list", ...


@dataclass(frozen=True, slots=True)
class NodeInvalid:
    """A registration or stream that does not validate; only this node is affected."""

    t: float
    node_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class NodeUnreachable:
    """The data path to a node failed; the source keeps retrying."""

    t: float
    node_id: str
    reason: str
    retry_in_s: float | None = None


@dataclass(frozen=True, slots=True)
class HelloReceived:
    t: float
    node_id: str
    hello: Hello


# A metric key as the state keeps it: (metric name, subject) with subject None (node), a GPU
# index, a pid, or a service id.
MetricKey = tuple[str, "int | str | None"]


@dataclass(frozen=True, slots=True)
class SampleReceived:
    t: float
    node_id: str
    sample: Sample
    # Figures the source derived itself (a Prometheus source: rates computed by the server, for
    # which the sample carries no raw counters); they replace what derive() makes of the sample.
    derived: dict[MetricKey, float | None] | None = None


@dataclass(frozen=True, slots=True)
class HistoryBackfill:
    """Older history for a node (a Prometheus source's range queries), oldest first.

    Each point is (time, sample, derived) as a live ``SampleReceived`` would carry them; the
    state derives each point's metrics the same way and puts the points before the ones it
    holds newer than the last point's time (its own points in the span are replaced)."""

    t: float
    node_id: str
    points: tuple[tuple[float, Sample, dict[MetricKey, float | None] | None], ...]


@dataclass(frozen=True, slots=True)
class RegistryChanged:
    """The discovery registry's own health (etcd reachable or degraded)."""

    t: float
    ok: bool
    reason: str | None = None


Event = (
    NodeJoined | NodeLeft | NodeInvalid | NodeUnreachable | HelloReceived | SampleReceived
    | RegistryChanged | HistoryBackfill
)
