"""Per-GPU reads through the NVML gateway: static facts once, then one batched pass per device.

Units: NVML gives power in mW (sent as W, rounded to 1 W as the UI shows it), PCIe throughput
in KB/s (sent as bytes/s, KB taken as 1024 bytes, to 3 significant digits) and memory in
bytes. A field NVML does not support is None, never 0, and a call that answered NOT_SUPPORTED
is not made again for that GPU. A GPU that reports GPU_IS_LOST (or Xid 79) becomes
``state="lost"`` for good; one whose call hangs is ``state="error"`` until the call returns.
Other GPUs are unaffected either way.

Health (gpu_health.py): clock-event reasons and throttled time every tick; PCIe link, replay
counter, row remapping, retired pages and NVLink errors every ``health_interval_s`` (10 s).
Xids arrive on the :class:`~autoglm_tui.sampler.xid_watch.XidWatcher` thread; each read takes
the new ones and keeps those of the last ``XID_KEEP_S`` (at most ``XID_KEEP``) on the sample.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from autoglm_tui.model import GpuInfo, GpuSample, NvmlInfo, ProcGpuUse, XidEvent
from autoglm_tui.sampler.gpu_health import HEALTH_INTERVAL_S, HealthState, read_fast, read_slow
from autoglm_tui.sampler.nvml import (
    ERROR_NOT_FOUND,
    XID_FALLEN_OFF_BUS,
    Batch,
    CallFailed,
    NvmlGateway,
    as_text,
    code,
)
from autoglm_tui.sampler.xid_watch import XidWatcher

XID_KEEP_S = 600.0  # Xids stay on the samples this long
XID_KEEP = 16  # and at most this many per GPU (the newest)


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
    xid_watched: bool = False
    xid_total: int = 0
    xids: list[XidEvent] = field(default_factory=list)
    health: HealthState = field(default_factory=HealthState)
    proc_util_ts: int = 0
    proc_util_supported: bool = True

    def take_xids(self, watcher: XidWatcher | None, now: float) -> None:
        """Fold the Xids that arrived since the last read in; forget those past XID_KEEP_S."""
        new = watcher.drain(self.index) if watcher is not None else []
        if new:
            self.xid_total += len(new)
            self.xid = new[-1].xid
            self.xids.extend(new)
            if self.lost is None and any(e.xid == XID_FALLEN_OFF_BUS for e in new):
                self.lost = "Xid 79: GPU has fallen off the bus"
        if self.xids:
            keep = [e for e in self.xids if now - e.t < XID_KEEP_S]
            self.xids = keep[-XID_KEEP:]

    def xid_fields(self) -> dict[str, Any]:
        return {
            "xid": self.xid,
            "xids": tuple(self.xids),
            "xid_total": self.xid_total if self.xid_watched else None,
        }


@dataclass
class GpuReadout:
    """One tick of GPU data: per-GPU samples and each GPU process's use, by pid."""

    gpus: tuple[GpuSample, ...] = ()
    procs: dict[int, list[ProcGpuUse]] = field(default_factory=dict)


class GpuReader:
    """Opens the GPUs on first use and reads them once per tick."""

    def __init__(
        self, gateway: NvmlGateway, read_pcie: bool = True, watch_xids: bool = True,
        health_interval_s: float = HEALTH_INTERVAL_S,
    ) -> None:
        self.gateway = gateway
        self.read_pcie = read_pcie
        self.watch_xids = watch_xids
        self.health_interval_s = health_interval_s  # the Collector stretches it under load
        self.xid_watcher: XidWatcher | None = None
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
                watcher = XidWatcher(self.gateway) if self.watch_xids and devices else None
                if watcher is not None and watcher.create():
                    self.xid_watcher = watcher
                # A device that fails to open (or hangs) is retried on each read.
                self.gateway.batches([(d.lane, _opener(d, self.xid_watcher)) for d in devices])
                if self.xid_watcher is not None:
                    self.xid_watcher.start()
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
        now = time.time()
        for dev in devices:
            dev.take_xids(self.xid_watcher, now)
        live = [d for d in devices if d.lost is None]
        jobs = [
            (d.lane, _reader(d, self.read_pcie, self.xid_watcher, self.health_interval_s))
            for d in live
        ]
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
                        **dev.xid_fields(),
                    )
                )
            else:
                sample, uses = res
                gpus.append(sample)
                for pid, use in uses.items():
                    procs.setdefault(pid, []).append(use)
        return GpuReadout(gpus=tuple(gpus), procs=procs)

    def close(self) -> None:
        """Stop the Xid watcher (before NVML shuts down)."""
        if self.xid_watcher is not None:
            self.xid_watcher.stop()
            self.xid_watcher = None

    @staticmethod
    def _lost(dev: _Device) -> GpuSample:
        return GpuSample(
            index=dev.index,
            uuid=dev.uuid,
            state="lost",
            error=dev.lost,
            mem_total_bytes=dev.mem_total,
            **dev.xid_fields(),
        )


