"""InfluxDB 1.x output: the exporter's figures as line protocol, written in batches.

``sample_lines(hello, sample, node)`` is pure (one line per measurement and subject).
``InfluxWriter`` owns a bounded queue and a thread that POSTs batches to ``/write``; a failed
write is retried with capped exponential backoff and jitter, a full queue drops its oldest
lines (counted), and a write the server rejects as malformed (HTTP 400) is dropped (counted)
rather than retried for ever. Lines go to a retention policy chosen per measurement
(``rp_for``), so GPU figures can live 7 days and service latencies 14, as in the seed's table.
Inference services are the ``autoglm_service`` measurement (influx_services.py: figures
derived per scrape, since InfluxQL cannot take quantiles of histogram buckets).
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from autoglm_tui.exporter.influx_services import ServiceLines
from autoglm_tui.exporter.line_protocol import line, tag_value
from autoglm_tui.exporter.names import GPU_HEALTH
from autoglm_tui.model import Hello, Sample
from autoglm_tui.text import clean

log = logging.getLogger("autoglm_tui.exporter.influx")

MEASUREMENTS = ("node", "disk", "net", "gpu", "process", "sampler", "service")


def sample_lines(hello: Hello | None, s: Sample, node: str) -> Iterator[tuple[str, str]]:
    """(measurement, line) pairs for one sample; unknown figures are left out, never 0."""
    t = round(s.t * 1000)
    tags = {"node": tag_value(node)}
    cpu, mem = s.cpu, s.mem
    load = cpu.load or (None, None, None)
    node_fields: dict[str, object] = {
        "cpu_util_pct": cpu.util_pct, "cpu_iowait_pct": cpu.iowait_pct,
        "load1": load[0], "load5": load[1], "load15": load[2],
        "ctx_switches": cpu.ctx_switches,
        "mem_total_bytes": mem.total_bytes, "mem_used_bytes": mem.used_bytes,
        "mem_available_bytes": mem.available_bytes, "mem_used_pct": mem.used_pct,
        "swap_total_bytes": mem.swap_total_bytes, "swap_used_bytes": mem.swap_used_bytes,
        "swap_used_pct": mem.swap_used_pct,
    }
    yield from _one("node", tags, node_fields, t)
    d, n = s.disk, s.net
    yield from _one("disk", tags, {
        "read_bytes": d.read_bytes, "write_bytes": d.write_bytes, "read_count": d.read_count,
        "write_count": d.write_count, "read_time_ms": d.read_time_ms,
        "write_time_ms": d.write_time_ms, "busy_time_ms": d.busy_time_ms,
    }, t)
    yield from _one("net", tags, {
        "rx_bytes": n.rx_bytes, "tx_bytes": n.tx_bytes, "rx_packets": n.rx_packets,
        "tx_packets": n.tx_packets, "errors": n.errors, "drops": n.drops,
        "link_speed_mbps": n.link_speed_mbps,
    }, t)
    models = {g.index: g.name for g in hello.static.gpus} if hello is not None else {}
    for g in s.gpus:
        gtags = {**tags, "gpu": str(g.index), "uuid": tag_value(g.uuid),
                 "model": tag_value(models.get(g.index, ""))}
        yield from _one("gpu", gtags, {
            "state": g.state, "util_pct": _f(g.util_pct), "mem_util_pct": _f(g.mem_util_pct),
            "mem_used_bytes": g.mem_used_bytes, "mem_total_bytes": g.mem_total_bytes,
            "mem_used_pct": g.mem_used_pct, "temp_c": _f(g.temp_c), "power_w": _f(g.power_w),
            "power_limit_w": _f(g.power_limit_w), "fan_pct": _f(g.fan_pct),
            "sm_clock_mhz": _f(g.sm_clock_mhz), "pcie_rx_bps": _f(g.pcie_rx_bps),
            "pcie_tx_bps": _f(g.pcie_tx_bps), "ecc_errors": g.ecc_errors, "xid": g.xid,
            **{f.attr: getattr(g, f.attr, None) for f in GPU_HEALTH},
        }, t)
    for p in s.procs:
        ptags = {**tags, "pid": str(p.pid), "name": tag_value(p.name),
                 "user": tag_value(p.user)}
        yield from _one("process", ptags, {
            "cpu_pct": _f(p.cpu_pct), "rss_bytes": p.rss_bytes,
            "gpu_mem_bytes": p.gpu_mem_bytes, "sm_pct": _f(p.sm_pct),
            "command": clean(p.cmdline, 256),
        }, t)
    if s.self_cost is not None:
        yield from _one("sampler", tags, {
            "cpu_time_s": s.self_cost.cpu_time_s, "rss_bytes": s.self_cost.rss_bytes,
            "errors": len(s.errors),
        }, t)


def _f(value: float | None) -> float | None:
    """Floats stay floats (an integral reading must not make the field an integer)."""
    return None if value is None else float(value)


def _one(measurement: str, tags: dict[str, str], fields: dict[str, object], t: int
         ) -> Iterator[tuple[str, str]]:
    text = line(measurement, tags, fields, t)
    if text is not None:
        yield measurement, text


@dataclass
class InfluxConfig:
    url: str  # http(s)://HOST:8086
    database: str = "autoglm"
    retention_policy: str | None = None  # default RP for every measurement
    rp_for: dict[str, str] = field(default_factory=dict)  # measurement -> RP
    username: str | None = None
    password: str | None = None  # from the environment or a file, never argv
    batch_lines: int = 5000
    max_queue_lines: int = 100_000
    timeout_s: float = 5.0
    retry_max_s: float = 30.0
    ca_file: str | None = None


@dataclass
class WriterStats:
    written: int = 0  # lines the server accepted
    dropped: int = 0  # lines dropped: queue full, or rejected as malformed
    failures: int = 0  # write attempts that failed
    last_error: str | None = None


class InfluxWriter:
    """Bounded queue + writer thread. ``on_sample`` is a SamplingThread listener."""

    def __init__(self, config: InfluxConfig, node: str) -> None:
        self.config = config
        self.node = node
        self.stats = WriterStats()
        self.services = ServiceLines()  # the autoglm_service measurement (derived figures)
        self._queue: deque[tuple[str | None, str]] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="autoglm-influx", daemon=True)
        self._context = None
        if config.ca_file:
            import ssl

            self._context = ssl.create_default_context(cafile=config.ca_file)

    def start(self) -> InfluxWriter:
        self._thread.start()
        return self

    @property
    def queued(self) -> int:
        return len(self._queue)

    def on_sample(self, hello: Hello, sample: Sample, prev: Sample | None) -> None:
        self.submit(sample_lines(hello, sample, self.node))
        self.submit(self.services.lines(sample, self.node))

    def submit(self, lines: Iterable[tuple[str, str]]) -> None:
        cfg = self.config
        with self._cond:
            for measurement, text in lines:
                rp = cfg.rp_for.get(measurement, cfg.retention_policy)
                self._queue.append((rp, text))
            over = len(self._queue) - cfg.max_queue_lines
            for _ in range(max(0, over)):
                self._queue.popleft()
            if over > 0:
                self.stats.dropped += over
                log.warning("InfluxDB queue full: dropped the %d oldest lines", over)
            self._cond.notify()

    def close(self, flush_timeout_s: float = 3.0) -> None:
        """Flush what can be written within the timeout, then stop the thread."""
        deadline = time.monotonic() + flush_timeout_s
        with self._cond:
            while self._queue and time.monotonic() < deadline:
                self._cond.wait(0.05)
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout=max(0.1, deadline - time.monotonic()) + 1)

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        delay = 0.0
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                batch = self._take_batch()
            rp = batch[0][0]
            ok, retry = self._post(rp, [text for _, text in batch])
            with self._cond:
                if ok or not retry:
                    self._remove(batch)
                    if ok:
                        self.stats.written += len(batch)
                    else:
                        self.stats.dropped += len(batch)
                    delay = 0.0
                    self._cond.notify_all()
                    continue
                self.stats.failures += 1
                delay = min(self.config.retry_max_s, max(0.5, delay * 2))
                self._cond.wait(delay * random.uniform(0.8, 1.2))

    def _take_batch(self) -> list[tuple[str | None, str]]:
        """The oldest lines that share the first line's retention policy, up to a batch."""
        first_rp = self._queue[0][0]
        out = []
        for item in self._queue:
            if item[0] != first_rp or len(out) >= self.config.batch_lines:
                break
            out.append(item)
        return out

    def _remove(self, batch: list[tuple[str | None, str]]) -> None:
        # The queue may have dropped some of the batch's lines meanwhile (it was full).
        for item in batch:
            if self._queue and self._queue[0] is item:
                self._queue.popleft()

    def _post(self, rp: str | None, lines: list[str]) -> tuple[bool, bool]:
        """(written, worth retrying)."""
        cfg = self.config
        query = {"db": cfg.database, "precision": "ms"}
        if rp:
            query["rp"] = rp
        url = cfg.url.rstrip("/") + "/write?" + urllib.parse.urlencode(query)
        req = urllib.request.Request(url, data="\n".join(lines).encode(), method="POST")
        req.add_header("Content-Type", "text/plain; charset=utf-8")
        if cfg.username is not None:
            token = f"{cfg.username}:{cfg.password or ''}".encode()
            req.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
        try:
            with urllib.request.urlopen(req, timeout=cfg.timeout_s, context=self._context):
                return True, False
        except urllib.error.HTTPError as exc:
            body = exc.read(300).decode("utf-8", "replace")
            self.stats.last_error = clean(f"HTTP {exc.code}: {body}", 300)
            log.error("InfluxDB write failed: %s", self.stats.last_error)
            if exc.code == 400:  # malformed or a field type conflict: retrying cannot help
                return False, False
            return False, True
        except (OSError, ValueError) as exc:
            self.stats.last_error = clean(f"{type(exc).__name__}: {exc}", 300)
            log.warning("InfluxDB unreachable: %s", self.stats.last_error)
            return False, True
