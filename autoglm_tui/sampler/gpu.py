"""Per-GPU reads through the NVML gateway: static facts once, then one batched pass per device.

Units: NVML gives power in mW (sent as W), PCIe throughput in KB/s (sent as bytes/s, KB taken
as 1024 bytes) and memory in bytes. A field NVML does not support is None, never 0. A GPU that
reports GPU_IS_LOST (or Xid 79) becomes ``state="lost"`` for good; one whose call hangs is
``state="error"`` until the call returns. Other GPUs are unaffected either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autoglm_tui.model import GpuInfo, GpuSample, NvmlInfo, ProcGpuUse
from autoglm_tui.sampler.nvml import (
    ERROR_NOT_FOUND,
    ERROR_TIMEOUT,
    XID_FALLEN_OFF_BUS,
    Batch,
    CallFailed,
    NvmlGateway,
    as_text,
    code,
)

XID_EVENT = 0x8  # nvmlEventTypeXidCriticalError
MAX_XID_EVENTS_PER_TICK = 32


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _float(value: Any, scale: float = 1.0) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) * scale


@dataclass
class _Device:
    """What the reader keeps about one GPU between ticks."""

    index: int
    lane: str
    handle: Any = None
    uuid: str = ""
    name: str = ""
    mem_total: int | None = None
    pci_bus_id: str | None = None
    lost: str | None = None
    xid: int | None = None
    event_set: Any = None
    proc_util_ts: int = 0
    proc_util_supported: bool = True


@dataclass
class GpuReadout:
    """One tick of GPU data: per-GPU samples and each GPU process's use, by pid."""

    gpus: tuple[GpuSample, ...] = ()
    procs: dict[int, list[ProcGpuUse]] = field(default_factory=dict)


class GpuReader:
    """Opens the GPUs on first use and reads them once per tick."""

    def __init__(self, gateway: NvmlGateway, read_pcie: bool = True) -> None:
        self.gateway = gateway
        self.read_pcie = read_pcie
        self._devices: list[_Device] | None = None
        self._info: NvmlInfo | None = None

    # ------------------------------------------------------------------ static

    def static(self) -> tuple[NvmlInfo, tuple[GpuInfo, ...]]:
        """NVML availability/versions and the GPU list (opens the devices the first time)."""
        devices = self._open()
        assert self._info is not None
        gpus = tuple(
            GpuInfo(
                index=d.index,
                uuid=d.uuid,
                name=d.name or (f"unknown ({d.lost})" if d.lost else "unknown"),
                mem_total_bytes=d.mem_total,
                pci_bus_id=d.pci_bus_id,
            )
            for d in devices
        )
        return self._info, gpus

    def _open(self) -> list[_Device]:
        if self._devices is not None:
            return self._devices
        info = self.gateway.info
        devices: list[_Device] = []
        if info.available:
            count = self.gateway.query("nvmlDeviceGetCount")
            if isinstance(count, int) and count >= 0:
                devices = [_Device(index=i, lane=f"gpu{i}") for i in range(min(count, 64))]
                # A device that fails to open (or hangs) is retried on each read.
                self.gateway.batches([(d.lane, _opener(d)) for d in devices])
            else:
                reason = f"nvmlDeviceGetCount failed: {self.gateway.last_error}"
                info = NvmlInfo(
                    available=True,
                    reason=reason,
                    driver_version=info.driver_version,
                    nvml_version=info.nvml_version,
                    cuda_driver_version=info.cuda_driver_version,
                )
        self._info = info
        self._devices = devices
        return devices

    # ------------------------------------------------------------------ per tick

    def read(self) -> GpuReadout:
        """One batched pass per device, all devices in parallel under one watchdog deadline."""
        devices = self._open()
        if not devices:
            return GpuReadout()
        live = [d for d in devices if d.lost is None]
        jobs = [(d.lane, _reader(d, self.read_pcie)) for d in live]
        results = dict(zip((d.index for d in live), self.gateway.batches(jobs), strict=True))
        gpus: list[GpuSample] = []
        procs: dict[int, list[ProcGpuUse]] = {}
        for dev in devices:
            res = results.get(dev.index)
            if dev.lost is not None:
                gpus.append(self._lost(dev))
            elif isinstance(res, CallFailed) or res is None:
                gpus.append(
                    GpuSample(
                        index=dev.index,
                        uuid=dev.uuid,
                        state="error",
                        error=str(res) if res is not None else "no result",
                        mem_total_bytes=dev.mem_total,
                        xid=dev.xid,
                    )
                )
            else:
                sample, uses = res
                gpus.append(sample)
                for pid, use in uses.items():
                    procs.setdefault(pid, []).append(use)
        return GpuReadout(gpus=tuple(gpus), procs=procs)

    @staticmethod
    def _lost(dev: _Device) -> GpuSample:
        return GpuSample(
            index=dev.index,
            uuid=dev.uuid,
            state="lost",
            error=dev.lost,
            mem_total_bytes=dev.mem_total,
            xid=dev.xid,
        )


