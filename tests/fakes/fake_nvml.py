"""A fake NVML binding with the names, constants, error classes and return shapes of nvidia-ml-py.

Load it through the gateway with ``AUTOGLM_NVML_MODULE=tests.fakes.fake_nvml`` (or the path to
this file). The scenario comes from ``AUTOGLM_FAKE_NVML`` (a JSON object, or a path to a JSON
file), read again at every ``nvmlInit``. Keys (all optional)::

    library_missing: bool          nvmlInit raises NVMLError_LibraryNotFound
    init_error: "DRIVER_NOT_LOADED" | "NO_PERMISSION" | ...   nvmlInit raises that error
    init_hang_s: float             nvmlInit blocks this long (until release_hangs())
    driver_version, nvml_version: str; cuda_driver_version: int
    gpu_count: int                 GPUs to make (default: len(gpus), or 1 with no gpus key)
    process_utilization: bool      false: nvmlDeviceGetProcessUtilization is NOT_SUPPORTED
    wave: bool                     utilisation, power, temperature, clocks and PCIe
                                   traffic move with time (demos, the wire benchmark)
    clocks_event_api: bool         false: nvmlDeviceGetCurrentClocksEventReasons is missing
                                   (FUNCTION_NOT_FOUND, as with drivers before 535)
    gpus: [ {                      per-GPU overrides, by position
        name, uuid, pci_bus_id, mem_total, mem_used, util, mem_util, temp, power_mw,
        power_limit_mw, fan, sm_clock, pcie_rx_kbs, pcie_tx_kbs, ecc_uncorrected,
        not_supported: [fn names]  these raise NVMLError_NotSupported
        errors: {fn name: ERROR_NAME}   these raise that NVMLError (e.g. "NO_PERMISSION")
        lost: bool                 every query on this GPU raises NVMLError_GpuIsLost
        lost_on_open: bool         even nvmlDeviceGetHandleByIndex raises it
        lost_after_s: float        becomes lost this long after nvmlInit
        hang: {fn name: seconds}   that call blocks (until release_hangs() or the time passes)
        hang_once: {fn name: seconds}  the same, for the first such call after nvmlInit only
        lost_on: fn name           that call, and every call after it, raises GpuIsLost
                                   (a GPU lost in the middle of a read)
        xids: [int]                Xid events delivered once to a registered event set
        xid_schedule: [[s, xid]]   Xid `xid` delivered `s` seconds after nvmlInit
        processes: [ {pid, mem, sm, type: "compute"|"graphics"} ]
        clock_reasons: int         clock-event reason bits (default 0)
        throttle_power, throttle_thermal: float   share of time (0-1) held at a power /
                                   thermal limit (nvmlDeviceGetViolationStatus grows by it)
        remapped_rows: [corr, unc, pending, failure]   (default [0, 0, 0, 0])
        retired_pages: [sbe, dbe]  pages retired per cause (default: NOT_SUPPORTED, as on
                                   Ampere and later); retired_pending: 0 | 1
        pcie_gen, pcie_gen_max, pcie_width, pcie_width_max, pcie_replay: int
        nvlink: int                active NVLink links (default 18; 0: no NVLink, every
                                   NVLink call is NOT_SUPPORTED)
        nvlink_errors: {link: {crc_flit, crc_data, replay, recovery}}
    } ]
"""

from __future__ import annotations

import json
import math
import os
import string
import threading
import time
from typing import Any

SCENARIO_ENV = "AUTOGLM_FAKE_NVML"

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_ALREADY_INITIALIZED = 5
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_ERROR_INSUFFICIENT_POWER = 8
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_IRQ_ISSUE = 11
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_CORRUPTED_INFOROM = 14
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_RESET_REQUIRED = 16
NVML_ERROR_OPERATING_SYSTEM = 17
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_IN_USE = 19
NVML_ERROR_MEMORY = 20
NVML_ERROR_NO_DATA = 21
NVML_ERROR_UNKNOWN = 999

NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_GRAPHICS = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_PCIE_UTIL_TX_BYTES = 0
NVML_PCIE_UTIL_RX_BYTES = 1
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_VOLATILE_ECC = 0
NVML_AGGREGATE_ECC = 1
NVML_FEATURE_DISABLED = 0
NVML_FEATURE_ENABLED = 1
NVML_PERF_POLICY_POWER = 0
NVML_PERF_POLICY_THERMAL = 1
NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS = 0
NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR = 1
NVML_NVLINK_MAX_LINKS = 36
NVML_NVLINK_ERROR_DL_REPLAY = 0
NVML_NVLINK_ERROR_DL_RECOVERY = 1
NVML_NVLINK_ERROR_DL_CRC_FLIT = 2
NVML_NVLINK_ERROR_DL_CRC_DATA = 3
nvmlEventTypeXidCriticalError = 0x0000000000000008
nvmlClocksEventReasonGpuIdle = 0x0000000000000001
nvmlClocksEventReasonApplicationsClocksSetting = 0x0000000000000002
nvmlClocksEventReasonSwPowerCap = 0x0000000000000004
nvmlClocksEventReasonHwSlowdown = 0x0000000000000008
nvmlClocksEventReasonSyncBoost = 0x0000000000000010
nvmlClocksEventReasonSwThermalSlowdown = 0x0000000000000020
nvmlClocksEventReasonHwThermalSlowdown = 0x0000000000000040
nvmlClocksEventReasonHwPowerBrakeSlowdown = 0x0000000000000080
nvmlClocksEventReasonDisplayClockSetting = 0x0000000000000100

_MESSAGES = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_TIMEOUT: "Timeout",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_LIB_RM_VERSION_MISMATCH: "RM has detected an NVML/RM version mismatch.",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NVMLError(Exception):
    """Base class; ``NVMLError(code)`` builds the subclass for that code, as nvidia-ml-py does."""

    _by_code: dict[int, type[NVMLError]] = {}
    value: int

    def __new__(cls, value: int = NVML_ERROR_UNKNOWN) -> NVMLError:
        if cls is NVMLError:
            cls = NVMLError._by_code.get(value, NVMLError)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __init__(self, value: int = NVML_ERROR_UNKNOWN) -> None:
        super().__init__()

    def __str__(self) -> str:
        return _MESSAGES.get(self.value, f"NVML Error with code {self.value}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NVMLError) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def _make_error_classes() -> None:
    names = globals()
    for const in [n for n in names if n.startswith("NVML_ERROR_")]:
        code = names[const]
        words = string.capwords(const[len("NVML_ERROR_") :], "_").replace("_", "")
        name = f"NVMLError_{words}"

        def new(cls: type, *args: Any, _code: int = code) -> NVMLError:
            obj = Exception.__new__(cls)
            obj.value = _code
            return obj

        cls = type(name, (NVMLError,), {"__new__": new, "__module__": __name__})
        names[name] = cls
        NVMLError._by_code[code] = cls


_make_error_classes()
# Spelled out for readers; the loop above made them (and the other NVMLError_* classes).
NVMLError_NotSupported = NVMLError._by_code[NVML_ERROR_NOT_SUPPORTED]
NVMLError_GpuIsLost = NVMLError._by_code[NVML_ERROR_GPU_IS_LOST]
NVMLError_LibraryNotFound = NVMLError._by_code[NVML_ERROR_LIBRARY_NOT_FOUND]
NVMLError_DriverNotLoaded = NVMLError._by_code[NVML_ERROR_DRIVER_NOT_LOADED]
NVMLError_Timeout = NVMLError._by_code[NVML_ERROR_TIMEOUT]
NVMLError_NotFound = NVMLError._by_code[NVML_ERROR_NOT_FOUND]
NVMLError_FunctionNotFound = NVMLError._by_code[NVML_ERROR_FUNCTION_NOT_FOUND]


class _Struct:
    """Attribute bag standing in for the binding's ctypes structures."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__dict__})"


class c_nvmlMemory_t(_Struct):
    pass


class c_nvmlUtilization_t(_Struct):
    pass


class nvmlPciInfo_t(_Struct):
    pass


class c_nvmlProcessUtilizationSample_t(_Struct):
    pass


class c_nvmlEventData_t(_Struct):
    pass


class c_nvmlViolationTime_t(_Struct):
    pass


class nvmlFriendlyObject(_Struct):
    pass


class c_nvmlDevice_t:
    """A device handle. Two handles of one device compare equal, as two ctypes pointers to the
    same device structure hold the same address."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, c_nvmlDevice_t) and other.index == self.index

    def __hash__(self) -> int:
        return hash(("fake nvml device", self.index))

    def __repr__(self) -> str:
        return f"<fake nvml device {self.index}>"


class c_nvmlEventSet_t:
    """An event set: the devices registered on it."""

    def __init__(self) -> None:
        self.devices: list[int] = []


# ---------------------------------------------------------------- state

_lock = threading.Lock()
_events = threading.Condition(_lock)  # notified when Xids are queued or NVML shuts down
_release = threading.Event()
_state: dict[str, Any] = {
    "init": 0, "scenario": None, "t0": 0.0, "xids": {}, "hung": set(), "lost": set(),
    "violation": {}, "calls": {}, "proc_util_ts": [],
}


def calls(fn: str) -> int:
    """How many times device function `fn` was called since nvmlInit (tests check cadences)."""
    return int(_state["calls"].get(fn, 0))


def release_hangs() -> None:
    """Let every hanging call return now (tests call this when they are done)."""
    global _release
    old, _release = _release, threading.Event()
    old.set()


def load_scenario() -> dict[str, Any]:
    """The scenario from ``AUTOGLM_FAKE_NVML`` (JSON text or a file path); {} when unset."""
    raw = os.environ.get(SCENARIO_ENV, "").strip()
    if not raw:
        return {}
    if not raw.startswith("{"):
        with open(raw, encoding="utf-8") as fh:
            raw = fh.read()
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"{SCENARIO_ENV} must hold a JSON object")
    return data


