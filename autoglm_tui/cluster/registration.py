"""Node registrations in etcd: the JSON value an agent writes and its strict validation (pure).

Everything read from the registry is untrusted. ``parse_registration`` accepts a value only when
every field has the right type, length and character set (node ids ``[A-Za-z0-9._-]``, at most
64, equal to the key's suffix; addresses that are IP literals or RFC 1123 host names; ports
1-65535; labels from a small charset) and raises ``RegistrationError`` with a short, printable
reason otherwise. Unknown fields are ignored (newer agents may add some). No field is ever used in
a shell command line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from autoglm_tui.cluster.hosts import HostSpecError, validate_host
from autoglm_tui.text import clean, has_control

MAX_VALUE_BYTES = 64 * 1024
MAX_NODE_ID = 64
MAX_LABELS = 64
MAX_LABEL_VALUE = 128
MAX_GPUS = 64
MAX_URL = 2048

NODE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")
HOSTNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}")
LABEL_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,62}")
LABEL_VALUE = re.compile(r"[A-Za-z0-9_.:/@+=,% -]{0,128}")
VERSION = re.compile(r"[A-Za-z0-9_.+-]{1,32}")
GPU_UUID = re.compile(r"[A-Za-z0-9_./-]{1,96}")  # GPU-..., MIG-GPU-.../gi/ci
MAX_GPU_NAME = 128


class RegistrationError(ValueError):
    """A registration that does not validate; `node_id` is the (cleaned) id it was filed under."""

    def __init__(self, node_id: str, reason: str) -> None:
        super().__init__(reason)
        self.node_id = node_id
        self.reason = reason


@dataclass(frozen=True, slots=True)
class GpuResource:
    index: int
    uuid: str
    name: str
    memory_mb: int | None = None


@dataclass(frozen=True, slots=True)
class Resources:
    cpu_cores: int | None = None
    memory_mb: int | None = None
    gpus: tuple[GpuResource, ...] = ()
    bandwidth_mbps: int | None = None


@dataclass(frozen=True, slots=True)
class RegisteredService:
    """An inference server the node's registration names (its metrics URL)."""

    url: str
    name: str | None = None
    kind: str | None = None

    def to_dict(self) -> dict[str, str]:
        out = {"url": self.url}
        if self.name is not None:
            out["name"] = self.name
        if self.kind is not None:
            out["kind"] = self.kind
        return out


MAX_SERVICES = 16


@dataclass(frozen=True, slots=True)
class Registration:
    """One node's validated registration (what ``<prefix><node_id>`` holds)."""

    node_id: str
    hostname: str
    address: str
    ssh_port: int = 22
    labels: dict[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    heartbeat_interval: float | None = None
    agent_version: str | None = None
    started_at: float | None = None
    service_url: str | None = None
    services: tuple[RegisteredService, ...] = ()
    # What was left out of the value as read (a bad services entry), for the monitor to show;
    # never part of the value itself.
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (the wire shape of the registry value)."""
        out: dict[str, Any] = {
            "node_id": self.node_id,
            "hostname": self.hostname,
            "address": self.address,
            "ssh_port": self.ssh_port,
            "labels": dict(self.labels),
            "resources": {
                "cpu_cores": self.resources.cpu_cores,
                "memory_mb": self.resources.memory_mb,
                "gpus": [
                    {"index": g.index, "uuid": g.uuid, "name": g.name, "memory_mb": g.memory_mb}
                    for g in self.resources.gpus
                ],
                "bandwidth_mbps": self.resources.bandwidth_mbps,
            },
            "heartbeat_interval": self.heartbeat_interval,
            "agent_version": self.agent_version,
            "started_at": self.started_at,
        }
        if self.service_url is not None:
            out["service_url"] = self.service_url
        if self.services:
            out["services"] = [svc.to_dict() for svc in self.services]
        return out

    def to_json(self) -> bytes:
        """The value the agent puts in etcd (compact UTF-8 JSON)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True).encode()


def _show(value: object, limit: int = 40) -> str:
    """A short printable rendering of a rejected value for a reason text."""
    text = value if isinstance(value, str) else repr(value)
    return repr(clean(text, limit))


