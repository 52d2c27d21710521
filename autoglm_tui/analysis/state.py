"""Fleet state: what every source has told us, folded into per-node status and history (pure).

Sources emit events (events.py); ``FleetState.apply(event)`` folds one in and returns the status
changes it caused; ``FleetState.tick(now)`` ages nodes (STALE, removal of LEFT nodes). Nothing
here reads a clock or does I/O. The UI reads ``nodes`` and ``version`` and never writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from autoglm_tui.analysis.derive import derive
from autoglm_tui.analysis.history import History, Key, NodeHistory, SplitHistory
from autoglm_tui.events import (
    Event,
    HelloReceived,
    NodeInvalid,
    NodeJoined,
    NodeLeft,
    NodeStatus,
    NodeUnreachable,
    RegistryChanged,
    SampleReceived,
)
from autoglm_tui.model import GpuInfo, GpuSample, Hello, ProcSample, Sample

# Metrics whose newest value is all anyone reads: constants of a device and a figure derived
# from two others (used / total). They keep no history, which at 1,024 nodes x 8 GPUs saves
# about 40 MB; their newest value stays in `NodeState.metrics`.
NO_HISTORY = frozenset({"gpu.mem_total_bytes", "gpu.power_limit_w", "gpu.mem_used_pct"})


@lru_cache(maxsize=4096)
def gpu_keys(metric: str, indices: tuple[int, ...]) -> tuple[Key, ...]:
    """The keys of `metric` for these GPUs (made once: lookups in hot loops allocate nothing)."""
    return tuple((metric, i) for i in indices)


def sampler_cpu_pct(prev: Sample | None, cur: Sample) -> float | None:
    """The sampler's own CPU, in % of one core, from the growth of its CPU time between two
    samples (None for the first, or when its clock or CPU time went back: it restarted)."""
    if prev is None or prev.self_cost is None or cur.self_cost is None:
        return None
    dt = cur.t - prev.t
    dcpu = cur.self_cost.cpu_time_s - prev.self_cost.cpu_time_s
    return 100.0 * dcpu / dt if dt > 0 and dcpu >= 0 else None


def keeps_history(key: Key) -> bool:
    """Node and GPU metrics with history (processes have their own part)."""
    return key[0] not in NO_HISTORY and not key[0].startswith("proc.")


def is_process_metric(key: Key) -> bool:
    return key[0].startswith("proc.")


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A node moved from one status to another: an entry in the alert log."""

    t: float
    node_id: str
    old: NodeStatus | None  # None: the node is new
    new: NodeStatus | None  # None: the node was removed from the state
    reason: str | None = None


@dataclass
class NodeState:
    """Everything known about one node. Read-only for everyone but FleetState."""

    node_id: str
    history: History
    status: NodeStatus = NodeStatus.CONNECTING
    reason: str | None = None
    status_since: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    address: str | None = None
    ssh_port: int | None = None
    source: str = "local"
    registration: dict[str, object] | None = None
    hello: Hello | None = None
    last_sample: Sample | None = None
    last_sample_at: float | None = None  # monitor time of the newest sample
    first_seen: float = 0.0
    left_at: float | None = None
    bad_lines: int = 0
    metrics: dict[Key, float | None] = field(default_factory=dict)  # newest derived values
    proc_seen: dict[int, float] = field(default_factory=dict)  # pid -> last time listed
    proc_info: dict[int, ProcSample] = field(default_factory=dict)  # pid -> newest listing
    sampler_cpu_pct: float | None = None  # the sampler's own CPU between its last two samples
    _gpus: tuple[object, tuple[int, ...]] | None = field(default=None, repr=False, compare=False)

    @property
    def interval_s(self) -> float:
        return self.hello.static.interval_s if self.hello else 1.0

    def age(self, now: float) -> float | None:
        """Seconds since the newest sample arrived (the sample lag shown in the UI)."""
        return None if self.last_sample_at is None else max(0.0, now - self.last_sample_at)

    def metric(self, name: str, subject: int | None = None) -> float | None:
        return self.metrics.get((name, subject))

    def gpu_indices(self) -> tuple[int, ...]:
        """The node's GPU indices: from its newest sample, else from its hello (none yet: ())."""
        source: object = self.last_sample if self.last_sample is not None else self.hello
        cached = self._gpus
        if cached is not None and cached[0] is source:
            return cached[1]
        if self.last_sample is not None:
            out = tuple(g.index for g in self.last_sample.gpus)
        else:
            out = tuple(g.index for g in self.hello.static.gpus) if self.hello is not None else ()
        self._gpus = (source, out)  # made once per sample: the tables read it for every row
        return out

    def gpu(self, index: int) -> GpuSample | None:
        """GPU `index` in the newest sample (None: no sample, or not in it)."""
        sample = self.last_sample
        if sample is None:
            return None
        return next((g for g in sample.gpus if g.index == index), None)

    def gpu_info(self, index: int) -> GpuInfo | None:
        """What the hello says about GPU `index` (model, UUID, bus), if anything."""
        if self.hello is None:
            return None
        return next((g for g in self.hello.static.gpus if g.index == index), None)

    def subjects(self, name: str) -> list[int | None]:
        """Which GPUs (or pids) have a value of `name` in the newest sample."""
        return [s for (n, s) in self.metrics if n == name]


