"""The recording format (version 2; version 1 is still read): JSON lines, one per event the
monitor received.

Line 1 is a header; then, in the order the monitor applied them, one line per event:

* ``{"rt": T, "node": ID, "type": "hello" | "sample" | "delta", "w": {...}}``: the wire line
  (wire.py, wire_delta.py) exactly as the sampler sent it, under ``w``, with ``rt`` (monitor
  receive time, unix seconds) and ``node`` (node id); a ``delta`` applies to the node's
  previous sample. A sample (or delta) whose source derived figures itself
  (``SampleReceived.derived``: a Prometheus source's rates and quantiles) ends with
  ``"derived": [[METRIC, SUBJECT, VALUE], ...]``. Version 1 wrote the wire object's fields
  beside ``rt`` and ``node`` instead of under ``w`` and had no deltas (1.1 added ``derived``);
* ``{"rt": T, "node": ID, "type": "status", "event": "joined" | "left" | "invalid" |
  "unreachable" | "heartbeat_lost" | "forgotten" | "sampler_exited", ...}``: membership and
  reachability, with the reason;
* ``{"rt": T, "type": "registry", "ok": ..., "reason": ...}``: the discovery registry's health;
* ``{"rt": T, "type": "mark", "kind": "alert", "text": ...}``: a moment worth finding again.

``rt``, ``node`` and ``type`` come first on every line so an index can be built without parsing
JSON. This module turns events into lines (bytes) and lines back into events; it does no I/O.
"""

from __future__ import annotations

import json
import math
import os
import re
from functools import lru_cache
from typing import Any

from autoglm_tui import __version__, wire
from autoglm_tui.events import (
    Event,
    HeartbeatLost,
    HelloReceived,
    NodeForgotten,
    NodeInvalid,
    NodeJoined,
    NodeLeft,
    NodeUnreachable,
    RegistryChanged,
    SampleReceived,
    SamplerExited,
)
from autoglm_tui.model import SCHEMA, Hello, Sample
from autoglm_tui.text import clean

FORMAT = "autoglm-tui-recording"
VERSION = 2
MINOR = 0  # additions within a version (1.1 added "derived"; 2.0 has it)
READS = (1, 2)  # the versions this reader understands
MAX_NODE_ID = 200
MAX_DERIVED = 4096  # entries of one sample's "derived"
_METRIC = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
WIRE = ("hello", "sample", "delta")  # lines that hold a wire object
SAMPLES = ("sample", "delta")  # lines that are data, not control (the index skips them)

# {"rt":123.4,"node":"x","type":"sample"  -> rt, node and type without parsing the line
FAST = re.compile(rb'^\{"rt":(-?[0-9][0-9.eE+-]*),"node":("(?:[^"\\]|\\.)*"),"type":"([a-z]+)"')
FAST_NODELESS = re.compile(rb'^\{"rt":(-?[0-9][0-9.eE+-]*),"type":"([a-z]+)"')
# a wire line kept verbatim must be one of these objects, written compactly with "type" first
_RAW_HEADS = ((b'{"type":"delta",', "delta"), (b'{"type":"sample",', "sample"),
              (b'{"type":"hello",', "hello"))


class RecordingError(Exception):
    """A recording that cannot be read or written; the message says why and what to do."""


def header(source: str, t: float, **extra: Any) -> dict[str, Any]:
    """The first line of a recording."""
    return {"type": "recording", "format": FORMAT, "version": VERSION, "minor": MINOR,
            "id": os.urandom(8).hex(), "created": t, "writer": f"autoglm-tui {__version__}",
            "wire_schema": SCHEMA, "source": source, **extra}


def check_header(obj: Any) -> dict[str, Any]:
    """The header if `obj` is one this reader understands, else RecordingError."""
    if not isinstance(obj, dict) or obj.get("type") != "recording" or obj.get("format") != FORMAT:
        raise RecordingError("not an autoglm-tui recording (its first line is not a recording "
                             "header)")
    version = obj.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RecordingError("recording header has no version")
    if version not in READS:
        raise RecordingError(f"recording format version {version} is not supported (this "
                             f"autoglm-tui reads versions {READS[0]} to {READS[-1]}); use the "
                             "autoglm-tui that wrote it, or a newer one")
    return obj


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=str)


@lru_cache(maxsize=8192)
def _node_json(node: str) -> bytes:
    return json.dumps(node, ensure_ascii=False).encode()


def _prefix(rt: float, node: str | None) -> bytes:
    head = b'{"rt":' + repr(float(rt)).encode()
    if node is not None:
        head += b',"node":' + _node_json(node)
    return head + b","


