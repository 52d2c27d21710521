"""One node's state as the fleet state keeps it: status, newest sample and metrics, history,
processes and services (pure; written only by :class:`~autoglm_tui.analysis.state.FleetState`,
whose docstring says how a node's status is worked out)."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat

from autoglm_tui.analysis.derive import Reader, Shape
from autoglm_tui.analysis.gpu_health import GpuHealth, Health, gpu_health, node_health
from autoglm_tui.analysis.history import History, Key, Picker
from autoglm_tui.analysis.rollup import Rollup
from autoglm_tui.analysis.services import ServiceTracker, ServiceView
from autoglm_tui.events import REGISTRATION_PROBLEMS, NodeStatus
from autoglm_tui.metrics import RATIOS
from autoglm_tui.model import GpuInfo, GpuSample, Hello, ProcSample, Sample
from autoglm_tui.text import clean

_PID = operator.attrgetter("pid")


@dataclass(slots=True)
class FoldKeys:
    """The keys of a node's last folded sample: its GPU and process keys for its shape (what
    reads their values, what picks the fleet-summary figures out of them), its node-level and
    service keys, and the history row's keys (those two joined)."""

    shape: Shape | None = None
    flat: tuple[Key, ...] = ()
    read: tuple[Reader, ...] = ()
    rollup: tuple[Picker, ...] = ()
    head: list[Key] | None = None
    row: tuple[Key, ...] = ()


