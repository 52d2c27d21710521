"""Resource-aware sampling (the seed's edge chapter): back off the costly parts on a busy node.

When the node's CPU has been saturated (at least ``HIGH_PCT`` busy over the last
``ENTER_TICKS`` samples), the sampler stretches what costs it most: the full process scan
(every ``proc_interval_s`` x ``FACTOR``) and the slow GPU health reads (x ``FACTOR``); service
scrapes, where a node has them, should follow ``factor`` too. It goes back to normal once the
CPU is below ``LOW_PCT`` for ``LEAVE_TICKS`` samples (hysteresis, so it does not flap). The
sample interval itself is not changed here: that is the monitor's call (a control line), since
the monitor's staleness and rates depend on it. Pure: CPU figures in, a factor out.
"""

from __future__ import annotations

HIGH_PCT = 90.0
LOW_PCT = 75.0
ENTER_TICKS = 2
LEAVE_TICKS = 3
FACTOR = 4.0


class LoadPolicy:
    """Whether the node is saturated, from the CPU utilisation of each sample."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.saturated = False
        self.cpu_pct: float | None = None
        self._high = 0
        self._low = 0

    def update(self, cpu_pct: float | None) -> bool:
        """Fold in one sample's CPU %; True when the state changed."""
        if not self.enabled or cpu_pct is None:
            return False
        self.cpu_pct = cpu_pct
        if cpu_pct >= HIGH_PCT:
            self._high, self._low = self._high + 1, 0
        elif cpu_pct < LOW_PCT:
            self._high, self._low = 0, self._low + 1
        else:
            self._high = self._low = 0
        if not self.saturated and self._high >= ENTER_TICKS:
            self.saturated = True
            return True
        if self.saturated and self._low >= LEAVE_TICKS:
            self.saturated = False
            return True
        return False

    @property
    def factor(self) -> float:
        """How much longer the costly parts wait between runs (1 when the node is not busy)."""
        return FACTOR if self.saturated else 1.0

    def reason(self) -> str | None:
        """Why the sampler is slowed, for the wire (None when it is not). The text stays the
        same while the state does, so a compact stream does not resend it every sample."""
        if not self.saturated:
            return None
        return (f"node CPU saturated (>= {HIGH_PCT:g}% busy): process scans and GPU health "
                f"reads run {FACTOR:g}x less often")
