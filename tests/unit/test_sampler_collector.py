"""The Collector on this machine with real psutil and /proc (NVML absent: no driver here)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from autoglm_tui import wire
from autoglm_tui.model import Hello, Sample
from autoglm_tui.sampler.collector import Collector
from autoglm_tui.sampler.nvml import MODULE_ENV

BUSY = "import time\nt = time.process_time()\nwhile time.process_time() - t < 30: pass\n"


@pytest.fixture(autouse=True)
def no_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the real binding; with no driver here it reports NVML unavailable."""
    monkeypatch.delenv(MODULE_ENV, raising=False)


@pytest.fixture
def busy() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", BUSY, "collector-busy-marker"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("which", ["psutil", "procfs"])
def test_hello_reports_this_host(which: str) -> None:
    coll = Collector(collector=which)
    hello = coll.hello(123.0)
    assert isinstance(hello, Hello)
    s = hello.static
    assert s.collector == which
    assert s.cpu_cores_logical == psutil.cpu_count()
    assert s.mem_total_bytes == psutil.virtual_memory().total
    assert s.swap_total_bytes == psutil.swap_memory().total
    assert s.hostname == hello.host and s.hostname
    assert s.kernel == os.uname().release
    assert s.cpu_model and s.os
    assert s.interval_s == 1.0
    assert hello.t == 123.0
    if not os.path.exists("/proc/driver/nvidia"):
        assert s.nvml.available is False
        assert s.nvml.reason
        assert s.gpus == ()
    assert wire.decode(wire.encode(hello)) == hello


@pytest.mark.parametrize("which", ["psutil", "procfs"])
def test_samples_carry_real_figures(which: str, busy) -> None:
    child = psutil.Process(busy.pid)
    c0, w0 = sum(child.cpu_times()[:2]), time.monotonic()
    coll = Collector(interval_s=0.2, proc_interval_s=0.4, top_n=10, collector=which)
    time.sleep(0.3)
    first = coll.sample(time.time())
    # what the kernel says the busy child got over the same stretch, in % of one core
    got_pct = 100.0 * (sum(child.cpu_times()[:2]) - c0) / (time.monotonic() - w0)
    time.sleep(0.2)
    second = coll.sample(time.time())
    assert (first.seq, second.seq) == (1, 2)
    for s in (first, second):
        assert isinstance(s, Sample)
        assert s.errors == ()
        assert len(s.cpu.per_core_pct) == psutil.cpu_count()
        assert 0.0 <= s.cpu.util_pct <= 100.0
        assert all(0.0 <= p <= 100.0 for p in s.cpu.per_core_pct)
        assert s.cpu.iowait_pct is not None
        assert s.cpu.load is not None
        assert s.mem.total_bytes == psutil.virtual_memory().total
        assert 0 < s.mem.used_bytes < s.mem.total_bytes
        assert s.self_cost is not None
        assert s.self_cost.cpu_time_s > 0 and s.self_cost.rss_bytes > 1 << 20
        assert s.gpus == ()
        assert wire.decode(wire.encode(s)) == s
    # A process burning a core shows in the CPU figures and the top 10. Machine-wide, one busy
    # core is 1/N of the machine (6% on 16 cores), so count in cores: summed over the cores the
    # busy time is at least what the child got (on a loaded machine it gets less than a core).
    assert got_pct > 1.0
    assert sum(first.cpu.per_core_pct) > 0.5 * got_pct
    top = {p.pid: p for p in first.procs}
    assert busy.pid in top
    mine = top[busy.pid]
    assert "collector-busy-marker" in mine.cmdline
    assert mine.cpu_pct is not None and mine.cpu_pct > 0.3 * got_pct
    assert mine.user == psutil.Process(busy.pid).username()
    assert mine.ppid == os.getpid()
    assert len(first.procs) <= 10
    # Counters only grow.
    assert second.disk.read_bytes >= first.disk.read_bytes
    assert second.net.rx_bytes >= first.net.rx_bytes
    assert second.cpu.ctx_switches >= first.cpu.ctx_switches


def test_between_full_scans_only_listed_processes_are_reread() -> None:
    coll = Collector(interval_s=0.1, proc_interval_s=60, top_n=3)
    samples = [coll.sample(time.time()) for _ in range(3)]
    assert [s.procs_fresh for s in samples] == [True, False, False]
    # The same processes (minus any that exited meanwhile), read again.
    assert {p.pid for p in samples[1].procs} <= {p.pid for p in samples[0].procs}


def test_a_full_scan_every_tick_when_the_proc_interval_is_short() -> None:
    coll = Collector(interval_s=0.1, proc_interval_s=0.01, top_n=3)
    assert [coll.sample(time.time()).procs_fresh for _ in range(3)] == [True, True, True]


def test_a_vanished_process_drops_out_without_an_error() -> None:
    proc = subprocess.Popen([sys.executable, "-c", BUSY, "vanishing-marker"])
    try:
        # Every process is listed, so the child is in the list however busy the machine is.
        coll = Collector(interval_s=0.1, proc_interval_s=60, top_n=1_000_000)
        time.sleep(0.3)
        first = coll.sample(time.time())
        assert proc.pid in {p.pid for p in first.procs}
    finally:
        proc.kill()
        proc.wait()
    second = coll.sample(time.time())  # not a full scan: the retained list is re-read
    assert second.procs_fresh is False
    assert proc.pid not in {p.pid for p in second.procs}
    assert second.errors == ()


def test_first_sample_right_after_construction_still_has_cpu_figures() -> None:
    coll = Collector()
    sample = coll.sample(time.time())
    assert len(sample.cpu.per_core_pct) == psutil.cpu_count()
