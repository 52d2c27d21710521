"""Turn the samples of one /metrics page into a ServiceSample's figures, by the kind's table.

Everything is summed over label sets (several ``engine`` values, data-parallel ranks), except
what a table marks ``agg="max"``. A figure whose samples are not on the page is ``None``; a
family that is on the page with no label set matching a filter reads 0 (for example no request
has failed yet). Histograms keep the bounds every label set shares, so that buckets of
differently configured engines are never mixed.
"""

from __future__ import annotations

import math
from typing import Any

from autoglm_tui.model import Histogram
from autoglm_tui.sampler.services.kinds import (
    Alternative,
    Avg,
    Hist,
    KindTable,
    Latency,
    Ratio,
    Sel,
)
from autoglm_tui.sampler.services.promtext import Labels, Samples
from autoglm_tui.text import clean

MODEL_CAP = 160


class _Page:
    """The samples of one page, with the table's label restriction applied."""

    __slots__ = ("allowed", "label", "prefix", "samples")

    def __init__(self, table: KindTable, samples: Samples) -> None:
        self.samples = samples
        self.label = self.prefix = ""
        self.allowed: set[str] | None = None
        if table.restrict is not None:
            self.label, source, self.prefix = table.restrict
            self.allowed = {
                labels[self.label]
                for labels, _ in samples.get(source, ())
                if self.label in labels
            }

    def get(self, name: str) -> list[tuple[Labels, float]] | None:
        rows = self.samples.get(name)
        if rows is None or self.allowed is None or not name.startswith(self.prefix):
            return rows
        label, allowed = self.label, self.allowed
        return [(lb, v) for lb, v in rows if lb.get(label) in allowed]


def _matches(labels: Labels, where: tuple[tuple[str, str], ...]) -> bool:
    for key, want in where:
        have = labels.get(key)
        if want.startswith("!"):
            if have == want[1:]:
                return False
        elif have != want:
            return False
    return True


def _select(page: _Page, sel: Sel) -> float | None:
    rows = page.get(sel.name)
    if rows is None:
        return None
    values = [v for lb, v in rows if v == v and _matches(lb, sel.where)]
    if sel.agg == "max":
        return max(values) * sel.scale if values else None
    return math.fsum(values) * sel.scale


def _term(page: _Page, term: Sel | Ratio) -> float | None:
    if isinstance(term, Ratio):
        num, den = _select(page, term.num), _select(page, term.den)
        if num is None or not den:
            return None
        return num / den
    return _select(page, term)


def _has(page: _Page, sel: Sel) -> bool:
    rows = page.get(sel.name)
    if not rows:
        return False
    return not sel.where or any(_matches(lb, sel.where) for lb, _ in rows)


def _present(page: _Page, alt: Alternative) -> bool:
    """Whether any term of `alt` has a sample on the page (matching its label filter)."""
    for term in alt:
        sels = (term.num, term.den) if isinstance(term, Ratio) else (term,)
        if any(_has(page, s) for s in sels):
            return True
    return False


def value(page: _Page, alts: tuple[Alternative, ...]) -> float | None:
    """The first alternative that is on the page: the sum of its terms (absent ones as 0)."""
    for alt in alts:
        if not _present(page, alt):
            continue
        total = 0.0
        seen = False
        for term in alt:
            v = _term(page, term)
            if v is not None:
                total += v
                seen = True
        result = total if seen else None
        return result if result is None or math.isfinite(result) else None
    return None


def _outcome(page: _Page, alts: tuple[Alternative, ...], finished: float | None) -> float | None:
    """An outcome counter (errors, aborts): 0 when the server has such a counter but has not
    written it yet (TGI and Triton create a label set at its first increment) while it does
    count finished requests; None when the kind has no such counter at all."""
    v = value(page, alts)
    if v is None and alts and finished is not None:
        return 0.0
    return v


def _histogram(page: _Page, spec: Hist) -> Histogram | None:
    buckets = page.get(spec.base + "_bucket")
    sums = page.get(spec.base + "_sum")
    scale = spec.scale
    total = None
    if sums:
        s = math.fsum(v for _, v in sums)
        total = s * scale if math.isfinite(s) else None
    if not buckets:
        counts = page.get(spec.base + "_count")
        if not counts:
            return None
        n = math.fsum(v for _, v in counts)
        return Histogram((), (n,), total) if math.isfinite(n) else None
    groups: dict[tuple[tuple[str, str], ...], dict[float, float]] = {}
    for labels, v in buckets:
        le_text = labels.get("le")
        if le_text is None or v != v:
            continue
        try:
            le = float(le_text)
        except ValueError:
            continue
        key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        groups.setdefault(key, {})[le] = v
    if not groups:
        return None
    inf = math.inf
    shared: set[float] | None = None
    for g in groups.values():
        finite = {b for b in g if b != inf and b == b}
        shared = finite if shared is None else shared & finite
    bounds = sorted(shared or ())
    counts = [math.fsum(g.get(b, 0.0) for g in groups.values()) for b in bounds]
    last = 0.0
    for g in groups.values():
        top = g.get(inf)
        if top is None:  # no +Inf bucket: the largest bound holds everything seen
            top = max(g.values())
        last += top
    counts.append(last)
    return Histogram(tuple(b * scale for b in bounds), tuple(counts), total)


def _average(page: _Page, spec: Avg) -> Histogram | None:
    total = _select(page, spec.total)
    counts = [_select(page, s) for s in spec.count]
    if total is None or any(c is None for c in counts):
        return None
    n = math.fsum(c for c in counts if c is not None)
    if not (math.isfinite(n) and math.isfinite(total)):
        return None
    return Histogram((), (n,), total)


def latency(page: _Page, specs: tuple[Latency, ...]) -> Histogram | None:
    for spec in specs:
        h = _histogram(page, spec) if isinstance(spec, Hist) else _average(page, spec)
        if h is not None:
            return h
    return None


def model_name(page: _Page, table: KindTable) -> str | None:
    """The model label's value (one model), or the first and how many more."""
    if not table.model_labels:
        return None
    seen: set[str] = set()
    for name in table.names:
        for labels, _ in page.get(name) or ():
            for key in table.model_labels:
                v = labels.get(key)
                if v:
                    seen.add(v)
    if not seen:
        return None
    names = sorted(seen)
    text = names[0] if len(names) == 1 else f"{names[0]} +{len(names) - 1}"
    return clean(text, MODEL_CAP)


def figures(table: KindTable, samples: Samples) -> dict[str, Any]:
    """The ServiceSample fields a page gives for `table` (keyword arguments)."""
    page = _Page(table, samples)
    finished = value(page, table.finished)
    return {
        "model": model_name(page, table),
        "running": value(page, table.running),
        "waiting": value(page, table.waiting),
        "kv_cache_usage": value(page, table.kv_cache),
        "prompt_tokens": value(page, table.prompt_tokens),
        "generation_tokens": value(page, table.generation_tokens),
        "requests_finished": finished,
        "requests_error": _outcome(page, table.errors, finished),
        "requests_aborted": _outcome(page, table.aborted, finished),
        "e2e": latency(page, table.e2e),
        "ttft": latency(page, table.ttft),
        "itl": latency(page, table.itl),
        "queue": latency(page, table.queue),
    }


__all__ = ["figures"]
