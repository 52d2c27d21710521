"""The values alert rules read at one evaluation, extracted once and shared (pure).

A :class:`Frame` holds some nodes (in fleet order) with their newest samples. For GPU,
process and service metrics it keeps every GPU (process, inference service) of those nodes in
one flat list, cut per node by offsets; a metric's values become one flat column, built on
first use and shared by every rule that reads that metric, so a tick reads each of 2,048 GPU
values once rather than once per rule. A rule scans a column in C (:func:`hits`) to find the
few nodes where its condition holds; only those, and the nodes where the rule has an alert,
take the per-node path.

Few objects are made per tick (a flat list per metric, no list per node), so evaluating the
rules adds little work for the garbage collector. What does not change from one tick to the
next in a steady fleet (the slices that cut the columns, each node's tuple of GPU indices) is
kept in a :class:`Layouts` cache owned by the engine and checked for equality each time.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import accumulate, chain, compress, count, islice, repeat
from typing import Any

from autoglm_tui.analysis.derive import GPU_FIELDS, PROC_FIELDS, gpu_reader
from autoglm_tui.analysis.history import Picker
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.services import COUNT_OF, SERVICE_METRICS, ServiceView
from autoglm_tui.metrics import Scope

Value = float | None

NODE_SUBJECTS: tuple[None] = (None,)  # the one subject of a node metric
# A service rule's `match` on the service itself (sorted (label, value) pairs), or None.
ServiceMatch = tuple[tuple[str, str], ...] | None
_NODE_SERVICE_KEYS = [(name, None) for name in SERVICE_METRICS]
_KNOWN = partial(operator.is_not, None)
_GPU_INDEX = operator.attrgetter("index")
_FIGURES = operator.attrgetter("figures")
_FIRST, _SECOND, _THIRD = map(operator.itemgetter, range(3))
_UNSEEN = object()  # no reader looked up yet (None: the figures do not hold the metric)
_NONE_AS_NAN = {None: math.nan}.get  # (v, v): NaN for None, else v itself


def hits(col: Sequence[Value], cmp: Callable[[Any, Any], bool], threshold: float) -> list[int]:
    """Indices of the known values in `col` for which ``cmp(value, threshold)`` holds."""
    if col and type(col[0]) is int and type(threshold) is float and threshold.is_integer():
        # Python compares ints and floats exactly, and an int with an int faster: the same
        # answers, in half the time, for counts and bytes
        threshold = int(threshold)  # type: ignore[assignment]
    try:  # in C while the column holds no None (the common case)
        if not any(map(cmp, col, repeat(threshold))):
            return []
        found = list(compress(count(), map(cmp, col, repeat(threshold))))
    except TypeError:  # an unknown value (ordering None raises): NaN in its place, in C
        if col.count(None) == len(col):
            return []  # no value known (a health metric this fleet does not report)
        # NaN compares false with every op but !=, whose None are left out below
        known = list(map(_NONE_AS_NAN, col, col))
        found = list(compress(count(), map(cmp, known, repeat(threshold))))
    if cmp is operator.ne:  # None != x holds where ordering None would raise
        return [i for i in found if col[i] is not None]
    return found


class Layouts:
    """What stays the same from tick to tick in a steady fleet, per kind of member: the
    offsets that cut a flat column per node with their slices, and the flat subject keys with
    each node's subjects. An entry is used only while it equals what the new tick has."""

    __slots__ = ("slices", "subjects")

    def __init__(self) -> None:
        self.slices: dict[str, tuple[list[int], list[slice]]] = {}
        self.subjects: dict[str, tuple[list[int], list[int], list[Any]]] = {}