@dataclass
class NodeState:
    """Everything known about one node. Read-only for everyone but FleetState."""

    node_id: str
    history: History
    status: NodeStatus = NodeStatus.CONNECTING  # what is shown (see the module docstring)
    reason: str | None = None
    status_since: float = 0.0
    data_status: NodeStatus = NodeStatus.CONNECTING  # what the data path alone says
    data_reason: str | None = None
    agent_lost_at: float | None = None  # heartbeat lost without a leave (None: alive or n/a)
    member_reason: str | None = None  # why the heartbeat was lost, or why the node left
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
    sampler_restarts: int = 0  # remote sampler exits its source restarted it after
    sampler_exit: str | None = None  # the last one's reason
    sampler_exit_at: float | None = None
    service_tracker: ServiceTracker = field(default_factory=ServiceTracker)

    @property
    def services(self) -> dict[str, ServiceView]:
        """The node's inference services by id, with their derived figures (newest sample's
        order). Their history is in ``history`` under ``(svc.*, service id)``."""
        return self.service_tracker.views

    # An interval the monitor asked for that no sample has confirmed yet (IntervalRequested),
    # and how many samples arrived since without confirming it.
    requested_interval_s: float | None = None
    request_unconfirmed: int = 0

    @property
    def agent_lost(self) -> bool:
        """The heartbeat lapsed without a leave (the node is FAILED, or UP from samples alone)."""
        return self.agent_lost_at is not None
    sampler_cpu_pct: float | None = None  # the sampler's own CPU between its last two samples
    _gpus: tuple[object, tuple[int, ...]] | None = field(default=None, repr=False, compare=False)
    # ROLLUP_METRICS summed over the GPUs of a sample (the one they were read from)
    rollups: tuple[Sample, list[Rollup]] | None = field(
        default=None, repr=False, compare=False)
    # The GPU and process figures of a sample as the fold read them (derive.values_of), with
    # its shape's health flags: what the alert rules' GPU columns are picked out of
    figures: tuple[Sample, list[float | None], tuple[bool, ...]] | None = field(
        default=None, repr=False, compare=False)
    # The newest derived values (see `metrics`): node-level and service figures at once, the
    # GPU and process figures (keys, values) added on first read
    _metrics: dict[Key, float | None] = field(default_factory=dict, repr=False, compare=False)
    _pending: tuple[tuple[Key, ...], list[float | None]] | None = field(
        default=None, repr=False, compare=False)
    # Processes known but not listed in the newest sample: when each was last listed, and
    # that listing (see `proc_seen`, `proc_info`)
    _unlisted_at: dict[int, float] = field(default_factory=dict, repr=False, compare=False)
    _unlisted: dict[int, ProcSample] = field(default_factory=dict, repr=False, compare=False)
    _proc_view: tuple[object, dict[int, ProcSample]] | None = field(
        default=None, repr=False, compare=False)
    # The keys of the last sample folded (FleetState reuses them while the shape is the same)
    fold: FoldKeys = field(default_factory=lambda: FoldKeys(), repr=False, compare=False)

    @property
    def metrics(self) -> dict[Key, float | None]:
        """The newest sample's derived values by (metric, subject): node, GPU, process and
        service figures. The GPU and process figures go into the dict on the first read after
        a sample (most samples are never read that way: the rules and the fleet summary read
        the samples, the cluster table only the rows in view)."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._metrics.update(zip(*pending, strict=True))
        return self._metrics

    @metrics.setter
    def metrics(self, values: dict[Key, float | None]) -> None:
        self._metrics = values
        self._pending = None

    @property
    def node_metrics(self) -> dict[Key, float | None]:
        """The node-level and service figures of ``metrics`` (it may hold more): what is
        read of every node each second, without making the GPU and process keys."""
        return self._metrics

    def set_metrics(self, values: dict[Key, float | None], keys: tuple[Key, ...],
                    pending: list[float | None]) -> None:
        """The newest values: `values` now, and `pending` under `keys` on first read."""
        self._metrics = values
        self._pending = (keys, pending)

    @property
    def proc_seen(self) -> dict[int, float]:
        """pid -> when the process was last listed, for every process known."""
        out = dict(self._unlisted_at)
        if self.last_sample is not None and self.last_sample_at is not None:
            out.update(zip(map(_PID, self.last_sample.procs), repeat(self.last_sample_at)))
        return out

    @property
    def proc_info(self) -> dict[int, ProcSample]:
        """pid -> its newest listing, for every process known (made once per sample)."""
        sample = self.last_sample
        view = self._proc_view
        if view is not None and view[0] is sample:
            return view[1]
        out = dict(self._unlisted)
        if sample is not None:
            out.update(zip(map(_PID, sample.procs), sample.procs, strict=True))
        self._proc_view = (sample, out)
        return out

    @proc_info.setter
    def proc_info(self, listings: dict[int, ProcSample]) -> None:
        """Set the known processes' listings (a test's setup); the newest sample's win."""
        self._unlisted = dict(listings)
        self._proc_view = None

    @property
    def interval_s(self) -> float:
        """The node's sample interval now: what its newest sample says is in force (schema
        1.1; a monitor may have asked for another), else what its hello announced. While a
        request for a longer interval is on its way, the longer one (STALE is measured in it)."""
        sampling = self.last_sample.sampling if self.last_sample is not None else None
        if sampling is not None:
            now = sampling.interval_s
        else:
            now = self.hello.static.interval_s if self.hello else 1.0
        wanted = self.requested_interval_s
        return wanted if wanted is not None and wanted > now else now

    def age(self, now: float) -> float | None:
        """Seconds since the newest sample arrived (the sample lag shown in the UI)."""
        return None if self.last_sample_at is None else max(0.0, now - self.last_sample_at)

    def metric(self, name: str, subject: int | str | None = None) -> float | None:
        return self.metrics.get((name, subject))

    def window(self, keys: Sequence[Key], since: float, until: float | None = None
               ) -> tuple[list[float], list[list[float] | None]]:
        """``history.window`` that also reads the metrics.RATIOS percentages (their history is
        their numerator's over the newest denominator; None while that is unknown or 0)."""
        read = [(RATIOS[k[0]][0], k[1]) if k[0] in RATIOS else k for k in keys]
        times, rows = self.history.window(read, since, until)
        for n, key in enumerate(keys):
            row = rows[n]
            if key[0] in RATIOS and row is not None:
                total = self.metrics.get((RATIOS[key[0]][1], key[1]))
                rows[n] = [100.0 * v / total for v in row] if total else None
        return times, rows

    def gpu_health(self) -> tuple[GpuHealth, ...]:
        """Each GPU's health from the newest sample, in its order (analysis/gpu_health.py)."""
        sample = self.last_sample
        return tuple(gpu_health(g) for g in sample.gpus) if sample is not None else ()

    def worst_gpu_health(self) -> Health | None:
        """The worst health among the node's GPUs (None: no sample yet, or no GPUs)."""
        return node_health(self.last_sample)

    def registration_problems(self) -> list[str]:
        """What the registry's value held that was left out as bad (plain text, at most 4)."""
        reg = self.registration or {}
        found = reg.get(REGISTRATION_PROBLEMS)
        if not isinstance(found, list):
            return []
        return [clean(str(p), 160) for p in found[:4]]

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

    def set_gpu_indices(self, source: object, indices: tuple[int, ...]) -> None:
        """What gpu_indices() gives while `source` is the newest sample (known when it came:
        read later, each node's GPU samples would be fetched back into the CPU's caches)."""
        self._gpus = (source, indices)

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

    def subjects(self, name: str) -> list[int | str | None]:
        """Which GPUs (pids, service ids) have a value of `name` in the newest sample."""
        return [s for (n, s) in self.metrics if n == name]
