"""The alert rule engine (pure: the fleet state and ``now`` in, alert events out).

``AlertEngine(rules).evaluate(state, now, status_changes)`` runs every enabled rule against every
node and returns the state changes it caused, one :class:`AlertEvent` each. States follow
Prometheus: inactive -> pending (the condition holds, ``for`` not yet elapsed) -> firing ->
resolved. A pending alert whose condition clears goes back to inactive (an event with state
``inactive``, so the log shows where the pending ended). ``keep_firing_for`` keeps a firing alert
firing that long after its condition last held, so a noisy value does not flap.

Missing data is not zero: when a node is not UP, a value is unknown (None), or a GPU drops out
of a sample, the rule has "no data" for that target and nothing changes, neither firing nor
resolving. Two things do end an alert without data: the process it names is no longer listed in
a fresh sample (it exited), or the node is removed from the fleet.

Dynamic rules keep a compact sliding window per target (time buckets of count, sum and sum of
squares) fed with each new sample as the engine sees it; peer rules compare a value with the
other GPUs of its node, or with the other members of a label group, leaving the value itself out.
"""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from itertools import repeat
from typing import Any

from autoglm_tui import metrics
from autoglm_tui.analysis.rules import OPS, Rule
from autoglm_tui.analysis.state import FleetState, NodeState, StatusChange
from autoglm_tui.events import NodeStatus
from autoglm_tui.format import duration as fmt_duration
from autoglm_tui.metrics import Scope
from autoglm_tui.model import Sample
from autoglm_tui.text import clean