class _Invalid(Exception):
    """Internal: one field failed; carries the reason."""


def _int(obj: Mapping[str, Any], name: str, lo: int, hi: int, optional: bool) -> int | None:
    value = obj.get(name)
    if value is None:
        if optional:
            return None
        raise _Invalid(f"{name}: missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"{name}: not an integer ({type(value).__name__})")
    if not lo <= value <= hi:
        raise _Invalid(f"{name}: {value} out of range {lo}-{hi}")
    return value


def _number(obj: Mapping[str, Any], name: str, lo: float, hi: float) -> float | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Invalid(f"{name}: not a number ({type(value).__name__})")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise _Invalid(f"{name}: {value} out of range")
    return float(value)


def _str(obj: Mapping[str, Any], name: str, pattern: re.Pattern[str], optional: bool) -> str | None:
    value = obj.get(name)
    if value is None:
        if optional:
            return None
        raise _Invalid(f"{name}: missing")
    if not isinstance(value, str):
        raise _Invalid(f"{name}: not a string ({type(value).__name__})")
    if not pattern.fullmatch(value):
        raise _Invalid(f"{name}: bad characters or length: {_show(value)}")
    return value


def check_node_id(node_id: str) -> str:
    """Return `node_id` when it is 1-64 characters of ``[A-Za-z0-9._-]`` (not starting with
    ``.`` or ``-``), else raise ValueError."""
    if not NODE_ID.fullmatch(node_id):
        raise ValueError(f"node id must be 1-{MAX_NODE_ID} of A-Z a-z 0-9 . _ -: {_show(node_id)}")
    return node_id


def check_labels(labels: object) -> dict[str, str]:
    """Return the labels as a dict when keys and values use the label charsets; else ValueError."""
    if not isinstance(labels, dict):
        raise ValueError(f"labels: not an object ({type(labels).__name__})")
    if len(labels) > MAX_LABELS:
        raise ValueError(f"labels: {len(labels)} labels, at most {MAX_LABELS}")
    out: dict[str, str] = {}
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_KEY.fullmatch(key):
            raise ValueError(f"labels: bad key {_show(key)}")
        if not isinstance(value, str):
            raise ValueError(f"labels.{key}: not a string ({type(value).__name__})")
        if not LABEL_VALUE.fullmatch(value):
            raise ValueError(f"labels.{key}: bad characters or length: {_show(value)}")
        out[key] = value
    return out


def check_address(address: object) -> str:
    """Return `address` when it is an IP literal or a host name fit for SSH; else ValueError."""
    if not isinstance(address, str):
        raise ValueError(f"address: not a string ({type(address).__name__})")
    if has_control(address) or any(ch.isspace() for ch in address):
        raise ValueError(f"address: control or space characters: {_show(address)}")
    try:
        return validate_host(address)
    except HostSpecError as exc:
        raise ValueError(f"address: {exc}") from None


def check_service_url(url: object) -> str:
    """Return `url` when it is a plain http(s) URL; else ValueError."""
    if not isinstance(url, str):
        raise ValueError(f"service_url: not a string ({type(url).__name__})")
    if len(url) > MAX_URL or has_control(url) or any(ch.isspace() for ch in url):
        raise ValueError(f"service_url: too long or holds control/space characters: {_show(url)}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"service_url: not a URL: {_show(url)}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"service_url: need http(s)://host[:port]/path, got {_show(url)}")
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"service_url: bad port in {_show(url)}")
    return url


