"""Debian's Prometheus, node_exporter and InfluxDB for tests, each on a free loopback port.

``PrometheusServer(workdir, jobs)`` writes a config with one static job per entry (1 s scrape
interval unless told), starts /usr/bin/prometheus with its own TSDB dir and
``--web.enable-lifecycle``, waits for /-/ready and stops by PID. ``query``/``query_range``
read the HTTP API back. ``NodeExporter`` and ``InfluxServer`` do the same for
prometheus-node-exporter and influxd. scripts/test.sh installs all three packages.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def missing(*binaries: str) -> str | None:
    for path in binaries:
        if not os.access(path, os.X_OK):
            return (f"{path} is not installed (apt-get install prometheus "
                    "prometheus-node-exporter influxdb; scripts/test.sh does it)")
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with _NO_PROXY.open(url, timeout=timeout) as resp:
        return resp.read()


def wait_until(check: Callable[[], Any], what: str, timeout: float = 30.0,
               interval: float = 0.1) -> Any:
    """Call `check` until it returns something truthy; its last exception or value on failure."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as exc:  # not ready yet
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


class _Process:
    """A child process started in its own session, stopped by PID."""

    proc: subprocess.Popen[bytes] | None = None
    log_path: Path

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env=env)
        log.close()

    def _ready(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.log_path.name}: exited: {self.log_tail()}")
            with contextlib.suppress(OSError):
                http_get(url, timeout=1)
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.log_path.name}: not ready: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@dataclass
class Job:
    """One scrape job: its name, targets (HOST:PORT), and optional per-job settings."""

    name: str
    targets: list[str]
    interval: str = "1s"
    labels: dict[str, str] = field(default_factory=dict)
    honor_labels: bool = False


class PrometheusServer(_Process):
    def __init__(self, workdir: Path, jobs: Iterable[Job] = (), port: int | None = None,
                 extra_args: Iterable[str] = ()) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = self.workdir / "prometheus.yml"
        self.log_path = self.workdir / "prometheus.log"
        self.port = port or free_port()
        self.jobs = list(jobs)
        self.extra_args = list(extra_args)
        self.write_config()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        lines = ["global:", "  scrape_interval: 1s", "  scrape_timeout: 1s",
                 "  evaluation_interval: 1s", "scrape_configs:"]
        for job in self.jobs:
            lines += [f"  - job_name: {json.dumps(job.name)}",
                      f"    scrape_interval: {job.interval}",
                      f"    scrape_timeout: {job.interval}",
                      f"    honor_labels: {'true' if job.honor_labels else 'false'}",
                      "    static_configs:",
                      f"      - targets: {json.dumps(job.targets)}"]
            if job.labels:
                lines.append(f"        labels: {json.dumps(job.labels)}")
        self.config.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        self._spawn([
            PROMETHEUS, f"--config.file={self.config}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle",
            "--log.level=warn", *self.extra_args,
        ])
        self._ready(self.url + "/-/ready", timeout)
        return self

    def reload(self, jobs: Iterable[Job]) -> None:
        self.jobs = list(jobs)
        self.write_config()
        req = urllib.request.Request(self.url + "/-/reload", method="POST")
        with _NO_PROXY.open(req, timeout=10):
            pass

    def api(self, path: str, **params: Any) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        doc = json.loads(http_get(url, timeout=30))
        if doc.get("status") != "success":
            raise AssertionError(f"{path} {params}: {doc}")
        return doc["data"]

    def query(self, expr: str, t: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if t is not None:
            params["time"] = t
        return self.api("query", **params)["result"]

    def query_range(self, expr: str, start: float, end: float, step: float
                    ) -> list[dict[str, Any]]:
        return self.api("query_range", query=expr, start=start, end=end, step=step)["result"]

    def targets_up(self, job: str | None = None) -> dict[str, str]:
        """instance -> health ('up', 'down', 'unknown') of the active targets."""
        active = self.api("targets")["activeTargets"]
        return {t["labels"].get("instance", ""): t["health"] for t in active
                if job is None or t["labels"].get("job") == job}

    def wait_scrapes(self, count: int = 3, timeout: float = 30.0) -> None:
        """Until every target has `count` scrapes in the last 30 s (rates need two)."""
        def enough() -> bool:
            got = self.query("count_over_time(up[30s])")
            return len(got) >= sum(len(j.targets) for j in self.jobs) and all(
                float(r["value"][1]) >= count for r in got)

        wait_until(enough, f"{count} scrapes of every target", timeout)

    def wait_up(self, job: str, count: int, timeout: float = 30.0) -> None:
        wait_until(lambda: sum(h == "up" for h in self.targets_up(job).values()) >= count,
                   f"{count} targets of {job} up", timeout)


class NodeExporter(_Process):
    """prometheus-node-exporter with only the collectors the mapping reads."""

    COLLECTORS = ("cpu", "meminfo", "diskstats", "netdev", "loadavg", "uname", "os",
                  "netclass")

    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: int | None = None
                 ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_port(host)
        self.log_path = self.workdir / f"node_exporter-{self.port}.log"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> NodeExporter:
        self._spawn([NODE_EXPORTER, f"--web.listen-address={self.address}",
                     "--collector.disable-defaults",
                     *(f"--collector.{c}" for c in self.COLLECTORS)])
        self._ready(f"http://{self.address}/metrics", timeout)
        return self


class InfluxServer(_Process):
    """influxd 1.x with its own dirs, HTTP on a free loopback port, nothing else listening."""

    def __init__(self, workdir: Path, auth: bool = False) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.bind_port = free_port()
        self.log_path = self.workdir / "influxd.log"
        self.config = self.workdir / "influxdb.conf"
        root = self.workdir
        self.config.write_text(f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{self.bind_port}"
[meta]
  dir = "{root / 'meta'}"
[data]
  dir = "{root / 'data'}"
  wal-dir = "{root / 'wal'}"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {'true' if auth else 'false'}
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
""")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> InfluxServer:
        self._spawn([INFLUXD, "-config", str(self.config)])
        self._ready(self.url + "/ping", timeout)
        return self

    def query(self, q: str, db: str | None = None, auth: tuple[str, str] | None = None,
              method: str = "GET", epoch: str | None = None) -> Any:
        """InfluxQL over /query; the statement in the body for POST, auth in the URL."""
        params: dict[str, str] = {"epoch": epoch} if epoch else {}
        if db:
            params["db"] = db
        if auth:
            params["u"], params["p"] = auth
        if method == "POST":
            url = self.url + "/query?" + urllib.parse.urlencode(params)
            req = urllib.request.Request(url, data=urllib.parse.urlencode({"q": q}).encode(),
                                         method="POST")
        else:
            req = urllib.request.Request(
                self.url + "/query?" + urllib.parse.urlencode({**params, "q": q}))
        with _NO_PROXY.open(req, timeout=10) as resp:
            return json.loads(resp.read())
