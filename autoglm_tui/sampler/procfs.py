"""The psutil-free collector for Linux: reads /proc and /sys directly (standard library only).

Used when ``import psutil`` fails (a node that only has python3, with the sampler's code pushed
over SSH). Figures follow psutil's definitions so both collectors agree: memory used is
total - available, disk bytes are 512-byte sectors from /proc/diskstats, CPU times are seconds.
"""

from __future__ import annotations

import os
import time

from autoglm_tui.model import DiskCounters, MemSample, NetCounters
from autoglm_tui.sampler import sysinfo
from autoglm_tui.sampler.cpu import CpuTimes, times_from_fields
from autoglm_tui.sampler.records import HostFacts, ProcInfo, ProcTimes, mem_sample

PROC = "/proc"
SECTOR = 512  # /proc/diskstats counts 512-byte sectors whatever the device's sector size
_STATUS = {
    "R": "running",
    "S": "sleeping",
    "D": "disk-sleep",
    "Z": "zombie",
    "T": "stopped",
    "t": "tracing-stop",
    "X": "dead",
    "x": "dead",
    "I": "idle",
    "K": "wake-kill",
    "W": "waking",
    "P": "parked",
}


def available() -> bool:
    """True where /proc looks like Linux's."""
    return os.path.exists(os.path.join(PROC, "stat")) and os.path.exists(
        os.path.join(PROC, "meminfo")
    )


def _read_bytes(path: str) -> bytes:
    """The whole file (os.open/os.read: about a third cheaper than open() for /proc files)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, 4096)
        if len(data) < 4096:
            return data
        chunks = [data]
        while True:
            more = os.read(fd, 65536)
            if not more:
                return b"".join(chunks)
            chunks.append(more)
    finally:
        os.close(fd)


def read_meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes, by field name."""
    out: dict[str, int] = {}
    for line in _read_bytes(f"{PROC}/meminfo").decode("ascii", "replace").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        try:
            value = int(parts[0])
        except ValueError:
            continue
        out[key.strip()] = value * 1024 if len(parts) > 1 and parts[1] == "kB" else value
    return out


class ProcfsHost:
    """Host figures from /proc/stat, /proc/meminfo, /proc/diskstats, /proc/net/dev and /sys."""

    name = "procfs"

    def __init__(self) -> None:
        self._tick = float(os.sysconf("SC_CLK_TCK"))
        self._ctxt: int | None = None
        self._btime: float | None = None
        self._disks: set[str] | None = None
        self._nics: set[str] = set()
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

    def facts(self) -> HostFacts:
        self._refresh()
        mem = read_meminfo()
        per_cpu = self.cpu_times()[1]
        return HostFacts(
            cpu_cores_logical=len(per_cpu) or os.cpu_count() or 1,
            cpu_cores_physical=sysinfo.physical_cores_from_cpuinfo(),
            mem_total_bytes=mem.get("MemTotal", 0),
            swap_total_bytes=mem.get("SwapTotal", 0),
            boot_time=self._btime,
            net_links_mbps=dict(self._speeds),
        )

    def cpu_times(self) -> tuple[CpuTimes, list[CpuTimes]]:
        total = CpuTimes(0.0, 0.0, None)
        per: list[CpuTimes] = []
        tick = self._tick
        for line in _read_bytes(f"{PROC}/stat").split(b"\n"):
            if line.startswith(b"cpu"):
                parts = line.split()
                vals = [int(v) / tick for v in parts[1:9]]
                vals += [0.0] * (8 - len(vals))
                times = times_from_fields(*vals[:4], vals[4], vals[5], vals[6], vals[7])
                if parts[0] == b"cpu":
                    total = times
                else:
                    per.append(times)
            elif line.startswith(b"ctxt "):
                self._ctxt = int(line.split()[1])
            elif line.startswith(b"btime "):
                self._btime = float(line.split()[1])
        return total, per

    def ctx_switches(self) -> int | None:
        """From the /proc/stat read of the last :meth:`cpu_times` call."""
        return self._ctxt

    def boot_time(self) -> float | None:
        if self._btime is None:
            self.cpu_times()
        return self._btime

    def mem(self) -> MemSample:
        m = read_meminfo()
        total = m.get("MemTotal", 0)
        avail = m.get("MemAvailable")
        if avail is None:  # kernels before 3.14
            avail = (
                m.get("MemFree", 0)
                + m.get("Buffers", 0)
                + m.get("Cached", 0)
                + m.get("SReclaimable", 0)
            )
        return mem_sample(total, avail, m.get("SwapTotal", 0), m.get("SwapFree", 0))

    def disk(self) -> DiskCounters:
        self._refresh()
        disks = self._disks
        rb = wb = rc = wc = rt = wt = busy = 0
        for line in _read_bytes(f"{PROC}/diskstats").split(b"\n"):
            f = line.split()
            if len(f) < 14:
                continue
            name = f[2].decode("ascii", "replace")
            if disks is not None and name not in disks:
                continue
            rc += int(f[3])
            rb += int(f[5]) * SECTOR
            rt += int(f[6])
            wc += int(f[7])
            wb += int(f[9]) * SECTOR
            wt += int(f[10])
            busy += int(f[12])
        return DiskCounters(
            read_bytes=rb,
            write_bytes=wb,
            read_count=rc,
            write_count=wc,
            read_time_ms=rt,
            write_time_ms=wt,
            busy_time_ms=busy,
        )

    def net(self) -> NetCounters:
        self._refresh()
        nics = self._nics
        rxb = txb = rxp = txp = errs = drops = 0
        for line in _read_bytes(f"{PROC}/net/dev").split(b"\n")[2:]:
            name, sep, rest = line.partition(b":")
            if not sep:
                continue
            nic = name.strip().decode("ascii", "replace")
            if nic == "lo" or (nics and nic not in nics):
                continue
            f = rest.split()
            if len(f) < 12:
                continue
            rxb += int(f[0])
            rxp += int(f[1])
            errs += int(f[2]) + int(f[10])
            drops += int(f[3]) + int(f[11])
            txb += int(f[8])
            txp += int(f[9])
        speed = sum(self._speeds.values()) if self._speeds else None
        return NetCounters(
            rx_bytes=rxb,
            tx_bytes=txb,
            rx_packets=rxp,
            tx_packets=txp,
            errors=errs,
            drops=drops,
            link_speed_mbps=speed,
        )