class FleetState:
    """All nodes, their status and history. Feed it events; read ``nodes``.

    Each node's history covers `history_s`: the newest `fine_s` (plus one bucket) at full
    resolution, older points as `bucket_s` buckets of mean and max (analysis/history.py);
    process metrics keep only `proc_fine_s` at full resolution (what the process charts draw
    at one column a second), then buckets as well. At most `max_procs` processes a node keep
    their history and listing (more when one sample lists more); processes not listed for
    `proc_forget_s` are forgotten. ``NO_HISTORY`` metrics keep only their newest value.
    """

    def __init__(
        self,
        history_s: float = 900.0,
        stale_after_intervals: float = 3.0,
        left_linger_s: float = 120.0,
        proc_forget_s: float = 120.0,
        fine_s: float = 300.0,
        bucket_s: float = 10.0,
        max_procs: int = 64,
        proc_fine_s: float = 60.0,
    ) -> None:
        self.history_s = history_s
        self.stale_after_intervals = stale_after_intervals
        self.left_linger_s = left_linger_s
        self.proc_forget_s = proc_forget_s
        self.fine_s = fine_s  # newest history kept at full resolution, older in buckets
        self.bucket_s = bucket_s
        self.max_procs = max_procs  # processes per node whose history and listing are kept
        self.proc_fine_s = min(proc_fine_s, fine_s)  # processes' full-resolution history
        self.nodes: dict[str, NodeState] = {}
        self.registry_ok: bool | None = None  # None: no registry in use
        self.registry_reason: str | None = None
        self.version = 0  # bumped on every change, so a UI can skip repaints
        self._changes: list[StatusChange] = []

    # ------------------------------------------------------------------ events

    def apply(self, event: Event) -> list[StatusChange]:
        """Fold one event in; return the status changes it caused."""
        self.version += 1
        self._changes = []
        self._apply(event)
        return self._changes

    def _apply(self, event: Event) -> None:
        if isinstance(event, SampleReceived):
            self._on_sample(event)
        elif isinstance(event, HelloReceived):
            node = self._node(event.node_id, event.t)
            node.hello = event.hello
            if node.status in (NodeStatus.UNREACHABLE, NodeStatus.INVALID):
                self._set(node, NodeStatus.CONNECTING, None, event.t)
        elif isinstance(event, NodeJoined):
            node = self._node(event.node_id, event.t)
            node.labels = dict(event.labels)
            node.address = event.address
            node.ssh_port = event.ssh_port
            node.source = event.source
            node.registration = event.registration
            if node.status in (NodeStatus.LEFT, NodeStatus.INVALID):
                node.left_at = None
                self._set(node, NodeStatus.CONNECTING, None, event.t)
        elif isinstance(event, NodeLeft):
            node = self.nodes.get(event.node_id)
            if node is not None:
                node.left_at = event.t
                self._set(node, NodeStatus.LEFT, event.reason, event.t)
        elif isinstance(event, NodeInvalid):
            node = self._node(event.node_id, event.t)
            self._set(node, NodeStatus.INVALID, event.reason, event.t)
        elif isinstance(event, NodeUnreachable):
            node = self._node(event.node_id, event.t)
            if node.status != NodeStatus.LEFT:
                self._set(node, NodeStatus.UNREACHABLE, event.reason, event.t)
        elif isinstance(event, RegistryChanged):
            self.registry_ok = event.ok
            self.registry_reason = event.reason

    def _on_sample(self, event: SampleReceived) -> None:
        node = self._node(event.node_id, event.t)
        sample = event.sample
        prev = node.last_sample
        if prev is not None and sample.seq <= prev.seq and sample.t <= prev.t:
            node.bad_lines += 1  # a replayed or duplicated sample: keep the newer one
            return
        node.sampler_cpu_pct = sampler_cpu_pct(prev, sample)
        if prev is not None and sample.t <= prev.t:
            prev = None  # the node's clock or stream restarted: no rates across the jump
        values = derive(sample, prev)
        node.metrics = values
        node.history.append(event.t, values)
        node.last_sample = sample
        node.last_sample_at = event.t
        for p in sample.procs:
            node.proc_seen[p.pid] = event.t
            node.proc_info[p.pid] = p
        self._forget_procs(node, event.t, len(sample.procs))
        if node.status != NodeStatus.LEFT:
            self._set(node, NodeStatus.UP, None, event.t)

    # ------------------------------------------------------------------ time

    def tick(self, now: float) -> list[StatusChange]:
        """Age the fleet: UP nodes without fresh samples become STALE; LEFT nodes go away."""
        self._changes = []
        for node in list(self.nodes.values()):
            if node.status == NodeStatus.UP and node.last_sample_at is not None:
                limit = self.stale_after_intervals * node.interval_s
                if now - node.last_sample_at > limit:
                    self._set(
                        node,
                        NodeStatus.STALE,
                        f"no sample for {now - node.last_sample_at:.0f}s",
                        now,
                    )
            elif (
                node.status == NodeStatus.LEFT
                and node.left_at is not None
                and now - node.left_at > self.left_linger_s
            ):
                del self.nodes[node.node_id]
                self._changes.append(
                    StatusChange(now, node.node_id, NodeStatus.LEFT, None, "removed")
                )
        if self._changes:
            self.version += 1
        return self._changes

    # ------------------------------------------------------------------ helpers

    def _node(self, node_id: str, t: float) -> NodeState:
        node = self.nodes.get(node_id)
        if node is None:
            node = NodeState(node_id=node_id, history=self._new_history(), first_seen=t)
            node.status_since = t
            self.nodes[node_id] = node
            self._changes.append(StatusChange(t, node_id, None, NodeStatus.CONNECTING))
        return node

    def _set(self, node: NodeState, status: NodeStatus, reason: str | None, t: float) -> None:
        old = node.status
        node.status = status
        node.reason = reason
        if old != status:
            node.status_since = t
            self._changes.append(StatusChange(t, node.node_id, old, status, reason))

    def _new_history(self) -> History:
        """Node and GPU metrics, then process metrics, each in a history covering
        `history_s` at one point a second (processes with a shorter fine tier)."""
        return SplitHistory([
            self._tiers(self.fine_s, keeps_history),
            self._tiers(self.proc_fine_s, is_process_metric),
        ])

    def _tiers(self, fine_s: float, accept: Callable[[Key], bool]) -> NodeHistory:
        """A history covering `history_s` at one point a second: `fine_s` of it at full
        resolution (plus one bucket, so a `fine_s` window always reads fine points), the rest
        in `bucket_s` buckets; one tier only when the history is that short."""
        fine = int(fine_s + self.bucket_s)
        if self.bucket_s <= 0 or self.history_s <= fine:
            return NodeHistory(max(2, int(self.history_s)), accept=accept)
        buckets = math.ceil((self.history_s - fine_s) / self.bucket_s)
        return NodeHistory(max(2, fine), self.bucket_s, buckets, accept=accept)

    def _forget_procs(self, node: NodeState, now: float, listed: int) -> None:
        """Forget processes not listed for `proc_forget_s`, and beyond `max_procs` the ones
        listed longest ago (never one in the newest sample, which lists `listed` processes)."""
        seen = node.proc_seen
        gone = [pid for pid, at in seen.items() if now - at > self.proc_forget_s]
        extra = len(seen) - len(gone) - max(self.max_procs, listed)
        if extra > 0:
            gone_set = set(gone)
            older = sorted((at, pid) for pid, at in seen.items()
                           if at < now and pid not in gone_set)
            gone.extend(pid for _, pid in older[:extra])
        if not gone:
            return
        gone_set = set(gone)
        for pid in gone:
            del node.proc_seen[pid]
            node.proc_info.pop(pid, None)
        node.history.forget(lambda k: k[0].startswith("proc.") and k[1] in gone_set)

    # ------------------------------------------------------------------ views

    def counts(self) -> dict[NodeStatus, int]:
        out = dict.fromkeys(NodeStatus, 0)
        for node in self.nodes.values():
            out[node.status] += 1
        return out
