"""The wire format (v1): JSON lines from a sampler to a monitor. The only contract between them.

``encode`` turns a Hello or Sample into one line; ``decode`` turns one line back, validating
every field. A decoder raises nothing but :class:`WireError`, whose message says what was wrong.
Strings are sanitised on the way in (control characters removed, lengths capped).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from typing import Any, Union

from autoglm_tui.model import SCHEMA, SCHEMA_MAJOR, Hello, Sample
from autoglm_tui.text import clean

MAX_LINE_BYTES = 1 << 20
MAX_LIST = 65536
# Field names that differ between Python and the wire.
_TO_WIRE = {"self_cost": "self"}
_FROM_WIRE = {v: k for k, v in _TO_WIRE.items()}
# Per-field caps on string length (default below).
_STR_CAPS = {"cmdline": 4096, "error": 1024}
_DEFAULT_STR_CAP = 256


class WireError(ValueError):
    """A line that cannot be accepted; the message says why."""


# ---------------------------------------------------------------- encode


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            out[_TO_WIRE.get(f.name, f.name)] = _plain(getattr(value, f.name))
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_dict(msg: Hello | Sample) -> dict[str, Any]:
    """The JSON object for `msg`, with its "type" key."""
    body = _plain(msg)
    kind = "hello" if isinstance(msg, Hello) else "sample"
    return {"type": kind, **body}


def encode(msg: Hello | Sample) -> str:
    """One JSON line (with no trailing newline) for `msg`."""
    return json.dumps(to_dict(msg), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# ---------------------------------------------------------------- decode

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise WireError(f"{path}: must not be null")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, path)
            except WireError as exc:
                errors.append(str(exc))
        raise WireError(errors[0] if len(errors) == 1 else f"{path}: {'; '.join(errors)}")
    if value is None:
        raise WireError(f"{path}: must not be null")
    if tp is bool:
        if not isinstance(value, bool):
            raise WireError(f"{path}: expected true/false, got {type(value).__name__}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise WireError(f"{path}: expected an integer, got {type(value).__name__}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WireError(f"{path}: expected a number, got {type(value).__name__}")
        value = float(value)
        if not math.isfinite(value):
            raise WireError(f"{path}: not a finite number")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise WireError(f"{path}: expected a string, got {type(value).__name__}")
        name = path.rsplit(".", 1)[-1]
        return clean(value, _STR_CAPS.get(name, _DEFAULT_STR_CAP))
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list):
            raise WireError(f"{path}: expected a list, got {type(value).__name__}")
        if len(value) > MAX_LIST:
            raise WireError(f"{path}: list too long ({len(value)})")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise WireError(f"{path}: expected {len(args)} items, got {len(value)}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in pairs)
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise WireError(f"{path}: expected an object, got {type(value).__name__}")
        if len(value) > 4096:
            raise WireError(f"{path}: too many keys ({len(value)})")
        return {
            _convert(key_tp, k, f"{path}.key"): _convert(val_tp, v, f"{path}[{k!r}]")
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(tp):
        return _from_dict(tp, value, path)
    raise WireError(f"{path}: unsupported type {tp!r}")  # pragma: no cover - programming error


def _from_dict(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise WireError(f"{path or cls.__name__}: expected an object, got {type(data).__name__}")
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = _TO_WIRE.get(f.name, f.name)
        sub = f"{path}.{key}" if path else key
        if key not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise WireError(f"{sub}: missing")
            continue
        kwargs[f.name] = _convert(hints[f.name], data[key], sub)
    return cls(**kwargs)


def from_dict(data: Any) -> Hello | Sample:
    """Validate a parsed JSON object and build the message it describes."""
    if not isinstance(data, dict):
        raise WireError(f"expected a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    if kind == "hello":
        schema = data.get("schema")
        if isinstance(schema, bool) or not isinstance(schema, int):
            raise WireError("hello: schema must be an integer")
        if schema != SCHEMA_MAJOR:
            raise WireError(
                f"unsupported wire schema {schema} (this monitor speaks schema {SCHEMA_MAJOR}); "
                "install the same autoglm-tui version on the node and the monitor"
            )
        return _from_dict(Hello, data, "")
    if kind == "sample":
        return _from_dict(Sample, data, "")
    raise WireError(f"unknown message type {clean(str(kind), 40)!r}")


def decode(line: str | bytes) -> Hello | Sample:
    """Decode one line; raises :class:`WireError` with a reason for anything unacceptable."""
    if len(line) > MAX_LINE_BYTES:
        raise WireError(f"line too long ({len(line)} bytes, limit {MAX_LINE_BYTES})")
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    line = line.strip()
    if not line:
        raise WireError("empty line")
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"not JSON: {clean(str(exc), 120)}") from None
    try:
        return from_dict(data)
    except WireError:
        raise
    except (TypeError, ValueError, RecursionError) as exc:  # defensive: never leak another type
        raise WireError(f"invalid message: {clean(str(exc), 200)}") from None


__all__ = ["MAX_LINE_BYTES", "SCHEMA", "WireError", "decode", "encode", "from_dict", "to_dict"]
