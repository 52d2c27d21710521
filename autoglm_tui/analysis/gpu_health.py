"""One GPU's health as a state and words (pure): what a badge, a health section or a cluster
row's "worst GPU" shows.

States, from best to worst: ``ok``; ``degraded`` (it works, slower or less safely: a hardware
slowdown, a thermal limit, a downtrained PCIe link, a recent hardware Xid, NVML calls failing);
``reset needed`` (a row remap or page retirement waits for a reset, a remap failed, or a recent
Xid that calls for a reset); ``lost`` (fallen off the bus, NVML says GPU_IS_LOST). Figures come
from the newest ``GpuSample`` (schema 1.1 fields); a GPU from an older sampler is ``ok`` unless
it is lost or failing, since nothing else is known about it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from autoglm_tui.gpu_codes import (
    APP,
    BENIGN_MASK,
    CLOCK_REASONS,
    CRITICAL,
    REASON_HW_POWER_BRAKE,
    REASON_HW_SLOWDOWN,
    REASON_HW_THERMAL,
    REASON_SW_THERMAL,
    clock_reason_words,
    xid_info,
)
from autoglm_tui.model import GpuSample, Sample


class Health(str, Enum):
    OK = "ok"
    DEGRADED = "degraded"
    RESET_NEEDED = "reset needed"
    LOST = "lost"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Health.OK: 0, Health.DEGRADED: 1, Health.RESET_NEEDED: 2, Health.LOST: 3}


@dataclass(frozen=True, slots=True)
class XidNote:
    """One recent Xid, with what it usually means."""

    t: float  # the sampler's clock when it arrived
    xid: int
    name: str
    meaning: str
    severity: str  # gpu_codes.APP, WARN or CRITICAL


@dataclass(frozen=True, slots=True)
class GpuHealth:
    """Everything the UI says about one GPU's health, as plain data."""

    index: int
    state: Health
    reasons: tuple[str, ...]  # why the state is not ok, the most serious first
    clock_reasons: tuple[str, ...]  # words for the active clock-event reasons
    throttle_power_pct: float | None
    throttle_thermal_pct: float | None
    xids: tuple[XidNote, ...]  # the last 10 minutes, newest first
    xid_total: int | None  # since the sampler started; None: Xids are not watched here
    memory: str | None  # row remapping / page retirement, in words; None: not reported
    pcie: str | None  # e.g. "Gen4 x8 (max Gen5 x16)"
    pcie_degraded: bool
    nvlink: str | None  # e.g. "18 links up, CRC errors 3"; None: no NVLink here

    @property
    def badge(self) -> str:
        """The one word a GPU line shows: OK, SLOW, RESET, LOST."""
        return _BADGES[self.state]


_BADGES = {Health.OK: "OK", Health.DEGRADED: "SLOW", Health.RESET_NEEDED: "RESET",
           Health.LOST: "LOST"}


def gpu_health(g: GpuSample) -> GpuHealth:
    """The health of one GPU from its newest sample."""
    reset: list[str] = []
    degraded: list[str] = []
    xids = tuple(_note(e.t, e.xid) for e in reversed(g.xids))
    for note in xids:
        info = xid_info(note.xid)
        text = f"Xid {note.xid}: {note.name}"
        if info.severity == APP or text in reset or text in degraded:
            continue
        if info.reset_needed and info.severity == CRITICAL:
            reset.append(text)
        else:
            degraded.append(text)
    if g.remap_failed:
        reset.append("a row remap failed: the GPU needs service")
    if g.remap_pending:
        reset.append("row remap pending: reset the GPU")
    if g.retired_pending:
        reset.append("page retirement pending: reset the GPU")
    r = g.clock_reasons or 0
    if r & REASON_HW_POWER_BRAKE:
        degraded.append("HW power brake")
    if r & REASON_HW_THERMAL:
        degraded.append("HW thermal slowdown")
    elif r & REASON_HW_SLOWDOWN:
        degraded.append("HW slowdown")
    if r & REASON_SW_THERMAL:
        degraded.append("SW thermal slowdown")
    pcie, pcie_degraded = _pcie(g)
    if pcie_degraded:
        degraded.append(f"PCIe link downtrained: {pcie}")
    if g.state == "error":
        degraded.append(g.error or "NVML calls fail")
    if g.state == "lost":
        state, reasons = Health.LOST, [g.error or "GPU is lost", *reset, *degraded]
    elif reset:
        state, reasons = Health.RESET_NEEDED, reset + degraded
    elif degraded:
        state, reasons = Health.DEGRADED, degraded
    else:
        state, reasons = Health.OK, []
    return GpuHealth(
        index=g.index,
        state=state,
        reasons=tuple(reasons),
        clock_reasons=clock_reason_words(g.clock_reasons),
        throttle_power_pct=g.throttle_power_pct,
        throttle_thermal_pct=g.throttle_thermal_pct,
        xids=xids,
        xid_total=g.xid_total,
        memory=_memory(g),
        pcie=pcie,
        pcie_degraded=pcie_degraded,
        nvlink=_nvlink(g),
    )