def _default_gpu(i: int) -> dict[str, Any]:
    return {
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": f"GPU-fa4e0000-0000-4000-8000-{i:012d}",
        "pci_bus_id": f"00000000:{0x18 + i:02X}:00.0",
        "mem_total": 85520809984,
        "mem_used": 1073741824 * (i + 1),
        "util": 10 * (i + 1) % 100,
        "mem_util": 5 * (i + 1) % 100,
        "temp": 35 + i,
        "power_mw": 120000 + 1000 * i,
        "power_limit_mw": 700000,
        "fan": 30,
        "sm_clock": 1980,
        "pcie_rx_kbs": 2048,
        "pcie_tx_kbs": 1024,
        "ecc_uncorrected": 0,
        "processes": [],
        "clock_reasons": 0,
        "throttle_power": 0.0,
        "throttle_thermal": 0.0,
        "remapped_rows": [0, 0, 0, 0],
        "pcie_gen": 5,
        "pcie_gen_max": 5,
        "pcie_width": 16,
        "pcie_width_max": 16,
        "pcie_replay": 0,
        "nvlink": 18,
    }


def _gpus() -> list[dict[str, Any]]:
    scenario = _scenario()
    given = scenario.get("gpus") or []
    count = scenario.get("gpu_count", len(given) if "gpus" in scenario else 1)
    out = []
    for i in range(int(count)):
        gpu = _default_gpu(i)
        if i < len(given):
            gpu.update(given[i])
        out.append(gpu)
    return out


def _scenario() -> dict[str, Any]:
    scenario = _state["scenario"]
    if scenario is None:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)
    return scenario


def _error_code(name: str) -> int:
    value = globals().get(f"NVML_ERROR_{name.upper()}")
    return value if isinstance(value, int) else NVML_ERROR_UNKNOWN


def _hang(seconds: float) -> None:
    _release.wait(seconds)


def _gpu(handle: Any, fn: str) -> dict[str, Any]:
    """The GPU behind `handle`, after applying the scenario's failures for `fn`."""
    if not isinstance(handle, c_nvmlDevice_t):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    gpus = _gpus()
    if handle.index >= len(gpus):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    with _lock:
        _state["calls"][fn] = _state["calls"].get(fn, 0) + 1
    gpu = gpus[handle.index]
    _fail(gpu, fn)
    return gpu


def _fail(gpu: dict[str, Any], fn: str) -> None:
    if gpu.get("lost_on") == fn:
        with _lock:
            _state["lost"].add(gpu.get("uuid"))
    if gpu.get("uuid") in _state["lost"]:
        raise NVMLError(NVML_ERROR_GPU_IS_LOST)
    hang = (gpu.get("hang") or {}).get(fn)
    if hang:
        _hang(float(hang))
    once = (gpu.get("hang_once") or {}).get(fn)
    if once:
        key = (gpu.get("uuid"), fn)
        with _lock:
            first = key not in _state["hung"]
            _state["hung"].add(key)
        if first:
            _hang(float(once))
    lost_after = gpu.get("lost_after_s")
    if gpu.get("lost") or (
        lost_after is not None and time.monotonic() - _state["t0"] >= float(lost_after)
    ):
        raise NVMLError(NVML_ERROR_GPU_IS_LOST)
    if fn in (gpu.get("not_supported") or ()):
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    err = (gpu.get("errors") or {}).get(fn)
    if err:
        raise NVMLError(_error_code(err))


