"""Inference services as InfluxDB line protocol: the ``autoglm_service`` measurement.

InfluxQL has no ``histogram_quantile``, so unlike /metrics (raw buckets) the writer derives the
figures the way the monitor does (analysis/services.py: rates over 15 s, error rate and
quantiles over 60 s) and writes them once per scrape of each service, beside the raw counters.
Tags ``node``, ``service`` (the service id), ``kind``, ``model``. A quantile that falls in the
server's +Inf bucket has no upper bound, so it is left out (``requests_window`` says how many
requests the quantiles rest on); a figure the server does not export is left out, never 0.
"""

from __future__ import annotations

from collections.abc import Iterator

from autoglm_tui.analysis.services import Latency, ServiceTracker, ServiceView, service_ids
from autoglm_tui.exporter.line_protocol import line, tag_value
from autoglm_tui.model import Sample

MEASUREMENT = "service"
_COUNTERS = ("prompt_tokens", "generation_tokens", "requests_finished", "requests_error",
             "requests_aborted")
_LATENCIES = (("e2e", "latency"), ("ttft", "ttft"), ("itl", "itl"), ("queue", "queue_time"))


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _quantiles(prefix: str, lat: Latency | None) -> dict[str, object]:
    if lat is None:
        return {}
    out: dict[str, object] = {f"{prefix}_avg_s": _float(lat.avg)}
    for name in ("p50", "p95", "p99"):
        q = getattr(lat, name)
        out[f"{prefix}_{name}_s"] = None if q is None or q.above else float(q.value)
    return out


def service_fields(view: ServiceView, raw: object) -> dict[str, object]:
    """The fields of one service's line: state, gauges, derived figures, raw counters."""
    fields: dict[str, object] = {"up": 1 if view.up else 0}
    if not view.up:
        fields["error"] = view.error or "down"
        return fields
    fields.update({
        "running": _float(view.running), "waiting": _float(view.waiting),
        "kv_cache_pct": _float(view.kv_cache_pct),
        "tokens_per_s": _float(view.tokens_per_s),
        "prompt_tokens_per_s": _float(view.prompt_tokens_per_s),
        "requests_per_s": _float(view.requests_per_s),
        "error_rate_pct": _float(view.error_rate_pct),
        "aborts_per_s": _float(view.aborts_per_s),
        "requests_window": _float(view.e2e.count) if view.e2e is not None else None,
    })
    for attr, prefix in _LATENCIES:
        fields.update(_quantiles(prefix, getattr(view, attr)))
    for name in _COUNTERS:
        fields[name] = _float(getattr(raw, name))
    return fields


class ServiceLines:
    """Keeps each service's windows across samples; one line per service per new scrape."""

    def __init__(self) -> None:
        self.tracker = ServiceTracker()
        self._written: dict[str, float] = {}  # service id -> scrape time last written

    def lines(self, s: Sample, node: str) -> Iterator[tuple[str, str]]:
        """(measurement, line) for the services scraped since the last call."""
        if not s.services and not self._written:
            return
        self.tracker.update(s, s.t)
        ids = service_ids(s.services)
        for sid in [k for k in self._written if k not in ids]:
            del self._written[sid]
        for sid, svc in zip(ids, s.services, strict=True):
            view = self.tracker.views.get(sid)
            if view is None:
                continue
            at = svc.t if svc.ok and svc.t is not None else s.t
            if svc.ok and self._written.get(sid) == at:
                continue  # the same scrape, repeated by a later sample
            self._written[sid] = at
            tags = {"node": tag_value(node), "service": tag_value(sid),
                    "kind": tag_value(view.kind), "model": tag_value(view.model)}
            text = line(MEASUREMENT, tags, service_fields(view, svc), round(at * 1000))
            if text is not None:
                yield MEASUREMENT, text