class Members:
    """The GPUs (or processes) of a frame's nodes: one flat list, cut per node by offsets."""

    __slots__ = ("_cols", "_fields", "_interned", "_key", "_keys", "_layouts", "_slices",
                 "_subjects", "_tag", "groups", "off")

    def __init__(
        self, groups: list[Sequence[Any]], key: Callable[[Any], int],
        fields: dict[str, Callable[[Any], Any]],
        interned: dict[tuple[int, ...], tuple[int, ...]] | None, layouts: Layouts, tag: str,
    ) -> None:
        self.groups = groups  # per node, its GpuSample (or ProcSample) objects
        self.off: list[int] = list(accumulate(map(len, groups), initial=0))
        self._key = key
        self._fields = fields
        self._interned = interned  # GPU index tuples: one object per distinct tuple
        self._layouts = layouts
        self._tag = tag
        self._cols: dict[str, list[Value]] = {}
        self._keys: list[int] | None = None
        self._slices: list[slice] | None = None
        self._subjects: list[Any] | None = None

    def slices(self) -> list[slice]:
        """Per node, the slice of a flat column that holds its values."""
        out = self._slices
        if out is None:
            cached = self._layouts.slices.get(self._tag)
            if cached is not None and cached[0] == self.off:
                out = cached[1]
            else:
                out = list(map(slice, self.off, islice(self.off, 1, None)))
                self._layouts.slices[self._tag] = (self.off, out)
            self._slices = out
        return out

    def keys(self) -> list[int]:
        """Every member's GPU index (or pid), flat."""
        out = self._keys
        if out is None:
            out = self._keys = list(map(self._key, chain.from_iterable(self.groups)))
        return out

    def subject(self, i: int) -> Sequence[Any]:
        """Node i's GPU indices (an interned tuple) or pids (a list)."""
        if self._subjects is not None:
            return self._subjects[i]
        if self._keys is not None:
            keys = self._keys[self.off[i]:self.off[i + 1]]
        else:
            keys = list(map(self._key, self.groups[i]))
        if self._interned is None:
            return keys
        t = tuple(keys)
        return self._interned.setdefault(t, t)

    def subjects(self) -> list[Any]:
        """Every node's subjects, as :meth:`subject` gives them."""
        out = self._subjects
        if out is None:
            keys = self.keys()
            cached = self._layouts.subjects.get(self._tag)
            if cached is not None and cached[0] == self.off and cached[1] == keys:
                out = cached[2]
            else:
                out = list(map(keys.__getitem__, self.slices()))
                if self._interned is not None:
                    out = list(map(tuple, out))
                    out = list(map(self._interned.setdefault, out, out))
                self._layouts.subjects[self._tag] = (self.off, keys, out)
            self._subjects = out
        return out

    def col(self, metric: str) -> list[Value]:
        """The metric's value for every member, flat, in node order (read once a frame)."""
        out = self._cols.get(metric)
        if out is None:
            out = self._cols[metric] = self._read(metric)
        return out

    def _read(self, metric: str) -> list[Value]:
        get = self._fields.get(metric)
        # Every GPU and process metric is a field (or property) of the sample; a name that is
        # not has no value anywhere, as in the node's derived metrics.
        return (list(map(get, chain.from_iterable(self.groups))) if get is not None
                else [None] * self.off[-1])

    def owners(self, flat: Sequence[int]) -> list[int]:
        """The nodes (frame indices, ascending, once each) that hold the given flat indices."""
        off = self.off
        return sorted({bisect_right(off, i) - 1 for i in flat})


