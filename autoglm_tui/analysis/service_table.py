"""The fleet's services as a table (`:services`): rows, sort values and the `/` filter's
subject (pure: no clock, no I/O).

A row is ``(node_id, service_id)``. Sorting follows the node table's rules (unknown values
last, node names in natural order); the filter language is analysis/query.py's, where a
service metric (``latency>1``, ``kv>90``, ``queue>0``) reads the row's own service and the
text fields and labels read its node.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.node_table import natural_key, sort_items
from autoglm_tui.analysis.query import NodeSubject, Query, metric_scope
from autoglm_tui.analysis.services import ServiceView
from autoglm_tui.metrics import Scope

ServiceItem = tuple[str, str]  # (node id, service id)
SORT_KEYS = ("node", "service", "kind", "model", "p95", "ttft", "tok", "run", "queue", "kv",
             "err", "state")
ASCENDING_FIRST = ("node", "service", "kind", "model", "state")


def _p95(lat: object) -> float | None:
    q = getattr(lat, "p95", None)
    return None if q is None else q.value


def sort_value(node: NodeState, view: ServiceView, key: str) -> object:
    """The value row (node, view) sorts by in column `key` (None: unknown, sorted last)."""
    if key == "node":
        return (natural_key(node.node_id), natural_key(view.service_id))
    if key == "service":
        return natural_key(view.name or view.service_id)
    if key == "kind":
        return view.kind
    if key == "model":
        return view.model
    if key == "p95":
        return _p95(view.e2e)
    if key == "ttft":
        return _p95(view.ttft)
    if key == "tok":
        return view.tokens_per_s
    if key == "run":
        return view.running
    if key == "queue":
        return view.waiting
    if key == "kv":
        return view.kv_cache_pct
    if key == "err":
        return view.error_rate_pct
    if key == "state":
        return (view.up, view.error or "")
    return None


class ServiceSubject:
    """One service row for the `/` filter: service metrics read this service, the rest its
    node."""

    __slots__ = ("node", "service_id")

    def __init__(self, node: NodeState, service_id: str) -> None:
        self.node = node
        self.service_id = service_id

    def text(self, name: str) -> str | None:
        return NodeSubject(self.node).text(name)

    def numbers(self, metric: str) -> Sequence[float | None]:
        if metric_scope(metric) is Scope.SERVICE:
            return [self.node.metrics.get((metric, self.service_id))]
        return NodeSubject(self.node).numbers(metric)


def service_rows(nodes: Iterable[NodeState], key: str, reverse: bool, query: Query | None = None,
                 only_node: str | None = None) -> list[ServiceItem]:
    """Every service of `nodes` (or of node `only_node`) that `query` keeps, sorted."""
    pairs: list[tuple[object, Hashable]] = []
    for node in nodes:
        if only_node is not None and node.node_id != only_node:
            continue
        for sid, view in node.services.items():
            if query and not query.matches(ServiceSubject(node, sid)):
                continue
            pairs.append((sort_value(node, view, key), (node.node_id, sid)))
    return sort_items(pairs, reverse)  # type: ignore[return-value]


__all__ = ["ASCENDING_FIRST", "SORT_KEYS", "ServiceItem", "ServiceSubject", "service_rows",
           "sort_value"]
