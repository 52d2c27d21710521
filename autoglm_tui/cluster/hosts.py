"""Static host lists: ``--hosts user@host:port,...`` and ``--hosts-file FILE`` into specs (pure).

Validation is strict, because a host entry ends up as an SSH destination: host names (RFC 1123
labels, plus ``_`` for ssh_config aliases), IPv4, IPv6 (bracketed when a port follows), a
conservative user-name charset and ports 1-65535. Nothing here is ever put into a shell command.

A hosts file has one entry per line, then optional ``key=value`` labels; ``#`` starts a comment.
The label ``name=`` sets the node's id (default: ``host``, or ``host:port`` when a port is given)::

    # GPU nodes
    gpu1.example.com            rack=a1 role=train
    ops@10.0.0.12:2222          rack=a2 name=gpu2
    [fd00::12]:22               role=infer
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from autoglm_tui.text import has_control

MAX_HOSTNAME = 253
MAX_LABELS = 64
MAX_LABEL_VALUE = 256

_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")
_HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_ZONE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_LABEL_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,62}")
_NODE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,62}")
_DIGITS = re.compile(r"[0-9]{1,5}")
_IPV4ISH = re.compile(r"[0-9.]+")


class HostSpecError(ValueError):
    """A host entry that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class HostSpec:
    """One node to reach over SSH. `port`/`user` None: take them from ssh_config or defaults."""

    node_id: str
    host: str
    port: int | None = None
    user: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


def _show(value: str, limit: int = 60) -> str:
    """A short, printable rendering of a rejected entry for an error message."""
    text = "".join(ch if ch.isprintable() else "?" for ch in value)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def validate_host(host: str) -> str:
    """Return `host` (an IP address or host name, IPv6 without brackets) or raise HostSpecError."""
    if not host:
        raise HostSpecError("empty host")
    if ":" in host:  # only IPv6 addresses hold colons
        addr, _, zone = host.partition("%")
        if zone and not _ZONE.fullmatch(zone):
            raise HostSpecError(f"bad IPv6 zone in {_show(host)}")
        try:
            ipaddress.IPv6Address(addr)
        except ValueError:
            raise HostSpecError(f"not a valid IPv6 address: {_show(host)}") from None
        return host
    if _IPV4ISH.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise HostSpecError(f"not a valid IPv4 address: {_show(host)}") from None
        return host
    if len(host) > MAX_HOSTNAME:
        raise HostSpecError(f"host name longer than {MAX_HOSTNAME} characters: {_show(host)}")
    for label in host.split("."):
        if not _HOST_LABEL.fullmatch(label):
            raise HostSpecError(f"not a valid host name: {_show(host)}")
    return host


def validate_user(user: str) -> str:
    """Return `user` when it is a plain login name, else raise HostSpecError."""
    if not _USER.fullmatch(user):
        raise HostSpecError(f"not a valid user name: {_show(user)}")
    return user


def validate_port(port: str | int) -> int:
    """Return the port as an int in 1..65535, else raise HostSpecError."""
    if isinstance(port, str):
        if not _DIGITS.fullmatch(port):
            raise HostSpecError(f"not a valid port: {_show(port)}")
        port = int(port)
    if isinstance(port, bool) or not 1 <= port <= 65535:
        raise HostSpecError(f"port out of range 1-65535: {port}")
    return port


def validate_labels(pairs: dict[str, str]) -> dict[str, str]:
    """Return the labels when every key and value is acceptable, else raise HostSpecError."""
    if len(pairs) > MAX_LABELS:
        raise HostSpecError(f"too many labels ({len(pairs)}, limit {MAX_LABELS})")
    for key, value in pairs.items():
        if not _LABEL_KEY.fullmatch(key):
            raise HostSpecError(f"not a valid label key: {_show(key)}")
        if len(value) > MAX_LABEL_VALUE or has_control(value):
            raise HostSpecError(f"label {key}: value too long or holds control characters")
    return pairs