# What rarely changes about a process: (create_time, uid, name, cmdline, error, read at).
_Static = tuple[float, int | None, str, str, str | None, float]
STATIC_TTL_S = 10.0


class ProcfsProcs:
    """Processes from /proc/PID/{stat,status,cmdline}.

    The command line and owner change rarely: they are read for a new process, and again at
    a full scan (``refresh``) once they are ``STATIC_TTL_S`` old; otherwise a listed process
    costs one read of /proc/PID/stat."""

    def __init__(self) -> None:
        self._tick = float(os.sysconf("SC_CLK_TCK"))
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._btime = ProcfsHost().boot_time() or 0.0
        self._static: dict[int, _Static] = {}

    @staticmethod
    def _stat(pid: int) -> list[bytes] | None:
        """[comm, field 3 (state), field 4, ...] of /proc/PID/stat; None when it is gone."""
        try:
            data = _read_bytes(f"{PROC}/{pid}/stat")
        except OSError:
            return None
        left = data.find(b"(")
        right = data.rfind(b")")
        if left < 0 or right < 0:
            return None
        return [data[left + 1 : right], *data[right + 2 :].split()]

    def scan(self) -> dict[int, ProcTimes]:
        out: dict[int, ProcTimes] = {}
        tick, page, btime = self._tick, self._page, self._btime
        for entry in os.listdir(PROC):
            if not entry.isdigit():
                continue
            try:
                data = _read_bytes(f"{PROC}/{entry}/stat")
            except OSError:
                continue
            # Fields after "(comm) ": index k holds stat field k + 3.
            f = data[data.rfind(b")") + 2 :].split(None, 22)
            if len(f) < 22:
                continue
            out[int(entry)] = (
                btime + int(f[19]) / tick,
                (int(f[11]) + int(f[12])) / tick,
                int(f[21]) * page,
            )
        static = self._static
        for pid in [p for p in static if p not in out]:
            del static[pid]
        return out

    def details(self, pid: int, refresh: bool = True) -> ProcInfo | None:
        f = self._stat(pid)
        if f is None or len(f) < 23:
            return None
        tick = self._tick
        create_time = self._btime + int(f[20]) / tick
        info = ProcInfo(
            pid=pid,
            ppid=int(f[2]),
            rss_bytes=int(f[22]) * self._page,
            create_time=create_time,
            status=_STATUS.get(f[1].decode("ascii", "replace")),
            num_threads=int(f[18]),
            cpu_s=(int(f[12]) + int(f[13])) / tick,
        )
        cached = self._static.get(pid)
        now = time.monotonic()
        if (
            cached is None
            or cached[0] != create_time
            or (refresh and now - cached[5] >= STATIC_TTL_S)
        ):
            cached = self._read_static(pid, f[0], create_time, now)
            if cached is None:
                return None
            self._static[pid] = cached
        _, info.uid, info.name, info.cmdline, info.error, _ = cached
        return info

    def _read_static(self, pid: int, comm: bytes, create_time: float, now: float) -> _Static | None:
        uid: int | None = None
        name = comm.decode("utf-8", "replace")
        cmdline = ""
        denied: list[str] = []
        try:
            status = _read_bytes(f"{PROC}/{pid}/status")
            at = status.find(b"\nUid:")
            if at >= 0:
                uid = int(status[at + 5 :].split(None, 1)[0])
        except PermissionError:
            denied.append("user")
        except OSError:
            return None
        try:
            args = _read_bytes(f"{PROC}/{pid}/cmdline").rstrip(b"\0").split(b"\0")
            cmdline = b" ".join(args).decode("utf-8", "replace")
            if len(comm) == 15 and args[0]:  # comm is cut at 15 bytes: take the program's name
                exe = os.path.basename(args[0].split(b" ")[0])
                if exe.startswith(comm):
                    name = exe.decode("utf-8", "replace")
        except PermissionError:
            denied.append("cmdline")
        except OSError:
            return None
        error = "access denied: " + ", ".join(denied) if denied else None
        return create_time, uid, name, cmdline, error, now
