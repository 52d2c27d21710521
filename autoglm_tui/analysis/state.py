"""Fleet state: what every source has told us, folded into per-node status and history (pure).

Sources emit events (events.py); ``FleetState.apply(event)`` folds one in and returns the status
changes it caused; ``FleetState.tick(now)`` ages nodes (STALE, removal of LEFT nodes, reaping of
long-FAILED ones). Nothing here reads a clock or does I/O. The UI reads ``nodes`` and
``version`` and never writes.

A node's status joins two signals. The data path (its sample stream) says CONNECTING, UP,
STALE, UNREACHABLE or INVALID (``NodeState.data_status``); membership (discovery) says whether
the node left gracefully (LEFT) or lost its heartbeat without a leave (``agent_lost_at``). The
status shown is LEFT after a leave; else INVALID when the data path is; else FAILED when the
heartbeat is lost and samples are not fresh; else the data path's status, so a node whose agent
died while its sampler still streams stays UP, with ``agent_lost`` set. Only LEFT nodes go away
by ageing (`left_linger_s`); FAILED nodes stay until their heartbeat returns, they are forgotten
(``NodeForgotten``) or `reap_after_s` passes. What happens to a node without changing its
status (its agent lost while samples flow, its sampler restarted) is a :class:`NodeNote`
(``notes_after``), which the alert log records too.
"""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from autoglm_tui import format as fmt
from autoglm_tui.analysis.derive import (
    Shape,
    derive,
    keys_of,
    node_figures,
    pickers_of,
    readers_of,
    shape_of,
    values_of,
)
from autoglm_tui.analysis.history import Key, NodeHistory, SplitHistory, backfilled
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.process_cost import ProcessCost, sampler_cpu_pct
from autoglm_tui.analysis.rollup import ROLLUP_METRICS, gpu_rollups
from autoglm_tui.analysis.services import (
    DEFAULT_RATE_WINDOW_S,
    DEFAULT_WINDOW_S,
    ServiceTracker,
)
from autoglm_tui.events import (
    Event,
    HeartbeatLost,
    HelloReceived,
    HistoryBackfill,
    IntervalRequested,
    MonitorCost,
    NodeForgotten,
    NodeInvalid,
    NodeJoined,
    NodeLeft,
    NodeStatus,
    NodeUnreachable,
    RegistryChanged,
    SampleReceived,
    SamplerExited,
)
from autoglm_tui.metrics import NO_HISTORY
from autoglm_tui.model import Sample

_PID = operator.attrgetter("pid")


def _node_level(key: Key) -> bool:
    """A key of a node-level or service figure (not one of a GPU or a process)."""
    return key[1] is None or isinstance(key[1], str)


def keeps_history(key: Key) -> bool:
    """Node and GPU metrics with history (processes have their own part; NO_HISTORY none)."""
    return key[0] not in NO_HISTORY and not key[0].startswith("proc.")


def is_process_metric(key: Key) -> bool:
    return key[0].startswith("proc.")

