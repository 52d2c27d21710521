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
    FAILED = "FAILED"  # heartbeat lost without a graceful leave, and no fresh samples: kept
    LEFT = "LEFT"  # graceful leave (agent said so, or removed from the host list)
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
    # (under REGISTRATION_PROBLEMS, what was left out of it as bad: a services entry, say)


REGISTRATION_PROBLEMS = "problems"


@dataclass(frozen=True, slots=True)
class NodeLeft:
    """A graceful leave: the node is LEFT, greyed, and removed after the linger time."""

    t: float
    node_id: str
    reason: str = "left"  # "left gracefully", "removed from the hosts file", ...


@dataclass(frozen=True, slots=True)
class HeartbeatLost:
    """The node's heartbeat (etcd lease) lapsed without a graceful leave; it is still a member.

    FAILED while no fresh samples arrive; UP with the agent-lost flag while they do. Cleared by
    a ``NodeJoined`` (the heartbeat is back)."""

    t: float
    node_id: str
    reason: str = "lost heartbeat"


@dataclass(frozen=True, slots=True)
class NodeForgotten:
    """The node's membership was removed (``members forget``, ``agent --deregister``): the
    node goes at once, with this reason."""

    t: float
    node_id: str
    reason: str = "forgotten by operator"


@dataclass(frozen=True, slots=True)
class SamplerExited:
    """The node's remote sampler ended and its source restarts it (counted on the node)."""

    t: float
    node_id: str
    reason: str  # "exit status 1", "killed by SIGKILL", ...


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
    # The wire line it was decoded from, when the source had one (an SSH stream): recorders
    # keep these bytes instead of encoding the hello again. Not part of equality.
    line: bytes | None = field(default=None, compare=False, repr=False)


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
    # The wire line as the sampler sent it (a full sample or, on the compact wire, a delta
    # against the stream's previous sample), when the source had one; recorders keep these
    # bytes instead of encoding the sample again. Not part of equality.
    line: bytes | None = field(default=None, compare=False, repr=False)


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
class IntervalRequested:
    """The monitor asked a node's sampler for another interval (a control line was sent).

    Until a sample says the new interval is in force, the node's STALE limit allows for the
    longer of the two, so a node being slowed down does not look stale on the way."""

    t: float
    node_id: str
    interval_s: float | None  # None: back to the sampler's own --interval


@dataclass(frozen=True, slots=True)
class MonitorCost:
    """The monitor's own process: its CPU seconds and resident memory so far, sent by a source
    that runs inside it (the local view's in-process sampler), so the UI can show what the
    monitor costs beside what its sampler costs. Not recorded: it is about this run."""

    t: float
    cpu_time_s: float
    rss_bytes: int


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
    | RegistryChanged | HeartbeatLost | NodeForgotten | SamplerExited | HistoryBackfill
    | IntervalRequested | MonitorCost
)