def raw_kind(raw: bytes) -> str | None:
    """The kind of a wire line (``hello``, ``sample``, ``delta``) when it can be kept verbatim:
    one compact JSON object with "type" first. None for anything else (such a line is encoded
    again from what it decoded to)."""
    if raw[-1:] != b"}":
        return None
    for head, kind in _RAW_HEADS:
        if raw.startswith(head):
            return kind
    return None


def message_line(rt: float, node: str, msg: Hello | Sample, raw: bytes | None = None
                 ) -> tuple[bytes, str]:
    """(line, kind) for a hello or sample: `raw`, the wire line it was decoded from (a full
    sample, or a delta against the node's previous sample), kept as sent; without it (or when it
    cannot be kept verbatim) the message is encoded as a full line."""
    kind = raw_kind(raw) if raw else None
    if kind is None or (kind == "hello") != isinstance(msg, Hello):
        raw = wire.encode(msg).encode()
        kind = "hello" if isinstance(msg, Hello) else "sample"
    return b"".join((_prefix(rt, node), b'"type":"', kind.encode(), b'","w":', raw, b"}")), kind


def sample_line(rt: float, node: str, sample: Sample, raw: bytes | None,
                derived: dict[tuple[str, int | str | None], float | None] | None
                ) -> tuple[bytes, str]:
    """(line, kind) for a sample (see message_line), with the figures its source derived (if
    any) at the end."""
    line, kind = message_line(rt, node, sample, raw)
    if not derived:
        return line, kind
    items = [[metric, subject, value if value is None or math.isfinite(value) else None]
             for (metric, subject), value in derived.items()]
    return line[:-1] + b',"derived":' + dumps(items).encode() + b"}", kind  # type: ignore[arg-type]


def derived_of(obj: dict[str, Any]) -> dict[tuple[str, int | str | None], float | None] | None:
    """The "derived" figures of a sample line (None when it has none); RecordingError when the
    field is not a list of [metric, subject, value] with a metric name, a subject that is null,
    a whole number or a string, and a value that is null or a finite number."""
    raw = obj.get("derived")
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > MAX_DERIVED:
        raise RecordingError("derived: not a list of figures (or too long)")
    out: dict[tuple[str, int | str | None], float | None] = {}
    for item in raw:
        if not isinstance(item, list) or len(item) != 3:
            raise RecordingError("derived: each figure is [metric, subject, value]")
        metric, subject, value = item
        if not isinstance(metric, str) or len(metric) > 64 or not _METRIC.fullmatch(metric):
            raise RecordingError(f"derived: not a metric name: {clean(str(metric), 64)!r}")
        if isinstance(subject, bool) or not (subject is None or isinstance(subject, (int, str))):
            raise RecordingError("derived: a subject is null, a number or a string")
        if isinstance(subject, str):
            subject = clean(subject, 128)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise RecordingError(f"derived: {metric}: not a number")
        out[(metric, subject)] = None if value is None else float(value)
    return out


def record_line(rt: float, node: str | None, body: dict[str, Any]) -> bytes:
    return _prefix(rt, node) + dumps(body)[1:].encode()


# status events that carry a node and a reason only: (class, "event" value)
_SIMPLE: tuple[tuple[type, str], ...] = (
    (NodeLeft, "left"), (NodeInvalid, "invalid"), (HeartbeatLost, "heartbeat_lost"),
    (NodeForgotten, "forgotten"), (SamplerExited, "sampler_exited"))
_BY_NAME = {name: cls for cls, name in _SIMPLE}


def event_line(event: Event) -> tuple[bytes, str]:
    """(line, kind) for an event; kinds in SAMPLES are data, the others control lines."""
    if isinstance(event, SampleReceived):
        return sample_line(event.t, event.node_id, event.sample, event.line, event.derived)
    if isinstance(event, HelloReceived):
        return message_line(event.t, event.node_id, event.hello, event.line)
    if isinstance(event, NodeJoined):
        body: dict[str, Any] = {"type": "status", "event": "joined", "address": event.address,
                                "ssh_port": event.ssh_port, "user": event.user,
                                "labels": dict(event.labels), "source": event.source}
        if event.registration is not None:
            body["registration"] = event.registration
        return record_line(event.t, event.node_id, body), "status"
    if isinstance(event, NodeUnreachable):
        return record_line(event.t, event.node_id,
                           {"type": "status", "event": "unreachable", "reason": event.reason,
                            "retry_in_s": event.retry_in_s}), "status"
    for cls, name in _SIMPLE:
        if isinstance(event, cls):
            return record_line(event.t, event.node_id,  # type: ignore[attr-defined]
                               {"type": "status", "event": name,
                                "reason": event.reason}), "status"  # type: ignore[attr-defined]
    if isinstance(event, RegistryChanged):
        return record_line(event.t, None, {"type": "registry", "ok": event.ok,
                                           "reason": event.reason}), "registry"
    raise TypeError(f"not a recordable event: {type(event).__name__}")


