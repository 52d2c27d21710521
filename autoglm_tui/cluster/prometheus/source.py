"""``PrometheusSource``: the fleet from a Prometheus query API, as the same events SSH gives.

Each refresh runs a few instant queries (mapping.py, queries.py) in worker threads: the
targets' ``up`` and scrape time, the fleet figures of every node, and the details (every GPU
field, processes, per-core CPU) of the nodes on screen. Infos (host facts, GPU models) are
re-read every ``info_every_s``. A node is a host (the host part of ``instance``, or a chosen
label) with at least one target of a node job; a job is a node job when one of its targets
exports a known exporter's probe metric (or when ``--job`` names it).

Status: a node gets a ``SampleReceived`` whenever its data is newer than the last one sent
(our exporter's sample time, else the scrape time), so the state's own ageing turns it STALE
when scrapes stop; when every target of the node fails its scrape (``up == 0``: Prometheus'
heartbeat of the node) it gets a ``HeartbeatLost`` and a ``NodeUnreachable`` naming the
targets, which the state shows as FAILED (kept, alerts firing) until a scrape succeeds again
(then a ``NodeJoined`` clears it); a node whose targets are gone from Prometheus for three
refreshes gets a ``NodeLeft`` (removed from service discovery: a graceful leave). A failing
or slow Prometheus is a ``RegistryChanged(ok=False)`` (the banner) and nothing else: every
call has a timeout and runs off the event loop.

``request(HistoryWanted(node))`` fetches the node's history with range queries and emits a
``HistoryBackfill``; ``request(NodesInView(...))`` says whose details to fetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from autoglm_tui.aio import stop_tasks, within
from autoglm_tui.cluster.prometheus import probes
from autoglm_tui.cluster.prometheus import queries as q
from autoglm_tui.cluster.prometheus.assemble import node_hello, node_sample
from autoglm_tui.cluster.prometheus.client import ClientConfig, PromClient, PromError
from autoglm_tui.cluster.prometheus.mapping import KINDS
from autoglm_tui.cluster.prometheus.services import services_query
from autoglm_tui.events import (
    Event,
    HeartbeatLost,
    HelloReceived,
    HistoryBackfill,
    NodeJoined,
    NodeLeft,
    NodeUnreachable,
    RegistryChanged,
    SampleReceived,
)
from autoglm_tui.model import HostStatic
from autoglm_tui.requests import HistoryWanted, NodesInView, Request
from autoglm_tui.text import clean

Emit = Callable[[Event], None]
STATIC_KEYS = {(k.name, e.key) for k in KINDS for e in k.entries if e.tier == "static"}
MAX_RANGE_POINTS = 11_000  # Prometheus refuses more points per series in one range query
LEAVE_AFTER_ROUNDS = 3


@dataclass(frozen=True)
class PromSourceConfig:
    client: ClientConfig
    jobs: tuple[str, ...] = ()  # empty: every job with a target exporting a known probe
    node_label: str = "instance"
    refresh_s: float | None = None  # None: the shortest scrape interval seen (1..60 s)
    scrape_interval_s: float | None = None  # None: measured from `up`
    detail_all_max: int = 32  # details for every node while the fleet is this small
    info_every_s: float = 30.0
    service_window_s: float = 60.0  # window of inference servers' quantiles and rates
    defer_infos: bool = False  # first round without host facts: a large fleet's first frame
    retry_max_s: float = 30.0


@dataclass
class _Node:
    node_id: str
    labels: dict[str, str] = field(default_factory=dict)
    static: HostStatic | None = None
    seq: int = 0
    last_t: float | None = None
    down: bool = False
    absent: int = 0
    interval_s: float = 15.0
    joined: bool = False
    gpu_rows: int = -1  # (kind, GPU) value groups seen, to notice a GPU set that changed


@dataclass
class RefreshStats:
    """What the last refreshes cost (the benchmark and the banner read it)."""

    rounds: int = 0
    first_s: float = 0.0  # how long the first refresh took (queries to events)
    last_s: float = 0.0
    series: int = 0
    errors: int = 0


class PrometheusSource:
    def __init__(self, config: PromSourceConfig, clock: Callable[[], float] = time.time,
                 client: PromClient | None = None) -> None:
        self.config = config
        self.clock = clock
        self.client = client or PromClient(config.client)
        self.key = q.NodeKey(config.node_label)
        self.nodes: dict[str, _Node] = {}
        self.jobs: set[str] = set(config.jobs)
        self.intervals: dict[str, float] = {}  # instance -> measured scrape interval
        self.infos: dict[str, dict] = {}  # node -> the newest info labels
        self.in_view: frozenset[str] = frozenset()
        self.stats = RefreshStats()
        self._history: asyncio.Queue[HistoryWanted] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._healthy: bool | None = None
        self._reason: str | None = None
        self._targets: dict[str, dict[str, q.Target]] = {}
        self._lock = threading.Lock()  # the refresh thread and the history thread
        self._period = config.refresh_s or 5.0
        self._fits = 0  # refreshes in a row that would have fitted a shorter period
        self.present: set[str] = {k.name for k in KINDS}  # narrowed by _find_kinds
        self.static_values: dict[str, dict] = {}
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="autoglm-prom")
        self._info_at = -math.inf
        self._pending_history: list[HistoryWanted] = []

    # ------------------------------------------------------------------ requests (UI side)

    takes = (NodesInView, HistoryWanted)  # requests.py: what it acts on

    def request(self, req: Request) -> None:
        """Record a wish of the UI; returns at once (the source's task does the queries)."""
        if isinstance(req, NodesInView):
            new = req.node_ids - self.in_view
            self.in_view = frozenset(req.node_ids)
            if new:
                self._poke()
        elif isinstance(req, HistoryWanted):
            if self._history is None:
                self._pending_history.append(req)
            elif self._loop is not None:
                self._loop.call_soon_threadsafe(self._history.put_nowait, req)

    def _poke(self) -> None:
        if self._wake is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    # ------------------------------------------------------------------ the task

    async def run(self, emit: Emit) -> None:
        self._loop = asyncio.get_running_loop()
        self._history = asyncio.Queue()
        self._wake = asyncio.Event()
        for req in self._pending_history:
            self._history.put_nowait(req)
        self._pending_history.clear()
        history = asyncio.ensure_future(self._serve_history(emit))
        delay = 0.0
        try:
            while True:
                started = time.monotonic()
                try:
                    await self.refresh(emit)
                except PromError as exc:
                    self.stats.errors += 1
                    self._health(emit, False, str(exc))
                    delay = min(self.config.retry_max_s, max(1.0, delay * 2))
                else:
                    delay = 0.0
                wait = delay or max(0.2, self.refresh_s() - (time.monotonic() - started))
                if not delay and self.config.defer_infos and self.stats.rounds == 1:
                    wait = 0.2  # the first frame is out: the host facts it left out come next
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await within(self._wake.wait(), timeout=wait)
        finally:
            await stop_tasks([history])
            self._pool.shutdown(wait=False, cancel_futures=True)

    def refresh_s(self) -> float:
        """Seconds between refreshes (worked out once a round, see `_plan_period`)."""
        return self._period

    def _plan_period(self, targets: dict[str, dict[str, q.Target]]) -> None:
        """The shortest scrape interval (1..60 s; or --prometheus-refresh), stretched to a whole
        multiple of it as soon as a refresh takes longer than 80% of it (a Prometheus that
        cannot keep up is asked less often, and nodes are not called STALE for it), and brought
        back down only after five refreshes in a row would have fit (no flapping)."""
        if self.config.refresh_s:
            base = self.config.refresh_s
        else:
            known = [self._interval(t) for t in targets.values()]
            base = max(1.0, min(60.0, min(known) if known else 5.0))
        wanted = base * max(1, math.ceil(self.stats.last_s / (0.8 * base)))
        if wanted >= self._period or self._period % base:
            self._period, self._fits = wanted, 0
            return
        self._fits += 1
        if self._fits >= 5:
            self._period, self._fits = wanted, 0

    def _health(self, emit: Emit, ok: bool, reason: str | None = None) -> None:
        """Tell the state when Prometheus becomes usable or not (the banner), once a change."""
        text = None if ok else clean(f"Prometheus: {reason}", 300)
        if ok == self._healthy and text == self._reason:
            return
        self._healthy, self._reason = ok, text
        emit(RegistryChanged(self.clock(), ok, text))

    # ------------------------------------------------------------------ one refresh

    def selector(self, nodes: set[str] | None = None) -> str:
        parts = [f"job=~{q.regex_alternatives(self.jobs)}"] if self.jobs else ['job!=""']
        if nodes is not None:
            if self.key.label == "instance":
                instances = {i for n in nodes for i in self._instances(n)}
                parts.append(f"instance=~{q.regex_alternatives(instances or {'-'})}")
            else:
                parts.append(f"{self.key.label}=~{q.regex_alternatives(nodes)}")
        return ",".join(parts)

    def host_selector(self, node_id: str) -> str:
        """Every target of one node, in any job (its inference servers too)."""
        if self.key.label == "instance":
            return f"instance=~{q.promql_string(re.escape(node_id) + '(:[0-9]+)?')}"
        return f"{self.key.label}={q.promql_string(node_id)}"

    def _instances(self, node_id: str) -> list[str]:
        return list(self._targets.get(node_id, {}))

    def window(self) -> str:
        """The irate window: four scrape intervals of the slowest node."""
        longest = self._longest_interval()
        return f"{max(4, math.ceil(4 * longest))}s"

    def long_window(self) -> str:
        """The window for inference servers' quantiles and request rates (default 1 m, and at
        least four scrape intervals)."""
        longest = self._longest_interval()
        return f"{max(math.ceil(self.config.service_window_s), math.ceil(4 * longest))}s"

    def _longest_interval(self) -> float:
        known = [n.interval_s for n in self.nodes.values()] or list(self.intervals.values())
        if self.config.scrape_interval_s:
            known = [self.config.scrape_interval_s]
        return max(known or [15.0])

    def _plan(self, tier: str | tuple[str, ...], sel: str, infos: bool = True
              ) -> list[q.Query]:
        kinds = [k for k in KINDS if k.name in self.present]
        return q.plan(tier, sel, self.key.by, self.window(), kinds=kinds, infos=infos,
                      service_sel='job!=""', long_window=self.long_window())

    def _detail_plan(self, sel: str) -> list[q.Query]:
        """The detail rows, and our exporter's raw service series (node.services)."""
        plan = self._plan("detail", sel)
        if "autoglm" in self.present:
            plan.append(services_query(sel))
        return plan

    def _find_kinds(self) -> None:
        self.present = probes.kinds_present(self.client.query, self._pool.map, self.selector())

    def _run_queries(self, plan: list[q.Query], into: q.Results) -> None:
        """Run the queries in parallel (worker threads), then file their results."""
        answers = list(self._pool.map(lambda x: self.client.query(x.expr), plan))
        for query, result in zip(plan, answers, strict=True):
            query.parse(result, into, self.key)
            self.stats.series += len(result)

    async def refresh(self, emit: Emit) -> None:
        """One round of instant queries, then the events it implies. The queries, the parsing
        and the assembly run in a worker thread; only the emitting happens on the loop."""
        events: list[Event] = []
        try:
            await asyncio.to_thread(self.refresh_blocking, events.append)
        finally:
            for event in events:
                emit(event)

    def refresh_blocking(self, emit: Emit) -> None:
        started = time.monotonic()
        if not self.config.jobs:
            self._discover_jobs()
        if not self.jobs:
            self._health(emit, False, "no node exporter found (no autoglm_node_info, "
                         "node_uname_info or DCGM_FI_DEV_GPU_UTIL series); name the job "
                         "with --job")
            return
        now = self.clock()
        sel = self.selector()
        results = q.Results()
        if self.config.defer_infos and self.stats.rounds == 0:
            # The cluster view's first round: everything in one parallel batch (every kind
            # asked, intervals measured alongside), no host facts and no details yet.
            infos_due, detail = False, set()
            plan = [*self._plan(("fleet", "static"), sel, infos=False), q.targets_query(sel)]
            probe = [] if self.config.scrape_interval_s else probes.interval_queries(sel)
            answers = list(self._pool.map(self.client.query, [*(x.expr for x in plan), *probe]))
            for query, result in zip(plan, answers, strict=False):
                query.parse(result, results, self.key)
            if probe:
                self.intervals.update(probes.intervals_from(*answers[len(plan):]))
            self.static_values = results.static_part(STATIC_KEYS)
        else:
            infos_due = time.monotonic() - self._info_at >= self.config.info_every_s
            unmeasured = any(i not in self.intervals for t in self._targets.values() for i in t)
            if infos_due or unmeasured:
                self._measure_intervals()
            if infos_due:
                self._find_kinds()
            plan = self._plan(("fleet", "static") if infos_due else "fleet", sel,
                              infos=infos_due)
            if self.nodes:
                plan.append(q.targets_query(sel))
            else:  # the first round: learn the nodes first, so that details can be chosen
                self._run_queries([q.targets_query(sel)], results)
                self._targets = results.targets
            detail = self._detail_nodes(set(results.targets) or set(self.nodes))
            if detail:
                plan += self._detail_plan(self.selector(detail))
            self._run_queries(plan, results)
            if infos_due:
                self._info_at = time.monotonic()
                self.static_values = results.static_part(STATIC_KEYS)
            else:
                results.add_static(self.static_values)
        with self._lock:
            self._plan_period(results.targets)
            self._targets = results.targets
            self._health(emit, True)
            self._apply(emit, results, detail, infos_due, now)
        self.stats.rounds += 1
        self.stats.last_s = time.monotonic() - started
        if self.stats.rounds == 1:
            self.stats.first_s = self.stats.last_s

    def _detail_nodes(self, known: set[str]) -> set[str]:
        if len(known) <= self.config.detail_all_max:
            return known
        return known & set(self.in_view)

    def _discover_jobs(self) -> None:
        self.jobs |= probes.node_jobs(self.client.query)

    def _measure_intervals(self) -> None:
        if not self.config.scrape_interval_s:
            self.intervals.update(probes.scrape_intervals(self.client.query, self._pool.map,
                                                          self.selector()))

    def _interval(self, targets: dict[str, q.Target]) -> float:
        if self.config.scrape_interval_s:
            return self.config.scrape_interval_s
        found = [self.intervals[i] for i in targets if i in self.intervals]
        if found:
            return max(1.0, round(min(found), 1))
        known = list(self.intervals.values())
        return max(1.0, round(statistics.median(known), 1)) if known else 15.0

    def _apply(self, emit: Emit, results: q.Results, detail: set[str], infos_due: bool,
               now: float) -> None:
        for node_id, targets in results.targets.items():
            node = self.nodes.get(node_id)
            labels = _labels(targets)
            if node is None:
                node = self.nodes[node_id] = _Node(node_id)
            node.absent = 0
            node.interval_s = self._interval(targets)
            down = all(t.up == 0 for t in targets.values())
            if not node.joined or node.labels != labels or (node.down and not down):
                node.joined, node.labels = True, labels  # (again after a failure: clears it)
                emit(NodeJoined(now, node_id, address=q.host_of(next(iter(targets))),
                                labels=dict(labels), source="prometheus"))
            if infos_due and node_id in results.infos:
                self.infos[node_id] = results.infos[node_id]
            elif node_id in results.infos:  # details bring process listings each round
                merged = dict(self.infos.get(node_id, {}))
                merged.update(results.infos[node_id])
                self.infos[node_id] = merged
            if down:
                if not node.down:
                    node.down = True
                    emit(HeartbeatLost(now, node_id, "scrape failed (up=0)"))
                    emit(NodeUnreachable(now, node_id, _down_targets(targets)))
                continue
            values = results.values.get(node_id, {})
            data_t = _data_time(values, targets)
            if data_t is None:
                continue  # nothing newer than what the state has
            newer = node.last_t is None or data_t > node.last_t
            infos = self.infos.get(node_id, {})
            interval = max(node.interval_s, self._period)
            gpus = sum(1 for (_k, scope, _s) in values if scope == "gpu")
            # Facts read this round reach the node even when its figures are not newer (a
            # refresh faster than the scrapes): its hello must not wait for the next facts.
            check = (infos_due or node.static is None or gpus != node.gpu_rows
                     or interval != node.static.interval_s)
            if check and (newer or (infos_due and node.static is not None)):
                node.gpu_rows = gpus  # facts are only looked at again when they may change
                hello = node_hello(node_id, values, infos, now, interval)
                if hello.static != node.static:
                    node.static = hello.static
                    emit(HelloReceived(now, node_id, hello))
            if not newer:
                continue  # nothing newer than what the state has
            node.down = False
            node.seq += 1
            details = node_id in detail
            sample, derived = node_sample(
                node_id, values, infos, data_t, node.seq, targets, details=details,
                services=results.services.get(node_id) if details else None)
            node.last_t = data_t
            emit(SampleReceived(now, node_id, sample, derived))
        for node_id in [n for n in self.nodes if n not in results.targets]:
            node = self.nodes[node_id]
            node.absent += 1
            if node.absent >= LEAVE_AFTER_ROUNDS:
                del self.nodes[node_id]
                self.infos.pop(node_id, None)
                emit(NodeLeft(now, node_id, "no longer a target of Prometheus"))

    # ------------------------------------------------------------------ history

    async def _serve_history(self, emit: Emit) -> None:
        assert self._history is not None
        while True:
            req = await self._history.get()
            try:
                event = await self.history(req)
            except PromError as exc:
                self._health(emit, False, f"history of {clean(req.node_id, 64)}: {exc}")
                continue
            if event is not None:
                emit(event)

    async def history(self, req: HistoryWanted) -> HistoryBackfill | None:
        """Range queries for one node: its fleet and detail figures over `seconds`."""
        return await asyncio.to_thread(self.history_blocking, req)

    def history_blocking(self, req: HistoryWanted) -> HistoryBackfill | None:
        with self._lock:
            node = self.nodes.get(req.node_id)
            if node is None or not self.jobs:
                return None
            step = max(node.interval_s, req.seconds / MAX_RANGE_POINTS, 1.0)
            sel = self.selector({req.node_id})
            plan = [*q.plan("fleet", sel, self.key.by, self.window(), infos=False,
                            service_sel=self.host_selector(req.node_id),
                            long_window=self.long_window()),
                    *self._plan("detail", sel, infos=False)]
            if "autoglm" in self.present:
                plan.append(services_query(sel))
            infos = dict(self.infos.get(req.node_id, {}))
        end = self.clock()
        start = end - req.seconds
        answers = list(self._pool.map(
            lambda x: self.client.query_range(x.expr, start, end, step), plan))
        steps: dict[float, q.Results] = {}
        for query, result in zip(plan, answers, strict=True):
            by_time: dict[float, list[dict]] = {}
            for series in result:
                for t, v in series.get("values") or ():
                    by_time.setdefault(float(t), []).append(
                        {"metric": series.get("metric") or {}, "value": [t, v]})
            for t, items in by_time.items():
                query.parse(items, steps.setdefault(t, q.Results()), self.key)
        points = []
        for seq, t in enumerate(sorted(steps), start=1):
            values = steps[t].values.get(req.node_id)
            if not values:
                continue
            sample, derived = node_sample(req.node_id, values, infos, t, seq, details=True,
                                          services=steps[t].services.get(req.node_id))
            points.append((t, sample, derived))
        return HistoryBackfill(self.clock(), req.node_id, tuple(points)) if points else None


def _labels(targets: dict[str, q.Target]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for t in targets.values():
        labels.update(t.labels)
    jobs = sorted({t.job for t in targets.values() if t.job})
    if jobs:
        labels["job"] = ",".join(jobs)
    return labels


def _down_targets(targets: dict[str, q.Target]) -> str:
    names = ", ".join(f"{t.job} {t.instance}" for t in targets.values())
    return clean(f"targets {names}", 300)


def _data_time(values: Any, targets: dict[str, q.Target]) -> float | None:
    """Our exporter's own sample time when it is there, else the newest successful scrape."""
    ours = values.get(("autoglm", "node", None), {}).get("sample.time")
    if ours is not None:
        return ours
    scraped = [t.scrape_t for t in targets.values() if t.up == 1 and t.scrape_t is not None]
    return max(scraped) if scraped else None