class GpuMembers(Members):
    """The GPUs of a frame's nodes. A metric's column is picked out of each node's figures as
    the fold read them (``NodeState.figures``: one list a node, more often still in the CPU's
    caches than 8 GpuSample objects; all nodes at once, in C, while they share one shape's
    health flags, as a fleet's nodes mostly do). A node whose figures are not its newest
    sample's, or a metric the figures do not hold, is read off the samples: the same values."""

    __slots__ = ("_flats", "_healths", "_same")

    def __init__(self, nodes: Sequence[NodeState], samples: Sequence[Any],
                 interned: dict[tuple[int, ...], tuple[int, ...]] | None, layouts: Layouts,
                 tag: str) -> None:
        super().__init__([s.gpus for s in samples], _GPU_INDEX, GPU_FIELDS, interned, layouts,
                         tag)
        figures = list(map(_FIGURES, nodes))
        try:  # in C while every node's figures are its newest sample's (the common case)
            current = all(map(operator.is_, map(_FIRST, figures), samples))
        except TypeError:  # a node has none (None cannot be indexed)
            current = False
        flats: list[list[Value] | None]
        healths: list[tuple[bool, ...] | None]
        if current:
            flats, healths = list(map(_SECOND, figures)), list(map(_THIRD, figures))
        else:  # per node: its figures while they are its newest sample's, else none
            held = [f if f is not None and f[0] is s else (None, None, None)
                    for f, s in zip(figures, samples, strict=True)]
            flats, healths = list(map(_SECOND, held)), list(map(_THIRD, held))
        self._flats = flats
        self._healths = healths
        # every node's figures at hand, with one shape's health flags
        self._same = bool(healths) and healths[0] is not None and healths.count(
            healths[0]) == len(healths)

    def _read(self, metric: str) -> list[Value]:
        get = self._fields.get(metric)
        if get is None:  # no such GPU metric: no value anywhere
            return [None] * self.off[-1]
        if self._same:
            read = gpu_reader(metric, self._healths[0])  # type: ignore[arg-type]
            if read is not None:
                return list(chain.from_iterable(map(read, self._flats)))  # type: ignore[arg-type]
        readers: dict[tuple[bool, ...], Picker | None] = {}
        parts: list[Iterable[Value]] = []
        add = parts.append
        for gpus, flat, health in zip(self.groups, self._flats, self._healths, strict=True):
            if health is not None:
                read = readers.get(health, _UNSEEN)  # type: ignore[arg-type]
                if read is _UNSEEN:
                    read = readers[health] = gpu_reader(metric, health)
                if read is not None:
                    add(read(flat))  # type: ignore[arg-type]
                    continue
            add(map(get, gpus))
        return list(chain.from_iterable(parts))


def service_labels(sid: str, view: ServiceView) -> dict[str, str | None]:
    """The labels a service rule's `match` reads: its id, name, model and kind."""
    return {"service": sid, "name": view.name, "model": view.model, "kind": view.kind}


def service_matches(sid: str, view: ServiceView, match: ServiceMatch) -> bool:
    if not match:
        return True
    labels = service_labels(sid, view)
    return all(labels.get(k) == v for k, v in match)


class ServiceMembers(Members):
    """The inference services of a frame's nodes (those a rule's `match` picks), flat. Their
    values come from the node's derived metrics under ``(metric, service id)``. A latency
    figure resting on few requests (``Latency.few``, or fewer than `min_requests`) and, with
    `min_requests`, an error rate over fewer finished requests, read as unknown: no data.

    A node whose source gives only node-level service figures (the Prometheus source: no
    service of its own listed, values under ``(metric, None)``) counts as one service with no
    id (subject None), so service rules still watch it; its alerts attach to the node."""

    __slots__ = ("_flat_views", "_metrics", "_min", "_views")

    def __init__(self, nodes: Sequence[NodeState], match: ServiceMatch,
                 min_requests: int | None, layouts: Layouts, tag: str) -> None:
        views = [n.services for n in nodes]
        node_metrics = [n.node_metrics for n in nodes]
        groups: list[Sequence[Any]] = []
        for vs, m in zip(views, node_metrics, strict=True):
            if vs:
                groups.append([sid for sid, v in vs.items() if service_matches(sid, v, match)]
                              if match else list(vs))
            elif not match and any(map(_KNOWN, map(m.get, _NODE_SERVICE_KEYS))):
                groups.append(NODE_SUBJECTS)
            else:
                groups.append(())
        super().__init__(groups, str, {}, None, layouts, tag)
        self._views = views
        self._metrics = node_metrics
        self._min = min_requests
        self._flat_views: list[ServiceView] | None = None

    def keys(self) -> list[Any]:
        out = self._keys
        if out is None:
            out = self._keys = list(chain.from_iterable(self.groups))
        return out

    def subject(self, i: int) -> Sequence[Any]:
        return self.groups[i]

    def subjects(self) -> list[Any]:
        return self.groups

    def view(self, i: int, sid: str) -> ServiceView | None:
        """Node i's view of service `sid`."""
        return self._views[i].get(sid)

    def _read(self, metric: str) -> list[Value]:
        out = [m.get((metric, sid))
               for m, sids in zip(self._metrics, self.groups, strict=True) for sid in sids]
        figure = COUNT_OF.get(metric)
        if figure is not None and (figure != "finished" or self._min is not None):
            self._mask(out, figure)
        return out

    def _mask(self, out: list[Value], figure: str) -> None:
        """Unknown where the figure rests on too few requests."""
        flat = self._flat_views
        if flat is None:
            flat = self._flat_views = [vs.get(sid) for vs, sids in zip(
                self._views, self.groups, strict=True) for sid in sids]
        least = self._min
        for j, v in enumerate(out):
            if v is None:
                continue
            view = flat[j]
            if view is None:
                continue  # a node-level figure: nothing says what it rests on
            if figure == "finished":
                n = view.finished
                if n is None or n < least:  # type: ignore[operator]
                    out[j] = None
                continue
            lat = getattr(view, figure)
            if lat is None or (lat.few if least is None else lat.count < least):
                out[j] = None