def _wave(value: float, index: int, scale: float = 30.0, period: float = 7.0,
          low: float = 0.0, high: float = 100.0) -> float:
    """`value` moved by a slow sine plus a little jitter when the scenario asks for "wave"."""
    if not _scenario().get("wave"):
        return value
    t = time.time()
    jitter = math.sin(t * 12.9898 + index * 78.233) * 0.1 * scale
    return max(low, min(high, value + scale * math.sin(t / period + index) + jitter))


# ---------------------------------------------------------------- system


def nvmlInit() -> None:
    scenario = load_scenario()
    if scenario.get("library_missing"):
        raise NVMLError(NVML_ERROR_LIBRARY_NOT_FOUND)
    if scenario.get("init_error"):
        raise NVMLError(_error_code(str(scenario["init_error"])))
    if scenario.get("init_hang_s"):
        _hang(float(scenario["init_hang_s"]))
    with _lock:
        _state["init"] += 1
        _state["scenario"] = scenario
        _state["t0"] = time.monotonic()
        _state["xids"] = {}
        _state["hung"] = set()
        _state["lost"] = set()
        _state["violation"] = {}
        _state["calls"] = {}
        _state["proc_util_ts"] = []


def nvmlInitWithFlags(flags: int) -> None:
    nvmlInit()


def nvmlShutdown() -> None:
    with _lock:
        if _state["init"] <= 0:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        _state["init"] -= 1
        if _state["init"] == 0:
            _state["scenario"] = None
        _events.notify_all()


def nvmlSystemGetDriverVersion() -> str:
    return str(_scenario().get("driver_version", "550.54.15"))


def nvmlSystemGetNVMLVersion() -> str:
    return str(_scenario().get("nvml_version", "12.550.54.15"))


def nvmlSystemGetCudaDriverVersion() -> int:
    return int(_scenario().get("cuda_driver_version", 12040))


def nvmlSystemGetCudaDriverVersion_v2() -> int:
    return nvmlSystemGetCudaDriverVersion()


def nvmlDeviceGetCount() -> int:
    return len(_gpus())


def nvmlDeviceGetHandleByIndex(index: int) -> c_nvmlDevice_t:
    gpus = _gpus()
    if not 0 <= index < len(gpus):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    if gpus[index].get("lost_on_open"):
        raise NVMLError(NVML_ERROR_GPU_IS_LOST)
    return c_nvmlDevice_t(index)


# ---------------------------------------------------------------- device


def nvmlDeviceGetIndex(handle: c_nvmlDevice_t) -> int:
    _gpu(handle, "nvmlDeviceGetIndex")
    return handle.index


def nvmlDeviceGetUUID(handle: c_nvmlDevice_t) -> str:
    return str(_gpu(handle, "nvmlDeviceGetUUID")["uuid"])


def nvmlDeviceGetName(handle: c_nvmlDevice_t) -> str:
    return str(_gpu(handle, "nvmlDeviceGetName")["name"])


def nvmlDeviceGetPciInfo(handle: c_nvmlDevice_t) -> nvmlPciInfo_t:
    gpu = _gpu(handle, "nvmlDeviceGetPciInfo")
    bus_id = str(gpu["pci_bus_id"])
    return nvmlPciInfo_t(
        busIdLegacy=bus_id,
        busId=bus_id,
        domain=0,
        bus=0x18 + handle.index,
        device=0,
        pciDeviceId=0x233010DE,
        pciSubSystemId=0x16C110DE,
    )


def nvmlDeviceGetPciInfo_v3(handle: c_nvmlDevice_t) -> nvmlPciInfo_t:
    return nvmlDeviceGetPciInfo(handle)


