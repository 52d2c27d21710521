"""PromQL for a refresh, and its results sorted by node (pure: strings in, dicts out).

``plan(tier, sel, by, window)`` turns the mapping tables into a few queries: per kind and
scope, one ``max by (...) ({__name__=~"a|b|c"})`` for the gauges and one ``or`` of
``label_replace``-tagged expressions for the rest, plus one query per info row and one for
the targets' ``up`` and scrape time. ``Query.parse(result, into)`` files each returned series
under its node (``NodeKey``), kind, scope and subject. Every label value is untrusted: node ids,
model names and process names are cleaned here, and anything that does not parse (a pid that
is not a number) is skipped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from autoglm_tui.cluster.prometheus.mapping import (
    KINDS,
    SCOPES,
    SERVICE_KINDS,
    Entry,
    Info,
    Kind,
)
from autoglm_tui.text import clean

TAG = "autoglm_k"  # label that tells the branches of an `or` query apart
NODE_ID_MAX = 128
Subject = "int | tuple[int, int] | None"


@dataclass(frozen=True, slots=True)
class Target:
    instance: str
    job: str
    up: float | None = None
    scrape_t: float | None = None  # when Prometheus last scraped it (its clock)
    labels: tuple[tuple[str, str], ...] = ()  # the target's other labels (cleaned)


@dataclass
class Results:
    """What one refresh (or one range step) returned, by node."""

    values: dict[str, dict[tuple[str, str, object], dict[str, float]]] = field(
        default_factory=dict)  # node -> (kind, scope, subject) -> key -> value
    infos: dict[str, dict[tuple[str, str, object], dict[str, str]]] = field(
        default_factory=dict)  # node -> (kind, info key, subject) -> labels
    targets: dict[str, dict[str, Target]] = field(default_factory=dict)  # node -> inst -> T
    services: dict[str, dict[str, Any]] = field(
        default_factory=dict)  # node -> service id -> raw series (services.py)

    def put(self, node: str, where: tuple[str, str, object], key: str, value: float) -> None:
        self.values.setdefault(node, {}).setdefault(where, {})[key] = value

    def static_part(self, static_keys: set[tuple[str, str]]) -> dict[str, dict]:
        """The values of static rows ((kind, key) in `static_keys`), to keep between rounds."""
        out: dict[str, dict] = {}
        for node, parts in self.values.items():
            kept = {}
            for where, values in parts.items():
                mine = {k: v for k, v in values.items() if (where[0], k) in static_keys}
                if mine:
                    kept[where] = mine
            out[node] = kept
        return out

    def add_static(self, static: dict[str, dict]) -> None:
        """Put kept static values back beside this round's figures (nodes it has)."""
        for node, kept in static.items():
            parts = self.values.get(node)
            if parts is None:
                continue
            for where, values in kept.items():
                slot = parts.get(where)
                if slot is None:
                    parts[where] = dict(values)
                else:
                    slot.update(values)


class NodeKey:
    """Which node a series belongs to: the host part of `instance`, or a chosen label.

    The same label values come back every refresh, so each is cleaned once and remembered
    (up to CACHE_MAX distinct values)."""

    CACHE_MAX = 200_000

    def __init__(self, label: str = "instance") -> None:
        self.label = label
        self._cache: dict[str, str | None] = {}

    @property
    def by(self) -> str:
        return self.label

    def __call__(self, labels: dict[str, str]) -> str | None:
        raw = labels.get(self.label)
        if not raw:
            return None
        node = self._cache.get(raw, False)
        if node is False:
            text = host_of(raw) if self.label == "instance" else raw
            node = clean(text, NODE_ID_MAX).strip() or None
            if len(self._cache) >= self.CACHE_MAX:
                self._cache.clear()
            self._cache[raw] = node
        return node  # type: ignore[return-value]


def host_of(instance: str) -> str:
    """'10.0.0.5:9100' -> '10.0.0.5'; '[fe80::1]:9100' -> 'fe80::1'; 'gpu7' -> 'gpu7'."""
    if instance.startswith("["):
        end = instance.find("]")
        return instance[1:end] if end > 0 else instance
    host, sep, port = instance.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host
    return instance