def _opener(dev: _Device) -> Any:
    def open_device(batch: Batch) -> None:
        handle = batch.query("nvmlDeviceGetHandleByIndex", dev.index)
        if handle is not None:
            dev.uuid = as_text(batch.query("nvmlDeviceGetUUID", handle), 96) or ""
            dev.name = as_text(batch.query("nvmlDeviceGetName", handle), 96) or ""
            mem = batch.query("nvmlDeviceGetMemoryInfo", handle)
            dev.mem_total = _int(getattr(mem, "total", None))
            pci = batch.query("nvmlDeviceGetPciInfo", handle)
            dev.pci_bus_id = as_text(getattr(pci, "busId", None), 32) or None
            dev.event_set = _xid_events(batch, handle)
            dev.handle = handle
        if batch.lost is not None:
            dev.lost = batch.lost

    return open_device


def _xid_events(batch: Batch, handle: Any) -> Any:
    """An event set that receives this GPU's Xid errors, or None where NVML refuses one."""
    event_set = batch.query("nvmlEventSetCreate")
    if event_set is None:
        return None
    failed = object()
    kind = getattr(batch.module, "nvmlEventTypeXidCriticalError", XID_EVENT)
    if batch.query("nvmlDeviceRegisterEvents", handle, kind, event_set, default=failed) is failed:
        batch.query("nvmlEventSetFree", event_set)
        return None
    return event_set


def _reader(dev: _Device, read_pcie: bool) -> Any:
    def read_device(batch: Batch) -> tuple[GpuSample, dict[int, ProcGpuUse]]:
        return _read_device(dev, batch, read_pcie)

    return read_device


