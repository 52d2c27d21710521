"""CPU utilisation from raw cumulative CPU times, computed over the sampler's own interval."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """Cumulative CPU time of one CPU (or all), in any one unit (seconds or clock ticks)."""

    busy: float  # everything but idle and iowait (guest time is already inside user)
    idle: float  # idle + iowait
    iowait: float | None  # None where the OS does not report it


def times_from_fields(
    user: float,
    nice: float,
    system: float,
    idle: float,
    iowait: float | None = None,
    irq: float = 0.0,
    softirq: float = 0.0,
    steal: float = 0.0,
) -> CpuTimes:
    """Fold the /proc/stat columns (guest and guest_nice excluded: they are inside user/nice)."""
    wait = iowait or 0.0
    return CpuTimes(
        busy=user + nice + system + irq + softirq + steal, idle=idle + wait, iowait=iowait
    )


def _pct(part: float, whole: float) -> float:
    if whole <= 0:
        return 0.0
    return max(0.0, min(100.0, 100.0 * part / whole))


def util_pct(prev: CpuTimes, cur: CpuTimes) -> float | None:
    """Busy share of the time between two readings, in percent; None when no time passed."""
    busy = cur.busy - prev.busy
    total = busy + (cur.idle - prev.idle)
    if total <= 0 or busy < 0:
        return None
    return _pct(busy, total)


def iowait_pct(prev: CpuTimes, cur: CpuTimes) -> float | None:
    """Share of the time between two readings spent waiting on IO, in percent."""
    if prev.iowait is None or cur.iowait is None:
        return None
    total = (cur.busy - prev.busy) + (cur.idle - prev.idle)
    wait = cur.iowait - prev.iowait
    if total <= 0 or wait < 0:
        return None
    return _pct(wait, total)
