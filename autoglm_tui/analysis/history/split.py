"""A node's history in parts (:class:`SplitHistory`) and the backfill of any history."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, TypeVar

from autoglm_tui.analysis.history.node import NodeHistory, row_of
from autoglm_tui.analysis.history.store import NAN, Key, Layout, Picker, picker

H = TypeVar("H", NodeHistory, "SplitHistory")


def backfilled(
    own: NodeHistory | SplitHistory,
    times: Sequence[float],
    series: Mapping[Key, Sequence[float | None]],
    empty: H,
) -> H:
    """A history holding `times`/`series` (older points, e.g. from a range query) followed by
    `own`'s points newer than ``times[-1]``, built in the `empty` history given (same sizes as
    `own`). Points of `own` from ``times[0]`` to ``times[-1]`` are replaced; older ones are kept
    before. Coarse points come back as their means."""
    first, last = times[0], times[-1]
    rows: dict[float, dict[Key, float | None]] = {}
    for key in own.keys():  # noqa: SIM118 (a history, not a dict)
        for t, v in own.points(key):
            rows.setdefault(t, {})[key] = v
    own_times = sorted(rows)
    for t in own_times:
        if t < first:
            empty.append(t, rows[t])
    for i, t in enumerate(times):
        empty.append(t, {key: col[i] for key, col in series.items()})
    for t in own_times:
        if t > last:
            empty.append(t, rows[t])
    return empty


def _first_of(
    own: Callable[[Key], bool] | None, earlier: list[Callable[[Key], bool] | None]
) -> Callable[[Key], bool] | None:
    """What a part takes: what its own `accept` takes and no earlier part does."""
    if not earlier:
        return own
    if any(e is None for e in earlier):
        return lambda key: False  # an earlier part takes every key

    def accept(key: Key) -> bool:
        return (own is None or own(key)) and not any(e(key) for e in earlier)  # type: ignore[misc]

    return accept


class _Pick(NamedTuple):
    """A part's row, picked by position out of a point's values: valid while the part's
    layout is `layout` with `width` columns; `waiting` picks the values of the layout's keys
    that wait for a first value (None: none of them is in the point)."""

    layout: Layout
    width: int
    take: Picker
    waiting: Picker | None


def _any_known(values: Sequence[float | None]) -> bool:
    return values.count(None) != len(values)


class _Routes(NamedTuple):
    """The verdicts of split histories whose parts have the same `accept` (one for every node
    of a fleet): metric name -> part index (-1: no part), and the keys no part takes."""

    part: dict[str, int]
    refused: set[Key]


_ROUTES: dict[tuple[Callable[[Key], bool] | None, ...], _Routes] = {}
_ROUTES_MAX = 256  # sets of parts (then it starts again)
_REFUSED_MAX = 1 << 16  # keys no part takes, kept to skip them at once (then it starts again)


def _routes(accepts: tuple[Callable[[Key], bool] | None, ...]) -> _Routes:
    route = _ROUTES.get(accepts)
    if route is None:
        if len(_ROUTES) >= _ROUTES_MAX:
            _ROUTES.clear()
        route = _ROUTES[accepts] = _Routes({}, set())
    return route


class SplitHistory:
    """One node's history in parts, each a :class:`NodeHistory` with its own tiers; a key
    lives in the first part that accepts it. Reads and writes look like one NodeHistory's.

    Every part sees every point (its row holds only its own keys) and so shares the sequence of
    times. A point's new keys (those of no part's layout, and not refused by every part: set
    differences in C) are routed here, each to the part that takes it: the parts' `accept`
    decide by a key's metric name. The verdict is kept per name, and the keys every part
    refuses in one set, both shared by every split history with the same parts' `accept`, so
    no history keeps a set of the keys it refused or saw. A copy copies each part as cheaply
    as a NodeHistory copies."""

    __slots__ = ("_index", "_keys", "_picks", "_route", "_row_keys", "parts")

    def __init__(self, parts: list[NodeHistory]) -> None:
        if not parts:
            raise ValueError("a split history needs at least one part")
        own = [part._accept for part in parts]
        for n, part in enumerate(parts):
            part._accept = _first_of(own[n], own[:n])
        self.parts = parts
        self._route = _routes(tuple(own))
        # The keys of the last point, in its order, with their positions, and per part how to
        # pick its row out of a point's values (see append): a node's points mostly have the
        # same keys in the same order, so most rows are picked by position, with no hashing.
        self._keys: list[Key] | None = None
        self._index: dict[Key, int] | None = None  # made when a pick is, then let go
        self._picks: list[_Pick | None] = [None] * len(parts)
        self._row_keys: tuple[Key, ...] | None = None  # the keys object append_row got last

    def _part(self, key: Key) -> NodeHistory | None:
        for part in self.parts:
            if key in part:
                return part
        return None

    def __len__(self) -> int:
        return len(self.parts[0])

    def __contains__(self, key: object) -> bool:
        return any(key in part for part in self.parts)

    def keys(self) -> list[Key]:
        out: list[Key] = []
        for part in self.parts:
            out.extend(part.keys())
        return out

    def append(self, t: float, values: dict[Key, float | None]) -> None:
        """Each part records the point with its own keys. A point with the same keys in the
        same order as the last one (the common case: one list comparison, by identity) has
        each part's row picked out of its values by position, while the part's columns are
        the ones the positions were found for; other points are looked at key by key (new
        keys found by set operations, only when the point has a key not seen before)."""
        self._row_keys = None
        order = list(values)
        if order == self._keys:
            self._append_same(t, values, list(values.values()), order)
            return
        self._keys = order
        self._index = None
        self._picks = [None] * len(self.parts)
        parts = self.parts
        refused = self._route.refused
        new = values.keys() - refused
        for part in parts:  # new to every part (a key lives in one part; the rest never see it)
            new &= part._lay.new_keys(values)
        if not new:
            for part in parts:
                part._append(t, values, ())
            return
        mine: list[list[Key]] = [[] for _ in parts]
        route = self._route.part
        for key in new:
            n = route.get(key[0])
            if n is None:
                n = route[key[0]] = next(
                    (i for i, p in enumerate(parts) if p._accept is None or p._accept(key)), -1)
            if n >= 0:
                mine[n].append(key)
            else:
                if len(refused) >= _REFUSED_MAX:
                    refused.clear()
                refused.add(key)
        for part, keys_new in zip(parts, mine, strict=True):
            part._append(t, values, keys_new)

    def append_row(self, t: float, keys: tuple[Key, ...], row: list[float | None]) -> None:
        """append() of ``dict(zip(keys, row))``, with no dict made while `keys` is the very
        object the last call got (the caller keeps it while a node's samples have the same
        keys): the parts' rows are picked out of `row` by position. `row` is taken over."""
        if keys is not self._row_keys or self._keys is None:
            self.append(t, dict(zip(keys, row, strict=True)))
            self._row_keys = keys
            return
        self._append_same(t, None, row, keys)

    def _append_same(self, t: float, values: dict[Key, float | None] | None,
                     got: list[float | None], keys: Sequence[Key]) -> None:
        """append() of a point whose keys (and their order) are the last point's: `got` its
        values in that order, `values` the point as a dict (None: made here if needed)."""
        got.append(NAN)  # what a column whose key the point lacks picks
        for n, part in enumerate(self.parts):
            if not part._advance(t):
                continue
            lay = part._lay
            pick = self._picks[n]
            if (pick is None or pick.layout is not lay or pick.width != len(lay.order)
                    or (pick.waiting is not None and _any_known(pick.waiting(got)))):
                if values is None:
                    values = dict(zip(keys, got[:-1], strict=True))
                part._put(t, values, ())  # the columns changed, or a key gets its series
                self._picks[n] = self._pick(part)
                continue
            part._push(t, row_of(pick.take(got)))
        if self._index is not None and None not in self._picks:
            self._index = None  # every pick made: the positions are not needed (memory)

    def _pick(self, part: NodeHistory) -> _Pick:
        """How to pick `part`'s row out of the values of a point with the last point's keys."""
        lay = part._lay
        index = self._index
        if index is None:
            index = self._index = {k: i for i, k in enumerate(self._keys or ())}
        missing = len(index)
        at = [index.get(k, missing) for k in lay.order]
        waiting = [i for k in lay.waiting if (i := index.get(k)) is not None]
        return _Pick(lay, len(at), picker(at), picker(waiting) if waiting else None)

    def forget(self, predicate: Callable[[Key], bool]) -> None:
        self._keys = self._row_keys = None  # a forgotten key seen again is new: look again
        for part in self.parts:
            part.forget(predicate)

    @property
    def fine_since(self) -> float | None:
        return self.parts[0].fine_since

    def points(
        self,
        key: Key,
        since: float | None = None,
        until: float | None = None,
        *,
        peak: bool = False,
    ) -> list[tuple[float, float | None]]:
        part = self._part(key)
        return part.points(key, since, until, peak=peak) if part is not None else []

    def values(
        self, key: Key, since: float | None = None, until: float | None = None
    ) -> list[float]:
        part = self._part(key)
        return part.values(key, since, until) if part is not None else []

    def latest(self, key: Key) -> float | None:
        part = self._part(key)
        return part.latest(key) if part is not None else None

    def tail(self, key: Key, n: int) -> list[float | None]:
        part = self._part(key)
        return part.tail(key, n) if part is not None else []

    def nbytes(self) -> int:
        return sum(part.nbytes() for part in self.parts)

    def window(
        self, keys: Sequence[Key], since: float, until: float | None = None, *,
        peak: bool = False,
    ) -> tuple[list[float], list[list[float] | None]]:
        """NodeHistory.window over the parts: every part shares the sequence of times, but a
        part with a shorter fine tier holds coarse means where another holds points, so keys
        of other parts are read at the first part's times (NaN where a part has no point)."""
        parts = self.parts
        where = [next((n for n, p in enumerate(parts) if k in p), -1) for k in keys]
        used = {n for n in where if n >= 0}
        if len(used) <= 1:
            part = parts[used.pop()] if used else parts[0]
            return part.window(keys, since, until, peak=peak)
        first = min(used)
        times, rows = parts[first].window(
            [k if n == first else ("", None) for k, n in zip(keys, where, strict=True)],
            since, until, peak=peak)
        for j, (key, n) in enumerate(zip(keys, where, strict=True)):
            if n < 0 or n == first:
                continue
            ts, (row,) = parts[n].window([key], since, until, peak=peak)
            if row is None:
                continue
            at = dict(zip(ts, row, strict=True))
            rows[j] = [at.get(t, NAN) for t in times]
        return times, rows

    def clone(self) -> SplitHistory:
        """An independent copy (a replay checkpoint keeps one): each part's cheap copy."""
        new = SplitHistory.__new__(SplitHistory)
        new.parts = [part.clone() for part in self.parts]
        new._route = self._route
        new._keys, new._index, new._picks = None, None, [None] * len(new.parts)
        new._row_keys = None
        return new


History = NodeHistory | SplitHistory  # what a node's `history` is
