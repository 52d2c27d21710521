"""What monitoring costs, from cumulative CPU times (pure): a node's sampler, from its
samples' ``self_cost``, and the monitor's own process, from ``MonitorCost`` events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autoglm_tui.model import Sample


@dataclass(frozen=True, slots=True)
class ProcessCost:
    """A process's CPU use between its last two readings (% of one core) and its memory."""

    t: float | None = None
    cpu_time_s: float | None = None
    cpu_pct: float | None = None  # None until two readings, or after the clock went back
    rss_bytes: int | None = None

    def after(self, t: float, cpu_time_s: float, rss_bytes: int) -> ProcessCost:
        """The cost with a new reading at monitor time `t`."""
        pct = None
        if self.t is not None and self.cpu_time_s is not None and t > self.t:
            used = cpu_time_s - self.cpu_time_s
            pct = 100.0 * used / (t - self.t) if used >= 0 else None
        return ProcessCost(t, cpu_time_s, pct, rss_bytes)


def sampler_cpu_pct(prev: Sample | None, cur: Sample) -> float | None:
    """The sampler's own CPU, in % of one core, from the growth of its CPU time between two
    samples (None for the first, or when its clock or CPU time went back: it restarted)."""
    if prev is None or prev.self_cost is None or cur.self_cost is None:
        return None
    dt = cur.t - prev.t
    dcpu = cur.self_cost.cpu_time_s - prev.self_cost.cpu_time_s
    return 100.0 * dcpu / dt if dt > 0 and dcpu >= 0 else None
