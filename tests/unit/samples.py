"""Hand-made Hello and Sample objects for unit tests of the pure layers."""

from __future__ import annotations

from dataclasses import replace

from autoglm_tui.model import (
    SCHEMA,
    CpuSample,
    DiskCounters,
    GpuInfo,
    GpuSample,
    Hello,
    HostStatic,
    MemSample,
    NetCounters,
    NvmlInfo,
    ProcGpuUse,
    ProcSample,
    Sample,
    SelfSample,
)


def hello(host: str = "node-1", gpus: int = 2, interval: float = 1.0) -> Hello:
    infos = tuple(GpuInfo(i, f"GPU-{i:04d}", "NVIDIA H100", 80 << 30) for i in range(gpus))
    static = HostStatic(
        hostname=host,
        os="Linux",
        kernel="6.1",
        cpu_model="Xeon",
        cpu_cores_logical=4,
        cpu_cores_physical=2,
        mem_total_bytes=16 << 30,
        swap_total_bytes=0,
        boot_time=1000.0,
        nvml=NvmlInfo(available=gpus > 0, reason=None if gpus else "no NVIDIA driver"),
        gpus=infos,
        net_links_mbps={"eth0": 1000},
        interval_s=interval,
    )
    return Hello(schema=SCHEMA, host=host, sampler_version="0.1.0", t=1000.0, static=static)


def sample(
    t: float,
    seq: int,
    *,
    disk_read: int = 0,
    disk_ops: int = 0,
    disk_time_ms: int = 0,
    net_rx: int = 0,
    gpu_util: float | None = 50.0,
    gpus: int = 2,
    cpu: float = 10.0,
    procs: tuple[ProcSample, ...] = (),
) -> Sample:
    return Sample(
        t=t,
        seq=seq,
        cpu=CpuSample(cpu, (cpu, cpu), 1.0, (0.5, 0.4, 0.3)),
        mem=MemSample(16 << 30, 4 << 30, 12 << 30, 25.0, 0, 0, None),
        disk=DiskCounters(disk_read, 0, disk_ops, 0, disk_time_ms, 0, 0),
        net=NetCounters(net_rx, 0, 0, 0, 0, 0, 1000),
        gpus=tuple(
            GpuSample(
                index=i,
                uuid=f"GPU-{i:04d}",
                state="ok",
                util_pct=gpu_util,
                mem_used_bytes=40 << 30,
                mem_total_bytes=80 << 30,
                power_w=None,
            )
            for i in range(gpus)
        ),
        procs=procs,
        self_cost=SelfSample(0.5, 30 << 20),
    )


def proc(pid: int, cmdline: str = "python train.py", gpu_mem: int | None = None) -> ProcSample:
    uses = (ProcGpuUse(0, gpu_mem, None),) if gpu_mem is not None else ()
    return ProcSample(pid, 1, "alice", "python", cmdline, 12.5, 100 << 20, 1000.0, gpus=uses)


__all__ = ["hello", "proc", "replace", "sample"]
