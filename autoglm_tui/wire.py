"""The wire format (v1): JSON lines from a sampler to a monitor. The only contract between them.

``encode`` turns a Hello or Sample into one line; ``decode`` turns one line back, validating
every field. A decoder raises nothing but :class:`WireError`, whose message says what was wrong.
Strings are sanitised on the way in (control characters removed, lengths capped). A float with
an integral value travels as an integer (``35`` rather than ``35.0``); the decoder turns it
back into a float. Schema 1.1's compact ``delta`` lines: wire_delta.py writes them, wire_patch.py
reads them (docs/wire.md).
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import types
import typing
from typing import Any, Union

from autoglm_tui.model import SCHEMA, SCHEMA_MAJOR, Hello, Sample
from autoglm_tui.text import clean

try:  # a JSON parser in C that reads a sample line 3-4x faster (the monitor's largest cost)
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - a dependency; the standard parser where it is missing
    _loads = json.loads

MAX_LINE_BYTES = 1 << 20
MAX_LIST = 65536
# Field names that differ between Python and the wire.
_TO_WIRE = {"self_cost": "self"}
_FROM_WIRE = {v: k for k, v in _TO_WIRE.items()}
# Per-field caps on string length (default below).
_STR_CAPS = {"cmdline": 4096, "error": 1024, "url": 1024}
_DEFAULT_STR_CAP = 256


class WireError(ValueError):
    """A line that cannot be accepted; the message says why."""


# ---------------------------------------------------------------- encode


_ENCODE_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}  # class -> (wire key, attribute)
_SCALARS = (str, int, bool, type(None))


def _plain(value: Any) -> Any:
    """`value` as JSON-ready data: dataclasses become objects, non-finite floats null."""
    cls = value.__class__
    if cls in _SCALARS:
        return value
    if cls is float:
        if value - value != 0.0:  # NaN or infinity
            return None
        return int(value) if value.is_integer() and -1e15 < value < 1e15 else value
    names = _ENCODE_FIELDS.get(cls)
    if names is None:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            names = tuple(
                (_TO_WIRE.get(f.name, f.name), f.name) for f in dataclasses.fields(value)
            )
            _ENCODE_FIELDS[cls] = names
        elif isinstance(value, (list, tuple)):
            # Runs of finite floats (histogram buckets, per-core figures) take one pass, with
            # integral values as integers like any float; anything else item by item.
            if _finite_floats(value):
                return [int(v) if v.is_integer() and -1e15 < v < 1e15 else v for v in value]
            return [_plain(v) for v in value]
        elif isinstance(value, dict):
            return {str(k): _plain(v) for k, v in value.items()}
        elif isinstance(value, float) and not math.isfinite(value):
            return None
        elif isinstance(value, float):
            return _plain(float(value))
        else:
            return value
    return {key: _plain(getattr(value, attr)) for key, attr in names}


_FLOAT_ONLY = frozenset((float,))
_NUMBERS = frozenset((float, int))


def _finite_floats(value: list[Any] | tuple[Any, ...]) -> bool:
    """True when every item is a float and none is NaN or infinite (checked in C)."""
    if set(map(type, value)) <= _FLOAT_ONLY:
        total = sum(value)
        return total - total == 0.0  # NaN or an infinity anywhere makes the sum non-finite
    return False


def _as_floats(value: list[Any]) -> tuple[float, ...] | None:
    """A JSON list of numbers (floats, and integral ones sent as integers) as finite floats,
    in one pass in C; None when anything else is in it (then each item is checked)."""
    if not set(map(type, value)) <= _NUMBERS:  # bools are their own type: not let through
        return None
    try:
        out = tuple(map(float, value))
    except OverflowError:
        return None
    total = sum(out)
    return out if total - total == 0.0 else None


def to_dict(msg: Hello | Sample) -> dict[str, Any]:
    """The JSON object for `msg`, with its "type" key."""
    body = _plain(msg)
    kind = "hello" if isinstance(msg, Hello) else "sample"
    return {"type": kind, **body}


def encode(msg: Hello | Sample) -> str:
    """One JSON line (with no trailing newline) for `msg`."""
    return json.dumps(to_dict(msg), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# ---------------------------------------------------------------- decode
#
# Each dataclass and field type is compiled once into a converter ``conv(value, path)`` that
# validates and converts one JSON value; ``path`` is only used to build error messages.

Converter = typing.Callable[[Any, str], Any]
_COMPILED: dict[Any, Converter] = {}


def _type_name(value: Any) -> str:
    return type(value).__name__


def _conv_bool(value: Any, path: str) -> bool:
    if value.__class__ is not bool:
        raise WireError(f"{path}: expected true/false, got {_type_name(value)}")
    return value


def _conv_int(value: Any, path: str) -> int:
    cls = value.__class__
    if cls is int:
        return value
    if cls is float and value.is_integer():
        return int(value)
    raise WireError(f"{path}: expected an integer, got {_type_name(value)}")


def _conv_float(value: Any, path: str) -> float:
    cls = value.__class__
    if cls is float:
        if value - value != 0.0:  # NaN or infinity
            raise WireError(f"{path}: not a finite number")
        return value
    if cls is int:
        return float(value)
    raise WireError(f"{path}: expected a number, got {_type_name(value)}")


def _conv_str(cap: int) -> Converter:
    def conv(value: Any, path: str) -> str:
        if value.__class__ is not str:
            raise WireError(f"{path}: expected a string, got {_type_name(value)}")
        if value.isprintable():  # nothing for clean() to remove (it only drops Cc/Cf chars)
            return value if len(value) <= cap else value[: cap - 1] + "\u2026"
        return clean(value, cap)

    return conv


def _compile(tp: Any, name: str) -> Converter:
    """A converter for values of type `tp` held in a field called `name`."""
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(tp))
        inner = [_compile(a, name) for a in args]

        def conv_union(value: Any, path: str) -> Any:
            if value is None:
                if nullable:
                    return None
                raise WireError(f"{path}: must not be null")
            errors = []
            for c in inner:
                try:
                    return c(value, path)
                except WireError as exc:
                    errors.append(str(exc))
            raise WireError(errors[0] if len(errors) == 1 else f"{path}: {'; '.join(errors)}")

        return conv_union
    base: Converter
    if tp is bool:
        base = _conv_bool
    elif tp is int:
        base = _conv_int
    elif tp is float:
        base = _conv_float
    elif tp is str:
        base = _conv_str(_STR_CAPS.get(name, _DEFAULT_STR_CAP))
    elif origin is tuple:
        base = _compile_tuple(tp, name)
    elif origin is dict:
        base = _compile_dict(tp, name)
    elif dataclasses.is_dataclass(tp):
        base = _compile_dataclass(tp)
    else:  # pragma: no cover - programming error
        raise TypeError(f"unsupported type {tp!r}")
    return base  # each base converter rejects None as a wrong type


def _compile_tuple(tp: Any, name: str) -> Converter:
    args = typing.get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        item = _compile(args[0], name)
        floats = args[0] is float

        def conv_seq(value: Any, path: str) -> tuple[Any, ...]:
            if value.__class__ is not list:
                raise WireError(f"{path}: expected a list, got {_type_name(value)}")
            if len(value) > MAX_LIST:
                raise WireError(f"{path}: list too long ({len(value)})")
            # A list of finite numbers takes one pass (bucket counts, per-core figures).
            if floats:
                fast = _as_floats(value)
                if fast is not None:
                    return fast
            return tuple([item(v, path) for v in value])

        return conv_seq
    items = [_compile(a, name) for a in args]

    def conv_fixed(value: Any, path: str) -> tuple[Any, ...]:
        if value.__class__ is not list:
            raise WireError(f"{path}: expected a list, got {_type_name(value)}")
        if len(value) != len(items):
            raise WireError(f"{path}: expected {len(items)} items, got {len(value)}")
        pairs = enumerate(zip(items, value, strict=True))
        return tuple([c(v, f"{path}[{i}]") for i, (c, v) in pairs])

    return conv_fixed


def _compile_dict(tp: Any, name: str) -> Converter:
    key_tp, val_tp = typing.get_args(tp)
    conv_key, conv_val = _compile(key_tp, "key"), _compile(val_tp, name)

    def conv_map(value: Any, path: str) -> dict[Any, Any]:
        if value.__class__ is not dict:
            raise WireError(f"{path}: expected an object, got {_type_name(value)}")
        if len(value) > 4096:
            raise WireError(f"{path}: too many keys ({len(value)})")
        return {conv_key(k, f"{path}.key"): conv_val(v, f"{path}.{k}") for k, v in value.items()}

    return conv_map


def _fast_check(tp: Any, name: str) -> str | None:
    """A Python expression over `v` that is true when `v` needs no conversion, if one exists."""
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = _fast_check(args[0], name) if len(args) == 1 else None
        if inner is None:
            return None
        return f"v is None or ({inner})" if len(args) < len(typing.get_args(tp)) else inner
    if tp is int:
        return "v.__class__ is int"
    if tp is bool:
        return "v.__class__ is bool"
    if tp is float:
        return "(v.__class__ is float and v - v == 0.0)"
    if tp is str:
        cap = _STR_CAPS.get(name, _DEFAULT_STR_CAP)
        return f"(v.__class__ is str and len(v) <= {cap} and v.isprintable())"
    return None


def _is_float(tp: Any) -> bool:
    """Whether `tp` is float or float | None."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return tp is float or (len(args) == 1 and args[0] is float and len(typing.get_args(tp)) == 2)


