"""Reading the compact wire (schema 1.1, monitor side): delta lines applied to the previous
sample of their stream (docs/wire.md, "Compact lines"; wire_delta.py writes them).

``StreamDecoder`` decodes one stream's hellos, full samples and deltas, rebuilding a delta's
sample from the previous :class:`~autoglm_tui.model.Sample` object and reusing every part that
did not change (the very same frozen objects), so a delta costs the monitor less than a full
line. Patches follow the JSON, not the model: an object patch sets the fields it names (each
value validated by the field's converter from wire.py, or taken as is when it needs none), a
list patch matches elements by identity and applies column rows straight to a copy of each
element. Anything that does not fit is a :class:`wire.WireError`, and the stream then waits for
the next full sample.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

from autoglm_tui import wire
from autoglm_tui.model import Hello, Sample
from autoglm_tui.text import clean
from autoglm_tui.wire_delta import (
    CHANGED,
    DELETED,
    FIELDS,
    ID,
    MAX_COLUMNS,
    ORDER,
    REPLACE,
    ROWS,
)

_MISSING = object()

Patcher = Callable[[Any, Any, str], Any]  # (old value, patch, path) -> new value
_PATCHERS: dict[Any, Patcher] = {}


def _patcher(tp: Any, name: str) -> Patcher:
    """How to apply a patch to a value of type `tp` (a field called `name`)."""
    cache_key = (tp, name)
    found = _PATCHERS.get(cache_key)
    if found is not None:
        return found
    convert = wire.converter(tp, name)
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    out: Patcher
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        inner = _patcher(args[0], name)

        def patch_optional(old: Any, p: Any, path: str) -> Any:
            if p is None or old is None:
                return convert(p, path)
            return inner(old, p, path)

        out = patch_optional
    elif dataclasses.is_dataclass(tp):
        obj = _object_patch(tp).patch

        def patch_record(old: Any, p: Any, path: str) -> Any:
            if p.__class__ is dict and old.__class__ is tp:
                return obj(old, p, path)
            return convert(p, path)

        out = patch_record
    elif origin is tuple and len(args) == 2 and args[1] is Ellipsis \
            and dataclasses.is_dataclass(args[0]):
        out = _list_patcher(args[0], name, convert)
    elif origin is dict:

        def patch_map(old: Any, p: Any, path: str) -> Any:
            if p.__class__ is dict and old.__class__ is dict:
                merged = {str(k): v for k, v in old.items()}
                gone = p.get(DELETED, ())
                for k, v in p.items():
                    if k != DELETED:
                        merged[k] = v
                for k in gone if gone.__class__ is list else ():
                    merged.pop(k, None)
                return convert(merged, path)
            return convert(p, path)

        out = patch_map
    else:

        def patch_value(old: Any, p: Any, path: str) -> Any:
            return convert(p, path)

        out = patch_value
    _PATCHERS[cache_key] = out
    return out


def _list_patcher(item_cls: Any, name: str, convert: Callable[[Any, str], Any]) -> Patcher:
    item = _patcher(item_cls, name)
    attrs = {wire.wire_name(f.name): f.name for f in dataclasses.fields(item_cls)}
    id_convert = {
        key: wire.converter(typing.get_type_hints(item_cls)[attr], key)
        for key, attr in attrs.items()
    }
    rows_of = _object_patch(item_cls).patch_row if wire.plain_slots(item_cls) else None

    def patch_list(old: Any, p: Any, path: str) -> Any:
        if p.__class__ is not dict or old.__class__ is not tuple:
            return convert(p, path)
        if REPLACE in p:
            return convert(p[REPLACE], path)
        key = p.get(ID)
        attr = attrs.get(key) if key.__class__ is str else None
        if attr is None:
            raise wire.WireError(f"{path}: list patch without a known identity key")
        changes = p.get(CHANGED, _EMPTY)
        if changes.__class__ is not dict:
            raise wire.WireError(f"{path}.{CHANGED}: expected an object")
        rows = p.get(ROWS, _EMPTY)
        columns = None
        if rows is not _EMPTY:
            if rows.__class__ is not dict:
                raise wire.WireError(f"{path}: bad columns")
            if rows_of is None:  # no fast path for this class: rows as object patches
                changes = {**changes, **_rows(p, path)}
                rows = _EMPTY
            else:
                columns = _object_patch(item_cls).columns(p.get(FIELDS), path)
        order = p.get(ORDER, _MISSING)
        if order is _MISSING:
            pairs = [(getattr(e, attr), e) for e in old]
        else:
            if order.__class__ is not list or len(order) > wire.MAX_LIST:
                raise wire.WireError(f"{path}.{ORDER}: expected a list of ids")
            ids = [id_convert[key](i, f"{path}.{ORDER}") for i in order]
            if len(set(ids)) != len(ids):
                raise wire.WireError(f"{path}.{ORDER}: an id appears twice")
            by_id = {getattr(e, attr): e for e in old}
            pairs = [(i, by_id.get(i)) for i in ids]
        out = []
        used = 0
        # A row may not rename its element: checked below only when the id is a column.
        check_rows = columns is not None and key in p.get(FIELDS, ())
        for ident, prev in pairs:
            text = str(ident)
            sub = changes.get(text, _MISSING)
            row = rows.get(text, _MISSING) if rows else _MISSING
            if sub is _MISSING and row is _MISSING:
                if prev is None:
                    raise wire.WireError(f"{path}: element {ident!r} is new but not given")
                out.append(prev)
                continue
            used += 1
            if row is not _MISSING:
                if prev is None or sub is not _MISSING:
                    raise wire.WireError(
                        f"{path}[{ident}]: a column row must patch a listed element")
                value = rows_of(prev, row, columns, path, ident)  # type: ignore[misc]
                if not check_rows:
                    out.append(value)
                    continue
            else:
                where = f"{path}[{ident}]"
                value = item(prev, sub, where) if prev is not None else item_convert(sub, where)
            if getattr(value, attr) != ident:
                raise wire.WireError(f"{path}[{ident}]: its {key} does not match the patch's id")
            out.append(value)
        if used != len(changes) + len(rows):
            raise wire.WireError(f"{path}.{CHANGED}: a changed element is not in the list")
        return tuple(out)

    item_convert = wire.converter(item_cls, name)
    return patch_list


def _rows(p: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    """The element patches a columnar list patch holds, as objects (for classes without slots;
    slotted ones apply the rows directly: _ObjectPatch.patch_row)."""
    fields, rows = p.get(FIELDS), p[ROWS]
    if fields.__class__ is not list or rows.__class__ is not dict or len(fields) > MAX_COLUMNS \
            or any(f.__class__ is not str for f in fields):
        raise wire.WireError(f"{path}: bad columns")
    out: dict[str, dict[str, Any]] = {}
    for ident, row in rows.items():
        if row.__class__ is not list or not row or row[0].__class__ is not int:
            raise wire.WireError(f"{path}.{ROWS}.{ident}: expected [mask, values...]")
        mask = row[0]
        picked = [f for j, f in enumerate(fields) if mask >> j & 1]
        if mask < 0 or mask >> len(fields) or len(picked) != len(row) - 1:
            raise wire.WireError(f"{path}.{ROWS}.{ident}: mask and values do not agree")
        out[ident] = dict(zip(picked, row[1:], strict=True))
    return out


_EMPTY: dict[str, Any] = {}
_OBJECT_PATCHES: dict[Any, _ObjectPatch] = {}


def _quick(tp: Any, name: str) -> Callable[[Any], Any] | None:
    """For a scalar field: the value as is when it needs no conversion (else _MISSING), so
    the common case skips the converter; None for other fields."""
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    nullable = origin in (typing.Union, types.UnionType) and len(args) == 1
    base = args[0] if nullable else tp
    check = wire.fast_check(base, name)
    if check is None:
        return None
    env = {"_MISSING": _MISSING}
    if base is float:  # an integral float travels as an int
        body = ("float(v) if v.__class__ is int else "
                f"(v if ({check}) else _MISSING)")
    else:
        body = f"v if ({check}) else _MISSING"
    if nullable:
        body = f"None if v is None else ({body})"
    quick: Callable[[Any], Any] = eval(f"lambda v: {body}", env)
    return quick


class _ObjectPatch:
    """Applies object patches (and column rows) to instances of the dataclass `cls`, giving
    new instances that share every unchanged field value with the old one."""

    def __init__(self, cls: Any) -> None:
        self.cls = cls
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)
        self.defaults: dict[str, Any] = {}
        for f in fields:
            if f.default is not dataclasses.MISSING:
                self.defaults[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                self.defaults[f.name] = f.default_factory
        slots = wire.plain_slots(cls)
        self._hints = {wire.wire_name(f.name): hints[f.name] for f in fields}
        # wire key -> [attribute, its slot setter or None, patcher (made on first use: the
        # types may refer to one another), quick converter or None]
        self.table: dict[str, list[Any]] = {}
        for f in fields:
            key = wire.wire_name(f.name)
            setter = cls.__dict__[f.name].__set__ if slots else None
            self.table[key] = [f.name, setter, None, _quick(hints[f.name], key)]
        self.copy = _copier(cls, [f.name for f in fields]) if slots else None
        self._columns: dict[tuple[str, ...], _Columns] = {}

    def _entry(self, key: str) -> list[Any] | None:
        entry = self.table.get(key)
        if entry is not None and entry[2] is None:
            entry[2] = _patcher(self._hints[key], key)
        return entry

    def patch(self, old: Any, p: dict[str, Any], path: str) -> Any:
        changes: list[tuple[str, Any, Any]] = []
        table = self.table
        for key, sub in p.items():
            entry = table.get(key)
            if entry is None:
                continue  # "~", "type", or a field this monitor does not know (ignored)
            attr, setter, apply, quick = entry
            value = _MISSING if quick is None else quick(sub)
            if value is _MISSING:
                if apply is None:
                    apply = self._entry(key)[2]  # type: ignore[index]
                value = apply(getattr(old, attr), sub, f"{path}.{key}" if path else key)
            changes.append((attr, setter, value))
        gone = p.get(DELETED)
        if gone is not None:
            if gone.__class__ is not list:
                raise wire.WireError(f"{path}.{DELETED}: expected a list of keys")
            for key in gone:
                entry = table.get(key) if key.__class__ is str else None
                if entry is not None:
                    if entry[0] not in self.defaults:
                        raise wire.WireError(f"{path}.{key}: required, cannot be removed")
                    d = self.defaults[entry[0]]
                    changes.append((entry[0], entry[1], d() if callable(d) else d))
        if not changes:
            return old
        if self.copy is None:
            return dataclasses.replace(old, **{a: v for a, _, v in changes})
        obj = self.copy(old)
        for _, setter, value in changes:
            setter(obj, value)
        return obj

    def columns(self, fields: Any, path: str) -> _Columns:
        """The table entries of a columnar patch's keys (None: a key this monitor does not
        know, whose values are skipped), checked once per distinct list of keys."""
        if fields.__class__ is not list or len(fields) > MAX_COLUMNS \
                or any(f.__class__ is not str for f in fields):
            raise wire.WireError(f"{path}: bad columns")
        names = tuple(fields)
        found = self._columns.get(names)
        if found is None:
            if len(self._columns) > 256:
                self._columns.clear()
            found = self._columns[names] = _Columns(self._entry(f) for f in names)
        return found

    def patch_row(
        self, old: Any, row: Any, columns: _Columns, path: str, ident: Any
    ) -> Any:
        """Apply one row of a columnar list patch to element `ident` of the list at `path`:
        [mask, values of the keys whose bit is set, in column order]."""
        if row.__class__ is not list or not row or row[0].__class__ is not int:
            raise wire.WireError(f"{path}[{ident}]: expected [mask, values...]")
        picked = columns.picked(row[0])
        if picked is None or len(picked) != len(row) - 1:
            raise wire.WireError(f"{path}[{ident}]: mask and values do not agree")
        obj = self.copy(old)  # type: ignore[misc]
        for entry, sub in zip(picked, row[1:]):  # noqa: B905 (as long: checked above)
            if entry is None:
                continue
            attr, setter, apply, quick = entry
            value = _MISSING if quick is None else quick(sub)
            if value is _MISSING:
                value = apply(getattr(old, attr), sub, f"{path}[{ident}].{entry[0]}")
            setter(obj, value)
        return obj


class _Columns(list[list[Any] | None]):
    """A columnar patch's table entries (see _ObjectPatch.columns), with the entries each
    mask picks: a stream's rows repeat a few masks (the figures that move every second)."""

    MAX_MASKS = 1024  # masks remembered per list of columns (then it starts again)

    def __init__(self, entries: Iterable[list[Any] | None]) -> None:
        super().__init__(entries)
        self._picks: dict[int, tuple[list[Any] | None, ...]] = {}

    def picked(self, mask: int) -> tuple[list[Any] | None, ...] | None:
        """The entries of the columns whose bit is set in `mask`, in column order; None for
        a mask with a bit beyond the columns (or a negative one)."""
        found = self._picks.get(mask)
        if found is None:
            if mask < 0 or mask >> len(self):
                return None
            found = tuple(e for j, e in enumerate(self) if mask >> j & 1)
            if len(self._picks) >= self.MAX_MASKS:
                self._picks.clear()
            self._picks[mask] = found
        return found


