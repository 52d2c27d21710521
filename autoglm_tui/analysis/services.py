"""Inference services of one node: rates, error rate and latency quantiles over windows (pure).

A node's samples carry its services' raw scrapes (model.ServiceSample: gauges, cumulative
counters, cumulative histogram buckets), repeated until the next scrape. ``ServiceTracker``
turns them into figures when a service's scrape time moves, and serves the same figures for
every sample in between, so the cost is one derivation per scrape, not per sample.

Between two scrapes of a service each counter and each histogram bucket gives a step (the
increase). A counter that went backwards, or a histogram whose count did, is a restart: the
step is the new value itself (it counted from 0 since), as Prometheus' ``increase`` takes it;
never a negative step. Histograms whose bounds changed start their window afresh.

- Rates (tokens/s, prompt tokens/s, requests/s) cover the steps of the last ``rate_window_s``.
- Error rate (errors over finished requests, in percent) and the latency quantiles (P50, P95,
  P99 by ``histogram_quantile`` over the summed bucket steps) cover the last ``window_s``. Each
  quantile carries the number of observations behind it; under ``min_requests`` it is marked
  ``few``. A quantile in the +Inf bucket is "above the largest bound". Averages-only servers
  (llama.cpp, Triton) give means and no quantiles.

Every figure is keyed ``(metric, service_id)`` for the node's metrics and history, and the
node-level value over its services is keyed ``(metric, None)``: rates and counts summed;
latencies, error rate and KV cache the worst; ``svc.up`` the lowest. A service that is down
gives ``svc.up`` 0 and no other figure.
"""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat

from autoglm_tui.analysis.quantiles import Quantile, quantiles
from autoglm_tui.model import Histogram, ProcSample, Sample, ServiceSample

Key = tuple[str, "int | str | None"]
DEFAULT_WINDOW_S = 60.0
DEFAULT_RATE_WINDOW_S = 15.0
MIN_REQUESTS = 20
_COUNTERS = ("generation_tokens", "prompt_tokens", "requests_finished", "requests_error",
             "requests_aborted")
_HISTS = ("e2e", "ttft", "itl", "queue")
_QS = (0.5, 0.95, 0.99)  # the quantiles of each latency
# Node-level value of each per-service metric over the node's services.
_SUM = ("svc.tokens_per_s", "svc.prompt_tokens_per_s", "svc.requests_per_s",
        "svc.requests_running", "svc.queue_len")
_MAX = ("svc.latency_p50_s", "svc.latency_p95_s", "svc.latency_p99_s", "svc.latency_avg_s",
        "svc.ttft_p95_s", "svc.ttft_avg_s", "svc.itl_p95_s", "svc.itl_avg_s",
        "svc.queue_time_p95_s", "svc.queue_time_avg_s", "svc.error_rate", "svc.kv_cache_pct")
SERVICE_METRICS = ("svc.up", *_SUM, *_MAX)
# How the node-level value (subject None) of each per-service metric is made from the
# services' values (what an alert rule with scope = "node" and no `agg` aggregates with).
NODE_AGG: dict[str, str] = {"svc.up": "min", **dict.fromkeys(_SUM, "sum"),
                            **dict.fromkeys(_MAX, "max")}
# What each figure rests on, for rules that ask for a minimum of requests: the ServiceView
# attribute holding its Latency (whose `count` and `few` say), or "finished" (the requests
# finished in the window, behind the error rate).
COUNT_OF: dict[str, str] = {
    "svc.latency_p50_s": "e2e", "svc.latency_p95_s": "e2e", "svc.latency_p99_s": "e2e",
    "svc.latency_avg_s": "e2e", "svc.ttft_p95_s": "ttft", "svc.ttft_avg_s": "ttft",
    "svc.itl_p95_s": "itl", "svc.itl_avg_s": "itl", "svc.queue_time_p95_s": "queue",
    "svc.queue_time_avg_s": "queue", "svc.error_rate": "finished",
}


@dataclass(frozen=True, slots=True)
class Latency:
    """One latency figure over the window: quantiles (histogram servers) and the mean."""

    p50: Quantile | None
    p95: Quantile | None
    p99: Quantile | None
    avg: float | None  # seconds
    count: float  # observations in the window (requests; tokens for inter-token latency)
    few: bool  # fewer than the minimum: shown as resting on few requests