def promql_string(text: str) -> str:
    """`text` as a double-quoted PromQL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def regex_alternatives(values: Iterable[str]) -> str:
    """An RE2 alternation matching exactly these values, as a PromQL string literal."""
    return promql_string("|".join(re.escape(v) for v in sorted(set(values))))


def number(text: object) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


_SMALL = {str(i): i for i in range(1024)}  # GPU indices, cores: parsed once


def _index(text: str | None) -> int | None:
    if text is None:
        return None
    small = _SMALL.get(text)
    if small is not None:
        return small
    if not text.isdigit() or len(text) > 9:
        return None
    return int(text)


def _subject(scope: str, labels: dict[str, str]) -> object:
    """The GPU index, core, pid or (pid, GPU) of a series; a bad one gives False (skip it)."""
    names = SCOPES[scope]
    if not names:
        return None
    parts = [_index(labels.get(name)) for name in names]
    if any(p is None for p in parts):
        return False
    return parts[0] if len(parts) == 1 else tuple(parts)


Parser = Callable[[list[dict], Results, NodeKey], None]


@dataclass(frozen=True)
class Query:
    """One PromQL expression and how to file its result."""

    expr: str
    parse: Parser
    what: str  # for error messages and the benchmark ("autoglm gpu gauges", "targets")


def _gauge_query(kind: Kind, scope: str, entry: Entry, sel: str, by: str) -> Query:
    """One gauge, one query: no metric name in the answer (a third of its bytes)."""
    by_all = ", ".join([by, *SCOPES[scope]])
    expr = f"max by ({by_all}) ({entry.metric}{{{sel}}})"
    where_kind, key, scale = kind.name, entry.key, entry.scale
    value_of = number

    def parse(result: list[dict], into: Results, node_key: NodeKey) -> None:
        values = into.values
        for series in result:
            labels = series.get("metric") or {}
            node = node_key(labels)
            subject = _subject(scope, labels)
            value = value_of((series.get("value") or (None, None))[1])
            if node is None or subject is False or value is None:
                continue
            part = values.get(node)
            if part is None:
                part = values[node] = {}
            slot = part.get((where_kind, scope, subject))
            if slot is None:
                slot = part[(where_kind, scope, subject)] = {}
            slot[key] = value * scale

    return Query(expr, parse, f"{kind.name} {entry.metric}")


def _expr_query(kind: Kind, scope: str, entries: list[Entry], sel: str, by: str, window: str,
                long_window: str) -> Query:
    parts = []
    for i, e in enumerate(entries):
        inner = e.expr.format(S=sel, N=by, W=window, L=long_window)  # type: ignore[union-attr]
        parts.append(f'label_replace({inner}, "{TAG}", "{i}", "", "")')
    expr = " or ".join(parts)

    def parse(result: list[dict], into: Results, key: NodeKey) -> None:
        for series in result:
            labels = series.get("metric") or {}
            i = _index(labels.get(TAG))
            node = key(labels)
            subject = _subject(scope, labels)
            value = number((series.get("value") or [None, None])[1])
            if i is None or i >= len(entries) or node is None or subject is False:
                continue
            if value is None:
                continue
            entry = entries[i]
            into.put(node, (kind.name, scope, subject), entry.key, value * entry.scale)

    return Query(expr, parse, f"{kind.name} {scope} expressions")


def _info_query(kind: Kind, info: Info, sel: str, by: str) -> Query:
    expr = info.expr.format(S=sel, N=by)

    def parse(result: list[dict], into: Results, key: NodeKey) -> None:
        for series in result:
            labels = series.get("metric") or {}
            node = key(labels)
            subject = _subject(info.scope, labels)
            if node is None or subject is False:
                continue
            kept = {clean(k, 64): clean(v, 256) for k, v in labels.items()
                    if k not in ("__name__", "job")}
            value = (series.get("value") or [None, None])[1]
            if value is not None:
                kept["__value__"] = str(value)
            into.infos.setdefault(node, {})[(kind.name, info.key, subject)] = kept

    return Query(expr, parse, f"{kind.name} {info.key} info")


def targets_query(sel: str) -> Query:
    """`up` and the scrape time of every target the selector picks."""
    expr = (f'label_replace(up{{{sel}}}, "{TAG}", "up", "", "") or '
            f'label_replace(timestamp(up{{{sel}}}), "{TAG}", "t", "", "")')

    def parse(result: list[dict], into: Results, key: NodeKey) -> None:
        found: dict[tuple[str, str], dict[str, object]] = {}
        for series in result:
            labels = series.get("metric") or {}
            node = key(labels)
            instance = labels.get("instance")
            if node is None or not instance:
                continue
            value = number((series.get("value") or [None, None])[1])
            slot = found.setdefault((node, instance), {"labels": labels})
            slot[labels.get(TAG, "")] = value
        for (node, instance), slot in found.items():
            labels = slot["labels"]
            assert isinstance(labels, dict)
            extra = tuple(sorted(
                (clean(k, 64), clean(v, 128)) for k, v in labels.items()
                if k not in ("__name__", "instance", "job", TAG)
            ))
            target = Target(clean(instance, 256), clean(labels.get("job", ""), 128),
                            slot.get("up"), slot.get("t"), extra)  # type: ignore[arg-type]
            into.targets.setdefault(node, {})[target.instance] = target

    return Query(expr, parse, "targets")


def plan(tier: str | tuple[str, ...], sel: str, by: str, window: str,
         kinds: Iterable[Kind] = KINDS, infos: bool = True, service_sel: str | None = None,
         long_window: str = "60s") -> list[Query]:
    """The queries of some tiers ("fleet", "static", "detail") for every kind; infos go with
    the "fleet" or "detail" tier they name. Inference servers are looked for in every job
    (`service_sel`, default `sel`): they are not node exporters."""
    tiers = (tier,) if isinstance(tier, str) else tier
    out: list[Query] = []
    for kind in kinds:
        kind_sel = (service_sel or sel) if kind in SERVICE_KINDS else sel
        for scope in SCOPES:
            rows = [e for e in kind.entries if e.tier in tiers and e.scope == scope]
            exprs = [e for e in rows if e.expr]
            out.extend(_gauge_query(kind, scope, e, kind_sel, by) for e in rows if e.metric)
            if exprs:
                out.append(_expr_query(kind, scope, exprs, kind_sel, by, window, long_window))
        if infos:
            out.extend(_info_query(kind, i, kind_sel, by) for i in kind.infos
                       if i.tier in tiers)
    return out