def nvmlDeviceGetMemoryInfo(handle: c_nvmlDevice_t, version: int | None = None) -> c_nvmlMemory_t:
    gpu = _gpu(handle, "nvmlDeviceGetMemoryInfo")
    total, used = int(gpu["mem_total"]), int(gpu["mem_used"])
    return c_nvmlMemory_t(total=total, free=total - used, used=used)


def nvmlDeviceGetUtilizationRates(handle: c_nvmlDevice_t) -> c_nvmlUtilization_t:
    gpu = _gpu(handle, "nvmlDeviceGetUtilizationRates")
    return c_nvmlUtilization_t(
        gpu=int(_wave(float(gpu["util"]), handle.index)),
        memory=int(_wave(float(gpu["mem_util"]), handle.index, 20.0, 5.0)),
    )


def nvmlDeviceGetTemperature(handle: c_nvmlDevice_t, sensor: int) -> int:
    gpu = _gpu(handle, "nvmlDeviceGetTemperature")
    if sensor != NVML_TEMPERATURE_GPU:
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return int(_wave(float(gpu["temp"]), handle.index, 8.0, 40.0, 20.0, 95.0))


def nvmlDeviceGetPowerUsage(handle: c_nvmlDevice_t) -> int:
    gpu = _gpu(handle, "nvmlDeviceGetPowerUsage")
    return int(_wave(float(gpu["power_mw"]), handle.index, 150000.0, 9.0, 50000.0, 1e6))


def nvmlDeviceGetEnforcedPowerLimit(handle: c_nvmlDevice_t) -> int:
    return int(_gpu(handle, "nvmlDeviceGetEnforcedPowerLimit")["power_limit_mw"])


def nvmlDeviceGetFanSpeed(handle: c_nvmlDevice_t) -> int:
    return int(_gpu(handle, "nvmlDeviceGetFanSpeed")["fan"])


def nvmlDeviceGetClockInfo(handle: c_nvmlDevice_t, type: int) -> int:
    gpu = _gpu(handle, "nvmlDeviceGetClockInfo")
    if type not in (NVML_CLOCK_GRAPHICS, NVML_CLOCK_SM, NVML_CLOCK_MEM):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return int(_wave(float(gpu["sm_clock"]), handle.index, 150.0, 11.0, 210.0, 2100.0))


def nvmlDeviceGetPcieThroughput(device: c_nvmlDevice_t, counter: int) -> int:
    gpu = _gpu(device, "nvmlDeviceGetPcieThroughput")
    if counter == NVML_PCIE_UTIL_RX_BYTES:
        return int(_wave(float(gpu["pcie_rx_kbs"]), device.index, 900000.0, 5.0, 0.0, 6e7))
    if counter == NVML_PCIE_UTIL_TX_BYTES:
        return int(_wave(float(gpu["pcie_tx_kbs"]), device.index, 400000.0, 6.0, 0.0, 6e7))
    raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)


def nvmlDeviceGetTotalEccErrors(handle: c_nvmlDevice_t, errorType: int, counterType: int) -> int:
    gpu = _gpu(handle, "nvmlDeviceGetTotalEccErrors")
    return int(gpu["ecc_uncorrected"]) if errorType == NVML_MEMORY_ERROR_TYPE_UNCORRECTED else 0


def _processes(handle: c_nvmlDevice_t, fn: str, kind: str) -> list[nvmlFriendlyObject]:
    gpu = _gpu(handle, fn)
    return [
        nvmlFriendlyObject(
            pid=int(p["pid"]),
            usedGpuMemory=p.get("mem"),
            gpuInstanceId=0xFFFFFFFF,
            computeInstanceId=0xFFFFFFFF,
        )
        for p in gpu.get("processes") or ()
        if p.get("type", "compute") == kind
    ]


def nvmlDeviceGetComputeRunningProcesses(handle: c_nvmlDevice_t) -> list[nvmlFriendlyObject]:
    return _processes(handle, "nvmlDeviceGetComputeRunningProcesses", "compute")


def nvmlDeviceGetGraphicsRunningProcesses(handle: c_nvmlDevice_t) -> list[nvmlFriendlyObject]:
    return _processes(handle, "nvmlDeviceGetGraphicsRunningProcesses", "graphics")


