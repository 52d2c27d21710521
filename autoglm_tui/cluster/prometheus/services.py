"""Our exporter's inference services read back from Prometheus, as the sampler's raw scrapes.

The exporter passes each service through raw (exporter/service_families.py): gauges, counters
and histogram buckets as the server reported them, with the scrape's own time. One query
(`services_query`) asks for every such series of the nodes whose details are read; its result
is filed per node and service id (``Results.services``), and `node_services` turns one node's
series back into ``model.ServiceSample`` objects, so the state derives tokens/s, error rate and
quantiles with the same code (analysis/services.py) as for a sampler over SSH: the views in
``node.services`` and the per-service ``svc.*`` values and history. Label values are
untrusted: cleaned, and a pid or port that is not a number is left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from autoglm_tui.cluster.prometheus.mapping import SERVICE_SELECTOR
from autoglm_tui.cluster.prometheus.queries import NodeKey, Query, Results
from autoglm_tui.exporter import names as n
from autoglm_tui.model import SERVICE_KINDS, Histogram, ServiceSample
from autoglm_tui.text import clean

SERVICE_ID_MAX = 128
SOURCES = ("discovered", "option", "registration")

# sample name -> (role, attribute of ServiceSample)
NAMES: dict[str, tuple[str, str]] = {
    n.SERVICE_INFO: ("info", ""),
    n.SERVICE_UP: ("up", ""),
    n.SERVICE_SCRAPE_TIME: ("t", ""),
    **{f.name: ("figure", f.attr) for f in n.SERVICE},
    **{f.name + "_bucket": ("bucket", f.attr) for f in n.SERVICE_HISTOGRAMS},
    **{f.name + "_sum": ("sum", f.attr) for f in n.SERVICE_HISTOGRAMS},
}


@dataclass
class RawService:
    """One service's series from one answer (one refresh, or one step of a range query)."""

    kind: str = ""
    model: str = ""
    info: dict[str, str] = field(default_factory=dict)
    up: float | None = None
    t: float | None = None
    figures: dict[str, float] = field(default_factory=dict)
    buckets: dict[str, dict[float, float]] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)


def services_query(sel: str) -> Query:
    """Every raw service series of the targets `sel` picks, with their labels."""
    expr = SERVICE_SELECTOR.format(S=sel)

    def parse(result: list[dict], into: Results, key: NodeKey) -> None:
        for series in result:
            labels = series.get("metric") or {}
            role = NAMES.get(labels.get("__name__", ""))
            node = key(labels)
            sid = clean(labels.get("service") or "", SERVICE_ID_MAX).strip()
            value = _float((series.get("value") or (None, None))[1])
            if role is None or node is None or not sid or value is None:
                continue
            raw = into.services.setdefault(node, {}).get(sid)
            if raw is None:
                raw = into.services[node][sid] = RawService()
            if labels.get("kind"):
                raw.kind = clean(labels["kind"], 32)
            if labels.get("model"):
                raw.model = clean(labels["model"], 256)
            _file(raw, role, labels, value)

    return Query(expr, parse, "autoglm services")


def _float(text: object) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _file(raw: RawService, role: tuple[str, str], labels: dict[str, str], value: float) -> None:
    what, attr = role
    if what == "info":
        raw.info = {k: clean(labels.get(k) or "", 256) for k in
                    ("url", "pid", "port", "source", "error")}
    elif not math.isfinite(value):
        return
    elif what == "up":
        raw.up = value
    elif what == "t":
        raw.t = value
    elif what == "figure":
        raw.figures[attr] = value
    elif what == "sum":
        raw.sums[attr] = value
    elif what == "bucket":
        le = _float(labels.get("le"))
        if le is not None:
            raw.buckets.setdefault(attr, {})[le] = value


def _histogram(buckets: dict[float, float] | None, total: float | None) -> Histogram | None:
    if not buckets or math.inf not in buckets:
        return None
    bounds = sorted(b for b in buckets if b != math.inf)
    h = Histogram(tuple(bounds), (*(buckets[b] for b in bounds), buckets[math.inf]), total)
    return h if h.valid else None


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) <= 9 else None


def node_services(raw: Mapping[str, RawService] | None) -> tuple[ServiceSample, ...]:
    """One node's services, in service id order."""
    if not raw:
        return ()
    out = []
    for sid in sorted(raw):
        r = raw[sid]
        if r.up is None:
            continue  # a figure without its service's up series: a scrape half seen
        info = r.info
        kind = r.kind if r.kind in SERVICE_KINDS else "unknown"
        port = _int(info.get("port"))
        url = info.get("url") or ""
        ok = r.up == 1
        own = f"{kind}:{port}" if port is not None else f"{kind}:{url}"
        source = info.get("source")
        out.append(ServiceSample(
            url=url, kind=kind, ok=ok,
            error=None if ok else (info.get("error") or "down (autoglm_service_up 0)"),
            name=None if sid == own else sid,
            model=r.model or None, pid=_int(info.get("pid")), port=port,
            t=r.t if ok else None,
            source=source if source in SOURCES else "discovered",
            **({a: r.figures.get(a) for a in _FIGURES} if ok else {}),
            **({a: _histogram(r.buckets.get(a), r.sums.get(a)) for a in _HISTOGRAMS}
               if ok else {}),
        ))
    return tuple(out)


_FIGURES = tuple(f.attr for f in n.SERVICE)
_HISTOGRAMS = tuple(f.attr for f in n.SERVICE_HISTOGRAMS)