def split_services(value: object) -> tuple[tuple[RegisteredService, ...], tuple[str, ...]]:
    """The `services` list's good entries and, apart, what was wrong with the others: at most
    16 objects {"url", "name"?, "kind"?}, each URL an http(s) metrics URL, each name letters,
    digits and ._:- . A bad entry is left out on its own; the node and its other services
    stay (a bad endpoint affects only itself)."""
    from autoglm_tui.sampler.services.targets import TargetError, parse_spec

    if not isinstance(value, list):
        return (), (f"services: not a list ({type(value).__name__}); none kept",)
    problems: list[str] = []
    if len(value) > MAX_SERVICES:
        problems.append(f"services: {len(value)} entries, the first {MAX_SERVICES} kept")
        value = value[:MAX_SERVICES]
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or set(entry) - {"url", "name", "kind"}:
            problems.append(f"services[{i}]: need an object with url and optional name, kind")
            continue
        url, name, kind = entry.get("url"), entry.get("name"), entry.get("kind")
        if not isinstance(url, str) or any(x is not None and not isinstance(x, str)
                                           for x in (name, kind)):
            problems.append(f"services[{i}]: url, name and kind must be strings")
            continue
        if "," in url:
            problems.append(f"services[{i}]: url may not hold ',': {_show(url)}")
            continue
        spec = url + (f",name={name}" if name is not None else "") + (
            f",kind={kind}" if kind is not None else "")
        try:
            target = parse_spec(spec, source="registration")
        except TargetError as exc:
            problems.append(f"services[{i}]: {clean(str(exc), 120)}")
            continue
        out.append(RegisteredService(target.url, target.name, target.kind))
    return tuple(out), tuple(problems)


def check_services(value: object) -> tuple[RegisteredService, ...]:
    """The `services` list, every entry good; ValueError names the first bad one."""
    services, problems = split_services(value)
    if problems:
        raise ValueError(problems[0])
    return services


