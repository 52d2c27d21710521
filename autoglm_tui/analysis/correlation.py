"""Network and disk IO side by side: aligned series, Pearson correlation, scenario hints (pure).

The seed's "network I/O and disk load joint monitoring": network throughput and utilisation
(against link speed) beside disk IOPS, throughput and await latency on one time axis, how
strongly they move together over the window, and two named patterns:

- write amplification: the network is normal while disk IOPS and latency are high (e.g. log
  syncing that blocks);
- saturation: the network is saturated while disk latency rises (resources fight, as in a flood
  of requests).

Series come from a node's history with gaps as None; a point counts only where both series
have a value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from autoglm_tui.analysis.history import NodeHistory

Point = tuple[float, "float | None"]

NET_KEYS = ("net.rx_bps", "net.tx_bps", "net.util_pct")
DISK_KEYS = ("disk.read_bps", "disk.write_bps", "disk.iops", "disk.await_ms")
MIN_POINTS = 5  # fewer aligned points than this: no correlation is shown


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r of two equally long sequences; None when undefined (too short, or flat)."""
    n = len(xs)
    if n != len(ys) or n < 2:
        return None
    if not all(math.isfinite(v) for v in xs) or not all(math.isfinite(v) for v in ys):
        return None
    # r does not change with scale: dividing by the largest magnitude keeps the sums finite.
    sx = max(abs(v) for v in xs) or 1.0
    sy = max(abs(v) for v in ys) or 1.0
    xs = [v / sx for v in xs]
    ys = [v / sy for v in ys]
    mx = math.fsum(xs) / n
    my = math.fsum(ys) / n
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0 or not math.isfinite(sxx) or not math.isfinite(syy):
        return None
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    r = sxy / math.sqrt(sxx * syy)
    if not math.isfinite(r):
        return None
    return max(-1.0, min(1.0, r))


def aligned(a: Sequence[Point], b: Sequence[Point]) -> tuple[list[float], list[float]]:
    """The values of `a` and `b` at the times where both are known (gaps dropped)."""
    bmap = {t: v for t, v in b if v is not None and math.isfinite(v)}
    xs: list[float] = []
    ys: list[float] = []
    for t, v in a:
        if v is None or not math.isfinite(v):
            continue
        w = bmap.get(t)
        if w is not None:
            xs.append(v)
            ys.append(w)
    return xs, ys


def correlate(a: Sequence[Point], b: Sequence[Point], min_points: int = MIN_POINTS
              ) -> tuple[float | None, int]:
    """(Pearson's r over the aligned points or None, how many points were aligned)."""
    xs, ys = aligned(a, b)
    if len(xs) < min_points:
        return None, len(xs)
    return pearson(xs, ys), len(xs)


def sum_series(*series: Sequence[Point]) -> list[Point]:
    """Point-wise sum of series on the same time axis; a gap in any one is a gap in the sum."""
    if not series:
        return []
    out: list[Point] = []
    for points in zip(*series, strict=False):
        t = points[0][0]
        vals = [v for pt, v in points if pt == t]
        if len(vals) != len(points) or any(v is None for v in vals):
            out.append((t, None))
        else:
            out.append((t, math.fsum(v for v in vals if v is not None)))
    return out


@dataclass(frozen=True, slots=True)
class Hint:
    """A named pattern that matches the window, with the evidence in words."""

    name: str  # "write amplification", "saturation"
    message: str
    evidence: str


@dataclass(frozen=True, slots=True)
class HintThresholds:
    """When the scenario hints match (tunable; defaults follow the seed's wording)."""

    net_normal_pct: float = 50.0  # network below this is "normal"
    net_saturated_pct: float = 80.0  # at or above this is "saturated"
    await_high_ms: float = 20.0  # disk latency this high is "high"
    iops_high_ratio: float = 2.0  # IOPS this many times its window median is "high"
    iops_high_min: float = 100.0  # ... and at least this many operations per second
    rise_ratio: float = 1.5  # latency "rising": recent third vs first third of the window
    rise_min_ms: float = 5.0  # ... by at least this much


@dataclass
class IoWindow:
    """The IO picture of one node over a window: series, correlations and hints."""

    since: float
    until: float
    times: list[float] = field(default_factory=list)
    net_bps: list[float | None] = field(default_factory=list)  # rx + tx
    net_util_pct: list[float | None] = field(default_factory=list)
    disk_bps: list[float | None] = field(default_factory=list)  # read + write
    disk_read_bps: list[float | None] = field(default_factory=list)
    disk_iops: list[float | None] = field(default_factory=list)
    disk_await_ms: list[float | None] = field(default_factory=list)
    r_net_disk_bps: float | None = None  # network throughput vs disk throughput
    r_net_iops: float | None = None
    r_net_await: float | None = None
    points: int = 0  # aligned points behind r_net_disk_bps
    link_mbps: int | None = None
    hints: list[Hint] = field(default_factory=list)

    @staticmethod
    def latest(values: Sequence[float | None]) -> float | None:
        """The newest known value of a series."""
        for v in reversed(values):
            if v is not None:
                return v
        return None