class Frame:
    """Some nodes of the fleet with their newest samples, in fleet order (``pos`` says where)."""

    __slots__ = ("_gpus", "_index", "_interned", "_layouts", "_node_cols", "_procs", "_services",
                 "_tag", "ats", "ids", "metrics", "nodes", "pos", "samples")

    def __init__(
        self, ids: list[str], nodes: list[NodeState], pos: list[int], ats: list[float],
        interned: dict[tuple[int, ...], tuple[int, ...]], layouts: Layouts, tag: str,
    ) -> None:
        self.ids = ids
        self.nodes = nodes
        self.pos = pos
        self.ats = ats
        self.samples = [n.last_sample for n in nodes]
        self.metrics = [n.node_metrics for n in nodes]
        self._interned = interned
        self._layouts = layouts
        self._tag = tag
        self._gpus: Members | None = None
        self._procs: Members | None = None
        self._services: dict[tuple[ServiceMatch, int | None], ServiceMembers] = {}
        self._index: dict[str, int] | None = None
        self._node_cols: dict[str, list[Value]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def index(self) -> dict[str, int]:
        """node id -> its index in this frame."""
        out = self._index
        if out is None:
            out = self._index = dict(zip(self.ids, range(len(self.ids)), strict=True))
        return out

    @property
    def gpus(self) -> Members:
        out = self._gpus
        if out is None:
            out = self._gpus = GpuMembers(self.nodes, self.samples, self._interned,
                                          self._layouts, self._tag + "gpu")
        return out

    @property
    def procs(self) -> Members:
        out = self._procs
        if out is None:
            out = self._procs = Members(
                [s.procs for s in self.samples], operator.attrgetter("pid"), PROC_FIELDS,
                None, self._layouts, self._tag + "proc")
        return out

    def services(self, match: ServiceMatch = None,
                 min_requests: int | None = None) -> ServiceMembers:
        """The services of the frame's nodes that `match` picks (all: None), their latency
        and error-rate figures masked as `min_requests` says (see :class:`ServiceMembers`)."""
        key = (match, min_requests)
        out = self._services.get(key)
        if out is None:
            out = self._services[key] = ServiceMembers(
                self.nodes, match, min_requests, self._layouts, f"{self._tag}svc{key!r}")
        return out

    def members(self, scope: Scope) -> Members:
        if scope is Scope.GPU:
            return self.gpus
        return self.procs if scope is Scope.PROC else self.services()

    def node_col(self, metric: str) -> list[Value]:
        """A node metric's value on every node of the frame."""
        out = self._node_cols.get(metric)
        if out is None:
            out = self._node_cols[metric] = list(
                map(dict.get, self.metrics, repeat((metric, None))))
        return out