class AlertState(str, Enum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Target:
    """What an alert is about: a node, one of its GPUs, or one of its processes."""

    node: str
    gpu: int | None = None
    pid: int | None = None

    @property
    def subject(self) -> int | None:
        return self.gpu if self.gpu is not None else self.pid

    def __str__(self) -> str:
        if self.gpu is not None:
            return f"{self.node} gpu{self.gpu}"
        if self.pid is not None:
            return f"{self.node} pid {self.pid}"
        return self.node


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One state change of one alert: a line in the alert log, a push to Alertmanager."""

    t: float
    state: AlertState
    rule: str
    severity: str
    target: Target
    value: float | None
    summary: str
    started_at: float
    fired_at: float | None = None
    ended_at: float | None = None
    command: str | None = None
    reason: str | None = None  # why it ended: "condition cleared", "process exited", ...
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.target)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the alert log's line)."""
        return {
            "t": round(self.t, 3),
            "kind": "alert",
            "rule": self.rule,
            "state": self.state.value,
            "severity": self.severity,
            "node": self.target.node,
            "gpu": self.target.gpu,
            "pid": self.target.pid,
            "command": self.command,
            "value": _json_num(self.value),
            "summary": self.summary,
            "started_at": round(self.started_at, 3),
            "fired_at": None if self.fired_at is None else round(self.fired_at, 3),
            "ended_at": None if self.ended_at is None else round(self.ended_at, 3),
            "reason": self.reason,
            "labels": dict(self.labels),
            "id": self.fingerprint,
        }


def fingerprint(rule: str, target: Target) -> str:
    """A stable id for one rule on one target (used by silences and Alertmanager)."""
    return f"{rule}|{target.node}|{'' if target.gpu is None else target.gpu}|" + (
        "" if target.pid is None else str(target.pid)
    )


@dataclass(slots=True)
class Alert:
    """One rule on one target that is pending, firing, or recently resolved."""

    rule: Rule
    target: Target
    state: AlertState
    active_since: float
    last_true: float
    value: float | None = None  # the newest value seen
    held_value: float | None = None  # the newest value while the condition held
    fired_at: float | None = None
    resolved_at: float | None = None
    reason: str | None = None
    command: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    false_since: float | None = None  # first observation where the condition no longer held
    rule_index: int = -1  # the engine's index of the rule (internal)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule.name, self.target)

    @property
    def severity(self) -> str:
        return self.rule.severity

    def labels(self) -> tuple[tuple[str, str], ...]:
        """Alertmanager-style labels: alertname, severity, node, gpu/pid, plus the rule's own."""
        out = {"alertname": self.rule.name, "severity": self.rule.severity,
               "node": self.target.node}
        if self.target.gpu is not None:
            out["gpu"] = str(self.target.gpu)
        if self.target.pid is not None:
            out["pid"] = str(self.target.pid)
        for k, v in self.rule.labels:
            out.setdefault(k, v)
        return tuple(sorted(out.items()))

    def summary(self) -> str:
        """The rule's summary template filled in with the newest value that held (plain text;
        untrusted parts cleaned), so a resolved alert still says what it was about."""
        return render_summary(self)

    def event(self, t: float, state: AlertState) -> AlertEvent:
        return AlertEvent(
            t=t,
            state=state,
            rule=self.rule.name,
            severity=self.rule.severity,
            target=self.target,
            value=self.value,
            summary=self.summary(),
            started_at=self.active_since,
            fired_at=self.fired_at,
            ended_at=self.resolved_at if state in (AlertState.RESOLVED, AlertState.INACTIVE)
            else None,
            command=self.command,
            reason=self.reason if state in (AlertState.RESOLVED, AlertState.INACTIVE) else None,
            labels=self.labels(),
        )


# ---------------------------------------------------------------------------- summaries


class _Value(float):
    """A float that formats itself with its metric's unit when the template gives no spec."""

    unit: str = ""

    def __format__(self, spec: str) -> str:
        if spec:
            return float.__format__(self, spec)
        return _human(float(self), self.unit)


class _Missing:
    """Stands in for an unknown number in a template, whatever the format spec."""

    def __format__(self, spec: str) -> str:
        return "N/A"

    def __str__(self) -> str:
        return "N/A"


def _human(v: float, unit: str) -> str:
    from autoglm_tui import format as fmt

    if unit == "pct":
        return f"{v:.1f}%"
    if unit == "bytes":
        return fmt.bytes_(v)
    if unit == "bytes/s":
        return fmt.rate(v)
    if unit in ("ms", "s", "w", "c"):
        return f"{v:.3g}{unit if unit != 'c' else '°C'}"
    return f"{v:.4g}"


def _wrap(v: float | None, unit: str = "") -> object:
    if v is None or not math.isfinite(v):
        return _Missing()
    out = _Value(v)
    out.unit = unit
    return out


def _default_summary(rule: Rule) -> str:
    if rule.kind == "node":
        return "node {node} is {status}: {reason}"
    if rule.kind == "joint":
        return "{rule} on {target}: {values}"
    if rule.kind == "zscore":
        return "{metric} on {target} is {value} (z={z:.1f} against mean {mean})"
    if rule.kind == "peer":
        return "{metric} on {target} is {value}, peers average {mean} (z={z:.1f})"
    if rule.scope == Scope.PROC:
        return "{metric} of pid {pid} ({command}) on {node} is {value} {op} {threshold}"
    return "{metric} on {target} is {value} {op} {threshold}"


def render_summary(alert: Alert) -> str:
    rule = alert.rule
    unit = metrics.METRICS[rule.metric].unit if rule.metric in metrics.METRICS else ""
    d = alert.detail
    fields: dict[str, object] = {
        "rule": rule.name,
        "node": clean(alert.target.node, 120),
        "gpu": "-" if alert.target.gpu is None else alert.target.gpu,
        "pid": "-" if alert.target.pid is None else alert.target.pid,
        "command": clean(alert.command or "?", 80),
        "target": clean(str(alert.target), 140),
        "metric": rule.metric or rule.kind,
        "value": _wrap(alert.held_value if alert.held_value is not None else alert.value, unit),
        "op": rule.op,
        "threshold": _wrap(rule.threshold, unit),
        "for": fmt_duration(rule.for_s) if rule.for_s else "0s",
        "severity": rule.severity,
        "z": _wrap(d.get("z")),
        "mean": _wrap(d.get("mean"), unit),
        "std": _wrap(d.get("std"), unit),
        "status": clean(d.get("status", "?"), 40),
        "reason": clean(d.get("reason") or "-", 200),
        "values": ", ".join(
            f"{k}={_human(v, metrics.METRICS[k].unit) if v is not None else 'N/A'}"
            for k, v in d.get("values", {}).items()
        ),
    }
    template = rule.summary or _default_summary(rule)
    try:
        return clean(template.format_map(fields), 400)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return clean(_default_summary(rule).format_map(fields), 400)


# ---------------------------------------------------------------------------- windows

WINDOW_BUCKETS = 60
_NO_BUCKET = -(1 << 62)
_GOLDEN = 0.6180339887498949


class _Window:
    """Sliding-window count, mean and standard deviation in time buckets (O(1) a sample).

    The window is `nb` buckets of window/nb seconds. A new value is scored against the
    completed buckets inside the window (the bucket being filled is left out, so a spike is
    not averaged into its own baseline); mean and deviation change only when a bucket
    completes. Each window's bucket edges are offset by `phase` so that thousands of windows do
    not all roll on the same tick. Values are stored shifted by the first value seen, which
    keeps sums of squares well conditioned for large numbers (bytes).
    """

    __slots__ = ("_ids", "_n", "_s", "_ss", "cn", "cs", "css", "cur", "k", "mean", "n", "nb",
                 "phase", "rolls", "s", "ss", "std", "width")

    def __init__(self, window_s: float, nb: int = WINDOW_BUCKETS, phase: float = 0.0) -> None:
        self.nb = nb
        self.width = window_s / nb
        self.phase = phase % self.width
        self._ids = [_NO_BUCKET] * nb  # bucket id held in each slot
        self._n = [0] * nb
        self._s = [0.0] * nb
        self._ss = [0.0] * nb
        self.cur = _NO_BUCKET  # the bucket being filled, not yet part of the baseline
        self.cn, self.cs, self.css = 0, 0.0, 0.0
        self.n, self.s, self.ss = 0, 0.0, 0.0  # totals of the completed buckets in the window
        self.mean = self.std = math.nan
        self.k: float | None = None
        self.rolls = 0

    def push(self, t: float, v: float) -> int:
        """Add `v` seen at `t`; return how many values the baseline (mean, std) holds."""
        b = int((t + self.phase) // self.width)
        if b != self.cur:
            if b < self.cur:
                return self.n  # time went backwards: ignore the value
            self._roll(b)
        k = self.k
        if k is None:
            k = self.k = v
        x = v - k
        self.cn += 1
        self.cs += x
        self.css += x * x
        return self.n

    def _roll(self, b: int) -> None:
        """Complete the current bucket and drop what left the window that now ends at `b`."""
        nb = self.nb
        ids, ns, ss_, sss = self._ids, self._n, self._s, self._ss
        self.rolls += 1
        if b == self.cur + 1 and self.rolls % nb:
            if self.cn:  # the completed bucket joins the baseline
                slot = self.cur % nb
                ids[slot], ns[slot], ss_[slot], sss[slot] = self.cur, self.cn, self.cs, self.css
                self.n += self.cn
                self.s += self.cs
                self.ss += self.css
            slot = b % nb  # it holds bucket b - nb, which just left the window
            if ids[slot] != _NO_BUCKET:
                self.n -= ns[slot]
                self.s -= ss_[slot]
                self.ss -= sss[slot]
                ids[slot], ns[slot], ss_[slot], sss[slot] = _NO_BUCKET, 0, 0.0, 0.0
        else:  # after a gap (or now and then, against rounding drift): recount from scratch
            if self.cn:
                slot = self.cur % nb
                ids[slot], ns[slot], ss_[slot], sss[slot] = self.cur, self.cn, self.cs, self.css
            first = b - nb + 1
            n, s, ss = 0, 0.0, 0.0
            for slot in range(nb):
                if first <= ids[slot] < b:
                    n += ns[slot]
                    s += ss_[slot]
                else:
                    ids[slot], ns[slot], ss_[slot], sss[slot] = _NO_BUCKET, 0, 0.0, 0.0
            # Re-anchor the shift at the window's mean, so precision follows the data.
            d = s / n if n else 0.0
            for slot in range(nb):
                if ids[slot] != _NO_BUCKET:
                    bn, bs = ns[slot], ss_[slot]
                    sss[slot] = max(0.0, sss[slot] - 2 * d * bs + bn * d * d)
                    ss_[slot] = bs - bn * d
                    ss += sss[slot]
            self.k = None if n == 0 else (self.k or 0.0) + d
            self.n, self.s, self.ss = n, s - n * d, ss
        self.cur = b
        self.cn, self.cs, self.css = 0, 0.0, 0.0
        n = self.n
        if n > 0 and self.k is not None:
            m = self.s / n
            var = self.ss / n - m * m
            self.mean = m + self.k
            self.std = math.sqrt(var) if var > 0 else 0.0
        else:
            self.n, self.s, self.ss = 0, 0.0, 0.0
            self.mean = self.std = math.nan


class _Block:
    """Sliding-window baselines for a fixed set of subjects of one node (its GPUs, or the node
    itself), one time bucket ring shared by all of them.

    A sample appends its row of values to the current bucket (one list append, whatever the
    number of GPUs); when the bucket completes its columns are summed into the ring and each
    subject's mean and deviation, and from them the band [lo, hi] outside which a value is
    anomalous, are recomputed. So the per-sample test is two C-level comparisons of the row
    against the bands. Same baseline as _Window: completed buckets inside the window.
    """

    __slots__ = ("cur", "end", "hi", "ids", "k", "lo", "mean", "n", "nb", "phase", "ring",
                 "rolls", "rows", "s", "ss", "start", "std", "subjects", "width", "z")

    def __init__(
        self, subjects: tuple[int | None, ...], window_s: float, rule: Rule, phase: float,
        nb: int = WINDOW_BUCKETS,
    ) -> None:
        g = len(subjects)
        self.subjects = subjects
        self.nb = nb
        self.width = window_s / nb
        self.phase = phase % self.width
        self.z = (rule.z, rule.min_samples, rule.min_std, rule.direction)
        self.ids = [_NO_BUCKET] * nb
        self.ring: list[list[tuple[int, float, float]] | None] = [None] * nb
        self.k: list[float | None] = [None] * g
        self.n = [0] * g
        self.s = [0.0] * g
        self.ss = [0.0] * g
        self.mean = [math.nan] * g
        self.std = [math.nan] * g
        self.hi = [math.inf] * g
        self.lo = [-math.inf] * g
        self.rows: list[list[float | None]] = []
        self.cur = _NO_BUCKET  # id of the bucket being filled
        self.start = math.inf  # ... which spans [start, end)
        self.end = -math.inf
        self.rolls = 0

    def roll(self, at: float) -> None:
        """Move to the bucket holding `at`: complete the current one, expire old ones."""
        b = int((at + self.phase) // self.width)
        cur = self.cur
        if b <= cur:
            # time went backwards (or `at` sits on the edge by rounding): keep this bucket
            self.start = min(self.start, at)
            return
        nb, ids, ring = self.nb, self.ids, self.ring
        if self.rows and cur != _NO_BUCKET:
            ids[cur % nb] = cur
            ring[cur % nb] = self._sum_rows()
        self.rows = []
        first = b - nb + 1
        self.rolls += 1
        n, s, ss = self.n, self.s, self.ss
        g = len(n)
        if self.rolls % nb == 0 or b != cur + 1:
            # recount from the ring (after a gap, and now and then against rounding drift)
            n[:] = [0] * g
            s[:] = [0.0] * g
            ss[:] = [0.0] * g
            for slot in range(nb):
                if first <= ids[slot] < b and ring[slot] is not None:
                    for i, (bn, bs, bss) in enumerate(ring[slot]):  # type: ignore[union-attr]
                        n[i] += bn
                        s[i] += bs
                        ss[i] += bss
                else:
                    ids[slot], ring[slot] = _NO_BUCKET, None
        else:
            done = ring[cur % nb]
            if done is not None and ids[cur % nb] == cur:
                for i, (bn, bs, bss) in enumerate(done):
                    n[i] += bn
                    s[i] += bs
                    ss[i] += bss
            slot = b % nb  # it holds bucket b - nb, which just left the window
            old = ring[slot]
            if old is not None and ids[slot] != _NO_BUCKET:
                for i, (bn, bs, bss) in enumerate(old):
                    n[i] -= bn
                    s[i] -= bs
                    ss[i] -= bss
            ids[slot], ring[slot] = _NO_BUCKET, None
        self.cur = b
        self.start = b * self.width - self.phase
        self.end = (b + 1) * self.width - self.phase
        if not self.start <= at < self.end:  # rounding at a bucket edge
            self.start, self.end = min(self.start, at), max(self.end, math.nextafter(at, math.inf))
        self._bands()

    def _sum_rows(self) -> list[tuple[int, float, float]]:
        out = []
        k = self.k
        for i, col in enumerate(zip(*self.rows, strict=True)):
            known = [v for v in col if v is not None]
            if not known:
                out.append((0, 0.0, 0.0))
                continue
            ki = k[i]
            if ki is None:
                ki = k[i] = known[0]
            d = [v - ki for v in known]
            out.append((len(d), sum(d), sum([x * x for x in d])))
        return out

    def _bands(self) -> None:
        limit, min_n, min_std, direction = self.z
        for i, n in enumerate(self.n):
            k = self.k[i]
            if n <= 0 or k is None:
                self.n[i], self.s[i], self.ss[i] = 0, 0.0, 0.0
                self.mean[i] = self.std[i] = math.nan
                self.hi[i], self.lo[i] = math.inf, -math.inf
                continue
            m = self.s[i] / n
            var = self.ss[i] / n - m * m
            std = math.sqrt(var) if var > 0 else 0.0
            mean = m + k
            self.mean[i], self.std[i] = mean, std
            sd = std if std > min_std else min_std
            if n < min_n or sd <= 0:
                self.hi[i], self.lo[i] = math.inf, -math.inf  # no baseline yet, or flat
            else:
                self.hi[i] = mean + limit * sd if direction != "below" else math.inf
                self.lo[i] = mean - limit * sd if direction != "above" else -math.inf


def _zscore(v: float, mean: float, std: float, min_std: float) -> float | None:
    std = max(std, min_std)
    if std <= 0 or not math.isfinite(std):
        return None  # a flat baseline has no z-score
    return (v - mean) / std


def _z_exceeds(z: float | None, limit: float, direction: str) -> bool:
    if z is None:
        return False
    if direction == "above":
        return z > limit
    if direction == "below":
        return z < -limit
    return abs(z) > limit


# ---------------------------------------------------------------------------- the engine

# One observation of a target: (holds, value, detail). holds None means no data.
Outcome = tuple[bool | None, float | None, dict[str, Any] | None]
_IS_KNOWN = partial(operator.is_not, None)
# Per-GPU and per-process metrics read straight off the newest sample (see gpu_values).
_GPU_FIELDS: dict[str, Callable[[Any], Any]] = {
    m.name: operator.attrgetter(m.name.removeprefix("gpu."))
    for m in metrics.METRICS.values() if m.scope == Scope.GPU
}
_PROC_FIELDS: dict[str, Callable[[Any], Any]] = {
    "proc.cpu_pct": operator.attrgetter("cpu_pct"),
    "proc.rss_bytes": operator.attrgetter("rss_bytes"),
    "proc.gpu_mem_bytes": operator.attrgetter("gpu_mem_bytes"),
    "proc.sm_util_pct": operator.attrgetter("sm_pct"),
}
_CHUNK = 16  # nodes per pass of all rules


@dataclass(slots=True)
class _NodeView:
    """What every rule needs from one node at one evaluation."""

    node: NodeState
    sample: Sample | None
    node_id: str
    metrics: dict[tuple[str, int | None], float | None]
    fresh: bool  # UP with a sample: its values count; otherwise "no data"
    at: float  # when the newest sample arrived
    new: bool  # that sample is new since the previous evaluation
    gpus: tuple[int, ...]  # interned: nodes with the same GPU indices share one tuple
    pids: list[int]
    vec: dict[str, list[float | None]]  # per-GPU / per-process values, shared by rules


class _Compiled:
    """A rule with what evaluation needs precomputed, and its alerts and windows per node."""

    __slots__ = ("active", "aggregate", "blocks", "cmp", "fast", "gpu_keys", "idx", "match",
                 "metric_scope", "node_key", "rule", "threshold", "windows")

    def __init__(self, idx: int, rule: Rule) -> None:
        self.idx = idx
        self.rule = rule
        self.cmp = OPS.get(rule.op)
        self.threshold = rule.threshold
        self.metric_scope = rule.metric_scope
        self.aggregate = self.metric_scope != Scope.NODE and rule.scope == Scope.NODE
        self.match = dict(rule.match)
        self.fast = "max" if rule.op in (">", ">=") else "min" if rule.op in ("<", "<=") else ""
        self.node_key = (rule.metric, None)
        self.gpu_keys: dict[int, list[tuple[str, int]]] = {}  # id(interned gpus) -> keys
        self.active: dict[str, dict[int | None, Alert]] = {}  # node -> subject -> alert
        self.windows: dict[str, dict[int | None, _Window]] = {}  # zscore on processes
        self.blocks: dict[str, _Block] = {}  # zscore on GPUs or the node: one per node

    def keys_for(self, gpus: tuple[int, ...]) -> list[tuple[str, int]]:
        """(metric, index) keys for an interned tuple of GPU indices."""
        keys = self.gpu_keys.get(id(gpus))
        if keys is None:
            keys = self.gpu_keys[id(gpus)] = [(self.rule.metric or "", i) for i in gpus]
        return keys

    def gpu_values(self, view: _NodeView) -> list[float | None]:
        """The metric of each GPU, in the order of ``view.gpus``."""
        get = _GPU_FIELDS.get(self.rule.metric or "")
        if get is not None and view.sample is not None:
            # Straight from the sample's GpuSample objects: the same values derive() put in
            # node.metrics (a unit test holds them equal), far fewer cache misses at 2k GPUs.
            return list(map(get, view.sample.gpus))
        return list(map(view.metrics.get, self.keys_for(view.gpus)))

    def values(self, view: _NodeView) -> tuple[Sequence[int | None], list[float | None]]:
        """(subjects, values) of the rule's metric on one node; one None subject if aggregated."""
        m = view.metrics
        scope = self.metric_scope
        if scope == Scope.NODE:
            return (None,), [m.get(self.node_key)]
        metric = self.rule.metric or ""
        vals = view.vec.get(metric)
        if scope == Scope.GPU:
            subjects: Sequence[int | None] = view.gpus
            if vals is None:
                vals = view.vec[metric] = self.gpu_values(view)
        else:
            subjects = view.pids
            if vals is None:
                get = _PROC_FIELDS.get(metric)
                if get is not None and view.sample is not None:
                    vals = list(map(get, view.sample.procs))
                else:
                    vals = list(map(m.get, zip(repeat(metric), view.pids)))
                view.vec[metric] = vals
        if self.aggregate:
            return (None,), [_aggregate(vals, self.rule.agg)]
        return subjects, vals


class AlertEngine:
    """Evaluates rules against the fleet state; keeps pending, firing and recently resolved.

    Metric rules run on each node's newest sample and measure ``for`` and
    ``keep_firing_for`` in sample time (when the monitor received it): a rule only moves when
    a new sample arrives, so a node that stops reporting neither fires nor resolves. Node
    rules watch the node's status and measure time with ``now``.
    """

    def __init__(
        self,
        rules: Iterable[Rule],
        resolved_keep_s: float = 900.0,
        resolved_max: int = 200,
    ) -> None:
        self.rules = [r for r in rules if r.enabled]
        self._compiled = [_Compiled(i, r) for i, r in enumerate(self.rules)]
        self.resolved_keep_s = resolved_keep_s
        self.resolved: deque[Alert] = deque(maxlen=resolved_max)
        self.version = 0  # bumped whenever an alert changes state
        self._views: dict[str, tuple[object, tuple[int, ...], list[int]]] = {}
        self._last_at: dict[str, float] = {}  # node -> sample time seen at the last evaluation
        self._phase = 0.0  # spreads the bucket edges of z-score windows
        self._gpu_tuples: dict[tuple[int, ...], tuple[int, ...]] = {}
        self._need_pids = any(c.metric_scope == Scope.PROC for c in self._compiled)
        self._events: list[AlertEvent] = []

    # ------------------------------------------------------------------ views

    def active(self) -> list[Alert]:
        """Pending and firing alerts: firing first, then by severity, then oldest first."""
        out = [a for c in self._compiled for group in c.active.values() for a in group.values()]
        out.sort(key=lambda a: (a.state != AlertState.FIRING,
                                SEVERITY_RANK.get(a.severity, 9), a.active_since))
        return out

    def alerts(self) -> list[Alert]:
        """Firing, then pending, then recently resolved (newest first)."""
        return self.active() + sorted(self.resolved, key=lambda a: -(a.resolved_at or 0))

    def firing(self) -> list[Alert]:
        return [a for a in self.active() if a.state == AlertState.FIRING]

    def counts(self) -> dict[AlertState, int]:
        out = dict.fromkeys((AlertState.FIRING, AlertState.PENDING, AlertState.RESOLVED), 0)
        for c in self._compiled:
            for group in c.active.values():
                for a in group.values():
                    out[a.state] += 1
        out[AlertState.RESOLVED] = len(self.resolved)
        return out

    def for_node(self, node_id: str) -> list[Alert]:
        return [a for a in self.active() if a.target.node == node_id]

    # ------------------------------------------------------------------ evaluation

    def evaluate(
        self,
        state: FleetState,
        now: float,
        status_changes: Sequence[StatusChange] = (),
    ) -> list[AlertEvent]:
        """Run every rule once at time `now`; return the alert state changes, in order."""
        self._events = []
        nodes = state.nodes
        removed = {c.node_id for c in status_changes if c.new is None}
        for c in self._compiled:
            for node_id in [n for n in c.active if n not in nodes or n in removed]:
                for alert in list(c.active[node_id].values()):
                    self._end(alert, now, "node removed")
            for node_id in [n for n in (*c.windows, *c.blocks) if n not in nodes or n in removed]:
                c.windows.pop(node_id, None)
                c.blocks.pop(node_id, None)
        for node_id in [n for n in self._views if n not in nodes or n in removed]:
            del self._views[node_id]
            self._last_at.pop(node_id, None)
        views = self._node_views(nodes, now)
        # Node-major in chunks: every rule runs over a few nodes while their freshly arrived
        # values are still in the CPU cache.
        groups: dict[int, dict[str, list[tuple[NodeState, int | None, float, float]]]] = {}
        for lo in range(0, len(views), _CHUNK):
            chunk = views[lo:lo + _CHUNK]
            for c in self._compiled:
                sel = chunk if not c.match else [v for v in chunk
                                                 if _labels_match(v.node, c.match)]
                kind = c.rule.kind
                if kind == "threshold":
                    if c.rule.metric == "node.up":
                        self._node_up(c, sel, now)
                    else:
                        self._threshold(c, sel)
                elif kind == "zscore":
                    self._zscore(c, sel)
                elif kind == "peer":
                    self._peer(c, sel, groups.setdefault(c.idx, {}))
                elif kind == "joint":
                    self._joint(c, sel)
                elif kind == "node":
                    self._node_status(c, sel, now)
        for idx, by_group in groups.items():
            for members in by_group.values():
                self._peer_group(self._compiled[idx], members)
        self._expire_resolved(now)
        if self._events:
            self.version += 1
        return self._events

    def _node_views(self, nodes: dict[str, NodeState], now: float) -> list[_NodeView]:
        out = []
        cache = self._views
        interned = self._gpu_tuples
        last_at = self._last_at
        up = NodeStatus.UP
        for node_id, node in nodes.items():
            sample = node.last_sample
            cached = cache.get(node_id)
            if cached is None or cached[0] is not sample:
                if sample is None:
                    cached = (None, (), [])
                else:
                    gpus = tuple([g.index for g in sample.gpus])
                    gpus = interned.setdefault(gpus, gpus)
                    pids = [p.pid for p in sample.procs] if self._need_pids else []
                    cached = (sample, gpus, pids)
                cache[node_id] = cached
            at = node.last_sample_at if node.last_sample_at is not None else now
            new = last_at.get(node_id) != at
            if new:
                last_at[node_id] = at
            out.append(_NodeView(node, sample, node_id, node.metrics,
                                 sample is not None and node.status is up, at, new,
                                 cached[1], cached[2], {}))
        return out

    # ------------------------------------------------------------------ rule kinds

    def _threshold(self, c: _Compiled, views: list[_NodeView]) -> None:
        cmp, th = c.cmp, c.threshold
        assert cmp is not None and th is not None
        active, step, fast = c.active, self._step, c.fast
        per_gpu = c.metric_scope == Scope.GPU and not c.aggregate
        node_scope = c.metric_scope == Scope.NODE
        node_key = c.node_key
        metric = c.rule.metric or ""
        for view in views:
            if not view.fresh:
                continue  # no data: nothing moves
            nid, at = view.node_id, view.at
            if not view.new:
                continue  # no new sample since the last evaluation: nothing can change
            act = active.get(nid)
            if node_scope:
                v = view.metrics.get(node_key)
                if v is None:
                    continue
                hold = cmp(v, th)
                if hold or act:
                    step(c, view.node, None, at, (hold, v, None))
                continue
            if per_gpu:
                subjects: Sequence[int | None] = view.gpus
                vals = view.vec.get(metric)
                if vals is None:
                    vals = view.vec[metric] = c.gpu_values(view)
            else:
                subjects, vals = c.values(view)
            if c.aggregate:
                v = vals[0]
                if v is not None:
                    hold = cmp(v, th)
                    if hold or act:
                        step(c, view.node, None, at, (hold, v, None))
                continue
            if act is None:
                if fast:  # cheap test first: does anything cross the threshold at all?
                    known = list(filter(_IS_KNOWN, vals))
                    if not known or not cmp(max(known) if fast == "max" else min(known), th):
                        continue
                for s, v in zip(subjects, vals, strict=True):
                    if v is not None and cmp(v, th):
                        step(c, view.node, s, at, (True, v, None))
                continue
            for s, v in zip(subjects, vals, strict=True):
                if v is not None:
                    hold = cmp(v, th)
                    if hold or s in act:
                        step(c, view.node, s, at, (hold, v, None))
            if c.metric_scope == Scope.PROC:
                self._gone(c, view.node, at, view.pids)

    def _node_up(self, c: _Compiled, views: list[_NodeView], now: float) -> None:
        """``node.up``: 1 while the node is UP, else 0; known at every evaluation."""
        cmp, th = c.cmp, c.threshold
        assert cmp is not None and th is not None
        for view in views:
            node = view.node
            v = 1.0 if node.status == NodeStatus.UP else 0.0
            hold = cmp(v, th)
            if hold or node.node_id in c.active:
                self._step(c, node, None, now, (hold, v, None))

    def _joint(self, c: _Compiled, views: list[_NodeView]) -> None:
        conds = c.rule.conditions
        node_scoped = [metrics.METRICS[x.metric].scope == Scope.NODE for x in conds]
        for view in views:
            if not view.fresh:
                continue
            nid, at = view.node_id, view.at
            if not view.new:
                continue  # no new sample since the last evaluation: nothing can change
            act = c.active.get(nid)
            m = view.metrics
            all_subjects = view.gpus if c.metric_scope == Scope.GPU else view.pids
            if c.metric_scope == Scope.NODE or c.aggregate:
                subjects: Sequence[int | None] = (None,)
            else:
                subjects = all_subjects
            for s in subjects:
                hold: bool | None = True
                values: dict[str, float | None] = {}
                for cond, on_node in zip(conds, node_scoped, strict=True):
                    if on_node:
                        v = m.get((cond.metric, None))
                    elif c.aggregate:
                        v = _aggregate([m.get((cond.metric, x)) for x in all_subjects],
                                       c.rule.agg)
                    else:
                        v = m.get((cond.metric, s))
                    values[cond.metric] = v
                    if v is None:
                        if hold:
                            hold = None  # unknown unless another condition is known false
                    elif not cond.holds(v):
                        hold = False
                if hold or (hold is False and act and s in act):
                    first = next(iter(values.values()), None)
                    self._step(c, view.node, s, at, (hold, first, {"values": values}))
            if act and c.metric_scope == Scope.PROC and not c.aggregate:
                self._gone(c, view.node, at, view.pids)

    def _zscore(self, c: _Compiled, views: list[_NodeView]) -> None:
        if c.metric_scope == Scope.PROC and not c.aggregate:
            self._zscore_procs(c, views)
            return
        rule = c.rule
        step = self._step
        blocks = c.blocks
        gt, lt = operator.gt, operator.lt
        for view in views:
            if not view.fresh:
                continue
            nid, at = view.node_id, view.at
            if not view.new:
                continue  # no new sample since the last evaluation: nothing can change
            subjects, vals = c.values(view)
            blk = blocks.get(nid)
            if blk is None or blk.subjects is not subjects:
                if blk is None or tuple(blk.subjects) != tuple(subjects):
                    self._phase = (self._phase + _GOLDEN) % 1.0
                    blk = _Block(tuple(subjects), rule.window_s, rule,
                                 self._phase * rule.window_s)
                blocks[nid] = blk
                blk.subjects = subjects  # type: ignore[assignment]
            if not blk.start <= at < blk.end:
                blk.roll(at)
            blk.rows.append(vals)
            act = c.active.get(nid)
            if not act:
                try:  # the common case, in C: nothing outside its band
                    if not (any(map(gt, vals, blk.hi)) or any(map(lt, vals, blk.lo))):
                        continue
                except TypeError:  # an unknown (None) value among them: look one by one
                    pass
            for i, (s, v) in enumerate(zip(subjects, vals, strict=True)):
                if v is None:
                    continue  # no data
                hold = v > blk.hi[i] or v < blk.lo[i]
                if hold or (act and s in act):
                    mean, std = blk.mean[i], blk.std[i]
                    sd = std if std > rule.min_std else rule.min_std
                    z = (v - mean) / sd if sd > 0 and blk.n[i] else None
                    step(c, view.node, s, at, (hold, v, {"z": z, "mean": mean, "std": std}))

    def _zscore_procs(self, c: _Compiled, views: list[_NodeView]) -> None:
        """Per-process z-scores: processes come and go, so each has its own window."""
        rule = c.rule
        window_s = rule.window_s
        limit, min_n, min_std, direction = rule.z, rule.min_samples, rule.min_std, rule.direction
        step = self._step
        for view in views:
            if not view.fresh:
                continue
            nid, at = view.node_id, view.at
            if not view.new:
                continue  # no new sample since the last evaluation: nothing can change
            act = c.active.get(nid)
            subjects, vals = c.values(view)
            wins = c.windows.get(nid)
            if wins is None:
                wins = c.windows[nid] = {}
            for s, v in zip(subjects, vals, strict=True):
                if v is None:
                    continue
                w = wins.get(s)
                if w is None:
                    self._phase = (self._phase + _GOLDEN) % 1.0
                    w = wins[s] = _Window(window_s, phase=self._phase * window_s)
                if w.push(at, v) < min_n:
                    continue  # not enough history yet: no data
                mean, std = w.mean, w.std
                sd = std if std > min_std else min_std
                if sd > 0:
                    z = (v - mean) / sd
                    hold = _z_exceeds(z, limit, direction)
                    if hold or (act and s in act):
                        step(c, view.node, s, at, (hold, v, {"z": z, "mean": mean, "std": std}))
                elif act and s in act:
                    step(c, view.node, s, at, (False, v, {"z": None, "mean": mean, "std": std}))
            if len(wins) > len(view.pids):
                live = set(view.pids)
                for s in [s for s in wins if s not in live]:
                    del wins[s]
            if act:
                self._gone(c, view.node, at, view.pids)

    def _peer(
        self, c: _Compiled, views: list[_NodeView],
        groups: dict[str, list[tuple[NodeState, int | None, float, float]]],
    ) -> None:
        """Score GPUs within their node now; gather label or fleet groups into `groups`.

        Peers are compared on each node's newest sample; a group is re-scored on every
        evaluation, so only a member with a new sample can change state."""
        rule = c.rule
        label = rule.group[6:] if rule.group.startswith("label:") else None
        per_node = rule.group == "node"
        for view in views:
            if not view.fresh:
                continue
            node, nid, at = view.node, view.node_id, view.at
            if per_node and not view.new:
                continue  # no new sample since the last evaluation: nothing can change
            subjects, vals = c.values(view)
            if per_node:
                if nid not in c.active and not self._peer_may_fire(rule, vals):
                    continue
                members = [(node, s, v, at) for s, v in zip(subjects, vals, strict=True)
                           if v is not None]
                self._peer_group(c, members)
                if c.metric_scope == Scope.PROC and nid in c.active:
                    self._gone(c, node, at, view.pids)
                continue
            members = [(node, s, v, at) for s, v in zip(subjects, vals, strict=True)
                       if v is not None]
            if label is not None:
                key = node.labels.get(label)
                if key is None:
                    continue
            else:
                key = ""
            group = groups.get(key)
            if group is None:
                groups[key] = members
            else:
                group.extend(members)

    @staticmethod
    def _peer_may_fire(rule: Rule, vals: list[float | None]) -> bool:
        """Cheap test on one node's values: could the most extreme one exceed `z`?"""
        known = list(filter(_IS_KNOWN, vals))
        n = len(known)
        if n - 1 < rule.min_samples:
            return False
        k = known[0]
        total = sum(known) - n * k
        total_sq = sum([(x - k) * (x - k) for x in known])
        others = n - 1
        for x in ((max(known),) if rule.direction == "above" else (min(known),)
                  if rule.direction == "below" else (max(known), min(known))):
            x -= k
            mean = (total - x) / others
            var = (total_sq - x * x) / others - mean * mean
            std = math.sqrt(var) if var > 0 else 0.0
            if _z_exceeds(_zscore(x, mean, std, rule.min_std), rule.z, rule.direction):
                return True
        return False

    def _peer_group(
        self, c: _Compiled, members: list[tuple[NodeState, int | None, float, float]]
    ) -> None:
        """Leave-one-out z of each member against the rest; only extremes and active alerts
        are scored (the value farthest from the group's mean has the largest |z|)."""
        rule = c.rule
        n = len(members)
        if n - 1 < rule.min_samples:
            return  # too few peers: no data
        k = members[0][2]
        xs = [m[2] - k for m in members]
        total = sum(xs)
        total_sq = sum(x * x for x in xs)
        candidates = set()
        if rule.direction in ("both", "above"):
            candidates.add(max(range(n), key=xs.__getitem__))
        if rule.direction in ("both", "below"):
            candidates.add(min(range(n), key=xs.__getitem__))
        if c.active:
            for j, (node, s, _, _) in enumerate(members):
                act = c.active.get(node.node_id)
                if act and s in act:
                    candidates.add(j)
        others = n - 1
        for j in sorted(candidates):
            node, s, v, at = members[j]
            x = xs[j]
            mean = (total - x) / others
            var = (total_sq - x * x) / others - mean * mean
            std = math.sqrt(var) if var > 0 else 0.0
            z = _zscore(x, mean, std, rule.min_std)
            hold = _z_exceeds(z, rule.z, rule.direction)
            act = c.active.get(node.node_id)
            if hold or (act and s in act):
                self._step(c, node, s, at, (hold, v, {"z": z, "mean": mean + k, "std": std}))

    def _node_status(self, c: _Compiled, views: list[_NodeView], now: float) -> None:
        statuses = c.rule.statuses
        for view in views:
            node = view.node
            hold = node.status in statuses
            if hold or node.node_id in c.active:
                detail = {"status": node.status.value, "reason": node.reason}
                self._step(c, node, None, now, (hold, None, detail),
                           start=min(now, node.status_since))

    def _gone(self, c: _Compiled, node: NodeState, at: float, live: Sequence[int]) -> None:
        """End alerts on processes that a fresh sample no longer lists."""
        act = c.active.get(node.node_id)
        if not act:
            return
        live_set = set(live)
        for s in [s for s in act if s not in live_set]:
            self._end(act[s], at, "process exited")

    # ------------------------------------------------------------------ state machine

    def _step(
        self,
        c: _Compiled,
        node: NodeState,
        subject: int | None,
        at: float,
        outcome: Outcome,
        start: float | None = None,
    ) -> None:
        """Move one target's alert on one observation made at time `at`."""
        hold, value, detail = outcome
        if hold is None:  # no data: nothing moves
            return
        act = c.active.get(node.node_id)
        alert = act.get(subject) if act else None
        rule = c.rule
        if alert is None:
            if not hold:
                return
            scope = Scope.NODE if c.aggregate else c.metric_scope
            target = _target(node.node_id, subject, scope)
            begin = at if start is None else start
            alert = Alert(rule=rule, target=target, state=AlertState.PENDING,
                          active_since=begin, last_true=at, value=value, held_value=value,
                          rule_index=c.idx)
            if target.pid is not None:
                info = node.proc_info.get(target.pid)
                if info is not None:
                    alert.command = clean(info.cmdline or info.name, 200)
            if detail:
                alert.detail = detail
            if act is None:
                act = c.active[node.node_id] = {}
            act[subject] = alert
            if at - begin >= rule.for_s:
                alert.state = AlertState.FIRING
                alert.fired_at = at
                self._events.append(alert.event(at, AlertState.FIRING))
            else:
                self._events.append(alert.event(at, AlertState.PENDING))
            return
        if value is not None:
            alert.value = value
        if detail and (hold or not alert.detail):
            alert.detail = detail
        if hold:
            alert.last_true = at
            alert.false_since = None
            alert.held_value = value
            if alert.state == AlertState.PENDING and at - alert.active_since >= rule.for_s:
                alert.state = AlertState.FIRING
                alert.fired_at = at
                self._events.append(alert.event(at, AlertState.FIRING))
            return
        if alert.false_since is None:
            alert.false_since = at
        if alert.state == AlertState.PENDING or at - alert.false_since >= rule.keep_firing_for_s:
            self._end(alert, at, "condition cleared")

    def _end(self, alert: Alert, at: float, reason: str) -> None:
        c = self._compiled[alert.rule_index]
        act = c.active.get(alert.target.node)
        if act is not None:
            for subject, a in list(act.items()):
                if a is alert:
                    del act[subject]
            if not act:
                del c.active[alert.target.node]
        alert.resolved_at = at
        alert.reason = reason
        if alert.state == AlertState.FIRING:
            alert.state = AlertState.RESOLVED
            self.resolved.append(alert)
            self._events.append(alert.event(at, AlertState.RESOLVED))
        else:
            alert.state = AlertState.INACTIVE
            self._events.append(alert.event(at, AlertState.INACTIVE))

    def _expire_resolved(self, now: float) -> None:
        while self.resolved and now - (self.resolved[0].resolved_at or now) > self.resolved_keep_s:
            self.resolved.popleft()


# ---------------------------------------------------------------------------- helpers


def _target(node: str, subject: int | None, scope: Scope) -> Target:
    if subject is None or scope == Scope.NODE:
        return Target(node)
    if scope == Scope.GPU:
        return Target(node, gpu=subject)
    return Target(node, pid=subject)


def _labels_match(node: NodeState, match: dict[str, str]) -> bool:
    labels = node.labels
    return all(labels.get(k) == v for k, v in match.items())


def _aggregate(vals: Iterable[float | None], agg: str) -> float | None:
    known = [v for v in vals if v is not None]
    if not known:
        return None
    if agg == "max":
        return max(known)
    if agg == "min":
        return min(known)
    if agg == "sum":
        return math.fsum(known)
    return math.fsum(known) / len(known)


def _json_num(v: float | None) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return round(v, 6)