def nvmlDeviceGetProcessUtilization(
    handle: c_nvmlDevice_t, timeStamp: int
) -> list[c_nvmlProcessUtilizationSample_t]:
    gpu = _gpu(handle, "nvmlDeviceGetProcessUtilization")
    with _lock:
        _state["proc_util_ts"].append((handle.index, timeStamp))
    if _scenario().get("process_utilization") is False:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    now_us = int(time.time() * 1e6)
    samples = [
        c_nvmlProcessUtilizationSample_t(
            pid=int(p["pid"]),
            timeStamp=now_us,
            smUtil=int(p["sm"]),
            memUtil=0,
            encUtil=0,
            decUtil=0,
        )
        for p in gpu.get("processes") or ()
        if p.get("sm") is not None and now_us > timeStamp
    ]
    if not samples:
        raise NVMLError(NVML_ERROR_NOT_FOUND)
    return samples


# ---------------------------------------------------------------- health


def nvmlDeviceGetCurrentClocksEventReasons(handle: c_nvmlDevice_t) -> int:
    gpu = _gpu(handle, "nvmlDeviceGetCurrentClocksEventReasons")
    if _scenario().get("clocks_event_api") is False:
        raise NVMLError(NVML_ERROR_FUNCTION_NOT_FOUND)
    return int(gpu["clock_reasons"])


def nvmlDeviceGetCurrentClocksThrottleReasons(handle: c_nvmlDevice_t) -> int:
    return int(_gpu(handle, "nvmlDeviceGetCurrentClocksThrottleReasons")["clock_reasons"])


def nvmlDeviceGetViolationStatus(
    device: c_nvmlDevice_t, perfPolicyType: int
) -> c_nvmlViolationTime_t:
    """Reference time in microseconds; violation time in nanoseconds, growing by the share of
    wall time the scenario says the GPU spends at that limit."""
    gpu = _gpu(device, "nvmlDeviceGetViolationStatus")
    keys = {NVML_PERF_POLICY_POWER: "throttle_power", NVML_PERF_POLICY_THERMAL: "throttle_thermal"}
    if perfPolicyType not in keys:
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    now_us = int(time.time() * 1e6)
    share = float(gpu.get(keys[perfPolicyType]) or 0.0)
    with _lock:
        key = (device.index, perfPolicyType)
        last_us, total_ns = _state["violation"].get(key, (now_us, 0))
        total_ns += int(max(0, now_us - last_us) * 1000 * share)
        _state["violation"][key] = (now_us, total_ns)
    return c_nvmlViolationTime_t(referenceTime=now_us, violationTime=total_ns)


def nvmlDeviceGetRemappedRows(device: c_nvmlDevice_t) -> tuple[int, int, int, int]:
    rows = _gpu(device, "nvmlDeviceGetRemappedRows")["remapped_rows"]
    corr, unc, pending, failure = (int(v) for v in rows)
    return (corr, unc, pending, failure)


def nvmlDeviceGetRetiredPages(device: c_nvmlDevice_t, sourceFilter: int) -> list[int]:
    gpu = _gpu(device, "nvmlDeviceGetRetiredPages")
    pages = gpu.get("retired_pages")
    if pages is None:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    if sourceFilter not in (0, 1):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return [0x1000 * (i + 1) + sourceFilter for i in range(int(pages[sourceFilter]))]


def nvmlDeviceGetRetiredPagesPendingStatus(device: c_nvmlDevice_t) -> int:
    gpu = _gpu(device, "nvmlDeviceGetRetiredPagesPendingStatus")
    if gpu.get("retired_pages") is None:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    return int(gpu.get("retired_pending") or 0)


def nvmlDeviceGetCurrPcieLinkGeneration(handle: c_nvmlDevice_t) -> int:
    return int(_gpu(handle, "nvmlDeviceGetCurrPcieLinkGeneration")["pcie_gen"])


def nvmlDeviceGetMaxPcieLinkGeneration(handle: c_nvmlDevice_t) -> int:
    return int(_gpu(handle, "nvmlDeviceGetMaxPcieLinkGeneration")["pcie_gen_max"])


def nvmlDeviceGetCurrPcieLinkWidth(handle: c_nvmlDevice_t) -> int:
    return int(_gpu(handle, "nvmlDeviceGetCurrPcieLinkWidth")["pcie_width"])


def nvmlDeviceGetMaxPcieLinkWidth(handle: c_nvmlDevice_t) -> int:
    return int(_gpu(handle, "nvmlDeviceGetMaxPcieLinkWidth")["pcie_width_max"])