@dataclass(frozen=True, slots=True)
class ServiceView:
    """What a screen shows about one service: identity, state and derived figures."""

    service_id: str
    kind: str
    url: str
    up: bool
    error: str | None  # why it is down
    name: str | None = None
    model: str | None = None
    source: str = "discovered"
    pid: int | None = None
    port: int | None = None
    gpus: tuple[int, ...] = ()  # GPUs used by its process and that process's descendants
    scraped_at: float | None = None  # sampler time of the newest scrape
    seen_at: float | None = None  # monitor time of the sample that brought it
    running: float | None = None
    waiting: float | None = None
    kv_cache_pct: float | None = None
    tokens_per_s: float | None = None
    prompt_tokens_per_s: float | None = None
    requests_per_s: float | None = None
    error_rate_pct: float | None = None
    aborts_per_s: float | None = None
    finished: float | None = None  # requests finished in the window (behind the error rate)
    e2e: Latency | None = None
    ttft: Latency | None = None
    itl: Latency | None = None
    queue: Latency | None = None
    window_s: float = 0.0  # how much of the quantile window the scrapes so far cover


@dataclass(frozen=True, slots=True)
class _Step:
    """The increase of every counter and bucket between two scrapes of one service."""

    t: float  # sampler time of the later scrape
    dt: float
    counters: tuple[float | None, ...]
    hists: tuple[Histogram | None, ...]  # bucket increases (same bounds as the later scrape)


def _counter_step(prev: float | None, cur: float | None) -> float | None:
    """The increase between two good scrapes. A counter absent from the earlier page was
    created since (servers such as TGI create one at its first increment): all of it is new."""
    if cur is None:
        return None
    if prev is None:
        return cur
    d = cur - prev
    return cur if d < 0 else d  # went backwards: restarted, counted `cur` since


def _hist_step(prev: Histogram | None, cur: Histogram | None) -> Histogram | None:
    if cur is None or not cur.valid:
        return None
    if prev is None or not prev.valid or prev.bounds != cur.bounds or cur.count < prev.count:
        return cur  # new, restarted or re-bucketed: everything it holds is new
    counts = tuple(map(operator.sub, cur.counts, prev.counts))  # (valid: as long, in C)
    if any(map(operator.lt, counts, repeat(0.0))):
        return cur
    total = None if cur.sum is None or prev.sum is None else cur.sum - prev.sum
    if total is not None and total < 0:
        total = None
    return Histogram(cur.bounds, counts, total)


class _Track:
    """One service's scrapes and steps, and its newest figures."""

    __slots__ = ("last_ok", "last_t", "steps", "values", "view")

    def __init__(self) -> None:
        self.last_ok: ServiceSample | None = None
        self.last_t: float | None = None
        self.steps: deque[_Step] = deque()
        self.values: dict[Key, float | None] = {}
        self.view: ServiceView | None = None


