"""The exporter's moving parts: a sampling thread and an HTTP server for ``/metrics``.

Sampling runs on its own interval in its own thread and keeps only the newest sample. A scrape
does no sampling: the collector formats the newest sample, and the encoded page is cached
until the next sample, so any number of scrapers cost one formatting per sample. Other
listeners (the InfluxDB writer) are called with each new sample from the sampling thread.
"""

from __future__ import annotations

import gzip
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder

from autoglm_tui.exporter.families import label, sample_families
from autoglm_tui.exporter.service_families import ServiceLabels, service_families
from autoglm_tui.model import Hello, Sample

log = logging.getLogger("autoglm_tui.exporter")

Listener = Callable[[Hello, Sample, "Sample | None"], None]
ExtraFamilies = Callable[[str], list[Metric]]


@dataclass(frozen=True, slots=True)
class Latest:
    """The newest hello and sample (and the one before, for rates), with a version number."""

    version: int = 0
    hello: Hello | None = None
    sample: Sample | None = None
    prev: Sample | None = None


class SamplingThread(threading.Thread):
    """Runs the sampler's collector every `interval_s` and keeps the newest result."""

    def __init__(self, collector: Any, interval_s: float, clock: Callable[[], float] = time.time
                 ) -> None:
        super().__init__(name="autoglm-sampler", daemon=True)
        self.collector = collector
        self.interval_s = interval_s
        self.clock = clock
        self.latest = Latest()
        self.listeners: list[Listener] = []
        self.failures = 0
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._new = threading.Condition(self._lock)

    def stop(self) -> None:
        self._halt.set()

    def wait_for_sample(self, timeout: float) -> bool:
        """Block until a first sample exists (tests, start-up logs)."""
        with self._new:
            return self._new.wait_for(lambda: self.latest.sample is not None, timeout)

    def run(self) -> None:
        hello = self.collector.hello(self.clock())
        self._publish(Latest(0, hello))
        next_at = time.monotonic()
        while not self._halt.is_set():
            try:
                sample = self.collector.sample(self.clock())
            except Exception as exc:  # the collector turns host errors into fields; this is a bug
                self.failures += 1
                log.error("sampling failed: %s: %s", type(exc).__name__, exc)
            else:
                cur = self.latest
                latest = Latest(cur.version + 1, hello, sample, cur.sample)
                self._publish(latest)
                for listener in self.listeners:
                    try:
                        listener(hello, sample, cur.sample)
                    except Exception as exc:  # a sink's trouble never stops sampling
                        log.error("listener failed: %s: %s", type(exc).__name__, exc)
            next_at += self.interval_s
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind: no burst of catch-up samples
                next_at, delay = time.monotonic(), 0.0
            self._halt.wait(delay)
        close = getattr(self.collector, "close", None)
        if close is not None:
            close()

    def _publish(self, latest: Latest) -> None:
        with self._new:
            self.latest = latest
            self._new.notify_all()


class SampleCollector:
    """A prometheus_client collector over the newest sample (registered once, never per scrape).

    `extra` adds families that are not on the sample (the InfluxDB writer's counters)."""

    def __init__(self, source: SamplingThread, node: str, extra: ExtraFamilies | None = None
                 ) -> None:
        self.source = source
        self.node = node
        self.extra = extra
        self.service_labels = ServiceLabels()

    def describe(self) -> list[Metric]:
        return []  # no collect() at registration: families depend on the sample

    def collect(self) -> Iterator[Metric]:
        latest = self.source.latest
        yield from sample_families(latest.hello, latest.sample, self.node)
        if latest.sample is not None:
            yield from service_families(latest.sample, label(self.node), self.service_labels)
        if self.extra is not None:
            yield from self.extra(self.node)


class Exposition:
    """Encoded pages, made once per sample version and content type."""

    def __init__(self, source: SamplingThread, collector: SampleCollector) -> None:
        self.source = source
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, bool], tuple[int, bytes]] = {}
        self.formatted = 0  # how many times a page was encoded (tests check the caching)

    def page(self, accept: str | None, gzipped: bool) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        version = self.source.latest.version
        key = (content_type, gzipped)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == version:
                return hit[1], content_type
            body = encoder(self.registry)
            if gzipped:
                body = gzip.compress(body, compresslevel=1)
            self._cache[key] = (version, body)
            self.formatted += 1
        return body, content_type


class _Handler(BaseHTTPRequestHandler):
    server: MetricsHTTPServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            gz = "gzip" in (self.headers.get("Accept-Encoding") or "")
            body, ctype = self.server.exposition.page(self.headers.get("Accept"), gz)
            self._send(200, body, ctype, gz)
        elif path == "/":
            self._send(200, b"autoglm-tui exporter: metrics at /metrics\n", "text/plain")
        else:
            self._send(404, b"not found: metrics are at /metrics\n", "text/plain")

    def _send(self, code: int, body: bytes, ctype: str, gz: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # no access log on stderr
        return


class MetricsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], exposition: Exposition) -> None:
        self.exposition = exposition
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


def parse_listen(text: str, default_port: int = 9400) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT``, ``:PORT`` (every interface) or ``HOST``."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or str(default_port)
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif ":" in text:
        raise ValueError(f"{text!r}: write an IPv6 address as [ADDR]:PORT")
    else:
        host, port = text, str(default_port)
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: not a port: {port!r}")
    return host or "0.0.0.0", int(port)


def serve(listen: tuple[str, int], exposition: Exposition) -> MetricsHTTPServer:
    """Start serving in a daemon thread; ``shutdown()`` and ``server_close()`` stop it."""
    server = MetricsHTTPServer(listen, exposition)
    threading.Thread(target=server.serve_forever, name="autoglm-metrics-http",
                     daemon=True).start()
    return server
