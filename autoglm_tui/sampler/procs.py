"""The process list: every GPU process plus the top N by CPU, cheap between full scans.

A full scan (every ``proc_interval_s``) reads CPU time for every process and picks the top N.
Between scans only the listed processes (the retained top N and the GPU users) are read again,
and the sample says so with ``procs_fresh=False``. Process CPU % is relative to one core (100 =
one core busy) over the time since that process was last read. A process that vanished is
dropped; a GPU process that cannot be seen here (exited, or in another PID namespace: NVML
reports host PIDs) is kept with an ``error``. The list is in pid order; CPU % is rounded to 0.1.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from autoglm_tui.model import ProcGpuUse, ProcSample
from autoglm_tui.sampler.records import ProcBackend, ProcInfo, ProcTimes
from autoglm_tui.sampler.sysinfo import UserNames
from autoglm_tui.text import clean

CMDLINE_CAP = 1024
NAME_CAP = 128
MAX_GPU_PROCS = 256
NOT_VISIBLE = "process not visible here (exited, or in another PID namespace)"


def _text(value: str, cap: int) -> str:
    """Printable text that also survives UTF-8 encoding (lone surrogates replaced)."""
    return clean(value.encode("utf-8", "replace").decode("utf-8"), cap)


class PsutilProcs:
    """Process reads through psutil (used where there is no Linux /proc)."""

    def __init__(self) -> None:
        import psutil

        self._ps = psutil
        self._attrs = [
            "ppid",
            "name",
            "cmdline",
            "memory_info",
            "create_time",
            "status",
            "num_threads",
            "cpu_times",
            "uids",
        ]

    def scan(self) -> dict[int, ProcTimes]:
        out: dict[int, ProcTimes] = {}
        for p in self._ps.process_iter(["create_time", "cpu_times", "memory_info"]):
            info = p.info
            times = info.get("cpu_times")
            if times is None:
                continue
            mem = info.get("memory_info")
            out[p.pid] = (
                info.get("create_time"),
                float(times.user + times.system),
                int(mem.rss) if mem is not None else None,
            )
        return out

    def details(self, pid: int, refresh: bool = True) -> ProcInfo | None:
        ps = self._ps
        denied = object()
        try:
            proc = ps.Process(pid)
            with proc.oneshot():
                d = proc.as_dict(self._attrs, ad_value=denied)
        except ps.NoSuchProcess:
            return None
        except ps.Error as exc:  # anything else psutil can name
            return ProcInfo(pid=pid, error=clean(f"{type(exc).__name__}: {exc}", 200))
        missing = [k for k, v in d.items() if v is denied]
        info = ProcInfo(pid=pid)
        ppid = d.get("ppid")
        info.ppid = ppid if isinstance(ppid, int) else None
        uids = d.get("uids")
        info.uid = uids.real if uids is not None and uids is not denied else None
        name = d.get("name")
        info.name = name if isinstance(name, str) else ""
        cmd = d.get("cmdline")
        info.cmdline = " ".join(cmd) if isinstance(cmd, list) else ""
        mem = d.get("memory_info")
        info.rss_bytes = int(mem.rss) if mem is not None and mem is not denied else None
        ct = d.get("create_time")
        info.create_time = float(ct) if isinstance(ct, (int, float)) else None
        status = d.get("status")
        info.status = status if isinstance(status, str) else None
        nt = d.get("num_threads")
        info.num_threads = nt if isinstance(nt, int) else None
        times = d.get("cpu_times")
        info.cpu_s = (
            float(times.user + times.system) if times is not None and times is not denied else None
        )
        if missing:
            info.error = "access denied: " + ", ".join(sorted(missing))
        return info


def _pid(p: ProcSample) -> int:
    return p.pid


class ProcTracker:
    """Keeps what is needed between ticks: last CPU times per pid and the retained top N."""

    def __init__(self, backend: ProcBackend, top_n: int = 25) -> None:
        self.backend = backend
        self.top_n = max(0, top_n)
        self.users = UserNames()
        # pid -> (create_time, cpu seconds, monotonic time of the reading)
        self._last: dict[int, tuple[float | None, float, float]] = {}
        self._top: list[int] = []
        self._scanned_at = 0.0  # monotonic time of the last full scan

    def prime(self, mono: float) -> None:
        """Read every process once so the first real scan has CPU deltas."""
        self._last = {pid: (ct, cpu, mono) for pid, (ct, cpu, _) in self.backend.scan().items()}
        self._scanned_at = mono

    def _pct(
        self, pid: int, create_time: float | None, cpu_s: float, mono: float, wall: float
    ) -> float | None:
        prev = self._last.get(pid)
        if prev is not None and prev[0] == create_time and mono > prev[2]:
            return max(0.0, 100.0 * (cpu_s - prev[1]) / (mono - prev[2]))
        # Not seen at the last scan: born since, so all its CPU time falls in the window
        # since that scan. (Its start time is only known to ~1 s, through the boot time, so
        # it is used only to tell a process clearly older than the window.)
        window = mono - self._scanned_at
        age = wall - create_time if create_time is not None else None
        if age is not None and age > window + 1.0:
            window = age
        if window <= 0:
            return None
        return max(0.0, 100.0 * cpu_s / window)

    def collect(
        self,
        mono: float,
        wall: float,
        gpu_uses: dict[int, list[ProcGpuUse]],
        full: bool,
        pinned: Iterable[int] = (),
    ) -> tuple[ProcSample, ...]:
        """The process list for this tick (`full`: rescan everything and pick a new top N).
        `pinned` pids (the processes serving inference endpoints) are always listed."""
        pcts: dict[int, float | None] = {}
        if full:
            scan = self.backend.scan()
            ranked: list[tuple[float, int, int]] = []
            last = self._last
            for pid, (ct, cpu, rss) in scan.items():
                prev = last.get(pid)
                if prev is not None and prev[0] == ct and mono > prev[2]:  # the common case
                    pct: float | None = max(0.0, 100.0 * (cpu - prev[1]) / (mono - prev[2]))
                else:
                    pct = self._pct(pid, ct, cpu, mono, wall)
                pcts[pid] = pct
                ranked.append((pct or 0.0, rss or 0, pid))
            self._top = [pid for _, _, pid in heapq.nlargest(self.top_n, ranked)]
            self._last = {pid: (ct, cpu, mono) for pid, (ct, cpu, _) in scan.items()}
            self._scanned_at = mono
        gpu_pids = sorted(gpu_uses, key=lambda p: -sum(u.mem_bytes or 0 for u in gpu_uses[p]))[
            :MAX_GPU_PROCS
        ]
        wanted = list(dict.fromkeys([*self._top, *gpu_pids, *pinned]))
        out: list[ProcSample] = []
        kept_top: list[int] = []
        for pid in wanted:
            uses = tuple(sorted(gpu_uses.get(pid, ()), key=lambda u: u.index))
            info = self.backend.details(pid, refresh=full)
            if info is None:
                self._last.pop(pid, None)
                if uses:
                    out.append(self._invisible(pid, uses))
                continue
            if pid in self._top:
                kept_top.append(pid)
            if full and pid in pcts:
                pct = pcts[pid]
            elif info.cpu_s is not None:
                pct = self._pct(pid, info.create_time, info.cpu_s, mono, wall)
                self._last[pid] = (info.create_time, info.cpu_s, mono)
            else:
                pct = None
            out.append(self._sample(info, pct, uses))
        self._top = kept_top
        out.sort(key=_pid)  # a stable order: the compact wire sends no reordering
        return tuple(out)

    def _sample(
        self, info: ProcInfo, pct: float | None, uses: tuple[ProcGpuUse, ...]
    ) -> ProcSample:
        return ProcSample(
            pid=info.pid,
            ppid=info.ppid,
            user=self.users.name(info.uid),
            name=_text(info.name, NAME_CAP),
            cmdline=_text(info.cmdline, CMDLINE_CAP),
            cpu_pct=None if pct is None else round(pct, 1),
            rss_bytes=info.rss_bytes,
            create_time=info.create_time,
            status=info.status,
            num_threads=info.num_threads,
            gpus=uses,
            error=_text(info.error, 200) if info.error else None,
        )

    @staticmethod
    def _invisible(pid: int, uses: tuple[ProcGpuUse, ...]) -> ProcSample:
        return ProcSample(
            pid=pid,
            ppid=None,
            user="",
            name="",
            cmdline="",
            cpu_pct=None,
            rss_bytes=None,
            create_time=None,
            gpus=uses,
            error=NOT_VISIBLE,
        )