def _compile_dataclass(cls: Any) -> Converter:
    """Generate a straight-line validating constructor for `cls` (no loops over fields).

    Two are made: one for an object that has every field (the sampler always writes them all),
    which fetches the values with a single itemgetter call, and one that fills in defaults for
    missing keys; the first hands over to the second on a KeyError."""
    cached = _COMPILED.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    keys = [_TO_WIRE.get(f.name, f.name) for f in fields]
    env: dict[str, Any] = {
        "cls": cls,
        "_MISSING": _MISSING,
        "WireError": WireError,
        "_bad_object": _bad_object,
        "_new": object.__new__,
    }
    if len(keys) == 1:
        env["_all"] = lambda data, _key=keys[0]: (data[_key],)
    else:
        env["_all"] = operator.itemgetter(*keys)
    build = []
    if _plain_slots(cls):
        # Fill the slots directly: a frozen dataclass's __init__ sets each field through
        # object.__setattr__ by name, which costs about twice as much per object.
        build.append("    o = _new(cls)")
        for n, f in enumerate(fields):
            env[f"s{n}"] = cls.__dict__[f.name].__set__
            build.append(f"    s{n}(o, a{n})")
        build.append("    return o")
    else:
        build.append(f"    return cls({', '.join(f'a{n}' for n in range(len(fields)))})")

    whole = [
        "def conv_obj(data, path):",
        "    if data.__class__ is not dict:",
        "        _bad_object(cls, data, path)",
        # Fewer keys than fields (a writer older than this model): some are missing for sure,
        # so the defaults path at once, without a KeyError to raise and catch.
        f"    if len(data) < {len(keys)}:",
        "        return conv_partial(data, path)",
        "    try:",
        f"        {', '.join(f'a{n}' for n in range(len(fields)))}, = _all(data)",
        "    except KeyError:",
        "        return conv_partial(data, path)",
        "    p = path + '.' if path else ''",
    ]
    partial = [
        "def conv_partial(data, path):",
        "    p = path + '.' if path else ''",
        "    get = data.get",
    ]
    for n, f in enumerate(fields):
        key = keys[n]
        env[f"c{n}"] = _compile(hints[f.name], key)
        fast = _fast_check(hints[f.name], key)
        convert = f"c{n}(v, p + {key!r})"
        whole.append(f"    v = a{n}")
        if fast is None:
            whole.append(f"    a{n} = {convert}")
        else:
            if _is_float(hints[f.name]):  # an integral float travels as an int
                whole.append("    if v.__class__ is int:")
                whole.append(f"        a{n} = float(v)")
                whole.append(f"    elif not ({fast}):")
            else:
                whole.append(f"    if not ({fast}):")
            whole.append(f"        a{n} = {convert}")
        partial.append(f"    v = get({key!r}, _MISSING)")
        partial.append("    if v is _MISSING:")
        if f.default is not dataclasses.MISSING:
            env[f"d{n}"] = f.default
            partial.append(f"        v = d{n}")
        elif f.default_factory is not dataclasses.MISSING:
            env[f"d{n}"] = f.default_factory
            partial.append(f"        v = d{n}()")
        else:
            partial.append(f"        raise WireError(p + {key + ': missing'!r})")
        partial.append("    else:" if fast is None else f"    elif not ({fast}):")
        partial.append(f"        v = {convert}")
        partial.append(f"    a{n} = v")
    exec("\n".join(partial + build + [""] + whole + build), env)
    conv_obj: Converter = env["conv_obj"]
    _COMPILED[cls] = conv_obj
    return conv_obj


