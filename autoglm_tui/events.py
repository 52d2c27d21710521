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


@dataclass(frozen=True, slots=True)
class SampleReceived:
    t: float
    node_id: str
    sample: Sample


@dataclass(frozen=True, slots=True)
class RegistryChanged:
    """The discovery registry's own health (etcd reachable or degraded)."""

    t: float
    ok: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ClockTick:
    """Monitor control: the data's clock reached `t` (a replay ticks the monitor at the times
    of the recording, so rules and diagnosis see time as it passed then)."""

    t: float


@dataclass(frozen=True, slots=True)
class StateReset:
    """Monitor control: forget all state, as before the first event (a replay seek)."""

    t: float


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Monitor control: keep a copy of everything as of `t` (in ``Monitor.checkpoints``)."""

    t: float


@dataclass(frozen=True, slots=True)
class Restore:
    """Monitor control: go back to a checkpoint (taken at `t`; `snapshot` is what
    ``Monitor.snapshot`` returned then)."""

    t: float
    snapshot: object


Control = ClockTick | StateReset | Checkpoint | Restore

Event = (
    NodeJoined | NodeLeft | NodeInvalid | NodeUnreachable | HelloReceived | SampleReceived
    | RegistryChanged
)