def mark_line(rt: float, kind: str, text: str, **extra: Any) -> bytes:
    return record_line(rt, None, {"type": "mark", "kind": kind, "text": text, **extra})


# ---------------------------------------------------------------- reading


def fast_line(line: bytes) -> tuple[float, str, bytes | None] | None:
    """(rt, type, the node id as JSON or None) read off the front of a line written by this
    module, else None."""
    m = FAST.match(line)
    if m is not None:
        rt_text, node, kind = m.group(1, 2, 3)
    else:
        m = FAST_NODELESS.match(line)
        if m is None:
            return None
        rt_text, kind = m.group(1, 2)
        node = None
    try:
        rt = float(rt_text)
    except ValueError:
        return None
    return (rt, kind.decode(), node) if math.isfinite(rt) else None


def fast_fields(line: bytes) -> tuple[float, str] | None:
    """(rt, type) read off the front of a line written by this module, else None."""
    fast = fast_line(line)
    return None if fast is None else (fast[0], fast[1])


def line_fields(line: bytes) -> tuple[float, str, dict[str, Any] | None]:
    """(rt, type, parsed object or None when it was not needed) of one line; RecordingError
    when the line has no usable rt or type."""
    fast = fast_fields(line)
    if fast is not None and fast[1] in SAMPLES:
        return fast[0], fast[1], None
    if line.startswith(b'{"type":"recording"'):
        return -math.inf, "recording", None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise RecordingError(f"not JSON: {clean(str(exc), 100)}") from None
    if not isinstance(obj, dict):
        raise RecordingError("not a JSON object")
    rt, kind = obj.get("rt"), obj.get("type")
    if isinstance(rt, bool) or not isinstance(rt, (int, float)) or not math.isfinite(rt):
        raise RecordingError("no receive time (rt)")
    if not isinstance(kind, str):
        raise RecordingError("no type")
    return float(rt), kind, obj


def wire_object(obj: dict[str, Any], version: int) -> Any:
    """The wire object of a hello, sample or delta line (version 1: the line itself)."""
    if version < 2:
        return obj
    w = obj.get("w")
    if not isinstance(w, dict):
        raise RecordingError("no wire object (w)")
    return w


def node_of(obj: dict[str, Any]) -> str:
    node = obj.get("node")
    if not isinstance(node, str) or not node.strip():
        raise RecordingError("no node id")
    return clean(node, MAX_NODE_ID)


def _opt_str(obj: dict[str, Any], key: str, cap: int = 400) -> str | None:
    v = obj.get(key)
    return clean(v, cap) if isinstance(v, str) else None


def _labels(v: Any) -> dict[str, str]:
    if not isinstance(v, dict):
        return {}
    return {clean(str(k), 64): clean(str(x), 256) for k, x in list(v.items())[:64]
            if isinstance(x, (str, int, float))}


def control_event(obj: dict[str, Any], rt: float) -> Event | None:
    """The event of a status or registry line (None for marks and unknown kinds)."""
    kind = obj.get("type")
    if kind == "registry":
        return RegistryChanged(rt, bool(obj.get("ok")), _opt_str(obj, "reason"))
    if kind != "status":
        return None
    node = node_of(obj)
    what = obj.get("event")
    if what == "joined":
        port = obj.get("ssh_port")
        reg = obj.get("registration")
        return NodeJoined(rt, node, address=_opt_str(obj, "address", 256),
                          ssh_port=port if isinstance(port, int) and 0 < port < 65536 else None,
                          user=_opt_str(obj, "user", 64), labels=_labels(obj.get("labels")),
                          source="replay", registration=reg if isinstance(reg, dict) else None)
    reason = _opt_str(obj, "reason") or "unknown"
    if isinstance(what, str) and what in _BY_NAME:
        return _BY_NAME[what](rt, node, reason)  # type: ignore[no-any-return]
    if what == "unreachable":
        retry = obj.get("retry_in_s")
        return NodeUnreachable(rt, node, reason,
                               float(retry) if isinstance(retry, (int, float)) else None)
    return None