def _resources(value: object) -> Resources:
    if value is None:
        return Resources()
    if not isinstance(value, dict):
        raise _Invalid(f"resources: not an object ({type(value).__name__})")
    gpus_raw = value.get("gpus")
    gpus: list[GpuResource] = []
    if gpus_raw is not None:
        if not isinstance(gpus_raw, list):
            raise _Invalid("resources.gpus: not a list")
        if len(gpus_raw) > MAX_GPUS:
            raise _Invalid(f"resources.gpus: {len(gpus_raw)} entries, at most {MAX_GPUS}")
        for n, gpu in enumerate(gpus_raw):
            if not isinstance(gpu, dict):
                raise _Invalid(f"resources.gpus[{n}]: not an object")
            try:
                index = _int(gpu, "index", 0, 1023, optional=False)
                uuid = _str(gpu, "uuid", GPU_UUID, optional=False)
                name = gpu.get("name")
                if not isinstance(name, str) or not name or len(name) > MAX_GPU_NAME:
                    raise _Invalid("name: not a string of 1-128 characters")
                if has_control(name):
                    raise _Invalid(f"name: control characters: {_show(name)}")
                memory = _int(gpu, "memory_mb", 0, 2**40, optional=True)
            except _Invalid as exc:
                raise _Invalid(f"resources.gpus[{n}].{exc}") from None
            assert index is not None and uuid is not None
            gpus.append(GpuResource(index, uuid, name, memory))
    try:
        return Resources(
            cpu_cores=_int(value, "cpu_cores", 1, 1_000_000, optional=True),
            memory_mb=_int(value, "memory_mb", 0, 2**40, optional=True),
            gpus=tuple(gpus),
            bandwidth_mbps=_int(value, "bandwidth_mbps", 0, 10**9, optional=True),
        )
    except _Invalid as exc:
        raise _Invalid(f"resources.{exc}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Invalid(f"duplicate field {_show(key)}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _Invalid(f"not JSON: {name} is not a number")


def node_id_from_key(key: bytes | str, prefix: str) -> str:
    """The key's suffix after `prefix`; raises RegistrationError when it is not a valid id."""
    if isinstance(key, bytes):
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            raise RegistrationError(
                clean(key.decode("utf-8", "replace"), MAX_NODE_ID), "key is not UTF-8"
            ) from None
    else:
        text = key
    if not text.startswith(prefix):
        raise RegistrationError(clean(text, MAX_NODE_ID), "key outside the prefix")
    suffix = text[len(prefix) :]
    if not NODE_ID.fullmatch(suffix):
        raise RegistrationError(
            clean(suffix, MAX_NODE_ID) or "?",
            f"key suffix is not a valid node id: {_show(suffix)}",
        )
    return suffix


def parse_registration(key: bytes | str, value: bytes, prefix: str) -> Registration:
    """Validate one registry entry; raises RegistrationError (never anything else)."""
    node_id = node_id_from_key(key, prefix)
    try:
        return _parse(node_id, value)
    except _Invalid as exc:
        raise RegistrationError(node_id, clean(str(exc), 300)) from None
    except (ValueError, RecursionError, TypeError) as exc:
        raise RegistrationError(node_id, clean(f"invalid: {exc}", 300)) from None


def load_object(value: bytes) -> dict[str, Any]:
    """An untrusted registry value as a JSON object: at most 64 KiB of UTF-8, no duplicate
    fields, no NaN/Infinity; raises ValueError with a short reason."""
    try:
        return _load(value)
    except _Invalid as exc:
        raise ValueError(str(exc)) from None


def _load(value: bytes) -> dict[str, Any]:
    if not isinstance(value, (bytes, bytearray)):
        raise _Invalid("value is not bytes")
    if len(value) > MAX_VALUE_BYTES:
        raise _Invalid(f"value too large ({len(value)} bytes, at most {MAX_VALUE_BYTES})")
    try:
        text = bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise _Invalid("value is not UTF-8") from None
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise _Invalid(f"not JSON: {exc.msg} at offset {exc.pos}") from None
    except RecursionError:
        raise _Invalid("not JSON: nested too deeply") from None
    if not isinstance(obj, dict):
        raise _Invalid(f"value is not a JSON object ({type(obj).__name__})")
    return obj


def registration_from_object(node_id: str, obj: object) -> Registration:
    """Validate a registration already decoded from JSON (e.g. inside a member record);
    raises RegistrationError (never anything else)."""
    try:
        if not isinstance(obj, dict):
            raise _Invalid(f"registration is not a JSON object ({type(obj).__name__})")
        return _parse_object(node_id, obj)
    except _Invalid as exc:
        raise RegistrationError(node_id, clean(str(exc), 300)) from None
    except (ValueError, RecursionError, TypeError) as exc:
        raise RegistrationError(node_id, clean(f"invalid: {exc}", 300)) from None


def _parse(node_id: str, value: bytes) -> Registration:
    return _parse_object(node_id, _load(value))


def _parse_object(node_id: str, obj: dict[str, Any]) -> Registration:
    claimed = _str(obj, "node_id", NODE_ID, optional=False)
    if claimed != node_id:
        raise _Invalid(f"node_id {_show(claimed)} does not match its key")
    hostname = _str(obj, "hostname", HOSTNAME, optional=False)
    try:
        address = check_address(obj.get("address"))
        labels = check_labels(obj.get("labels", {}) if obj.get("labels") is not None else {})
        service_url = obj.get("service_url")
        if service_url is not None:
            service_url = check_service_url(service_url)
        services, problems = (split_services(obj["services"]) if obj.get("services") is not None
                              else ((), ()))
    except ValueError as exc:
        raise _Invalid(str(exc)) from None
    ssh_port = _int(obj, "ssh_port", 1, 65535, optional=False)
    assert hostname is not None and ssh_port is not None
    return Registration(
        node_id=node_id,
        hostname=hostname,
        address=address,
        ssh_port=ssh_port,
        labels=labels,
        resources=_resources(obj.get("resources")),
        heartbeat_interval=_number(obj, "heartbeat_interval", 0.0, 86_400.0),
        agent_version=_str(obj, "agent_version", VERSION, optional=True),
        started_at=_number(obj, "started_at", 0.0, 1e11),
        service_url=service_url,
        services=services,
        problems=problems,
    )


__all__ = [
    "MAX_VALUE_BYTES",
    "GpuResource",
    "RegisteredService",
    "Registration",
    "RegistrationError",
    "Resources",
    "check_address",
    "check_labels",
    "check_node_id",
    "check_service_url",
    "check_services",
    "load_object",
    "node_id_from_key",
    "parse_registration",
    "registration_from_object",
    "split_services",
]