class ServiceTracker:
    """The services of one node: feed it every sample, read ``values`` and ``views``."""

    def __init__(
        self,
        window_s: float = DEFAULT_WINDOW_S,
        rate_window_s: float = DEFAULT_RATE_WINDOW_S,
        min_requests: int = MIN_REQUESTS,
    ) -> None:
        self.window_s = window_s
        self.rate_window_s = rate_window_s
        self.min_requests = min_requests
        self.views: dict[str, ServiceView] = {}  # service id -> newest view, in sample order
        self._tracks: dict[str, _Track] = {}
        self._values: dict[Key, float | None] = {}
        self.version = 0  # bumped whenever a figure may have changed
        # (service id, scrape time) of the last sample's services, while every figure is
        # the one those scrapes give (None: look at the next sample's services one by one)
        self._scrapes: tuple[tuple[str, float | None], ...] | None = None

    def clone(self) -> ServiceTracker:
        """An independent copy (a replay checkpoint keeps one): scrapes and steps are immutable
        and shared; each service's list of steps is copied."""
        new = ServiceTracker(self.window_s, self.rate_window_s, self.min_requests)
        new.views, new._values, new.version = self.views, self._values, self.version
        new._scrapes = self._scrapes
        for sid, track in self._tracks.items():
            copy = new._tracks[sid] = _Track()
            copy.last_ok, copy.last_t, copy.view = track.last_ok, track.last_t, track.view
            copy.steps, copy.values = deque(track.steps), track.values
        return new

    def update(self, sample: Sample, at: float) -> tuple[dict[Key, float | None], set[str]]:
        """Fold one sample in (monitor receive time `at`): (every svc.* value to record for
        this sample, the ids of services that are no longer listed)."""
        services = sample.services
        if not services and not self._tracks:
            return self._values, set()
        scrapes = tuple(map(_ID_AND_TIME, services))
        if scrapes == self._scrapes:
            return self._values, set()  # the same scrapes again, of the same services
        ids = _ids(services)
        changed = False
        for sid, svc in zip(ids, services, strict=True):
            track = self._tracks.get(sid)
            if track is None:
                track = self._tracks[sid] = _Track()
            if track.last_t == svc.t and track.view is not None and svc.t is not None:
                continue  # the same scrape again: figures unchanged
            self._fold(track, sid, svc, sample.procs, at)
            changed = True
        gone = set(self._tracks) - set(ids)
        for sid in gone:
            del self._tracks[sid]
        if changed or gone or list(self.views) != ids:
            self.views = {sid: self._tracks[sid].view for sid in ids}  # type: ignore[misc]
            self._values = self._node_values(ids)
            self.version += 1
        # A scrape with no time is folded again each sample (as one whose service is new)
        known = all(svc.t is not None for svc in services)
        self._scrapes = scrapes if known else None
        return self._values, gone

    # ------------------------------------------------------------------ one scrape

    def _fold(self, track: _Track, sid: str, svc: ServiceSample,
              procs: tuple[ProcSample, ...], at: float) -> None:
        track.last_t = svc.t
        prev = track.last_ok
        if svc.ok and svc.t is not None:
            if prev is not None and prev.t is not None and svc.t > prev.t:
                track.steps.append(_Step(
                    svc.t, svc.t - prev.t,
                    tuple(_counter_step(getattr(prev, c), getattr(svc, c)) for c in _COUNTERS),
                    tuple(_hist_step(getattr(prev, h), getattr(svc, h)) for h in _HISTS),
                ))
            elif prev is not None and prev.t is not None and svc.t < prev.t:
                track.steps.clear()  # the sampler's clock went back: start again
            track.last_ok = svc
            horizon = svc.t - max(self.window_s, self.rate_window_s)
            while track.steps and track.steps[0].t <= horizon:
                track.steps.popleft()
        track.view = self._view(sid, svc, track, procs, at)
        track.values = _values_of(sid, track.view)

    def _view(self, sid: str, svc: ServiceSample, track: _Track,
              procs: tuple[ProcSample, ...], at: float) -> ServiceView:
        ok = svc.ok
        last = track.last_ok if track.last_ok is not None else svc
        base = dict(
            service_id=sid, kind=svc.kind, url=svc.url, up=ok, error=svc.error,
            name=svc.name, model=svc.model or last.model, source=svc.source,
            pid=svc.pid, port=svc.port, gpus=gpus_of(svc.pid, procs),
            scraped_at=svc.t, seen_at=at,
        )
        if not ok or svc.t is None:
            return ServiceView(**base)  # type: ignore[arg-type]
        now = svc.t
        recent = [s for s in track.steps if s.t > now - self.rate_window_s]
        window = [s for s in track.steps if s.t > now - self.window_s]
        gen, prompt, fin, _err, abort = (_rate(recent, i) for i in range(len(_COUNTERS)))
        d_fin = _total(window, 2)
        d_err = _total(window, 3)
        error_pct = None
        if d_fin is not None and d_err is not None and d_fin > 0:
            error_pct = 100.0 * d_err / d_fin
        kv = svc.kv_cache_usage
        return ServiceView(
            **base,  # type: ignore[arg-type]
            running=svc.running,
            waiting=svc.waiting,
            kv_cache_pct=None if kv is None else 100.0 * kv,
            tokens_per_s=gen,
            prompt_tokens_per_s=prompt,
            requests_per_s=fin,
            error_rate_pct=error_pct,
            aborts_per_s=abort,
            finished=d_fin,
            e2e=self._latency(window, 0, svc.e2e),
            ttft=self._latency(window, 1, svc.ttft),
            itl=self._latency(window, 2, svc.itl),
            queue=self._latency(window, 3, svc.queue),
            window_s=sum(s.dt for s in window),
        )

    def _latency(self, window: list[_Step], i: int, cur: Histogram | None) -> Latency | None:
        """Quantiles and mean of histogram `i` over the window's bucket steps."""
        if cur is None:
            return None
        bounds = cur.bounds
        steps = [h for s in window if (h := s.hists[i]) is not None and h.bounds == bounds]
        if not steps:
            return Latency(None, None, None, None, 0.0, True)
        counts = list(map(math.fsum, zip(*[h.counts for h in steps], strict=True)))
        n = counts[-1]
        avg = None
        if n > 0:
            sums = [h.sum for h in steps]
            if None not in sums:
                avg = math.fsum(sums) / n  # type: ignore[arg-type]
        p50, p95, p99 = quantiles(_QS, bounds, counts)
        return Latency(p50, p95, p99, avg, n, n < self.min_requests)

    # ------------------------------------------------------------------ node level

    def _node_values(self, ids: list[str]) -> dict[Key, float | None]:
        per = [self._tracks[sid].values for sid in ids]
        if len(per) == 1:  # (most nodes): the node's value is the service's own
            (values,), sid = per, ids[0]
            out = dict(values)
            for name in SERVICE_METRICS:
                v = values.get((name, sid))
                out[(name, None)] = None if v is None else float(v) if name in _SUM else v
            return out
        out = {}
        for v in per:
            out.update(v)
        for name in SERVICE_METRICS:
            vals = [v[(name, sid)] for v, sid in zip(per, ids, strict=True)
                    if v.get((name, sid)) is not None]
            if not vals:
                out[(name, None)] = None
            elif name in _SUM:
                out[(name, None)] = math.fsum(vals)  # type: ignore[arg-type]
            elif name == "svc.up":
                out[(name, None)] = min(vals)  # type: ignore[type-var]
            else:
                out[(name, None)] = max(vals)  # type: ignore[type-var]
        return out