def _opener(dev: _Device, watcher: XidWatcher | None) -> Any:
    def open_device(batch: Batch) -> None:
        handle = batch.query("nvmlDeviceGetHandleByIndex", dev.index)
        if handle is not None:
            dev.uuid = as_text(batch.query("nvmlDeviceGetUUID", handle), 96) or ""
            dev.name = as_text(batch.query("nvmlDeviceGetName", handle), 96) or ""
            mem = batch.query("nvmlDeviceGetMemoryInfo", handle)
            dev.mem_total = _int(getattr(mem, "total", None))
            pci = batch.query("nvmlDeviceGetPciInfo", handle)
            dev.pci_bus_id = as_text(getattr(pci, "busId", None), 32) or None
            if watcher is not None and not dev.xid_watched:
                dev.xid_watched = watcher.register(batch, dev.index, handle)
            dev.handle = handle
        if batch.lost is not None:
            dev.lost = batch.lost

    return open_device


def _reader(
    dev: _Device, read_pcie: bool, watcher: XidWatcher | None, health_interval_s: float
) -> Any:
    def read_device(batch: Batch) -> tuple[GpuSample, dict[int, ProcGpuUse]]:
        return _read_device(dev, batch, read_pcie, watcher, health_interval_s)

    return read_device


def _read_device(
    dev: _Device, batch: Batch, read_pcie: bool, watcher: XidWatcher | None,
    health_interval_s: float,
) -> tuple[GpuSample, dict[int, ProcGpuUse]]:
    mod = batch.module
    if dev.handle is None:  # opening failed earlier (hung or errored): try again
        _opener(dev, watcher)(batch)
        if dev.handle is None:
            raise CallFailed(batch.lost or batch.summary() or "cannot open the device")
    h = dev.handle
    skip = dev.health.skip

    def q(fn: str, *args: Any) -> Any:
        return batch.probe(fn, h, *args, skip=skip)

    util = q("nvmlDeviceGetUtilizationRates")
    mem = q("nvmlDeviceGetMemoryInfo")
    temp = q("nvmlDeviceGetTemperature", code(mod, "NVML_TEMPERATURE_GPU", 0))
    power = q("nvmlDeviceGetPowerUsage")
    limit = q("nvmlDeviceGetEnforcedPowerLimit")
    fan = q("nvmlDeviceGetFanSpeed")
    sm_clock = q("nvmlDeviceGetClockInfo", code(mod, "NVML_CLOCK_SM", 1))
    rx = tx = None
    if read_pcie:
        rx = q("nvmlDeviceGetPcieThroughput", code(mod, "NVML_PCIE_UTIL_RX_BYTES", 1))
        tx = q("nvmlDeviceGetPcieThroughput", code(mod, "NVML_PCIE_UTIL_TX_BYTES", 0))
    ecc = q(
        "nvmlDeviceGetTotalEccErrors",
        code(mod, "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", 1),
        code(mod, "NVML_VOLATILE_ECC", 0),
    )
    health = read_fast(dev.health, batch, h)
    health.update(read_slow(dev.health, batch, h, time.monotonic(), health_interval_s))
    uses = _read_processes(dev, batch)
    if batch.lost is not None:
        dev.lost = batch.lost
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
        power_w=_round(_float(power, 1e-3), 0),
        power_limit_w=_round(_float(limit, 1e-3), 1),
        fan_pct=_float(fan),
        sm_clock_mhz=_float(sm_clock),
        pcie_rx_bps=_significant(_float(rx, 1024.0)),
        pcie_tx_bps=_significant(_float(tx, 1024.0)),
        ecc_errors=_int(ecc),
        **dev.xid_fields(),
        **health,
    )
    return sample, uses


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _significant(value: float | None, digits: int = 3) -> float | None:
    """`value` to `digits` significant digits (what the UI shows of a rate)."""
    if value is None or value == 0:
        return value
    return float(f"{value:.{digits}g}")


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
