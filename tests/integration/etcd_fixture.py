"""A real etcd for tests: started on free loopback ports in a temp dir, stopped by PID.

``EtcdServer(workdir)`` runs /usr/bin/etcd (Debian's etcd-server; scripts/test.sh installs it)
with explicit 127.0.0.1 listen/advertise URLs; ``start()`` waits until /health answers (well
under a second), ``stop()`` ends it with SIGTERM (SIGKILL after 5 s), ``kill()`` with SIGKILL, and
``start()`` again restarts it on the same data dir and ports. Its log is ``<workdir>/etcd.log``.
A larger ``--max-request-bytes`` (8 MiB) lets tests write oversized garbage values.

Usage::

    def test_x(etcd_server):            # the pytest fixture below
        etcd_server.endpoint            # "127.0.0.1:PORT"
        etcd_server.config()            # an etcd_client.EtcdConfig for it
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
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
READY_TIMEOUT_S = 15.0


def etcd_missing() -> str | None:
    """Why a real etcd cannot run here, or None when it can."""
    if not os.path.isfile(ETCD) or not os.access(ETCD, os.X_OK):
        return "etcd is not installed (apt-get install etcd-server; scripts/test.sh does it)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EtcdServer:
    """One single-member etcd on 127.0.0.1."""

    def __init__(
        self,
        workdir: Path,
        extra_args: tuple[str, ...] = (),
        host: str = "127.0.0.1",
        netns: str | None = None,
    ) -> None:
        """`host`/`netns`: serve clients on `host` inside network namespace `netns` (made by
        the test, tests/integration/netns.py); peers stay on the namespace's loopback."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "etcd.log"
        self.host = host
        self.netns = netns
        self.port = free_port()
        self.peer_port = free_port()
        self.extra_args = extra_args
        self.scheme = "http"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        client = f"{self.scheme}://{self.host}:{self.port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        wrap = ["ip", "netns", "exec", self.netns] if self.netns else []
        return [
            *wrap,
            ETCD,
            "--name=test",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=test={peer}",
            "--initial-cluster-state=new",
            "--logger=zap",
            "--log-outputs=stderr",
            "--log-level=warn",
            "--max-request-bytes=8388608",
            *self.extra_args,
        ]

    def start(self) -> EtcdServer:
        """Start (or restart, on the same data dir and ports) and wait until it is healthy."""
        if self.running:
            return self
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"etcd exited early; see {self.log_path}:\n{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"etcd not ready in {READY_TIMEOUT_S} s:\n{self.log_tail()}")

    def healthy(self) -> bool:
        """True when the member's /health says so (plain HTTP servers only)."""
        if self.scheme != "http":
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.2),
            ):
                return True
            return False
        try:
            with urllib.request.urlopen(f"http://{self.endpoint}/health", timeout=0.5) as reply:
                return bool(json.loads(reply.read()).get("health") == "true")
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        """SIGTERM the server (SIGKILL if it lingers) and wait for it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the server (a crash) and wait for it."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)
        self.proc = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def config(self, prefix: str = "/autoglm/nodes/", **kwargs: Any) -> Any:
        """An etcd_client.EtcdConfig for this server."""
        from autoglm_tui.cluster.etcd_config import Endpoint, EtcdConfig

        return EtcdConfig(endpoints=(Endpoint(self.host, self.port),), prefix=prefix, **kwargs)

    def __enter__(self) -> EtcdServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def etcd_server(tmp_path: Path) -> Iterator[EtcdServer]:
    """A running etcd on a free loopback port, stopped after the test."""
    reason = etcd_missing()
    if reason:
        pytest.skip(reason)
    server = EtcdServer(tmp_path / "etcd")
    server.start()
    try:
        yield server
    finally:
        server.stop()


__all__ = ["EtcdServer", "etcd_missing", "etcd_server", "free_port"]
