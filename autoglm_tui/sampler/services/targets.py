"""Where a service's metrics are: a validated URL, and the `--service` option's syntax.

``--service SPEC`` takes ``URL[,name=NAME][,kind=KIND]``; URL is ``http(s)://host[:port]/path``
(the path defaults to /metrics), ``host:port`` or just ``PORT`` (both meaning
``http://127.0.0.1:PORT/metrics``). A name is what the service is called in the monitor
(letters, digits and ``._:-``, at most 64); a kind skips recognition by metric names.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from autoglm_tui.model import SERVICE_KINDS

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")
_HOST = re.compile(r"[A-Za-z0-9._\-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")
# A metrics path from a registration: plain path characters and a simple query, nothing a
# shell, a terminal or an HTTP request line could make anything of.
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._~/%+-]*(?:\?[A-Za-z0-9._~%+=&-]*)?")
MAX_URL = 1024


class TargetError(ValueError):
    """A service spec or URL that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    """One metrics endpoint to scrape."""

    scheme: str  # "http" or "https"
    host: str  # without brackets
    port: int
    path: str  # with the query, if any
    name: str | None = None
    kind: str | None = None  # forced kind; None: recognise by metric names
    source: str = "option"  # "option", "discovered" or "registration"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    @property
    def spec(self) -> str:
        """The ``URL[,name=N][,kind=K]`` text that gives this target back."""
        extra = (f",name={self.name}" if self.name else "") + (
            f",kind={self.kind}" if self.kind else "")
        return self.url + extra


def parse_url(text: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of a metrics URL; TargetError when it is not one."""
    raw = text.strip()
    if not raw or len(raw) > MAX_URL or not raw.isprintable() or any(c.isspace() for c in raw):
        raise TargetError(f"not a URL: {raw[:80]!r}")
    if raw.isdigit():
        raw = f"http://127.0.0.1:{raw}/metrics"
    elif "://" not in raw:
        raw = "http://" + raw
    try:
        parts = urllib.parse.urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"bad URL {text[:80]!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetError(f"only http:// and https:// URLs are scraped, not {text[:80]!r}")
    host = parts.hostname or ""
    if not host or parts.username or parts.password:
        raise TargetError(f"need http://host[:port]/path (no user or password): {text[:80]!r}")
    netloc_host = parts.netloc.rsplit("@", 1)[-1]
    bare = netloc_host.rsplit(":", 1)[0] if not netloc_host.endswith("]") else netloc_host
    if not _HOST.fullmatch(bare):
        raise TargetError(f"bad host in {text[:80]!r}")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    if not 1 <= port <= 65535:
        raise TargetError(f"bad port in {text[:80]!r}")
    path = parts.path or "/metrics"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, host, port, path


def parse_spec(spec: str, source: str = "option") -> Target:
    """A Target from ``URL[,name=NAME][,kind=KIND]``; TargetError says what is wrong."""
    parts = spec.strip().split(",")
    name = kind = None
    for extra in parts[1:]:
        key, sep, val = extra.partition("=")
        key = key.strip()
        val = val.strip()
        if not sep:
            raise TargetError(f"expected name=... or kind=... after the URL, got {extra[:40]!r}")
        if key == "name":
            if not _NAME.fullmatch(val):
                raise TargetError(
                    f"bad service name {val[:40]!r}: use letters, digits and ._:- (at most 64)"
                )
            name = val
        elif key == "kind":
            if val not in SERVICE_KINDS:
                raise TargetError(f"unknown kind {val[:40]!r}; one of {', '.join(SERVICE_KINDS)}")
            kind = val
        else:
            raise TargetError(f"unknown option {key[:40]!r} (name=... or kind=...)")
    scheme, host, port, path = parse_url(parts[0])
    return Target(scheme, host, port, path, name, kind, source)


def from_registration(entry: object) -> Target:
    """A Target from one entry of a registration's ``services`` list as a control line carries
    it (``{"url": ..., "name": ..., "kind": ...}``): the URL must be a full http(s) URL with a
    plain path; TargetError says what is wrong. Whether its host is this node is local.py's."""
    if not isinstance(entry, dict):
        raise TargetError(f"expected an object with url, name and kind, not {_kind(entry)}")
    extra = set(entry) - {"url", "name", "kind"}
    if extra:
        raise TargetError(f"unknown key {sorted(map(str, extra))[0][:40]!r} (url, name, kind)")
    url, name, kind = entry.get("url"), entry.get("name"), entry.get("kind")
    if not isinstance(url, str) or any(v is not None and not isinstance(v, str)
                                       for v in (name, kind)):
        raise TargetError("url, name and kind must be strings")
    raw = url.strip()
    if "://" not in raw:
        raise TargetError(f"need a full http(s)://host:port/path URL, not {raw[:80]!r}")
    if "," in raw:
        raise TargetError(f"a URL may not hold ',': {raw[:80]!r}")
    scheme, host, port, path = parse_url(raw)
    if not _SAFE_PATH.fullmatch(path):
        raise TargetError(f"path {path[:80]!r} holds characters a metrics path does not need "
                          "(letters, digits and ._~/%+- only, and a simple ?query)")
    if name is not None and not _NAME.fullmatch(name):
        raise TargetError(f"bad service name {name[:40]!r}: use letters, digits and ._:- "
                          "(at most 64)")
    if kind is not None and kind not in SERVICE_KINDS:
        raise TargetError(f"unknown kind {kind[:40]!r}; one of {', '.join(SERVICE_KINDS)}")
    return Target(scheme, host, port, path, name, kind, source="registration")


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


__all__ = ["Target", "TargetError", "from_registration", "parse_spec", "parse_url"]