def _read_device(
    dev: _Device, batch: Batch, read_pcie: bool
) -> tuple[GpuSample, dict[int, ProcGpuUse]]:
    mod = batch.module
    if dev.handle is None:  # opening failed earlier (hung or errored): try again
        _opener(dev)(batch)
        if dev.handle is None:
            raise CallFailed(batch.lost or batch.summary() or "cannot open the device")
    h = dev.handle
    q = batch.query
    _drain_xids(dev, batch)
    util = q("nvmlDeviceGetUtilizationRates", h)
    mem = q("nvmlDeviceGetMemoryInfo", h)
    temp = q("nvmlDeviceGetTemperature", h, code(mod, "NVML_TEMPERATURE_GPU", 0))
    power = q("nvmlDeviceGetPowerUsage", h)
    limit = q("nvmlDeviceGetEnforcedPowerLimit", h)
    fan = q("nvmlDeviceGetFanSpeed", h)
    sm_clock = q("nvmlDeviceGetClockInfo", h, code(mod, "NVML_CLOCK_SM", 1))
    rx = tx = None
    if read_pcie:
        rx = q("nvmlDeviceGetPcieThroughput", h, code(mod, "NVML_PCIE_UTIL_RX_BYTES", 1))
        tx = q("nvmlDeviceGetPcieThroughput", h, code(mod, "NVML_PCIE_UTIL_TX_BYTES", 0))
    ecc = q(
        "nvmlDeviceGetTotalEccErrors",
        h,
        code(mod, "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", 1),
        code(mod, "NVML_VOLATILE_ECC", 0),
    )
    uses = _read_processes(dev, batch)
    if batch.lost is not None:
        dev.lost = batch.lost
    if dev.xid == XID_FALLEN_OFF_BUS and dev.lost is None:
        dev.lost = "Xid 79: GPU has fallen off the bus"
    if dev.lost is not None:
        return GpuReader._lost(dev), {}
    util_pct = _float(getattr(util, "gpu", None))
    mem_used = _int(getattr(mem, "used", None))
    failed = batch.summary()
    state = "error" if util is None and mem is None and failed else "ok"
    sample = GpuSample(
        index=dev.index,
        uuid=dev.uuid,
        state=state,
        error=failed,
        util_pct=util_pct,
        mem_util_pct=_float(getattr(util, "memory", None)),
        mem_used_bytes=mem_used,
        mem_total_bytes=_int(getattr(mem, "total", None)) or dev.mem_total,
        temp_c=_float(temp),
        power_w=_float(power, 1e-3),
        power_limit_w=_float(limit, 1e-3),
        fan_pct=_float(fan),
        sm_clock_mhz=_float(sm_clock),
        pcie_rx_bps=_float(rx, 1024.0),
        pcie_tx_bps=_float(tx, 1024.0),
        ecc_errors=_int(ecc),
        xid=dev.xid,
    )
    return sample, uses


def _drain_xids(dev: _Device, batch: Batch) -> None:
    if dev.event_set is None:
        return
    quiet = (code(batch.module, "NVML_ERROR_TIMEOUT", ERROR_TIMEOUT),)
    for _ in range(MAX_XID_EVENTS_PER_TICK):
        data = batch.query("nvmlEventSetWait_v2", dev.event_set, 0, quiet=quiet)
        if data is None:
            return
        xid = _int(getattr(data, "eventData", None))
        if xid is not None and (_int(getattr(data, "eventType", 0)) or 0) & XID_EVENT:
            dev.xid = xid


def _read_processes(dev: _Device, batch: Batch) -> dict[int, ProcGpuUse]:
    """pid -> this GPU's use (memory from the running-process lists, SM % when supported)."""
    h = dev.handle
    mem_by_pid: dict[int, int | None] = {}
    for fn in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        for info in batch.query(fn, h, default=None) or ():
            pid = _int(getattr(info, "pid", None))
            if pid is None or pid <= 0:
                continue
            used = _int(getattr(info, "usedGpuMemory", None))
            old = mem_by_pid.get(pid)
            # A pid in both lists reports the same allocation: keep the larger figure.
            mem_by_pid[pid] = used if old is None else max(old, used or 0)
    sm_by_pid: dict[int, float] = {}
    if dev.proc_util_supported and mem_by_pid:
        not_found = code(batch.module, "NVML_ERROR_NOT_FOUND", ERROR_NOT_FOUND)
        # NOT_FOUND: no samples since the last call. nvidia-ml-py also raises NVMLError(0)
        # ("Success") when the first probe finds nothing to size.
        samples = batch.query(
            "nvmlDeviceGetProcessUtilization", h, dev.proc_util_ts, quiet=(not_found, 0)
        )
        if "nvmlDeviceGetProcessUtilization" in batch.unsupported:
            dev.proc_util_supported = False
        latest: dict[int, int] = {}
        for s in samples or ():
            pid = _int(getattr(s, "pid", None))
            ts = _int(getattr(s, "timeStamp", None)) or 0
            sm = _float(getattr(s, "smUtil", None))
            if pid is None or sm is None:
                continue
            dev.proc_util_ts = max(dev.proc_util_ts, ts)
            if ts >= latest.get(pid, -1):
                latest[pid] = ts
                sm_by_pid[pid] = sm
    return {
        pid: ProcGpuUse(index=dev.index, mem_bytes=mem, sm_pct=sm_by_pid.get(pid))
        for pid, mem in mem_by_pid.items()
    }
