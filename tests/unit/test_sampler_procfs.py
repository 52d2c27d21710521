"""The psutil-free /proc reader agrees with psutil on this machine (within stated tolerances)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from autoglm_tui.sampler import procfs, sysinfo
from autoglm_tui.sampler.host import PsutilHost
from autoglm_tui.sampler.procs import PsutilProcs

pytestmark = pytest.mark.skipif(not procfs.available(), reason="needs Linux /proc")

BUSY = "import time\nt = time.process_time()\nwhile time.process_time() - t < 30: pass\n"


@pytest.fixture
def busy_child() -> Iterator[subprocess.Popen[bytes]]:
    """A child that burns CPU and holds ~20 MB, so its figures are clearly non-zero."""
    code = "x = bytearray(20 << 20)\n" + BUSY
    proc = subprocess.Popen([sys.executable, "-c", code, "procfs-test-marker"])
    yield proc
    proc.kill()
    proc.wait()


def test_static_facts_match_psutil() -> None:
    facts = procfs.ProcfsHost().facts()
    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    assert facts.mem_total_bytes == vm.total  # exact: both read MemTotal
    assert facts.swap_total_bytes == sw.total
    assert facts.cpu_cores_logical == psutil.cpu_count()
    assert facts.boot_time == pytest.approx(psutil.boot_time(), abs=1.0)
    physical = psutil.cpu_count(logical=False)
    if physical is not None and facts.cpu_cores_physical is not None:
        assert facts.cpu_cores_physical == physical


def test_memory_matches_psutil_within_a_few_percent() -> None:
    mine = procfs.ProcfsHost().mem()
    vm = psutil.virtual_memory()
    assert mine.total_bytes == vm.total
    # Memory moves between the two reads; 3% of total is far more than that.
    assert mine.used_bytes == pytest.approx(vm.used, abs=0.03 * vm.total)
    assert mine.available_bytes == pytest.approx(vm.available, abs=0.03 * vm.total)
    assert mine.used_pct == pytest.approx(vm.percent, abs=3.0)
    assert mine.used_bytes + mine.available_bytes == mine.total_bytes


def test_disk_and_net_counters_match_psutil_and_only_grow() -> None:
    host, ps = procfs.ProcfsHost(), PsutilHost()
    d1, n1 = host.disk(), host.net()
    d_ps, n_ps = ps.disk(), ps.net()  # read right after ours
    d2, n2 = host.disk(), host.net()
    for a, b in ((d1, d2), (n1, n2)):
        for name in type(a).__dataclass_fields__:
            va, vb = getattr(a, name), getattr(b, name)
            if isinstance(va, int) and name != "link_speed_mbps":
                assert vb >= va, name
    # psutil read between our two reads: inside [first, second] give or take what moved.
    assert d1.read_bytes <= d_ps.read_bytes + (1 << 20)
    assert d_ps.read_bytes <= d2.read_bytes + (1 << 20)
    assert d1.write_bytes <= d_ps.write_bytes + (1 << 20)
    assert d_ps.write_count <= d2.write_count + 64
    assert n1.rx_bytes <= n_ps.rx_bytes + (1 << 20)
    assert n_ps.tx_bytes <= n2.tx_bytes + (1 << 20)
    assert n_ps.rx_packets <= n2.rx_packets + 1000
    assert d1.busy_time_ms is not None and d1.read_time_ms is not None
    assert n1.link_speed_mbps == n_ps.link_speed_mbps


def test_disk_totals_cover_whole_disks_only() -> None:
    disks = sysinfo.physical_disks()
    assert disks is not None
    assert not any(d.startswith(("loop", "ram", "zram", "dm-", "md")) for d in disks)
    per = psutil.disk_io_counters(perdisk=True) or {}
    expected = sum(c.read_bytes for n, c in per.items() if n in disks)
    mine = procfs.ProcfsHost().disk().read_bytes
    assert mine == pytest.approx(expected, abs=1 << 20)


def test_cpu_times_match_psutil() -> None:
    total, per = procfs.ProcfsHost().cpu_times()
    ps_per = psutil.cpu_times(percpu=True)
    assert len(per) == len(ps_per)
    for mine, theirs in zip(per, ps_per, strict=True):
        # psutil reads /proc/stat a moment later: allow a little time to pass (0.5 s of CPU).
        assert mine.idle == pytest.approx(theirs.idle + theirs.iowait, abs=0.5)
        assert mine.iowait == pytest.approx(theirs.iowait, abs=0.5)
    assert total.busy == pytest.approx(sum(t.busy for t in per), abs=0.5 * len(per))


def test_cpu_utilisation_over_the_same_interval_matches_psutil() -> None:
    host = procfs.ProcfsHost()
    from autoglm_tui.sampler.cpu import util_pct

    a, _ = host.cpu_times()
    psutil.cpu_percent(interval=None)  # prime psutil at (nearly) the same moment
    time.sleep(0.3)
    theirs = psutil.cpu_percent(interval=None)
    b, _ = host.cpu_times()
    mine = util_pct(a, b)
    assert mine is not None
    assert mine == pytest.approx(theirs, abs=10.0)


def test_a_process_the_test_started_matches_psutil(busy_child) -> None:
    procs = procfs.ProcfsProcs()
    time.sleep(0.3)  # let it allocate and burn some CPU
    mine = procs.details(busy_child.pid)
    ps = psutil.Process(busy_child.pid)
    with ps.oneshot():
        rss, times = ps.memory_info().rss, ps.cpu_times()
        create, name, cmdline = ps.create_time(), ps.name(), ps.cmdline()
        ppid, uid, threads = ps.ppid(), ps.uids().real, ps.num_threads()
    assert mine is not None
    assert mine.ppid == ppid == os.getpid()
    assert mine.uid == uid
    assert mine.name == name
    assert mine.cmdline == " ".join(cmdline)
    assert "procfs-test-marker" in mine.cmdline
    assert mine.num_threads == threads
    assert mine.create_time == pytest.approx(create, abs=0.05)
    assert mine.rss_bytes == pytest.approx(rss, rel=0.05)
    assert rss > 20 << 20
    assert mine.cpu_s is not None
    assert mine.cpu_s == pytest.approx(times.user + times.system, abs=0.1)
    assert mine.status in ("running", "sleeping")
    # The full scan sees it too, with the same figures.
    ct, cpu_s, scan_rss = procs.scan()[busy_child.pid]
    assert ct == pytest.approx(create, abs=0.05)
    assert cpu_s >= mine.cpu_s
    assert scan_rss == pytest.approx(rss, rel=0.05)


def test_psutil_process_reader_agrees_with_procfs(busy_child) -> None:
    time.sleep(0.2)
    a = procfs.ProcfsProcs().details(busy_child.pid)
    b = PsutilProcs().details(busy_child.pid)
    assert a is not None and b is not None
    assert (a.pid, a.ppid, a.uid, a.name, a.cmdline) == (b.pid, b.ppid, b.uid, b.name, b.cmdline)
    assert a.create_time == pytest.approx(b.create_time, abs=0.05)
    assert a.rss_bytes == pytest.approx(b.rss_bytes, rel=0.05)
    assert busy_child.pid in PsutilProcs().scan()


def test_vanished_process_is_none_not_an_exception() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert procfs.ProcfsProcs().details(proc.pid) is None
    assert PsutilProcs().details(proc.pid) is None


def test_kernel_thread_has_no_cmdline() -> None:
    kthreadd = procfs.ProcfsProcs().details(2)
    if kthreadd is None or kthreadd.ppid != 0:
        pytest.skip("pid 2 is not kthreadd here (container)")
    assert kthreadd.cmdline == ""
    assert kthreadd.name == "kthreadd"
