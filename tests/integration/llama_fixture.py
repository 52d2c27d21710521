"""A real llama.cpp llama-server on a free loopback port, and a load generator for it.

The binary and the model come from scripts/build_llama_server.sh (built once into a cache
outside the repository: scripts/test.sh runs it before the tests; here it only reports the
cached paths, or builds if the cache is empty). The server is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.etcd_fixture import free_port

ROOT = Path(__file__).resolve().parents[2]


def llama_paths() -> tuple[str, str]:
    """(llama-server binary, GGUF model), building them if the cache is empty."""
    done = subprocess.run(["bash", str(ROOT / "scripts" / "build_llama_server.sh")],
                          capture_output=True, text=True, timeout=3600,
                          env={**os.environ, "PYTHON": os.environ.get("PYTHON", "python3")})
    if done.returncode != 0:
        raise RuntimeError(f"building llama-server failed:\n{done.stderr[-2000:]}")
    found = dict(line.split("=", 1) for line in done.stdout.split() if "=" in line)
    return found["LLAMA_SERVER"], found["LLAMA_MODEL"]


class LlamaServer:
    """llama-server with --metrics on 127.0.0.1, `slots` parallel sequences, one thread."""

    def __init__(self, binary: str, model: str, slots: int = 2, threads: int = 1) -> None:
        self.port = free_port()
        self.log = open(os.devnull, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [binary, "-m", model, "--metrics", "--host", "127.0.0.1", "--port", str(self.port),
             "-c", str(512 * slots), "-np", str(slots), "-t", str(threads), "--no-webui"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
        )
        self.pid = self.proc.pid
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError("llama-server did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


@dataclass
class Done:
    """One finished request: when its answer arrived and the tokens it generated."""

    t: float
    tokens: int
    ok: bool


@dataclass
class LoadGenerator:
    """`clients` threads sending /v1/completions back to back, counting what comes back."""

    url: str
    clients: int = 4
    max_tokens: int = 48
    done: list[Done] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for i in range(self.clients):
            th = threading.Thread(target=self._client, args=(i,), daemon=True)
            th.start()
            self._threads.append(th)

    def _client(self, i: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            body = json.dumps({
                "prompt": f"Client {i} request {n}: write a short story about a lighthouse",
                "max_tokens": self.max_tokens, "temperature": 0.8, "seed": i * 1000 + n,
            }).encode()
            req = urllib.request.Request(self.url + "/v1/completions", data=body,
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=120) as resp:
                    doc = json.loads(resp.read())
                tokens = int(doc["usage"]["completion_tokens"])
                with self._lock:
                    self.done.append(Done(time.time(), tokens, True))
            except (urllib.error.URLError, OSError, ValueError, KeyError):
                with self._lock:
                    self.done.append(Done(time.time(), 0, False))
                time.sleep(0.2)

    def tokens_between(self, start: float, end: float) -> int:
        with self._lock:
            return sum(d.tokens for d in self.done if start < d.t <= end and d.ok)

    def stop(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(timeout=130)


@pytest.fixture
def llama() -> Iterator[LlamaServer]:
    """A llama-server with two slots and one thread, ready; stopped by PID after the test.
    (Test modules import it: ``from tests.integration.llama_fixture import llama``.)"""
    yield from running_llama(slots=2)


@pytest.fixture
def llama4() -> Iterator[LlamaServer]:
    """`llama` with four slots (four requests decoded at once)."""
    yield from running_llama(slots=4)


def running_llama(slots: int) -> Iterator[LlamaServer]:
    binary, model = llama_paths()
    server = LlamaServer(binary, model, slots=slots, threads=1)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
