"""The node's inference services as Prometheus metric families, passed through raw.

Gauges as the server reported them, counters and histogram buckets cumulative (summed over the
server's own label sets, such as vLLM's ``engine``), so ``rate()`` and ``histogram_quantile()``
in Prometheus work on them as on the server's own page, with one label set for every kind of
server: ``node``, ``service`` (the service id the monitor uses: its name, else KIND:PORT),
``kind`` and ``model``. Each histogram keeps the server's own bucket bounds. A service that is
down has only its info and ``autoglm_service_up 0``; a figure the server does not export has no
series.

``ServiceLabels`` remembers each service's last known model, so a service keeps one label set
(and one ``up`` series) while it is down and its page names no model.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from autoglm_tui.analysis.services import service_ids
from autoglm_tui.exporter import names as n
from autoglm_tui.exporter.families import _add, _family, _gauge, label
from autoglm_tui.model import Histogram, Sample

MODELS_MAX = 256  # services remembered (a node has a handful)


class ServiceLabels:
    """Last known model per service id (the labels of a down service stay the same)."""

    def __init__(self) -> None:
        self.models: dict[str, str] = {}

    def model(self, sid: str, model: str | None) -> str:
        if model:
            if len(self.models) >= MODELS_MAX and sid not in self.models:
                self.models.clear()
            self.models[sid] = model
            return model
        return self.models.get(sid, "")


def service_families(s: Sample, node: str, memory: ServiceLabels | None = None
                     ) -> Iterator[Metric]:
    """Every service family of one sample (`node` already cleaned)."""
    if not s.services:
        return
    memory = memory or ServiceLabels()
    info = _gauge(n.SERVICE_INFO, "Facts about an inference service; always 1.",
                  (*n.SERVICE_LABELS, "url", "pid", "port", "source", "error"))
    up = _gauge(n.SERVICE_UP, "1 when the last scrape of the service's metrics worked, else 0 "
                "(the reason is autoglm_service_info's error label).", n.SERVICE_LABELS)
    scraped = _gauge(n.SERVICE_SCRAPE_TIME, "When the service's figures were scraped (unix "
                     "seconds, node clock).", n.SERVICE_LABELS)
    fams = [_family(f, n.SERVICE_LABELS) for f in n.SERVICE]
    hists = [HistogramMetricFamily(f.name, f.help, labels=list(n.SERVICE_LABELS))
             for f in n.SERVICE_HISTOGRAMS]
    for sid, svc in zip(service_ids(s.services), s.services, strict=True):
        labels = [node, label(sid), label(svc.kind), label(memory.model(sid, svc.model))]
        info.add_metric([*labels, label(svc.url, 256), "" if svc.pid is None else str(svc.pid),
                         "" if svc.port is None else str(svc.port), label(svc.source),
                         "" if svc.ok else label(svc.error or "down", 200)], 1.0)
        up.add_metric(labels, 1.0 if svc.ok else 0.0)
        if not svc.ok:
            continue  # no figures from a failed scrape
        if svc.t is not None:
            scraped.add_metric(labels, svc.t)
        for field, fam in zip(n.SERVICE, fams, strict=True):
            _add(fam, labels, getattr(svc, field.attr), field.scale)
        for field, fam in zip(n.SERVICE_HISTOGRAMS, hists, strict=True):
            _histogram(fam, labels, getattr(svc, field.attr))
    yield info
    yield up
    yield scraped
    yield from fams
    yield from hists


def _histogram(fam: HistogramMetricFamily, labels: list[str], h: Histogram | None) -> None:
    if h is None or not h.valid:
        return
    buckets = [(floatToGoString(b), float(c)) for b, c in zip(h.bounds, h.counts, strict=False)]
    buckets.append(("+Inf", float(h.counts[-1])))
    fam.add_metric(labels, buckets, None if h.sum is None else float(h.sum))
