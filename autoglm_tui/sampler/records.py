"""Plain records that the host/process backends (psutil, procfs) hand to the collector."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from autoglm_tui.model import DiskCounters, MemSample, NetCounters
from autoglm_tui.sampler.cpu import CpuTimes


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What a backend knows about the host that does not change."""

    cpu_cores_logical: int
    cpu_cores_physical: int | None
    mem_total_bytes: int
    swap_total_bytes: int
    boot_time: float | None
    net_links_mbps: dict[str, int] = field(default_factory=dict)


# What a full process scan reads for every process, enough to rank by CPU:
# (create time, user + system CPU seconds since start, resident bytes or None).
ProcTimes = tuple[float | None, float, int | None]


@dataclass(slots=True)
class ProcInfo:
    """The details read for a listed process (top-N or GPU user)."""

    pid: int
    ppid: int | None = None
    uid: int | None = None
    name: str = ""
    cmdline: str = ""
    rss_bytes: int | None = None
    create_time: float | None = None
    status: str | None = None
    num_threads: int | None = None
    cpu_s: float | None = None
    error: str | None = None


class HostBackend(Protocol):
    """Reads host-wide figures; one implementation per collector ("psutil", "procfs")."""

    name: str

    def facts(self) -> HostFacts: ...

    def cpu_times(self) -> tuple[CpuTimes, list[CpuTimes]]: ...

    def ctx_switches(self) -> int | None: ...

    def mem(self) -> MemSample: ...

    def disk(self) -> DiskCounters: ...

    def net(self) -> NetCounters: ...


class ProcBackend(Protocol):
    """Reads processes; a vanished process is never an exception."""

    def scan(self) -> dict[int, ProcTimes]: ...

    def details(self, pid: int, refresh: bool = True) -> ProcInfo | None:
        """None when there is no such process; `refresh` False allows cached slow fields."""
        ...


def mem_sample(total: int, available: int, swap_total: int, swap_free: int) -> MemSample:
    """MemSample with used = total - available (as `free` and psutil count it)."""
    available = max(0, min(available, total))
    used = total - available
    swap_used = max(0, swap_total - swap_free)
    return MemSample(
        total_bytes=total,
        used_bytes=used,
        available_bytes=available,
        used_pct=100.0 * used / total if total else 0.0,
        swap_total_bytes=swap_total,
        swap_used_bytes=swap_used,
        swap_used_pct=100.0 * swap_used / swap_total if swap_total else None,
    )
