"""Synthetic series for rule tests, in the spirit of `promtool test rules`.

A series is written as space-separated tokens, one per sample interval:
``90`` a value, ``90x5`` the value five times, ``_`` a gap (the sample arrives but this value is
unknown), ``stale`` no sample at all from the node at that step (the node goes STALE after three
intervals), and for processes ``-`` the process is not listed (it has exited).

Inference services: ``svc.*`` series keyed by subject None are the node's one default service
("vllm:8000"); keyed by a string, a service of that name (``-`` at a step: not listed then;
``models`` gives each its model). Per service: ``svc.latency_p95_s``, ``svc.error_rate``,
``svc.queue_len``, ``svc.kv_cache_pct`` and ``svc.requests`` (requests in the latency
histogram per step, default 100: under 20 the quantile rests on few requests).
The samples go through the real FleetState (counters for rates included) and the engine is
evaluated once per step, right after the step's samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from autoglm_tui.analysis.alerts import AlertEngine, AlertEvent, parse_rules
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived
from autoglm_tui.model import (
    CpuSample,
    DiskCounters,
    GpuSample,
    Histogram,
    MemSample,
    NetCounters,
    ProcSample,
    Sample,
    ServiceSample,
)

from .samples import hello

SeriesKey = tuple[str, str, "int | str | None"]  # (node, metric, gpu index, pid or service)
GB = 1 << 30
LINK_MBPS = 1000


def expand(text: str) -> list[str]:
    """'90x3 _ stale' -> ['90', '90', '90', '_', 'stale']."""
    out: list[str] = []
    for tok in text.split():
        if "x" in tok and tok not in ("stale",):
            value, _, count = tok.partition("x")
            out.extend([value] * int(count))
        else:
            out.append(tok)
    return out


@dataclass
class _Service:
    requests: float = 0.0
    errors: float = 0.0
    lat: float | None = None  # the latency bucket bound in use
    below: float = 0.0  # requests observed under it
    total: float = 0.0


@dataclass
class _Counters:
    rx: float = 0.0
    disk_ops: int = 0
    disk_ms: int = 0
    seq: int = 0
    services: dict[str | None, _Service] = field(default_factory=dict)


@dataclass
class Play:
    """What happened: the engine, and per step the events and the alerts in force."""

    engine: AlertEngine
    state: FleetState
    events: dict[float, list[AlertEvent]] = field(default_factory=dict)
    active: dict[float, set[tuple[str, str, str]]] = field(default_factory=dict)

    def all_events(self) -> list[AlertEvent]:
        return [e for t in sorted(self.events) for e in self.events[t]]


def _value(tok: str) -> float | None:
    return None if tok in ("_", "-") else float(tok)


def build_sample(
    t: float, c: _Counters, values: Mapping[tuple[str, int | str | None], str], interval: float,
    models: Mapping[str, str] | None = None,
) -> Sample:
    """A Sample whose derived metrics are `values` (tokens), integrating counters for rates."""
    c.seq += 1
    get = values.get
    cpu = _value(get(("cpu.util_pct", None), "10") or "10")
    gpu_ids = sorted({s for (m, s) in values if m.startswith("gpu.") and s is not None}) or [0]
    gpus = []
    for i in gpu_ids:
        util = _value(get(("gpu.util_pct", i), "20"))
        mem = _value(get(("gpu.mem_used_pct", i), "50"))
        gpus.append(GpuSample(
            index=i, uuid=f"GPU-{i}", state="ok", util_pct=util,
            mem_used_bytes=None if mem is None else round(mem * GB), mem_total_bytes=100 * GB,
            temp_c=_value(get(("gpu.temp_c", i), "50")),
        ))
    procs = []
    for (m, pid), tok in sorted(values.items(), key=lambda kv: str(kv[0])):
        if m == "proc.cpu_pct" and tok != "-":
            procs.append(ProcSample(pid, 1, "alice", "python", f"python job{pid}.py",
                                    _value(tok), 100 << 20, 1000.0))
    net = _value(get(("net.util_pct", None), "10"))
    if net is not None:
        c.rx += net / 100 * LINK_MBPS * 1e6 / 8 * interval
    wait = _value(get(("disk.await_ms", None), "5"))
    c.disk_ops += 100
    if wait is not None:
        c.disk_ms += int(wait * 100)
    named = sorted({s for (m, s) in values if m.startswith("svc.") and isinstance(s, str)})
    has_default = not named or any(m.startswith("svc.") and s is None for (m, s) in values)
    services = []
    for k, sid in enumerate(([None] if has_default else []) + named):
        toks = {m: v for (m, s), v in values.items() if m.startswith("svc.") and s == sid}
        if "-" in toks.values():
            continue  # not listed at this step
        sc = c.services.setdefault(sid, _Service())
        services.append(_service(t, sc, sid, k, toks, (models or {}).get(sid or "")))
    return Sample(
        t=t,
        seq=c.seq,
        cpu=CpuSample(cpu if cpu is not None else 0.0, (), None, None),
        mem=MemSample(16 * GB, 4 * GB, 12 * GB, 25.0, 0, 0, None),
        disk=DiskCounters(0, 0, c.disk_ops, 0, c.disk_ms if wait is not None else None, 0, 0),
        net=NetCounters(int(c.rx), 0, 0, 0, 0, 0, LINK_MBPS),
        gpus=tuple(gpus),
        procs=tuple(procs),
        services=tuple(services),
    )


def _service(t: float, sc: _Service, sid: str | None, k: int, toks: Mapping[str, str],
             model: str | None) -> ServiceSample:
    if toks.get("svc.up") == "0":  # its scrape failed: down, with the reason, no figures
        return ServiceSample(f"http://svc{k}/metrics", "vllm", False,
                             error="connection refused (nothing listening)", name=sid,
                             model=model, port=8000 + k, t=t)
    lat = _value(toks.get("svc.latency_p95_s", "0.1"))
    err = _value(toks.get("svc.error_rate", "0"))
    n = _value(toks.get("svc.requests", "100")) or 0.0
    sc.requests += 10 * n
    if err is not None:
        sc.errors += err * n / 10
    # One bucket bounded at the wanted P95 holding 95 of every 100 requests of the step: over
    # a window of one interval (play's FleetState), histogram_quantile gives exactly `lat`.
    e2e = None
    if lat is not None:
        if lat != sc.lat:
            sc.lat, sc.below, sc.total = lat, 0.0, 0.0  # new bounds: the histogram restarts
        sc.below += 0.95 * n
        sc.total += n
        e2e = Histogram((lat,), (sc.below, sc.total), lat * sc.below)
    kv = _value(toks.get("svc.kv_cache_pct", "_"))
    return ServiceSample(
        f"http://svc{k}/metrics", "vllm", True, name=sid, model=model, port=8000 + k, t=t,
        requests_finished=sc.requests, requests_error=sc.errors, e2e=e2e,
        waiting=_value(toks.get("svc.queue_len", "_")),
        kv_cache_usage=None if kv is None else kv / 100.0,
    )


def play(
    rules_toml: str,
    series: Mapping[SeriesKey, str],
    steps: int | None = None,
    interval: float = 1.0,
    start: float = 1000.0,
    labels: Mapping[str, Mapping[str, str]] | None = None,
    engine: AlertEngine | None = None,
    extra_evals: Iterable[float] = (),
    models: Mapping[str, str] | None = None,
) -> Play:
    """Feed the series through FleetState and the engine; step i is at time start + i*interval."""
    rules, errors, _ = parse_rules(rules_toml, "<test>")
    assert not errors, [str(e) for e in errors]
    engine = engine or AlertEngine(rules)
    # Service windows of one interval, so each step's svc.* values are that step's own.
    state = FleetState(service_window_s=interval, service_rate_window_s=interval)
    expanded = {k: expand(v) for k, v in series.items()}
    n = steps if steps is not None else max(len(v) for v in expanded.values())
    nodes = sorted({k[0] for k in series})
    counters = {node: _Counters() for node in nodes}
    out = Play(engine, state)
    for node in nodes:
        state.apply(NodeJoined(start - 1, node, labels=dict((labels or {}).get(node, {}))))
        state.apply(HelloReceived(start - 1, node, hello(node, gpus=0, interval=interval)))
    evals = sorted({start + i * interval for i in range(n)} | set(extra_evals))
    for t in evals:
        changes = []
        i = round((t - start) / interval)
        if abs(start + i * interval - t) < 1e-9 and 0 <= i < n:
            for node in nodes:
                toks = {(m, s): v[i] if i < len(v) else v[-1]
                        for (nd, m, s), v in expanded.items() if nd == node}
                if "stale" in toks.values():
                    continue
                sample = build_sample(t, counters[node], toks, interval, models)
                changes += state.apply(SampleReceived(t, node, sample))
        changes += state.tick(t)
        events = engine.evaluate(state, t, changes)
        out.events[t] = list(events)
        out.active[t] = {(a.rule.name, str(a.target), a.state.value) for a in engine.active()}
    return out
