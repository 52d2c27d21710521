"""GPU health reads (run inside a device's batch, on its lane): clock-event reasons and time
spent throttled every tick; PCIe link, replay counter, row remapping, retired pages and NVLink
error counters on a slower cadence, since they change rarely and some cost many calls.

Every value is None where the GPU or driver does not report it, never 0. A call that answers
NOT_SUPPORTED or FUNCTION_NOT_FOUND once is not made again for that GPU (``Batch.probe``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from autoglm_tui.model import NvLinkErrors
from autoglm_tui.sampler.nvml import (
    ERROR_INVALID_ARGUMENT,
    ERROR_NOT_SUPPORTED,
    Batch,
    code,
)

EVENT_REASONS = "nvmlDeviceGetCurrentClocksEventReasons"
THROTTLE_REASONS = "nvmlDeviceGetCurrentClocksThrottleReasons"  # before driver 535
MAX_NVLINKS = 36  # NVML_NVLINK_MAX_LINKS in recent bindings (18 on H100)
HEALTH_INTERVAL_S = 10.0  # default cadence of the slow reads
# (wire name, NVML counter constant, nvml.h value)
NVLINK_COUNTERS = (
    ("replay", "NVML_NVLINK_ERROR_DL_REPLAY", 0),
    ("recovery", "NVML_NVLINK_ERROR_DL_RECOVERY", 1),
    ("crc_flit", "NVML_NVLINK_ERROR_DL_CRC_FLIT", 2),
    ("crc_data", "NVML_NVLINK_ERROR_DL_CRC_DATA", 3),
)
SLOW_FIELDS = (
    "pcie_gen", "pcie_gen_max", "pcie_width", "pcie_width_max", "pcie_replay",
    "remap_correctable", "remap_uncorrectable", "remap_pending", "remap_failed",
    "retired_pages", "retired_pending", "nvlink_links", "nvlink_errors",
)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return int(value)


@dataclass
class HealthState:
    """What one GPU's health reads keep between ticks."""

    skip: set[str] = field(default_factory=set)  # calls this GPU cannot make
    violation: dict[int, tuple[int, int]] = field(default_factory=dict)  # policy -> (ref, ns)
    slow_at: float = -math.inf  # monotonic time of the last slow read
    slow: dict[str, Any] = field(default_factory=dict)  # the slow fields, as last read
    links: list[int] | None = None  # NVLink links that exist on this GPU (found once)


def read_fast(state: HealthState, batch: Batch, handle: Any) -> dict[str, Any]:
    """Clock-event reasons and the share of the last interval spent at a power / thermal limit."""
    reasons = batch.probe(EVENT_REASONS, handle, skip=state.skip)
    if reasons is None and EVENT_REASONS in state.skip:
        reasons = batch.probe(THROTTLE_REASONS, handle, skip=state.skip)
    mod = batch.module
    return {
        "clock_reasons": _int(reasons),
        "throttle_power_pct": _violation(
            state, batch, handle, code(mod, "NVML_PERF_POLICY_POWER", 0)),
        "throttle_thermal_pct": _violation(
            state, batch, handle, code(mod, "NVML_PERF_POLICY_THERMAL", 1)),
    }


def _violation(state: HealthState, batch: Batch, handle: Any, policy: int) -> float | None:
    """Percent of the time since the previous reading that the policy held the clocks back.

    nvmlDeviceGetViolationStatus gives a reference time in microseconds and a cumulative
    violation time in nanoseconds; the first reading only sets the baseline."""
    fn = "nvmlDeviceGetViolationStatus"
    got = batch.probe(fn, handle, policy, skip=state.skip)
    ref = _int(getattr(got, "referenceTime", None))
    spent = _int(getattr(got, "violationTime", None))
    if ref is None or spent is None:
        state.violation.pop(policy, None)
        return None
    prev = state.violation.get(policy)
    state.violation[policy] = (ref, spent)
    if prev is None:
        return None
    d_ref_us, d_ns = ref - prev[0], spent - prev[1]
    if d_ref_us <= 0 or d_ns < 0:
        return None  # the clock or the counter went back (driver reload): start again
    return round(min(100.0, 100.0 * d_ns / (d_ref_us * 1000.0)), 1)