def io_window(
    history: NodeHistory,
    since: float,
    until: float,
    link_mbps: int | None = None,
    thresholds: HintThresholds | None = None,
) -> IoWindow:
    """Build the IO picture of one node's history between `since` and `until`."""
    def pts(metric: str) -> list[Point]:
        return history.points((metric, None), since, until)

    rx, tx = pts("net.rx_bps"), pts("net.tx_bps")
    net = sum_series(rx, tx) if rx and tx else []
    util = pts("net.util_pct")
    rd, wr = pts("disk.read_bps"), pts("disk.write_bps")
    disk = sum_series(rd, wr) if rd and wr else []
    iops = pts("disk.iops")
    wait = pts("disk.await_ms")
    w = IoWindow(since=since, until=until, link_mbps=link_mbps)
    axis = net or util or disk or iops or wait
    w.times = [t for t, _ in axis]
    w.net_bps = _on_axis(w.times, net)
    w.net_util_pct = _on_axis(w.times, util)
    w.disk_bps = _on_axis(w.times, disk)
    w.disk_read_bps = _on_axis(w.times, rd)
    w.disk_iops = _on_axis(w.times, iops)
    w.disk_await_ms = _on_axis(w.times, wait)
    w.r_net_disk_bps, w.points = correlate(net, disk)
    w.r_net_iops, _ = correlate(net, iops)
    w.r_net_await, _ = correlate(net, wait)
    w.hints = scenario_hints(w.net_util_pct, w.disk_iops, w.disk_await_ms, thresholds)
    return w


def _on_axis(times: list[float], points: Sequence[Point]) -> list[float | None]:
    m = {t: v for t, v in points}
    return [m.get(t) for t in times]


def scenario_hints(
    net_util_pct: Sequence[float | None],
    disk_iops: Sequence[float | None],
    disk_await_ms: Sequence[float | None],
    thresholds: HintThresholds | None = None,
) -> list[Hint]:
    """The seed's scenarios that match the newest values of a window (oldest first)."""
    th = thresholds or HintThresholds()
    util = IoWindow.latest(net_util_pct)
    iops = IoWindow.latest(disk_iops)
    wait = IoWindow.latest(disk_await_ms)
    hints: list[Hint] = []
    known_iops = sorted(v for v in disk_iops if v is not None)
    median_iops = known_iops[len(known_iops) // 2] if known_iops else None
    if (
        util is not None and util < th.net_normal_pct
        and iops is not None and wait is not None and wait >= th.await_high_ms
        and iops >= th.iops_high_min
        and (median_iops is None or median_iops <= 0 or iops >= th.iops_high_ratio * median_iops
             or len(known_iops) < MIN_POINTS)
    ):
        hints.append(Hint(
            "write amplification",
            "network normal, disk IOPS and latency high: writes may be amplified "
            "(log syncing, small synchronous writes)",
            f"net {util:.0f}% of link, {iops:.0f} IOPS, await {wait:.0f} ms",
        ))
    rising = _rising(disk_await_ms, th)
    if util is not None and util >= th.net_saturated_pct and rising is not None:
        first, last = rising
        hints.append(Hint(
            "saturation",
            "network saturated while disk latency rises: requests compete for IO "
            "(a traffic flood or a DDoS looks like this)",
            f"net {util:.0f}% of link, await {first:.0f} -> {last:.0f} ms",
        ))
    return hints


def _rising(values: Sequence[float | None], th: HintThresholds) -> tuple[float, float] | None:
    """(early mean, recent mean) when the recent third is clearly above the first third."""
    known = [v for v in values if v is not None and math.isfinite(v) and abs(v) < 1e300]
    if len(known) < 6:
        return None
    third = len(known) // 3
    early = math.fsum(known[:third]) / third
    recent = math.fsum(known[-third:]) / third
    if recent >= early * th.rise_ratio and recent - early >= th.rise_min_ms:
        return early, recent
    return None


def describe_r(r: float | None) -> str:
    """'strong +', 'weak -', 'none' ... for a column summary; 'n/a' when undefined."""
    if r is None:
        return "n/a"
    a = abs(r)
    strength = "strong" if a >= 0.7 else "moderate" if a >= 0.4 else "weak" if a >= 0.2 \
        else "none"
    if strength == "none":
        return strength
    return f"{strength} {'+' if r > 0 else '-'}"
