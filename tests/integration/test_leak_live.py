"""A real leak: a process that keeps allocating, sampled by the real LocalSource, is flagged
with a projected time to exhaustion; one that allocated once (a warm-up) is not. Host RSS
stands in for GPU memory here (no GPU): both go through the same leak code."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from autoglm_tui.analysis.diagnosis import DiagnosisConfig, DiagnosisRunner
from autoglm_tui.analysis.diagnosis.config import LeakConfig
from autoglm_tui.cluster.sources import LocalSource
from autoglm_tui.monitor import Monitor

GROW = """
import sys, time
hold = []
print("ready", flush=True)
end = time.time() + 120
while time.time() < end:
    hold.append(bytearray(4 << 20))  # 4 MiB, written so the pages are resident
    for i in range(0, len(hold[-1]), 4096):
        hold[-1][i] = 1
    time.sleep(0.25)
"""
ONCE = """
import time
hold = bytearray(200 << 20)
for i in range(0, len(hold), 4096):
    hold[i] = 1
print("ready", flush=True)
time.sleep(120)
"""


@pytest.fixture
def procs() -> Iterator[tuple[subprocess.Popen[str], subprocess.Popen[str]]]:
    grow = subprocess.Popen([sys.executable, "-c", GROW], stdout=subprocess.PIPE, text=True)
    once = subprocess.Popen([sys.executable, "-c", ONCE], stdout=subprocess.PIPE, text=True)
    try:
        assert grow.stdout is not None and once.stdout is not None
        assert grow.stdout.readline().strip() == "ready"
        assert once.stdout.readline().strip() == "ready"
        yield grow, once
    finally:
        for p in (grow, once):
            p.kill()
            p.wait(10)


async def test_a_growing_process_is_flagged_with_time_to_exhaustion(procs) -> None:
    grow, once = procs
    config = DiagnosisConfig(leak=LeakConfig(window_s=40.0, period_s=2.0, min_span_s=20.0,
                                             min_points=20, min_growth_bytes=64 << 20))
    monitor = Monitor()
    runner = DiagnosisRunner(config).install(monitor)
    source = LocalSource(interval_s=0.5, top_n=1_000_000, proc_interval_s=0.5)
    task = asyncio.ensure_future(source.run(monitor.apply))
    found = []
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            await asyncio.sleep(0.5)
            monitor.tick(time.time())
            found = [f for f in runner.findings if f.name == "host_memory_leak"]
            if any(f.subject.pid == grow.pid for f in found):
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    leak = next((f for f in found if f.subject.pid == grow.pid), None)
    assert leak is not None, [f.verdict for f in runner.findings]
    assert leak.data["slope_bytes_per_s"] == pytest.approx(16 << 20, rel=0.35)  # 4 MiB / 0.25 s
    eta = leak.data["eta_s"]
    assert eta is not None and eta > 0
    assert leak.data["headroom_bytes"] / leak.data["slope_bytes_per_s"] == pytest.approx(eta)
    assert "out of memory in about" in leak.verdict
    assert not any(f.subject.pid == once.pid for f in runner.findings)
