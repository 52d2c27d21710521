"""What the Prometheus source asks before the figures (blocking calls, run in worker threads):
which jobs hold node exporters, which exporter kinds and inference servers exist at all, and
each target's scrape interval. `query` is the client's instant-query call."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Iterable
from typing import Any

from autoglm_tui.cluster.prometheus.mapping import KINDS, NODE_KINDS, PROBES, SERVICE_KINDS
from autoglm_tui.cluster.prometheus.queries import number

Query = Callable[[str], list[dict[str, Any]]]
Runner = Callable[[Callable[[str], Any], Iterable[str]], Iterable[Any]]  # a pool's map


def node_jobs(query: Query) -> set[str]:
    """Jobs with a target exporting a known node exporter's probe metric."""
    result = query(f'group by (job) ({{__name__=~"{PROBES}",job!=""}})')
    return {job for s in result if (job := (s.get("metric") or {}).get("job"))}


def _names(probes: Iterable[str]) -> str:
    # prometheus_client 0.26 answers an OpenMetrics scrape with `vllm_x` for `vllm:x`
    return "|".join(p.replace(":", "[:_]") for p in probes)


def kinds_present(query: Query, run: Runner, sel: str) -> set[str]:
    """The kinds whose probe metric Prometheus holds: only those are asked each refresh."""
    node_q = f'group by (__name__) ({{__name__=~"{_names(k.probe for k in NODE_KINDS)}",{sel}}})'
    svc_q = (f'group by (__name__) ({{__name__=~"{_names(k.probe for k in SERVICE_KINDS)}",'
             'job!=""})')
    found: set[str] = set()
    for result in run(query, [node_q, svc_q]):
        for series in result:
            name = (series.get("metric") or {}).get("__name__", "")
            found |= {name, name.replace("_", ":", 1)}
    return {k.name for k in KINDS if k.probe in found}


def interval_queries(sel: str) -> list[str]:
    """The two queries `intervals_from` reads."""
    return [f"up{{{sel}}}[30s]", f"count_over_time(up{{{sel}}}[5m])"]


def intervals_from(raw: list[dict[str, Any]], five: list[dict[str, Any]]) -> dict[str, float]:
    """instance -> scrape interval: the median gap between its `up` samples of the last 30 s,
    or, for slow scrapes, 5 minutes divided by how many samples they hold."""
    out: dict[str, float] = {}
    for series in five:
        instance = (series.get("metric") or {}).get("instance")
        count = number((series.get("value") or [None, None])[1]) or 0
        if instance and count >= 2:
            out[instance] = 300.0 / count
    for series in raw:
        instance = (series.get("metric") or {}).get("instance")
        times = sorted(number(t) or 0.0 for t, _v in series.get("values") or ())
        gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
        if instance and gaps:
            out[instance] = statistics.median(gaps)
    return out


def scrape_intervals(query: Query, run: Runner, sel: str) -> dict[str, float]:
    raw, five = run(query, interval_queries(sel))
    return intervals_from(raw, five)