def node_health(sample: Sample | None) -> Health | None:
    """The worst health among a node's GPUs (None: no sample, or no GPUs)."""
    if sample is None or not sample.gpus:
        return None
    return worst(gpu_health(g).state for g in sample.gpus)


def worst(states: Iterable[Health]) -> Health | None:
    out: Health | None = None
    for s in states:
        if out is None or s.rank > out.rank:
            out = s
    return out


def _note(t: float, xid: int) -> XidNote:
    info = xid_info(xid)
    return XidNote(t=t, xid=xid, name=info.name, meaning=info.meaning, severity=info.severity)


def _memory(g: GpuSample) -> str | None:
    parts: list[str] = []
    if g.remap_correctable is not None or g.remap_uncorrectable is not None:
        parts.append(f"rows remapped: {g.remap_correctable or 0} correctable, "
                     f"{g.remap_uncorrectable or 0} uncorrectable")
        if g.remap_pending:
            parts.append("remap pending")
        if g.remap_failed:
            parts.append("remap failed")
    if g.retired_pages is not None:
        parts.append(f"retired pages: {g.retired_pages}")
        if g.retired_pending:
            parts.append("retirement pending")
    return ", ".join(parts) if parts else None


def _pcie(g: GpuSample) -> tuple[str | None, bool]:
    if g.pcie_gen is None and g.pcie_width is None:
        return None, False
    now = f"Gen{_n(g.pcie_gen)} x{_n(g.pcie_width)}"
    best = f"Gen{_n(g.pcie_gen_max)} x{_n(g.pcie_width_max)}"
    degraded = bool(g.pcie_width_degraded)
    # The generation drops at idle to save power: that alone is not a fault.
    return (now if now == best else f"{now} (max {best})"), degraded


def _nvlink(g: GpuSample) -> str | None:
    if g.nvlink_links is None:
        return None
    text = f"{g.nvlink_links} link{'s' if g.nvlink_links != 1 else ''} up"
    counts = [(name, value) for name, value in (
        ("CRC errors", g.nvlink_crc_errors), ("replays", g.nvlink_replay_errors),
        ("recoveries", g.nvlink_recovery_errors)) if value]
    if counts:
        text += ", " + ", ".join(f"{name} {value}" for name, value in counts)
    return text


def _n(value: int | None) -> str:
    return "?" if value is None else str(value)


__all__ = ["GpuHealth", "Health", "XidNote", "gpu_health", "node_health", "worst"]


def clock_reason_shares(
    points: Iterable[tuple[float, float | None]],
) -> tuple[int, list[tuple[str, float]]]:
    """How often each clock-limiting reason was active over a stretch of history: (points
    read, [(reason, share 0..1)] most frequent first). Benign reasons (idle, application clocks,
    sync boost, display) are left out. Only whole bit masks count: an older point that is the
    mean of a bucket in which the reasons changed says nothing about any one bit."""
    n = 0
    counts = dict.fromkeys((name for bit, name in CLOCK_REASONS if not bit & BENIGN_MASK), 0)
    for _, v in points:
        if v is None or v != v or v < 0 or v != int(v):
            continue
        n += 1
        mask = int(v)
        for bit, name in CLOCK_REASONS:
            if mask & bit and not bit & BENIGN_MASK:
                counts[name] += 1
    shares = sorted(((k, c / n) for k, c in counts.items() if c), key=lambda kv: -kv[1])
    return n, shares
