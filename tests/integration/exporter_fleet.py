"""Real `autoglm-tui exporter` processes, one per loopback address (127.0.0.2, .3, ...), each
with the fake NVML (the only accepted stand-in: no GPU here), for Prometheus to scrape.

Each address is its own node to the Prometheus source (the host part of `instance`). Stopped by
PID, like every server the tests start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.prometheus_fixture import free_port, http_get, wait_until

FAKE_NVML = Path(__file__).resolve().parents[1] / "fakes" / "fake_nvml.py"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Exporter:
    host: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def metrics(self) -> str:
        return http_get(f"http://{self.address}/metrics").decode()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


class ExporterFleet:
    """Start exporters; `close()` stops every one still running."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.exporters: list[Exporter] = []

    def start(self, host: str, gpus: list[dict] | None = None, interval: float = 1.0,
              node_name: str | None = None, extra: list[str] | None = None,
              env: dict[str, str] | None = None, listen: bool = True) -> Exporter:
        """Start one exporter; with listen=False it only writes to InfluxDB (--listen none)."""
        scenario = self.workdir / f"nvml-{host}.json"
        scenario.write_text(json.dumps({"gpu_count": len(gpus or []), "gpus": gpus or [],
                                        "driver_version": "550.54.15"}))
        port = free_port(host)
        log = self.workdir / f"exporter-{host}.log"
        argv = [sys.executable, "-m", "autoglm_tui", "exporter", "--listen",
                f"{host}:{port}" if listen else "none", "--interval", str(interval),
                *(extra or [])]
        if node_name:
            argv += ["--node-name", node_name]
        child_env = {**os.environ, "AUTOGLM_NVML_MODULE": str(FAKE_NVML),
                     "AUTOGLM_FAKE_NVML": str(scenario), **(env or {})}
        with open(log, "ab") as fh:
            proc = subprocess.Popen(argv, stdout=fh, stderr=fh, stdin=subprocess.DEVNULL,
                                    cwd=REPO, env=child_env, start_new_session=True)
        exp = Exporter(host, port, proc, log)
        self.exporters.append(exp)
        if listen:
            wait_until(lambda: "autoglm_sample_timestamp_seconds" in exp.metrics(),
                       f"exporter on {exp.address}", timeout=30)
        else:
            wait_until(lambda: "writing to InfluxDB" in log.read_text(), "exporter started",
                       timeout=30)
        return exp

    def close(self) -> None:
        for exp in self.exporters:
            exp.stop()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[ExporterFleet]:
    """Exporters for one test; every one still running is stopped after it."""
    pool = ExporterFleet(tmp_path / "exporters")
    try:
        yield pool
    finally:
        pool.close()
