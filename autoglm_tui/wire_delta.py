"""The compact wire (schema 1.1): samples as changes to the previous one (docs/wire.md).

A ``delta`` line patches the previous sample of the same stream, whatever its fields are: the
encoder diffs the JSON objects that :func:`wire.to_dict` makes, so a field added to the model
later travels in deltas with no change here. The rules, applied recursively:

- an object patches an object: only the keys whose values changed, each with its own patch;
  ``"~": [keys]`` lists keys that are gone;
- a list of objects that all carry one identity key (``pid``, ``index``, ...; see ``ID_KEYS``)
  is patched per element: ``{"@": KEY, "c": {"<id>": patch or new element}, "o": [ids]}``,
  where ``o`` (the ids in their new order) is there only when the set or the order changed;
  when several elements change, their patches go in columns instead, so each key name travels
  once: ``"f": [keys], "v": {"<id>": [mask, value, ...]}`` where bit j of ``mask`` says
  ``f[j]`` is there and the values follow in that order;
- anything else (a number, a string, a list of numbers, null) is the new value itself;
  ``{"=": value}`` replaces a list by an object, the one case a patch would be ambiguous.

``DeltaEncoder`` writes a full ``sample`` line first, every ``full_every_s`` and on request, so
a reader can join mid-stream; ``StreamDecoder`` (monitor side) decodes hellos, full samples and
deltas, rebuilding a delta's sample from the previous :class:`~autoglm_tui.model.Sample` object
and reusing every part that did not change (the very same frozen objects), so a delta costs the
monitor less than a full line. Both sides use the standard library only.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from typing import Any

from autoglm_tui import wire
from autoglm_tui.model import Hello, Sample
from autoglm_tui.text import clean

# Keys that identify the elements of a list of objects, in order of preference.
ID_KEYS = ("pid", "index", "link", "id", "service_id", "name", "url")
DELETED = "~"  # in an object patch: keys that are gone
ID = "@"  # in a list patch: the identity key
CHANGED = "c"  # in a list patch: id -> element patch (or the whole new element)
ORDER = "o"  # in a list patch: every id in the new order (only when it changed)
FIELDS = "f"  # in a list patch: the keys of the columns
ROWS = "v"  # in a list patch: id -> [mask, values...] over FIELDS
MAX_COLUMNS = 52  # a mask must stay an exact JSON number
REPLACE = "="  # {"=": value}: a replacement where a patch would be ambiguous
FULL_EVERY_S = 60.0
_MISSING = object()


# ---------------------------------------------------------------- diff (sampler side)


def diff(old: Any, new: Any) -> Any:
    """The patch that turns the JSON value `old` into `new` (call only when they differ)."""
    if new.__class__ is dict:
        if old.__class__ is dict:
            return _diff_object(old, new)
        if old.__class__ is list:
            return {REPLACE: new}
        return new
    if new.__class__ is list and old.__class__ is list:
        key = _id_key(old, new)
        if key is not None:
            return _diff_keyed(old, new, key)
    return new


def _diff_object(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in new.items():
        ov = old.get(k, _MISSING)
        if ov is _MISSING:
            out[k] = v
        elif ov != v or ov.__class__ is not v.__class__:
            out[k] = diff(ov, v)
    gone = [k for k in old if k not in new]
    if gone:
        out[DELETED] = gone
    return out


def _id_key(old: list[Any], new: list[Any]) -> str | None:
    """An identity key every element of both lists has, unique within each list, or None."""
    if not new and not old:
        return None
    first = new[0] if new else old[0]
    if first.__class__ is not dict:
        return None
    for key in ID_KEYS:
        if key not in first:
            continue
        ok = True
        for items in (old, new):
            seen = set()
            for item in items:
                ident = item.get(key, _MISSING) if item.__class__ is dict else _MISSING
                if ident.__class__ not in (int, str) or ident in seen:
                    ok = False
                    break
                seen.add(ident)
            if not ok:
                break
        if ok:
            return key
    return None


def _diff_keyed(old: list[dict[str, Any]], new: list[dict[str, Any]], key: str) -> dict[str, Any]:
    before = {item[key]: item for item in old}
    changed: dict[str, Any] = {}
    patched: dict[str, dict[str, Any]] = {}
    for item in new:
        prev = before.get(item[key], _MISSING)
        if prev is _MISSING:
            changed[str(item[key])] = item
        elif prev != item:
            patch = _diff_object(prev, item)
            if DELETED in patch:
                changed[str(item[key])] = patch
            else:
                patched[str(item[key])] = patch
    out: dict[str, Any] = {ID: key}
    ids = [item[key] for item in new]
    if ids != [item[key] for item in old]:
        out[ORDER] = ids
    if len(patched) > 1:
        columns = _columns(patched)
        if columns is not None:
            out[FIELDS], out[ROWS] = columns
            patched = {}
    changed.update(patched)
    if changed:
        out[CHANGED] = changed
    return out


def _columns(patches: dict[str, dict[str, Any]]) -> tuple[list[str], dict[str, Any]] | None:
    """The element patches as columns (see the module docstring), or None when too wide."""
    fields: dict[str, int] = {}
    for patch in patches.values():
        for k in patch:
            if k not in fields:
                fields[k] = len(fields)
    if len(fields) > MAX_COLUMNS:
        return None
    rows: dict[str, Any] = {}
    for ident, patch in patches.items():
        mask = 0
        for k in patch:
            mask |= 1 << fields[k]
        row: list[Any] = [mask]
        row.extend(patch[k] for k in sorted(patch, key=fields.__getitem__))
        rows[ident] = row
    return list(fields), rows


class DeltaEncoder:
    """Sample lines for one stream: full ones or deltas (see the module docstring)."""

    def __init__(self, full_every_s: float = FULL_EVERY_S) -> None:
        self.full_every_s = full_every_s
        self._prev: dict[str, Any] | None = None
        self._full_t = 0.0

    def reset(self) -> None:
        """Make the next line a full sample (a reader asked for one, or the stream restarts)."""
        self._prev = None

    def encode(self, sample: Sample, delta: bool = True) -> str:
        """The line for `sample`: a delta when `delta` and the last full one is recent."""
        body = wire.to_dict(sample)
        prev = self._prev
        self._prev = body
        if not delta or prev is None or not 0 <= sample.t - self._full_t < self.full_every_s:
            self._full_t = sample.t
            return _dumps(body)
        out: dict[str, Any] = {"type": "delta"}
        out.update(_diff_object(prev, body))
        return _dumps(out)


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# ---------------------------------------------------------------- patch (monitor side)

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
        obj = _object_patcher(tp)

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

    def patch_list(old: Any, p: Any, path: str) -> Any:
        if p.__class__ is not dict or old.__class__ is not tuple:
            return convert(p, path)
        if REPLACE in p:
            return convert(p[REPLACE], path)
        key = p.get(ID)
        attr = attrs.get(key) if key.__class__ is str else None
        if attr is None:
            raise wire.WireError(f"{path}: list patch without a known identity key")
        by_id = {getattr(e, attr): e for e in old}
        changes = p.get(CHANGED, {})
        if changes.__class__ is not dict:
            raise wire.WireError(f"{path}.{CHANGED}: expected an object")
        if ROWS in p:
            changes = {**changes, **_rows(p, path)}
        order = p.get(ORDER, _MISSING)
        if order is _MISSING:
            ids = list(by_id)
        else:
            if order.__class__ is not list or len(order) > wire.MAX_LIST:
                raise wire.WireError(f"{path}.{ORDER}: expected a list of ids")
            ids = [id_convert[key](i, f"{path}.{ORDER}") for i in order]
            if len(set(ids)) != len(ids):
                raise wire.WireError(f"{path}.{ORDER}: an id appears twice")
        out = []
        used = 0
        for ident in ids:
            sub = changes.get(str(ident), _MISSING)
            prev = by_id.get(ident)
            if sub is _MISSING:
                if prev is None:
                    raise wire.WireError(f"{path}: element {ident!r} is new but not given")
                out.append(prev)
                continue
            used += 1
            where = f"{path}[{ident}]"
            value = item(prev, sub, where) if prev is not None else item_convert(sub, where)
            if getattr(value, attr) != ident:
                raise wire.WireError(f"{where}: its {key} does not match the patch's id")
            out.append(value)
        if used != len(changes):
            raise wire.WireError(f"{path}.{CHANGED}: a changed element is not in the list")
        return tuple(out)

    item_convert = wire.converter(item_cls, name)
    return patch_list


def _rows(p: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    """The element patches a columnar list patch holds, as objects."""
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


_OBJECT_PATCHERS: dict[Any, Callable[[Any, dict[str, Any], str], Any]] = {}


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


def _object_patcher(cls: Any) -> Callable[[Any, dict[str, Any], str], Any]:
    """Apply an object patch to an instance of the dataclass `cls`, giving a new instance that
    shares every unchanged field value with the old one."""
    found = _OBJECT_PATCHERS.get(cls)
    if found is not None:
        return found
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    names = [f.name for f in fields]
    defaults: dict[str, Any] = {}
    for f in fields:
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory
    slots = wire.plain_slots(cls)
    # wire key -> (attribute, its slot setter or None, patcher, quick converter or None)
    table: dict[str, tuple[str, Any, Patcher, Any]] = {}
    for n in names:
        key = wire.wire_name(n)
        setter = cls.__dict__[n].__set__ if slots else None
        table[key] = (n, setter, _lazy_patcher(hints[n], key), _quick(hints[n], key))
    copy = _copier(cls, names) if slots else None

    def patch_object(old: Any, p: dict[str, Any], path: str) -> Any:
        changes: list[tuple[str, Any, Any]] = []
        for key, sub in p.items():
            entry = table.get(key)
            if entry is None:
                continue  # "~", "type", or a field this monitor does not know (ignored)
            attr, setter, apply, quick = entry
            value = _MISSING if quick is None else quick(sub)
            if value is _MISSING:
                value = apply(getattr(old, attr), sub, f"{path}.{key}" if path else key)
            changes.append((attr, setter, value))
        gone = p.get(DELETED)
        if gone is not None:
            if gone.__class__ is not list:
                raise wire.WireError(f"{path}.{DELETED}: expected a list of keys")
            for key in gone:
                entry = table.get(key) if key.__class__ is str else None
                if entry is not None:
                    if entry[0] not in defaults:
                        raise wire.WireError(f"{path}.{key}: required, cannot be removed")
                    d = defaults[entry[0]]
                    changes.append((entry[0], entry[1], d() if callable(d) else d))
        if not changes:
            return old
        if copy is None:
            return dataclasses.replace(old, **{a: v for a, _, v in changes})
        obj = copy(old)
        for _, setter, value in changes:
            setter(obj, value)
        return obj

    _OBJECT_PATCHERS[cls] = patch_object
    return patch_object


def _lazy_patcher(tp: Any, name: str) -> Patcher:
    """`_patcher(tp, name)`, made on first use (the types may refer to one another)."""
    made: list[Patcher] = []

    def apply(old: Any, p: Any, path: str) -> Any:
        if not made:
            made.append(_patcher(tp, name))
        return made[0](old, p, path)

    return apply


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


__all__ = ["FULL_EVERY_S", "DeltaEncoder", "StreamDecoder", "apply_delta", "diff"]
