"""Fetch one /metrics page within a deadline and a size cap, and read it into a ServiceSample.

Every failure becomes that service's reason (``ok=False``): refused, timed out, an HTTP error
status, a page over the cap, binary data, a page that is not Prometheus text. The deadline
covers the whole exchange (connect, headers, body), so an endpoint that trickles bytes costs no
more than one that hangs.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass

from autoglm_tui import __version__
from autoglm_tui.model import ServiceSample
from autoglm_tui.sampler.services import extract, kinds, promtext
from autoglm_tui.sampler.services.options import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_S
from autoglm_tui.sampler.services.targets import Target
from autoglm_tui.text import clean

_CHUNK = 1 << 16
_HEADERS = {
    # The classic text format first: smaller than OpenMetrics and read the same way.
    "Accept": "text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "identity",
    "User-Agent": f"autoglm-tui/{__version__}",
    "Connection": "close",
}


class ScrapeError(Exception):
    """A scrape that gave no page; the message is the reason shown for the service."""


@dataclass(frozen=True, slots=True)
class Page:
    """A fetched page and what it cost."""

    text: str
    nbytes: int
    seconds: float


def _human(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{n / 1024:.0f} KiB"


def fetch(target: Target, timeout_s: float = DEFAULT_TIMEOUT_S,
          max_bytes: int = DEFAULT_MAX_BYTES) -> Page:
    """GET the target's page; ScrapeError with a reason for anything short of a 200 page."""
    start = time.monotonic()
    deadline = start + timeout_s

    def left() -> float:
        rest = deadline - time.monotonic()
        if rest <= 0:
            raise ScrapeError(f"timed out after {timeout_s:g} s")
        return rest

    conn: http.client.HTTPConnection
    if target.scheme == "https":
        import ssl  # only for https targets: it costs start-up time

        conn = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout_s, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout_s)
    try:
        conn.connect()
        sock = conn.sock  # kept: http.client lets go of it once a closing response begins
        assert sock is not None
        sock.settimeout(left())
        conn.request("GET", target.path, headers=_HEADERS)
        sock.settimeout(left())
        resp = conn.getresponse()
        if resp.status != 200:
            raise ScrapeError(f"HTTP {resp.status} {clean(resp.reason or '', 60)}".rstrip())
        length = resp.getheader("Content-Length")
        if length and length.strip().isdigit() and int(length) > max_bytes:
            raise ScrapeError(f"page too large ({_human(int(length))}; limit {_human(max_bytes)})")
        chunks: list[bytes] = []
        size = 0
        while True:
            sock.settimeout(left())
            chunk = resp.read1(_CHUNK)  # returns after one receive: the deadline holds
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise ScrapeError(f"page too large (over {_human(max_bytes)})")
            chunks.append(chunk)
    except ScrapeError:
        raise
    except ConnectionRefusedError:
        raise ScrapeError("connection refused (nothing listening)") from None
    except TimeoutError:
        raise ScrapeError(f"timed out after {timeout_s:g} s") from None
    except (http.client.HTTPException, OSError, ValueError) as exc:  # TLS errors are OSErrors
        detail = str(exc) or type(exc).__name__
        raise ScrapeError(clean(f"{type(exc).__name__}: {detail}", 200)) from None
    finally:
        conn.close()
    data = b"".join(chunks)
    if b"\x00" in data:
        raise ScrapeError("binary data, not a metrics page")
    return Page(data.decode("utf-8", "replace"), len(data), time.monotonic() - start)


# Kinds whose pages name no model: where their HTTP API says which model is loaded.
MODEL_ENDPOINTS = {"llamacpp": ("/v1/models", "data", "id"), "tgi": ("/info", None, "model_id")}


def model_id(target: Target, kind: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> str | None:
    """The served model's name from the server's own API (kinds whose metrics do not name
    it), or None. A file path is shortened to its file name."""
    import json

    where = MODEL_ENDPOINTS.get(kind)
    if where is None:
        return None
    path, listing, key = where
    api = Target(target.scheme, target.host, target.port, path)
    try:
        doc = json.loads(fetch(api, timeout_s, 1 << 20).text)
        if listing is not None:
            doc = doc[listing][0]
        name = doc[key]
    except (ScrapeError, ValueError, KeyError, IndexError, TypeError):
        return None
    if not isinstance(name, str) or not name:
        return None
    return clean(name.replace("\\", "/").rsplit("/", 1)[-1] if name.startswith("/") else name,
                 extract.MODEL_CAP) or None


def read_page(text: str, forced: str | None = None, hint: str | None = None,
              ) -> tuple[kinds.KindTable | None, dict, str | None]:
    """(table, figures, error) for a page: the kind's table (`forced` by the user, else the
    `hint` kind when its markers are on the page, else recognised by metric names), the
    figures it gives, and a reason when the page is not usable."""
    for kind in (forced, hint):
        if kind is None or kind == "unknown":
            continue
        table = kinds.BY_KIND[kind]
        samples = promtext.parse(text, table.names)
        if kind == forced or any(m in samples for m in table.markers):
            if not samples and not promtext.looks_like_metrics(text):
                return table, {}, "not a Prometheus metrics page"
            return table, extract.figures(table, samples), None
    samples = promtext.parse(text, kinds.ALL_NAMES)
    table = kinds.recognise(samples.keys())
    if table is None:
        if promtext.looks_like_metrics(text):
            return None, {}, None  # speaks Prometheus, but no server we know
        return None, {}, "not a Prometheus metrics page"
    return table, extract.figures(table, samples), None


def scrape(target: Target, now: float, *, kind: str | None = None, pid: int | None = None,
           timeout_s: float = DEFAULT_TIMEOUT_S,
           max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[ServiceSample, Page | None]:
    """Scrape `target` once: the ServiceSample (ok or with its reason) and the page. `kind` is
    what an earlier scrape found (tried first, and kept while the server is down)."""
    forced = target.kind
    base = dict(url=target.url, name=target.name, pid=pid, port=target.port, t=now,
                source=target.source)
    try:
        page = fetch(target, timeout_s, max_bytes)
    except ScrapeError as exc:
        known = forced or kind or "unknown"
        return ServiceSample(kind=known, ok=False, error=str(exc), **base), None
    table, figs, error = read_page(page.text, forced, kind)
    found = table.kind if table is not None else "unknown"
    if error is not None:
        return ServiceSample(kind=forced or kind or found, ok=False, error=error, **base), page
    return ServiceSample(kind=found, ok=True, **base, **figs), page


__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT_S", "Page", "ScrapeError", "fetch",
           "read_page", "scrape"]
