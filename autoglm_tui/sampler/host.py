"""Host figures through psutil (the default collector wherever psutil imports).

Disks: whole devices backed by hardware (see sysinfo.physical_disks); off Linux, psutil's own
total. NICs: non-loopback, device-backed ones when there are any (see sysinfo.counted_nics).
"""

from __future__ import annotations

import os
import time
from typing import Any

from autoglm_tui.model import DiskCounters, MemSample, NetCounters
from autoglm_tui.sampler import sysinfo
from autoglm_tui.sampler.cpu import CpuTimes, times_from_fields
from autoglm_tui.sampler.records import HostFacts, mem_sample


def _times(t: Any) -> CpuTimes:
    return times_from_fields(
        t.user,
        getattr(t, "nice", 0.0),
        t.system,
        t.idle,
        getattr(t, "iowait", None),
        getattr(t, "irq", 0.0),
        getattr(t, "softirq", 0.0),
        getattr(t, "steal", 0.0),
    )


class PsutilHost:
    """Host-wide figures read with psutil."""

    name = "psutil"

    def __init__(self) -> None:
        import psutil

        self._ps = psutil
        self._disks: set[str] | None = None
        self._nics: set[str] | None = None
        self._speeds: dict[str, int] = {}
        self._refreshed = -1e18

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._refreshed < sysinfo.REFRESH_S:
            return
        self._refreshed = now
        self._disks = sysinfo.physical_disks()
        found = sysinfo.net_interfaces()
        if found is not None:
            self._nics = sysinfo.counted_nics(*found)
            self._speeds = sysinfo.link_speeds(self._nics)
            return
        # Not Linux: psutil's view of the interfaces.
        stats = self._ps.net_if_stats()
        self._nics = {n for n, s in stats.items() if "loopback" not in (s.flags or "")}
        self._nics.discard("lo")
        self._nics.discard("lo0")
        self._speeds = {
            n: int(s.speed) for n, s in stats.items() if n in self._nics and s.isup and s.speed > 0
        }

    def facts(self) -> HostFacts:
        ps = self._ps
        self._refresh()
        try:
            boot: float | None = float(ps.boot_time())
        except Exception:
            boot = None
        return HostFacts(
            cpu_cores_logical=ps.cpu_count() or os.cpu_count() or 1,
            cpu_cores_physical=ps.cpu_count(logical=False),
            mem_total_bytes=int(ps.virtual_memory().total),
            swap_total_bytes=int(ps.swap_memory().total),
            boot_time=boot,
            net_links_mbps=dict(self._speeds),
        )

    def cpu_times(self) -> tuple[CpuTimes, list[CpuTimes]]:
        per = [_times(t) for t in self._ps.cpu_times(percpu=True)]
        total = CpuTimes(
            busy=sum(t.busy for t in per),
            idle=sum(t.idle for t in per),
            iowait=None
            if any(t.iowait is None for t in per)
            else sum(t.iowait or 0.0 for t in per),
        )
        return total, per

    def ctx_switches(self) -> int | None:
        try:
            return int(self._ps.cpu_stats().ctx_switches)
        except Exception:
            return None

    def mem(self) -> MemSample:
        vm = self._ps.virtual_memory()
        sw = self._ps.swap_memory()
        return mem_sample(int(vm.total), int(vm.available), int(sw.total), int(sw.free))

    def disk(self) -> DiskCounters:
        self._refresh()
        disks = self._disks
        if disks is None:
            total = self._ps.disk_io_counters(perdisk=False)
            rows = [total] if total is not None else []
        else:
            per = self._ps.disk_io_counters(perdisk=True) or {}
            rows = [c for n, c in per.items() if n in disks]
        return DiskCounters(
            read_bytes=sum(int(c.read_bytes) for c in rows),
            write_bytes=sum(int(c.write_bytes) for c in rows),
            read_count=sum(int(c.read_count) for c in rows),
            write_count=sum(int(c.write_count) for c in rows),
            read_time_ms=_sum_opt(rows, "read_time"),
            write_time_ms=_sum_opt(rows, "write_time"),
            busy_time_ms=_sum_opt(rows, "busy_time"),
        )

    def net(self) -> NetCounters:
        self._refresh()
        nics = self._nics
        per = self._ps.net_io_counters(pernic=True) or {}
        rows = [c for n, c in per.items() if n != "lo" and (not nics or n in nics)]
        return NetCounters(
            rx_bytes=sum(int(c.bytes_recv) for c in rows),
            tx_bytes=sum(int(c.bytes_sent) for c in rows),
            rx_packets=sum(int(c.packets_recv) for c in rows),
            tx_packets=sum(int(c.packets_sent) for c in rows),
            errors=sum(int(c.errin) + int(c.errout) for c in rows),
            drops=sum(int(c.dropin) + int(c.dropout) for c in rows),
            link_speed_mbps=sum(self._speeds.values()) if self._speeds else None,
        )


def _sum_opt(rows: list[Any], attr: str) -> int | None:
    if not rows or any(not hasattr(r, attr) for r in rows):
        return None
    return sum(int(getattr(r, attr)) for r in rows)