def read_slow(
    state: HealthState, batch: Batch, handle: Any, mono: float, interval_s: float
) -> dict[str, Any]:
    """The slow fields: read again when `interval_s` has passed, else as last read."""
    if mono - state.slow_at < interval_s and state.slow:
        return state.slow
    state.slow_at = mono
    skip = state.skip
    out: dict[str, Any] = {
        "pcie_gen": _int(batch.probe("nvmlDeviceGetCurrPcieLinkGeneration", handle, skip=skip)),
        "pcie_gen_max": _int(
            batch.probe("nvmlDeviceGetMaxPcieLinkGeneration", handle, skip=skip)),
        "pcie_width": _int(batch.probe("nvmlDeviceGetCurrPcieLinkWidth", handle, skip=skip)),
        "pcie_width_max": _int(batch.probe("nvmlDeviceGetMaxPcieLinkWidth", handle, skip=skip)),
        "pcie_replay": _int(batch.probe("nvmlDeviceGetPcieReplayCounter", handle, skip=skip)),
    }
    rows = batch.probe("nvmlDeviceGetRemappedRows", handle, skip=skip)
    vals = list(rows) if isinstance(rows, (tuple, list)) and len(rows) == 4 else [None] * 4
    out["remap_correctable"], out["remap_uncorrectable"] = _int(vals[0]), _int(vals[1])
    out["remap_pending"] = None if _int(vals[2]) is None else int(bool(vals[2]))
    out["remap_failed"] = None if _int(vals[3]) is None else int(bool(vals[3]))
    out["retired_pages"], out["retired_pending"] = _retired(state, batch, handle)
    out["nvlink_links"], out["nvlink_errors"] = _nvlinks(state, batch, handle)
    if batch.lost is None:
        state.slow = out
    return out


def _retired(state: HealthState, batch: Batch, handle: Any) -> tuple[int | None, int | None]:
    """Pages retired for either cause (multiple single-bit, double-bit) and the pending flag."""
    total: int | None = None
    mod = batch.module
    for const, value in (("NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS", 0),
                         ("NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR", 1)):
        pages = batch.probe("nvmlDeviceGetRetiredPages", handle, code(mod, const, value),
                            skip=state.skip)
        if isinstance(pages, (list, tuple)):
            total = (total or 0) + len(pages)
    pending = _int(batch.probe("nvmlDeviceGetRetiredPagesPendingStatus", handle,
                               skip=state.skip))
    return total, None if pending is None else int(bool(pending))


def _nvlinks(
    state: HealthState, batch: Batch, handle: Any
) -> tuple[int | None, tuple[NvLinkErrors, ...]]:
    """(active links, per-link error counters of the links with any error), or (None, ()) on a
    GPU without NVLink. The links that exist are found once; their state is read every time."""
    mod = batch.module
    quiet = (code(mod, "NVML_ERROR_NOT_SUPPORTED", ERROR_NOT_SUPPORTED),
             code(mod, "NVML_ERROR_INVALID_ARGUMENT", ERROR_INVALID_ARGUMENT))
    fn = "nvmlDeviceGetNvLinkState"
    if fn in state.skip:
        return None, ()
    limit = code(mod, "NVML_NVLINK_MAX_LINKS", MAX_NVLINKS)
    probe = state.links if state.links is not None else range(min(limit, 64))
    active: list[int] = []
    present: list[int] = []
    for link in probe:
        up = batch.query(fn, handle, link, quiet=quiet)
        if batch.lost is not None:
            return None, ()
        if up is None:
            continue
        present.append(link)
        if _int(up) == 1:
            active.append(link)
    if state.links is None:
        state.links = present
        if not present:
            state.skip.add(fn)
            return None, ()
    errors: list[NvLinkErrors] = []
    for link in active:
        counts = {
            name: _int(batch.query("nvmlDeviceGetNvLinkErrorCounter", handle, link,
                                   code(mod, const, value), quiet=quiet))
            for name, const, value in NVLINK_COUNTERS
        }
        if any(v for v in counts.values()):
            errors.append(NvLinkErrors(link=link, **counts))
    return len(active), tuple(errors)
