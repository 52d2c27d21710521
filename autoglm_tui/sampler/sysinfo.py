"""Static host facts and Linux /sys helpers readable with the standard library alone.

Shared by both collectors (psutil and procfs). Every reader here tolerates a missing file:
it returns None (or an empty result) instead of raising.
"""

from __future__ import annotations

import os
import platform
import pwd
import socket
import threading
import time

from autoglm_tui.text import clean

SYS_BLOCK = "/sys/block"
SYS_NET = "/sys/class/net"
REFRESH_S = 30.0  # how long device lists and link speeds are trusted


def read_text(path: str) -> str | None:
    """The file's text, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def hostname() -> str:
    return clean(socket.gethostname(), 255) or "localhost"


def os_name() -> str:
    """Distribution name from /etc/os-release (PRETTY_NAME), else the platform name."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        text = read_text(path)
        if not text:
            continue
        for line in text.splitlines():
            if line.startswith("PRETTY_NAME="):
                value = line.split("=", 1)[1].strip().strip('"').strip("'")
                if value:
                    return clean(value, 128)
    return clean(f"{platform.system()} {platform.release()}".strip(), 128) or "unknown"


def kernel() -> str:
    return clean(platform.release(), 128) or "unknown"


def cpu_model() -> str:
    """The CPU's marketing name (/proc/cpuinfo on Linux), else the platform's machine name."""
    text = read_text("/proc/cpuinfo")
    if text:
        wanted = ("model name", "Hardware", "Model", "cpu model", "Processor")
        found: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            key = key.strip()
            if sep and key in wanted and key not in found and value.strip():
                found[key] = value.strip()
        for key in wanted:
            if key in found:
                return clean(found[key], 128)
    return clean(platform.processor() or platform.machine(), 128) or "unknown"


def physical_cores_from_cpuinfo() -> int | None:
    """Distinct (physical id, core id) pairs in /proc/cpuinfo, or None when it does not say."""
    text = read_text("/proc/cpuinfo")
    if not text:
        return None
    cores: set[tuple[str, str]] = set()
    phys = core = None
    for line in [*text.splitlines(), ""]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            phys = value.strip()
        elif key == "core id":
            core = value.strip()
        elif not line.strip():
            if phys is not None and core is not None:
                cores.add((phys, core))
            phys = core = None
    return len(cores) or None


def physical_disks() -> set[str] | None:
    """Whole disks backed by a device (nvme, sd, vd...): no partitions, loop, ram, zram, dm, md.

    None when /sys/block does not exist (not Linux)."""
    try:
        names = os.listdir(SYS_BLOCK)
    except OSError:
        return None
    return {n for n in names if os.path.exists(os.path.join(SYS_BLOCK, n, "device"))}


def net_interfaces() -> tuple[set[str], set[str]] | None:
    """(all non-loopback interfaces, those backed by a device) from /sys, or None if absent."""
    try:
        names = os.listdir(SYS_NET)
    except OSError:
        return None
    every: set[str] = set()
    physical: set[str] = set()
    for name in names:
        if name == "lo" or _is_loopback(name):
            continue
        every.add(name)
        if os.path.exists(os.path.join(SYS_NET, name, "device")):
            physical.add(name)
    return every, physical


def _is_loopback(name: str) -> bool:
    kind = read_text(os.path.join(SYS_NET, name, "type"))
    return kind is not None and kind.strip() == "772"  # ARPHRD_LOOPBACK


def link_speeds(names: set[str]) -> dict[str, int]:
    """Link speed in Mb/s of each interface in `names` that is up and reports one."""
    out: dict[str, int] = {}
    for name in sorted(names):
        state = read_text(os.path.join(SYS_NET, name, "operstate"))
        if state is None or state.strip() != "up":
            continue
        raw = read_text(os.path.join(SYS_NET, name, "speed"))
        try:
            speed = int(raw.strip()) if raw else -1
        except ValueError:
            speed = -1
        if speed > 0:
            out[name] = speed
    return out


def counted_nics(every: set[str], physical: set[str]) -> set[str]:
    """The interfaces whose counters are summed: device-backed ones when there are any
    (so bridge/veth/bond copies of the same traffic are not counted twice), else all."""
    return physical or every


class UserNames:
    """uid -> user name, cached (the password database is read once per uid)."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}

    def name(self, uid: int | None) -> str:
        if uid is None:
            return ""
        name = self._names.get(uid)
        if name is None:
            try:
                name = clean(pwd.getpwuid(uid).pw_name, 64)
            except (KeyError, OverflowError):
                name = str(uid)
            self._names[uid] = name
        return name


def self_cost() -> tuple[float, int]:
    """This process's CPU seconds (user + system, all threads) and resident memory in bytes."""
    t = os.times()
    cpu = t.user + t.system
    rss = 0
    statm = read_text("/proc/self/statm")
    if statm:
        try:
            rss = int(statm.split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (IndexError, ValueError, OSError):
            rss = 0
    if not rss:
        try:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            # Peak, not current: the best the standard library offers off Linux.
            rss = peak if platform.system() == "Darwin" else peak * 1024
        except (ImportError, OSError):
            rss = 0
    return cpu, rss


OWN_THREADS = ("autoglm-", "nvml-")  # names of the threads the sampler starts


class InProcessCost:
    """The sampler's own CPU seconds when it runs inside another program (the local view,
    where the process's CPU time is the whole UI's): the time its calls spent on the calling
    thread (:meth:`add_call`) plus the CPU time of the threads it started (services, probes,
    NVML lanes and the Xid watcher, found by name). Never goes backwards: a thread that ends
    keeps its last reading."""

    def __init__(self) -> None:
        self.calls_s = 0.0
        self._threads: dict[int, float] = {}
        self._retired_s = 0.0

    def add_call(self, thread_cpu_s: float) -> None:
        """Count CPU seconds a sampler call spent on the caller's thread."""
        self.calls_s += max(0.0, thread_cpu_s)

    def cpu_s(self) -> float:
        """CPU seconds so far: calls plus the sampler's threads, live and ended."""
        live: dict[int, float] = {}
        for th in threading.enumerate():
            ident = th.ident
            if ident is None or not th.name.startswith(OWN_THREADS):
                continue
            try:
                live[ident] = time.clock_gettime(time.pthread_getcpuclockid(ident))
            except (AttributeError, OSError, ValueError):  # not on this platform, or gone
                continue
        for ident, last in self._threads.items():
            now = live.get(ident)
            if now is None or now < last:  # ended (or its id went to a new thread)
                self._retired_s += last
        self._threads = live
        return self.calls_s + self._retired_s + sum(live.values())