def _object_patch(cls: Any) -> _ObjectPatch:
    found = _OBJECT_PATCHES.get(cls)
    if found is None:
        found = _OBJECT_PATCHES[cls] = _ObjectPatch(cls)
    return found


def _object_patcher(cls: Any) -> Callable[[Any, dict[str, Any], str], Any]:
    """Apply an object patch to an instance of the dataclass `cls`, giving a new instance that
    shares every unchanged field value with the old one."""
    return _object_patch(cls).patch


def _copier(cls: Any, names: list[str]) -> Callable[[Any], Any]:
    """A straight-line function that copies an instance of the slotted dataclass `cls`."""
    env: dict[str, Any] = {"_new": object.__new__, "cls": cls}
    lines = ["def copy(old):", "    o = _new(cls)"]
    for i, n in enumerate(names):
        env[f"s{i}"] = cls.__dict__[n].__set__
        lines.append(f"    s{i}(o, old.{n})")
    lines.append("    return o")
    exec("\n".join(lines), env)  # our own text, from field names
    copy: Callable[[Any], Any] = env["copy"]
    return copy


def apply_delta(prev: Sample, data: dict[str, Any]) -> Sample:
    """The sample a parsed delta line describes, given the previous sample of its stream."""
    seq = data.get("seq")
    if seq.__class__ is not int:
        raise wire.WireError("delta: seq must be an integer")
    if seq != prev.seq + 1:
        raise wire.WireError(
            f"delta for seq {seq} follows seq {prev.seq}: waiting for the next full sample")
    try:
        out = _object_patcher(Sample)(prev, data, "")
    except wire.WireError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, RecursionError) as exc:
        raise wire.WireError(f"invalid delta: {clean(str(exc), 200)}") from None
    return out  # type: ignore[no-any-return]


