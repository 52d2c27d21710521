"""A real Prometheus Alertmanager for tests: free loopback port, own config and storage dir.

``AlertmanagerServer(workdir)`` runs /usr/bin/prometheus-alertmanager (Debian's
prometheus-alertmanager; scripts/test.sh installs it) with clustering off, a receiver that sends
nowhere, and ``--web.listen-address=127.0.0.1:PORT``. ``start()`` waits for /-/ready, ``stop()``
ends it by PID (SIGTERM, then SIGKILL), ``alerts()`` reads ``GET /api/v2/alerts`` back.

``AlertmanagerServer(workdir, webhook=WebhookSink())`` routes every alert to a webhook on
loopback instead, so a test sees Alertmanager's own notifications, resolved ones included (the
API lists active alerts only): ``sink.alerts()`` is every alert of every notification received.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
CONFIG = """\
route:
  receiver: "blackhole"
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: "blackhole"
"""
WEBHOOK_CONFIG = """\
route:
  receiver: "hook"
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: "hook"
    webhook_configs:
      - url: "{url}"
        send_resolved: true
"""
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class WebhookSink:
    """An HTTP server on loopback that keeps every notification Alertmanager posts to it."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._lock:
                    sink.notifications.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every notification so far, in order."""
        with self._lock:
            return [a for n in self.notifications for a in n.get("alerts", [])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alertmanager_missing() -> str | None:
    if not os.path.isfile(ALERTMANAGER) or not os.access(ALERTMANAGER, os.X_OK):
        return ("prometheus-alertmanager is not installed "
                "(apt-get install prometheus-alertmanager; scripts/test.sh does it)")
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AlertmanagerServer:
    def __init__(self, workdir: Path, port: int | None = None,
                 webhook: WebhookSink | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = self.workdir / "alertmanager.yml"
        self.config.write_text(CONFIG if webhook is None else
                               WEBHOOK_CONFIG.format(url=webhook.url))
        self.storage = self.workdir / "data"
        self.log_path = self.workdir / "alertmanager.log"
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [ALERTMANAGER, f"--config.file={self.config}", f"--storage.path={self.storage}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
             "--log.level=warn"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"alertmanager exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(OSError), _NO_PROXY.open(
                self.url + "/-/ready", timeout=1
            ) as resp:
                if resp.status == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"alertmanager not ready: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """GET /api/v2/alerts (active ones; Alertmanager hides resolved alerts)."""
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        with _NO_PROXY.open(f"{self.url}/api/v2/alerts?{query}", timeout=5) as resp:
            return json.loads(resp.read())

    def wait_alerts(self, predicate, timeout: float = 15.0) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        got: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            got = self.alerts()
            if predicate(got):
                return got
            time.sleep(0.1)
        raise AssertionError(f"Alertmanager never showed the expected alerts; it has: {got}")


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[AlertmanagerServer]:
    why = alertmanager_missing()
    if why:
        pytest.skip(why)
    server = AlertmanagerServer(tmp_path / "alertmanager")
    server.start()
    try:
        yield server
    finally:
        server.stop()