def nvmlDeviceGetPcieReplayCounter(handle: c_nvmlDevice_t) -> int:
    return int(_gpu(handle, "nvmlDeviceGetPcieReplayCounter")["pcie_replay"])


def _nvlink(device: c_nvmlDevice_t, fn: str, link: int) -> dict[str, Any]:
    gpu = _gpu(device, fn)
    if not int(gpu.get("nvlink") or 0):
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    if not 0 <= link < NVML_NVLINK_MAX_LINKS:
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return gpu


def nvmlDeviceGetNvLinkState(device: c_nvmlDevice_t, link: int) -> int:
    gpu = _nvlink(device, "nvmlDeviceGetNvLinkState", link)
    if link >= int(gpu["nvlink"]):
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)  # no such link on this board
    return NVML_FEATURE_ENABLED


def nvmlDeviceGetNvLinkErrorCounter(device: c_nvmlDevice_t, link: int, counter: int) -> int:
    gpu = _nvlink(device, "nvmlDeviceGetNvLinkErrorCounter", link)
    names = {
        NVML_NVLINK_ERROR_DL_REPLAY: "replay",
        NVML_NVLINK_ERROR_DL_RECOVERY: "recovery",
        NVML_NVLINK_ERROR_DL_CRC_FLIT: "crc_flit",
        NVML_NVLINK_ERROR_DL_CRC_DATA: "crc_data",
    }
    if counter not in names or link >= int(gpu["nvlink"]):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    errors = (gpu.get("nvlink_errors") or {}).get(str(link)) or {}
    return int(errors.get(names[counter], 0))


# ---------------------------------------------------------------- events


def nvmlEventSetCreate() -> c_nvmlEventSet_t:
    _scenario()
    return c_nvmlEventSet_t()


def nvmlDeviceRegisterEvents(
    handle: c_nvmlDevice_t,
    eventTypes: int,
    eventSet: c_nvmlEventSet_t,
) -> None:
    gpu = _gpu(handle, "nvmlDeviceRegisterEvents")
    if eventTypes & nvmlEventTypeXidCriticalError:
        eventSet.devices.append(handle.index)
        with _lock:
            if handle.index not in _state["xids"]:
                due = [(0.0, int(x)) for x in gpu.get("xids") or ()]
                due += [(float(s), int(x)) for s, x in gpu.get("xid_schedule") or ()]
                _state["xids"][handle.index] = sorted(due, key=lambda d: d[0])
            _events.notify_all()


def _next_xid(eventSet: c_nvmlEventSet_t) -> tuple[int, int] | float | None:
    """(device index, xid) of an event that is due, else seconds until the next (or None).
    Called with the lock held."""
    now = time.monotonic() - _state["t0"]
    soonest: float | None = None
    for index in eventSet.devices:
        queue = _state["xids"].get(index) or []
        if queue and queue[0][0] <= now:
            return index, queue.pop(0)[1]
        if queue:
            wait = queue[0][0] - now
            soonest = wait if soonest is None else min(soonest, wait)
    return soonest


def nvmlEventSetWait_v2(eventSet: c_nvmlEventSet_t, timeoutms: int) -> c_nvmlEventData_t:
    """Blocks up to `timeoutms` for an Xid (raises NVMLError_Timeout when none comes)."""
    deadline = time.monotonic() + max(0, timeoutms) / 1000.0
    with _events:
        while True:
            if _state["scenario"] is None:
                raise NVMLError(NVML_ERROR_UNINITIALIZED)
            found = _next_xid(eventSet)
            if isinstance(found, tuple):
                index, xid = found
                return c_nvmlEventData_t(
                    device=c_nvmlDevice_t(index),
                    eventType=nvmlEventTypeXidCriticalError,
                    eventData=xid,
                    gpuInstanceId=0xFFFFFFFF,
                    computeInstanceId=0xFFFFFFFF,
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise NVMLError(NVML_ERROR_TIMEOUT)
            _events.wait(left if found is None else min(left, max(found, 0.001)))


def nvmlEventSetWait(eventSet: c_nvmlEventSet_t, timeoutms: int) -> c_nvmlEventData_t:
    return nvmlEventSetWait_v2(eventSet, timeoutms)


def nvmlEventSetFree(eventSet: c_nvmlEventSet_t) -> None:
    eventSet.devices.clear()
