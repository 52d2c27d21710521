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
a reader can join mid-stream. The monitor side, which applies deltas (``StreamDecoder``), is
wire_patch.py. Both use the standard library only.
"""

from __future__ import annotations

import json
from typing import Any

from autoglm_tui import wire
from autoglm_tui.model import Sample

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


__all__ = ["FULL_EVERY_S", "DeltaEncoder", "diff"]
