"""What NVML's codes mean: clock-event reason bits and Xid numbers (pure data, standard library).

Shared by the sampler (which Xid makes a GPU lost), the model (the health metrics a GpuSample
exposes) and the monitor (words for the UI). The bit values are nvidia-ml-py's
``nvmlClocksEventReason*`` constants; the Xid facts come from NVIDIA's public Xid documentation,
written here in our own words.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------- clock-event reasons
#
# nvmlDeviceGetCurrentClocksEventReasons (older drivers: ...ClocksThrottleReasons, same bits).

REASON_IDLE = 0x1  # nvmlClocksEventReasonGpuIdle
REASON_APP_CLOCKS = 0x2  # nvmlClocksEventReasonApplicationsClocksSetting
REASON_SW_POWER_CAP = 0x4  # nvmlClocksEventReasonSwPowerCap
REASON_HW_SLOWDOWN = 0x8  # nvmlClocksEventReasonHwSlowdown
REASON_SYNC_BOOST = 0x10  # nvmlClocksEventReasonSyncBoost
REASON_SW_THERMAL = 0x20  # nvmlClocksEventReasonSwThermalSlowdown
REASON_HW_THERMAL = 0x40  # nvmlClocksEventReasonHwThermalSlowdown
REASON_HW_POWER_BRAKE = 0x80  # nvmlClocksEventReasonHwPowerBrakeSlowdown
REASON_DISPLAY_CLOCKS = 0x100  # nvmlClocksEventReasonDisplayClockSetting

# In bit order; the words the UI shows (nvidia-smi's own labels, lower case where it helps).
CLOCK_REASONS: tuple[tuple[int, str], ...] = (
    (REASON_IDLE, "idle"),
    (REASON_APP_CLOCKS, "application clocks"),
    (REASON_SW_POWER_CAP, "SW power cap"),
    (REASON_HW_SLOWDOWN, "HW slowdown"),
    (REASON_SYNC_BOOST, "sync boost"),
    (REASON_SW_THERMAL, "SW thermal"),
    (REASON_HW_THERMAL, "HW thermal"),
    (REASON_HW_POWER_BRAKE, "HW power brake"),
    (REASON_DISPLAY_CLOCKS, "display clocks"),
)
# Reasons that cut the clocks hard (by half or more) because of the hardware: worth an alert.
HW_SLOWDOWN_MASK = REASON_HW_SLOWDOWN | REASON_HW_THERMAL | REASON_HW_POWER_BRAKE
THERMAL_MASK = REASON_SW_THERMAL | REASON_HW_THERMAL
# Reasons that say nothing is wrong (an idle GPU, clocks someone chose, a display attached).
BENIGN_MASK = REASON_IDLE | REASON_APP_CLOCKS | REASON_SYNC_BOOST | REASON_DISPLAY_CLOCKS


def clock_reason_words(mask: int | None) -> tuple[str, ...]:
    """The names of the bits set in `mask`, in bit order ("unknown 0x..." for other bits)."""
    if mask is None or mask <= 0:
        return ()
    words = [name for bit, name in CLOCK_REASONS if mask & bit]
    known = 0
    for bit, _ in CLOCK_REASONS:
        known |= bit
    if mask & ~known:
        words.append(f"unknown 0x{mask & ~known:x}")
    return tuple(words)


# ---------------------------------------------------------------- Xid errors

XID_FALLEN_OFF_BUS = 79

# What an Xid usually calls for, from the least to the most serious.
APP = "app"  # most often the application's own fault (bad memory access, killed job)
WARN = "warn"  # the hardware or driver noticed something; watch it, reset when convenient
CRITICAL = "critical"  # the GPU (or its node) needs attention: reset, drain or service


@dataclass(frozen=True, slots=True)
class XidInfo:
    """One Xid number: a short name, what it usually means, and how serious it is."""

    xid: int
    name: str
    meaning: str
    severity: str  # APP, WARN or CRITICAL
    reset_needed: bool = False  # the GPU is not fully usable again until it is reset


_XIDS = (
    XidInfo(8, "GPU stopped processing", "a channel timed out; usually the application hung the "
            "GPU, restart it", APP),
    XidInfo(13, "graphics engine exception", "usually an application fault such as an "
            "out-of-range access; if many jobs hit it, suspect the driver or the GPU", APP),
    XidInfo(31, "GPU memory page fault", "an access to an unmapped address (MMU fault); "
            "usually an application bug, rarely the driver or the hardware", APP),
    XidInfo(32, "invalid push buffer stream", "corrupted commands reached the GPU; often the "
            "PCIe link or the system memory, sometimes the driver", WARN),
    XidInfo(38, "driver firmware error", "the driver's firmware reported an error; if it "
            "repeats, update the driver", WARN),
    XidInfo(43, "GPU stopped processing", "the GPU reset a channel after an application "
            "fault; other applications keep running", APP),
    XidInfo(45, "preemptive cleanup", "work was cleaned up after an earlier error or because "
            "the application was killed; look at the Xid before it", APP),
    XidInfo(46, "GPU stopped processing", "the GPU stopped answering; reset it", CRITICAL,
            True),
    XidInfo(48, "double-bit ECC error", "an uncorrectable memory error; applications on "
            "this GPU may have been affected, reset it", CRITICAL, True),
    XidInfo(61, "internal micro-controller warning", "a firmware breakpoint or warning; if "
            "it repeats, reset the GPU", WARN),
    XidInfo(62, "internal micro-controller halt", "the GPU's micro-controller stopped; "
            "reset the GPU", CRITICAL, True),
    XidInfo(63, "row remap / page retirement recorded", "a memory row was marked for "
            "remapping (or a page retired); it takes effect at the next reset", WARN, True),
    XidInfo(64, "row remap / page retirement failed", "the remapping could not be recorded; "
            "the GPU needs service", CRITICAL, True),
    XidInfo(68, "video decoder exception", "an NVDEC error; usually the application or the "
            "driver", APP),
    XidInfo(69, "graphics engine class error", "an illegal command to the graphics engine; "
            "usually the application", APP),
    XidInfo(74, "NVLink error", "an NVLink link reported errors or went down; check the "
            "links, reset the GPU (and its NVLink peers)", CRITICAL, True),
    XidInfo(79, "GPU has fallen off the bus", "the GPU no longer answers over PCIe; the "
            "node needs a reboot or the GPU a reseat", CRITICAL, True),
    XidInfo(92, "high single-bit ECC error rate", "correctable memory errors arrive fast; "
            "the memory may be degrading", WARN),
    XidInfo(94, "contained ECC error", "an uncorrectable memory error stopped the "
            "application that touched it; others keep running, reset when convenient", WARN,
            True),
    XidInfo(95, "uncontained ECC error", "an uncorrectable memory error could not be "
            "contained; every application on the GPU is affected, reset it", CRITICAL, True),
    XidInfo(109, "context switch timeout", "the GPU took too long to switch work; usually "
            "the application, sometimes the driver", APP),
    XidInfo(119, "GSP RPC timeout", "the GPU System Processor stopped answering the "
            "driver; reset the GPU (or reboot)", CRITICAL, True),
    XidInfo(120, "GSP error", "the GPU System Processor's firmware failed; reset the GPU",
            CRITICAL, True),
    XidInfo(121, "C2C link error", "errors on the chip-to-chip link (Grace Hopper); watch, "
            "and reset if they repeat", WARN),
    XidInfo(140, "unrecovered ECC error", "the driver found an ECC error it could not "
            "recover from; reset the GPU", CRITICAL, True),
    XidInfo(154, "GPU recovery action changed", "the driver says the GPU needs a reset, a "
            "reboot or a drain before it is usable again", CRITICAL, True),
)
XIDS: dict[int, XidInfo] = {x.xid: x for x in _XIDS}
CRITICAL_XIDS = frozenset(x.xid for x in _XIDS if x.severity == CRITICAL)


def xid_info(xid: int) -> XidInfo:
    """What `xid` means; an Xid not in the table is a warning with a generic meaning."""
    found = XIDS.get(xid)
    if found is not None:
        return found
    return XidInfo(xid, f"Xid {xid}", "not in our table; see NVIDIA's Xid catalog", WARN)


def is_critical_xid(xid: int) -> bool:
    return xid in CRITICAL_XIDS