_ID_AND_TIME = operator.attrgetter("service_id", "t")


def _ids(services: tuple[ServiceSample, ...]) -> list[str]:
    """The service ids of one sample, made unique (a repeated id gets #2, #3, ...)."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for svc in services:
        sid = svc.service_id
        n = seen.get(sid, 0) + 1
        seen[sid] = n
        out.append(sid if n == 1 else f"{sid}#{n}")
    return out


service_ids = _ids  # the exporter and the InfluxDB writer label services the same way


def _total(steps: Iterable[_Step], i: int) -> float | None:
    vals = [s.counters[i] for s in steps]
    if not vals or any(v is None for v in vals):
        return None
    return math.fsum(vals)  # type: ignore[arg-type]


def _rate(steps: list[_Step], i: int) -> float | None:
    total = _total(steps, i)
    span = sum(s.dt for s in steps)
    return None if total is None or span <= 0 else total / span


def _q(lat: Latency | None, which: str) -> float | None:
    if lat is None:
        return None
    q = getattr(lat, which)
    return None if q is None else q.value


def _values_of(sid: str, v: ServiceView) -> dict[Key, float | None]:
    """The per-service metric values of one view."""
    out: dict[Key, float | None] = {("svc.up", sid): 1.0 if v.up else 0.0}
    figures = {
        "svc.latency_p50_s": _q(v.e2e, "p50"),
        "svc.latency_p95_s": _q(v.e2e, "p95"),
        "svc.latency_p99_s": _q(v.e2e, "p99"),
        "svc.latency_avg_s": v.e2e.avg if v.e2e else None,
        "svc.ttft_p95_s": _q(v.ttft, "p95"),
        "svc.ttft_avg_s": v.ttft.avg if v.ttft else None,
        "svc.itl_p95_s": _q(v.itl, "p95"),
        "svc.itl_avg_s": v.itl.avg if v.itl else None,
        "svc.queue_time_p95_s": _q(v.queue, "p95"),
        "svc.queue_time_avg_s": v.queue.avg if v.queue else None,
        "svc.tokens_per_s": v.tokens_per_s,
        "svc.prompt_tokens_per_s": v.prompt_tokens_per_s,
        "svc.requests_per_s": v.requests_per_s,
        "svc.error_rate": v.error_rate_pct,
        "svc.requests_running": v.running,
        "svc.queue_len": v.waiting,
        "svc.kv_cache_pct": v.kv_cache_pct,
    }
    for name, value in figures.items():
        out[(name, sid)] = value
    return out


def family_of(pid: int | None, procs: tuple[ProcSample, ...]) -> list[ProcSample]:
    """The listed process `pid` and its listed descendants, the process first (a server's
    engine processes are often its children)."""
    if pid is None:
        return []
    children: dict[int, list[ProcSample]] = {}
    by_pid: dict[int, ProcSample] = {}
    for p in procs:
        by_pid[p.pid] = p
        if p.ppid is not None:
            children.setdefault(p.ppid, []).append(p)
    out: list[ProcSample] = []
    todo = [pid]
    seen = {pid}
    while todo:
        cur = todo.pop(0)
        proc = by_pid.get(cur)
        if proc is not None:
            out.append(proc)
        for child in children.get(cur, ()):
            if child.pid not in seen:
                seen.add(child.pid)
                todo.append(child.pid)
    return out


def gpus_of(pid: int | None, procs: tuple[ProcSample, ...]) -> tuple[int, ...]:
    """GPU indices used by `pid` and its descendants among `procs`."""
    return tuple(sorted({u.index for p in family_of(pid, procs) for u in p.gpus}))


__all__ = ["COUNT_OF", "DEFAULT_RATE_WINDOW_S", "DEFAULT_WINDOW_S", "NODE_AGG", "SERVICE_METRICS",
           "Latency", "ServiceTracker", "ServiceView", "family_of", "gpus_of", "service_ids"]