class StreamDecoder:
    """Decodes the lines of one sampler stream: hellos, full samples and deltas.

    A delta needs the sample before it; after a bad or missing line, deltas are refused (with
    a WireError saying so) until the next full sample, and :attr:`needs_full` tells the
    transport it may ask the sampler for one (``{"type": "control", "full": true}``)."""

    def __init__(self) -> None:
        self.last: Sample | None = None
        self.needs_full = False
        self.deltas = 0
        self.fulls = 0

    def decode(self, line: str | bytes) -> Hello | Sample:
        """Decode one line; raises :class:`wire.WireError` for anything unacceptable."""
        return self.decode_data(wire.parse(line))

    def decode_data(self, data: Any) -> Hello | Sample:
        """Decode one line's parsed JSON value (a recording holds them inside its lines)."""
        kind = data.get("type") if data.__class__ is dict else None
        if kind == "delta":
            if self.last is None:
                self.needs_full = True
                raise wire.WireError("a delta without the sample before it: "
                                     "waiting for the next full sample")
            try:
                sample = apply_delta(self.last, data)
            except wire.WireError:
                self.last = None
                self.needs_full = True
                raise
            self.deltas += 1
            self.last = sample
            return sample
        try:
            msg = wire.from_dict(data)
        except wire.WireError:
            if kind == "sample":
                self.last = None
            raise
        except (TypeError, ValueError, RecursionError) as exc:
            raise wire.WireError(f"invalid message: {clean(str(exc), 200)}") from None
        if isinstance(msg, Sample):
            self.fulls += 1
            self.last = msg
            self.needs_full = False
        else:
            self.last = None  # a new run of the sampler: its deltas start from a full sample
        return msg


__all__ = ["StreamDecoder", "apply_delta"]