def split_destination(entry: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` (IPv6 as ``[addr]:port`` or bare) into validated parts."""
    if not entry or has_control(entry) or any(ch.isspace() for ch in entry):
        raise HostSpecError(f"not a host entry: {_show(entry)}")
    user: str | None = None
    rest = entry
    if "@" in rest:
        user, _, rest = rest.rpartition("@")
        validate_user(user)
    port: int | None = None
    if rest.startswith("["):
        addr, sep, tail = rest[1:].partition("]")
        if not sep or ":" not in addr:
            raise HostSpecError(f"bad bracketed IPv6 address in {_show(entry)}")
        if tail:
            if not tail.startswith(":"):
                raise HostSpecError(f"unexpected text after ']' in {_show(entry)}")
            port = validate_port(tail[1:])
        host = addr
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
        port = validate_port(port_text)
    else:
        host = rest  # a name, an IPv4 address, or a bare IPv6 address (no port)
    return user, validate_host(host), port


def default_node_id(host: str, port: int | None) -> str:
    """``host``, or ``host:port`` (``[v6]:port``) when an explicit port is given."""
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_entry(entry: str, label_words: list[str] | tuple[str, ...] = ()) -> HostSpec:
    """One host entry plus optional ``key=value`` words into a HostSpec."""
    user, host, port = split_destination(entry)
    labels: dict[str, str] = {}
    for word in label_words:
        key, sep, value = word.partition("=")
        if not sep:
            raise HostSpecError(f"expected key=value, got {_show(word)}")
        if key in labels:
            raise HostSpecError(f"label {_show(key)} given twice")
        labels[key] = value
    validate_labels(labels)
    node_id = labels.pop("name", None)
    if node_id is not None and not _NODE_NAME.fullmatch(node_id):
        raise HostSpecError(f"not a valid node name: {_show(node_id)}")
    return HostSpec(
        node_id=node_id or default_node_id(host, port),
        host=host,
        port=port,
        user=user,
        labels=labels,
    )


def _check_unique(specs: list[HostSpec], where: list[str]) -> list[HostSpec]:
    seen: dict[str, str] = {}
    for spec, place in zip(specs, where, strict=True):
        if spec.node_id in seen:
            raise HostSpecError(
                f"{place}: node {_show(spec.node_id)} already listed ({seen[spec.node_id]}); "
                "give one of them a name= label"
            )
        seen[spec.node_id] = place
    return specs


def parse_hosts_arg(text: str) -> list[HostSpec]:
    """The value of ``--hosts``: comma-separated entries (no labels)."""
    entries = [part.strip() for part in text.split(",")]
    specs: list[HostSpec] = []
    where: list[str] = []
    for i, entry in enumerate(entries, 1):
        if not entry:
            continue
        try:
            specs.append(parse_entry(entry))
        except HostSpecError as exc:
            raise HostSpecError(f"--hosts entry {i}: {exc}") from None
        where.append(f"--hosts entry {i}")
    if not specs:
        raise HostSpecError("--hosts: no hosts given")
    return _check_unique(specs, where)


def parse_hosts_file(text: str, origin: str = "hosts file") -> list[HostSpec]:
    """A hosts file's text: one entry per line, labels after it, ``#`` comments."""
    specs: list[HostSpec] = []
    where: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        place = f"{origin} line {lineno}"
        try:
            specs.append(parse_entry(words[0], words[1:]))
        except HostSpecError as exc:
            raise HostSpecError(f"{place}: {exc}") from None
        where.append(place)
    return _check_unique(specs, where)


def read_hosts_file(path: str) -> list[HostSpec]:
    """Read and parse a hosts file; a missing or unreadable file raises HostSpecError."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(4 << 20)
    except (OSError, UnicodeDecodeError) as exc:
        raise HostSpecError(f"cannot read hosts file {_show(path, 200)}: {exc}") from None
    return parse_hosts_file(text, origin=path)


__all__ = [
    "HostSpec",
    "HostSpecError",
    "default_node_id",
    "parse_entry",
    "parse_hosts_arg",
    "parse_hosts_file",
    "read_hosts_file",
    "split_destination",
    "validate_host",
    "validate_labels",
    "validate_port",
    "validate_user",
]