_MISSING = object()


def _plain_slots(cls: Any) -> bool:
    """True when `cls`'s __init__ only stores its arguments in its own slots, so a decoder may
    fill them directly (a generated dataclass __init__, no __post_init__, no InitVar)."""
    fields = dataclasses.fields(cls)
    params = getattr(cls, "__dataclass_params__", None)
    return (
        getattr(params, "init", False)
        and "__slots__" in cls.__dict__
        and tuple(cls.__slots__) == tuple(f.name for f in fields)
        and len(cls.__dataclass_fields__) == len(fields)
        and all(f.init for f in fields)
        and not hasattr(cls, "__post_init__")
        and cls.__new__ is object.__new__
    )


def _bad_object(cls: Any, data: Any, path: str) -> None:
    raise WireError(f"{path or cls.__name__}: expected an object, got {_type_name(data)}")


def _from_dict(cls: type, data: Any, path: str) -> Any:
    return _compile_dataclass(cls)(data, path)


def converter(tp: Any, name: str) -> Converter:
    """The validating converter for a value of type `tp` held in a field called `name`."""
    return _compile(tp, name)


def fast_check(tp: Any, name: str) -> str | None:
    """A Python expression over ``v``, true when a value of type `tp` needs no conversion."""
    return _fast_check(tp, name)