DEFAULT_REAP_AFTER_S = 72 * 3600.0


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A node moved from one status to another: an entry in the alert log."""

    t: float
    node_id: str
    old: NodeStatus | None  # None: the node is new
    new: NodeStatus | None  # None: the node was removed from the state
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class NodeNote:
    """Something that happened to a node without changing its status: an entry in the alert
    log. `what` is "agent_lost" (the heartbeat lapsed while samples flow: still UP),
    "agent_back" (the heartbeat returned while UP) or "sampler_exited" (its source restarted
    the remote sampler)."""

    t: float
    node_id: str
    what: str
    reason: str | None = None


class FleetState:
    """All nodes, their status and history. Feed it events; read ``nodes``.

    Each node's history covers `history_s`: the newest `fine_s` (plus one bucket) at full
    resolution, older points as `bucket_s` buckets of mean and max (analysis/history/);
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
        reap_after_s: float = DEFAULT_REAP_AFTER_S,
        service_window_s: float = DEFAULT_WINDOW_S,
        service_rate_window_s: float = DEFAULT_RATE_WINDOW_S,
        proc_fine_s: float = 60.0,
        proc_bucket_s: float = 20.0,
    ) -> None:
        self.history_s = history_s
        self.stale_after_intervals = stale_after_intervals
        self.left_linger_s = left_linger_s
        self.reap_after_s = reap_after_s  # a FAILED node is removed after this long
        self.proc_forget_s = proc_forget_s
        self.fine_s = fine_s  # newest history kept at full resolution, older in buckets
        self.bucket_s = bucket_s
        self.max_procs = max_procs  # processes per node whose history and listing are kept
        self.service_window_s = service_window_s  # quantiles and error rate of services
        self.service_rate_window_s = service_rate_window_s  # their tokens/s and requests/s
        self.proc_fine_s = min(proc_fine_s, fine_s)  # processes' full-resolution history
        self.proc_bucket_s = proc_bucket_s  # and their buckets beyond it
        self.nodes: dict[str, NodeState] = {}
        self.registry_ok: bool | None = None  # None: no registry in use
        self.registry_reason: str | None = None
        self.version = 0  # bumped on every change, so a UI can skip repaints
        self._changes: list[StatusChange] = []
        self.notes: deque[NodeNote] = deque(maxlen=1000)  # newest node notes
        self.notes_total = 0  # notes ever made (readers keep their place with notes_after)
        self.monitor_cost = ProcessCost()  # this monitor's own process (MonitorCost events)

    def empty_like(self) -> FleetState:
        """A new, empty state with the same settings (a replay seek starts from one)."""
        fresh = FleetState(self.history_s, self.stale_after_intervals, self.left_linger_s,
                           self.proc_forget_s, self.fine_s, self.bucket_s, self.max_procs,
                           self.reap_after_s, service_window_s=self.service_window_s,
                           service_rate_window_s=self.service_rate_window_s,
                           proc_fine_s=self.proc_fine_s, proc_bucket_s=self.proc_bucket_s)
        fresh.version = self.version + 1  # a screen comparing versions repaints
        return fresh

    def clone(self) -> FleetState:
        """An independent copy of the whole state (samples and history chunks shared: they are
        immutable; see NodeHistory.clone). What a replay checkpoint keeps."""
        new = self.empty_like()
        new.version = self.version
        new.registry_ok, new.registry_reason = self.registry_ok, self.registry_reason
        new.monitor_cost = self.monitor_cost
        new.notes.extend(self.notes)
        new.notes_total = self.notes_total
        for node_id, n in self.nodes.items():
            # labels, metrics and registration are replaced, never changed in place: shared
            c = NodeState.__new__(NodeState)
            c.__dict__.update(n.__dict__)
            c.history = n.history.clone()
            c.metrics = n.metrics  # every figure in (shared: neither changes it again)
            c._unlisted_at, c._unlisted = dict(n._unlisted_at), dict(n._unlisted)
            c.fold = replace(n.fold)  # each side changes its own in place
            c.service_tracker = n.service_tracker.clone()
            new.nodes[node_id] = c
        return new

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
            node.requested_interval_s = None  # a new run starts at its own interval
            if node.data_status in (NodeStatus.UNREACHABLE, NodeStatus.INVALID):
                self._data(node, NodeStatus.CONNECTING, None, event.t)
        elif isinstance(event, NodeJoined):
            self._on_joined(event)
        elif isinstance(event, HeartbeatLost):
            node = self.nodes.get(event.node_id)
            if node is not None and node.left_at is None:
                node.agent_lost_at = event.t
                node.member_reason = event.reason
                self._show(node, event.t)
                if node.status is NodeStatus.UP:  # samples still flow: no status change
                    self._note(event.t, node.node_id, "agent_lost", event.reason)
        elif isinstance(event, NodeLeft):
            node = self.nodes.get(event.node_id)
            if node is not None:
                node.left_at = event.t
                node.member_reason = event.reason
                self._show(node, event.t)
        elif isinstance(event, NodeForgotten):
            node = self.nodes.pop(event.node_id, None)
            if node is not None:
                self._changes.append(
                    StatusChange(event.t, node.node_id, node.status, None, event.reason)
                )
        elif isinstance(event, NodeInvalid):
            node = self._node(event.node_id, event.t)
            node.left_at = None  # a registration that came back broken, or a broken stream
            self._data(node, NodeStatus.INVALID, event.reason, event.t)
        elif isinstance(event, NodeUnreachable):
            node = self._node(event.node_id, event.t)
            self._data(node, NodeStatus.UNREACHABLE, event.reason, event.t)
        elif isinstance(event, SamplerExited):
            node = self.nodes.get(event.node_id)
            if node is not None:
                node.sampler_restarts += 1
                node.sampler_exit = event.reason
                node.sampler_exit_at = event.t
                self._note(event.t, node.node_id, "sampler_exited", event.reason)
        elif isinstance(event, RegistryChanged):
            self.registry_ok = event.ok
            self.registry_reason = event.reason
        elif isinstance(event, IntervalRequested):
            node = self.nodes.get(event.node_id)
            if node is not None:
                wanted = event.interval_s
                if wanted is None and node.hello is not None:
                    wanted = node.hello.static.interval_s
                node.requested_interval_s = wanted
                node.request_unconfirmed = 0
        elif isinstance(event, HistoryBackfill):
            self._on_backfill(event)
        elif isinstance(event, MonitorCost):
            self.monitor_cost = self.monitor_cost.after(event.t, event.cpu_time_s, event.rss_bytes)

    def _on_joined(self, event: NodeJoined) -> None:
        """A node exists, or its heartbeat is back, or its registration changed."""
        node = self._node(event.node_id, event.t)
        node.labels = dict(event.labels)
        node.address = event.address
        node.ssh_port = event.ssh_port
        node.source = event.source
        node.registration = event.registration
        was_lost = node.agent_lost_at is not None
        node.agent_lost_at = None
        node.member_reason = None
        if node.left_at is not None or node.data_status is NodeStatus.INVALID:
            # Back after a leave (its stream was stopped) or after a broken registration.
            node.data_status, node.data_reason = NodeStatus.CONNECTING, None
        node.left_at = None
        self._show(node, event.t)
        if was_lost and node.status is NodeStatus.UP:
            self._note(event.t, node.node_id, "agent_back", "heartbeat back")

    def _on_sample(self, event: SampleReceived) -> None:
        node = self._node(event.node_id, event.t)
        sample = event.sample
        old, old_at = node.last_sample, node.last_sample_at
        if old is not None and sample.seq <= old.seq and sample.t <= old.t:
            node.bad_lines += 1  # a replayed or duplicated sample: keep the newer one
            return
        node.sampler_cpu_pct = sampler_cpu_pct(old, sample)
        prev = old if old is not None and sample.t > old.t else None  # else no rates across
        head = node_figures(sample, prev)  # a restart of the node's clock or stream
        svc_values, gone = node.service_tracker.update(sample, event.t)
        if svc_values:
            head.update(svc_values)
        if gone:
            node.history.forget(lambda k: k[0].startswith("svc.") and k[1] in gone)
        derived = event.derived
        if derived:
            head.update(derived)
        old_shape = node.fold.shape
        self._fold_figures(node, event.t, sample, head,
                           bool(derived) and not all(map(_node_level, derived)))
        node.last_sample = sample
        node.set_gpu_indices(sample, node.fold.shape.gpus)  # type: ignore[union-attr]
        node.last_sample_at = event.t
        if node.requested_interval_s is not None:
            self._confirm_interval(node, sample)
        self._track_procs(node, event.t, old, old_at, old_shape)
        self._data(node, NodeStatus.UP, None, event.t)

    @staticmethod
    def _fold_figures(node: NodeState, t: float, sample: Sample,
                      head: dict[Key, float | None], eager: bool) -> None:
        """Record the sample's values in the node's metrics and history: `head` (node-level,
        service and source-derived figures) and the GPU and process figures, read off the
        sample as one flat list. While the sample's shape and head keys are the last one's,
        the history gets that list with the same keys object (rows picked by position, no
        dict), and the metrics dict gets the GPU and process figures only when read. `eager`:
        `head` holds GPU or process keys (a source's own figures), which replace the sample's.
        The fleet-summary sums (``rollups``) are picked out of the same list, and it is kept
        (``figures``) for the alert rules' GPU columns."""
        keys = node.fold
        shape = shape_of(sample)
        renew = shape != keys.shape
        if renew:
            keys.shape, keys.flat, keys.read = shape, keys_of(shape), readers_of(shape)
            keys.rollup = pickers_of(shape, ROLLUP_METRICS)
        flat = values_of(sample, keys.read)
        node.rollups = (sample, gpu_rollups(flat, keys.rollup))
        node.figures = (sample, flat, shape.health)
        if eager:
            values = dict(zip(keys.flat, flat, strict=True))
            values.update(head)
            node.metrics = values
            node.history.append(t, values)
            return
        head_keys = list(head)
        if renew or head_keys != keys.head:
            keys.head, keys.row = head_keys, (*head_keys, *keys.flat)
        row = list(head.values())
        row += flat
        node.history.append_row(t, keys.row, row)
        node.set_metrics(head, keys.flat, flat)

    def _track_procs(self, node: NodeState, t: float, old: Sample | None,
                     old_at: float | None, old_shape: Shape | None) -> None:
        """Keep the processes known but no longer listed (when last listed, their listing),
        from the moment the list of pids changes, and forget the ones due (_forget_procs).
        `old` is the node's sample before this one, `old_shape` the shape it was folded with
        (the list of pids compared without reading each process again)."""
        pids = node.fold.shape.pids  # type: ignore[union-attr]
        if old is not None and (old_shape.pids if old_shape is not None
                                else tuple(map(_PID, old.procs))) != pids:
            listed = set(pids)
            at = old_at if old_at is not None else t
            for p in old.procs:
                if p.pid not in listed:
                    node._unlisted_at[p.pid] = at
                    node._unlisted[p.pid] = p
            for pid in listed.intersection(node._unlisted_at):
                del node._unlisted_at[pid]
                node._unlisted.pop(pid, None)
        if node._unlisted_at:  # with none, no process is due and none is beyond max_procs
            self._forget_procs(node, t, pids)

    def _on_backfill(self, event: HistoryBackfill) -> None:
        """Older points for a node's history, derived the way live samples are."""
        node = self.nodes.get(event.node_id)
        if node is None or not event.points:
            return
        times: list[float] = []
        series: dict[Key, list[float | None]] = {}
        prev: Sample | None = None
        services = ServiceTracker(self.service_window_s, self.service_rate_window_s)
        for t, sample, derived in event.points:
            if times and t <= times[-1]:
                continue  # out of order: the time axis only moves forward
            values = derive(sample, prev if prev is not None and prev.t < sample.t else None)
            if sample.services:  # raw scrapes: windows over the points, as live samples get
                values.update(services.update(sample, t)[0])
            if derived:
                values.update(derived)
            for key, value in values.items():
                column = series.get(key)
                if column is None:
                    column = series[key] = [None] * len(times)
                column.append(value)
            times.append(t)
            for column in series.values():
                if len(column) < len(times):
                    column.append(None)
            prev = sample
        node.history = backfilled(node.history, times, series, self._new_history())

    # ------------------------------------------------------------------ time

    def tick(self, now: float) -> list[StatusChange]:
        """Age the fleet: UP nodes without fresh samples become STALE (FAILED when their agent
        is lost too); LEFT nodes go after `left_linger_s`, FAILED ones after `reap_after_s`."""
        self._changes = []
        for node in list(self.nodes.values()):
            if node.data_status == NodeStatus.UP and node.last_sample_at is not None:
                limit = self.stale_after_intervals * node.interval_s
                if now - node.last_sample_at > limit:
                    # A clock time, not an age: the reason is kept (alert summaries, the
                    # log) long after "for 4s" would have stopped being true.
                    self._data(
                        node,
                        NodeStatus.STALE,
                        f"no sample since {fmt.clock_time(node.last_sample_at)}",
                        now,
                    )
            if (
                node.status == NodeStatus.LEFT
                and node.left_at is not None
                and now - node.left_at > self.left_linger_s
            ):
                self._remove(node, now, f"removed {self.left_linger_s:.0f}s after it left")
            elif (
                node.status == NodeStatus.FAILED
                and now - node.status_since > self.reap_after_s
            ):
                self._remove(node, now, f"reaped: FAILED for {_hours(self.reap_after_s)}")
        if self._changes:
            self.version += 1
        return self._changes

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _confirm_interval(node: NodeState, sample: Sample) -> None:
        """Forget a requested interval once a sample runs at it; also after a second sample
        that does not (one sample may have been on its way when the request was sent; after
        that, what the sampler says is in force is the truth)."""
        sampling = sample.sampling
        if (sampling is not None and sampling.interval_s == node.requested_interval_s) or (
            node.request_unconfirmed >= 1
        ):
            node.requested_interval_s = None
        else:
            node.request_unconfirmed += 1

    def _node(self, node_id: str, t: float) -> NodeState:
        node = self.nodes.get(node_id)
        if node is None:
            node = NodeState(
                node_id=node_id,
                history=self._new_history(),
                first_seen=t,
                service_tracker=ServiceTracker(self.service_window_s,
                                               self.service_rate_window_s),
            )
            node.status_since = t
            self.nodes[node_id] = node
            self._changes.append(StatusChange(t, node_id, None, NodeStatus.CONNECTING))
        return node

    def _data(self, node: NodeState, status: NodeStatus, reason: str | None, t: float) -> None:
        """The data path says `status`; show what that means with the node's membership."""
        node.data_status = status
        node.data_reason = reason
        self._show(node, t)

    def _show(self, node: NodeState, t: float) -> None:
        """Set the shown status from the data path and membership (module docstring)."""
        if node.left_at is not None:
            self._set(node, NodeStatus.LEFT, node.member_reason, t)
        elif node.data_status is NodeStatus.INVALID:
            self._set(node, NodeStatus.INVALID, node.data_reason, t)
        elif node.agent_lost_at is not None and node.data_status is not NodeStatus.UP:
            reason = node.member_reason or "lost heartbeat"
            if node.data_reason:
                reason = f"{reason}; {node.data_reason}"
            self._set(node, NodeStatus.FAILED, reason, t)
        else:
            self._set(node, node.data_status, node.data_reason, t)

    def _set(self, node: NodeState, status: NodeStatus, reason: str | None, t: float) -> None:
        old = node.status
        node.status = status
        node.reason = reason
        if old != status:
            node.status_since = t
            self._changes.append(StatusChange(t, node.node_id, old, status, reason))

    def _note(self, t: float, node_id: str, what: str, reason: str | None) -> None:
        self.notes.append(NodeNote(t, node_id, what, reason))
        self.notes_total += 1

    def _remove(self, node: NodeState, t: float, reason: str) -> None:
        del self.nodes[node.node_id]
        self._changes.append(StatusChange(t, node.node_id, node.status, None, reason))

    def _new_history(self) -> SplitHistory:
        """Node and GPU metrics, then process metrics, each in a history covering
        `history_s` at one point a second (processes with a shorter fine tier)."""
        return SplitHistory([
            self._tiers(self.fine_s, self.bucket_s, keeps_history),
            self._tiers(self.proc_fine_s, self.proc_bucket_s, is_process_metric),
        ])

    def _tiers(self, fine_s: float, bucket_s: float, accept: Callable[[Key], bool]) -> NodeHistory:
        """A history covering `history_s` at one point a second: `fine_s` of it at full
        resolution (plus one bucket, so a `fine_s` window always reads fine points), the rest
        in `bucket_s` buckets; one tier only when the history is that short."""
        fine = int(fine_s + bucket_s)
        if bucket_s <= 0 or self.history_s <= fine:
            return NodeHistory(max(2, int(self.history_s)), accept=accept)
        buckets = math.ceil((self.history_s - fine_s) / bucket_s)
        return NodeHistory(max(2, fine), bucket_s, buckets, accept=accept)

    def _forget_procs(self, node: NodeState, now: float, listed: tuple[int, ...]) -> None:
        """Forget processes not listed for `proc_forget_s`, and beyond `max_procs` the ones
        listed longest ago (never one in the newest sample, which lists `listed`)."""
        unlisted = node._unlisted_at
        gone = [pid for pid, at in unlisted.items() if now - at > self.proc_forget_s]
        extra = len(unlisted) - len(gone) + len(set(listed)) - max(self.max_procs, len(listed))
        if extra > 0:
            gone_set = set(gone)
            older = sorted((at, pid) for pid, at in unlisted.items() if pid not in gone_set)
            gone.extend(pid for _, pid in older[:extra])
        if not gone:
            return
        gone_set = set(gone)
        for pid in gone:
            del unlisted[pid]
            node._unlisted.pop(pid, None)
        node._proc_view = None
        node.history.forget(lambda k: k[0].startswith("proc.") and k[1] in gone_set)

    # ------------------------------------------------------------------ views

    def notes_after(self, seen: int) -> tuple[list[NodeNote], int]:
        """The notes made since a reader had seen `seen` of them (at most the newest 1000),
        and the count to pass next time."""
        total = self.notes_total
        new = min(total - seen, len(self.notes))
        return (list(self.notes)[len(self.notes) - new:] if new > 0 else []), total

    def agent_lost(self) -> list[NodeState]:
        """Nodes whose heartbeat lapsed without a leave (FAILED, or UP from samples alone)."""
        return [n for n in self.nodes.values() if n.agent_lost_at is not None]

    def counts(self) -> dict[NodeStatus, int]:
        out = dict.fromkeys(NodeStatus, 0)
        for node in self.nodes.values():
            out[node.status] += 1
        return out


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 else f"{seconds:.0f}s"