def wire_name(attr: str) -> str:
    """The wire key of a model attribute (``self_cost`` travels as ``self``)."""
    return _TO_WIRE.get(attr, attr)


def attr_name(key: str) -> str:
    """The model attribute of a wire key."""
    return _FROM_WIRE.get(key, key)


def plain_slots(cls: Any) -> bool:
    """Whether instances of `cls` may be built by filling their slots directly."""
    return _plain_slots(cls)


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
    if kind == "delta":
        raise WireError("a delta line needs the sample before it (wire_patch.StreamDecoder)")
    raise WireError(f"unknown message type {clean(str(kind), 40)!r}")


def parse(line: str | bytes) -> Any:
    """The JSON value of one line (size, UTF-8 and JSON checked); WireError otherwise."""
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
        return _loads(line)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"not JSON: {_why(line, exc)}") from None


def _why(line: str, exc: Exception) -> str:
    """What the parser found wrong, said plainly for a number JSON does not have."""
    pos = getattr(exc, "pos", None)
    if isinstance(pos, int) and line[pos:pos + 9].lstrip("-").startswith(("NaN", "Infinity")):
        return f"a non-finite number at char {pos} (JSON has no NaN or Infinity)"
    return clean(str(exc), 120)


def decode(line: str | bytes) -> Hello | Sample:
    """Decode one line; raises :class:`WireError` with a reason for anything unacceptable."""
    data = parse(line)
    try:
        return from_dict(data)
    except WireError:
        raise
    except (TypeError, ValueError, RecursionError) as exc:  # defensive: never leak another type
        raise WireError(f"invalid message: {clean(str(exc), 200)}") from None


__all__ = [
    "MAX_LINE_BYTES", "SCHEMA", "WireError", "attr_name", "converter", "decode", "encode",
    "fast_check", "from_dict", "parse", "plain_slots", "to_dict", "wire_name",
]
