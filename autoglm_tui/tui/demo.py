"""A deterministic recording of a busy 4-GPU node (one GPU lost) for screenshots and UI tests.

Pure data: no clock, no I/O, no randomness but a seeded generator. Includes a process whose
command line carries a terminal escape and markup (``\\x1b]0;pwned\\x07[red]x[/red]``), which
must show literally. With ``services=True`` the vLLM process (pid 4121, port 8000) also serves
metrics: a vLLM-like service scraped every 5 s (cluster/synthetic_services.py, seeded).
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

from autoglm_tui.cluster.synthetic_services import SyntheticService
from autoglm_tui.events import Event, HelloReceived, NodeJoined, SampleReceived
from autoglm_tui.model import (
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

T0 = 1_763_980_000.0  # a fixed start time keeps screenshots reproducible
GIB = 1024**3
MIB = 1024**2
EVIL_CMDLINE = "python3 \x1b]0;pwned\x07[red]x[/red] --serve"
LOST_REASON = "GPU is lost (NVML_ERROR_GPU_IS_LOST after Xid 79)"
NO_NVML_REASON = "NVML library not found (no NVIDIA driver)"


def demo_hello(host: str = "gpu-node-01", gpus: int = 4, t: float = T0) -> Hello:
    """The hello of the demo node; with gpus=0 it is a machine without an NVIDIA driver."""
    nvml = (
        NvmlInfo(True, None, "550.54.15", "12.550.54.15", 12040)
        if gpus
        else NvmlInfo(False, NO_NVML_REASON)
    )
    infos = tuple(
        GpuInfo(i, f"GPU-{i:08x}-demo", "NVIDIA H100 80GB HBM3", 80 * GIB,
                f"0000:{i + 0x17:02x}:00.0")
        for i in range(gpus)
    )
    static = HostStatic(
        hostname=host,
        os="Ubuntu 22.04.4 LTS",
        kernel="5.15.0-105-generic",
        cpu_model="AMD EPYC 7763 64-Core Processor",
        cpu_cores_logical=16,
        cpu_cores_physical=8,
        mem_total_bytes=256 * GIB,
        swap_total_bytes=8 * GIB,
        boot_time=t - 3 * 86400 - 7260,
        nvml=nvml,
        gpus=infos,
        net_links_mbps={"eth0": 25000},
        interval_s=1.0,
    )
    return Hello(schema=1, host=host, sampler_version="0.1.0", t=t, static=static)


def _wave(seq: int, period: float, phase: float = 0.0) -> float:
    """0..1, smooth and deterministic."""
    return 0.5 + 0.5 * math.sin(seq / period + phase)


def demo_gpus(seq: int, count: int = 4, lost: tuple[int, ...] = (2,)) -> tuple[GpuSample, ...]:
    out = []
    for i in range(count):
        if i in lost:
            out.append(GpuSample(i, f"GPU-{i:08x}-demo", "lost", error=LOST_REASON))
            continue
        util = 35 + 60 * _wave(seq, 6 + i, i)
        supported = i != 3  # GPU 3 reports power and fan as NOT_SUPPORTED (None)
        out.append(
            GpuSample(
                index=i,
                uuid=f"GPU-{i:08x}-demo",
                state="ok",
                util_pct=round(util, 1),
                mem_util_pct=round(util * 0.6, 1),
                mem_used_bytes=int((30 + 45 * _wave(seq, 40, i)) * GIB),
                mem_total_bytes=80 * GIB,
                temp_c=round(48 + 30 * _wave(seq, 12, i)),
                power_w=round(120 + 560 * util / 100) if supported else None,
                power_limit_w=700.0 if supported else None,
                fan_pct=None if not supported else round(30 + 40 * util / 100),
                sm_clock_mhz=1980.0 if util > 40 else 1410.0,
                pcie_rx_bps=(2.5 + 9 * _wave(seq, 5, i)) * 1e9,
                pcie_tx_bps=(0.3 + 2 * _wave(seq, 7, i)) * 1e9,
                ecc_errors=0,
                xid=None,
            )
        )
    return tuple(out)


def demo_procs(seq: int, t: float, with_gpus: bool = True) -> tuple[ProcSample, ...]:
    g = with_gpus
    procs = [
        ProcSample(1, 0, "root", "systemd", "/sbin/init splash", 0.0, 12 * MIB, t - 270000),
        ProcSample(812, 1, "root", "sshd", "sshd: /usr/sbin/sshd -D", 0.0, 8 * MIB, t - 269000),
        ProcSample(1044, 1, "root", "dockerd", "/usr/bin/dockerd -H fd://", 1.2, 96 * MIB,
                   t - 268000),
        ProcSample(2, 0, "root", "kthreadd", "", 0.0, 0, t - 270000),
        ProcSample(4121, 1044, "alice", "python3",
                   "python3 -m vllm.entrypoints.openai.api_server --model /models/Llama-3-70B "
                   "--tensor-parallel-size 2 --port 8000",
                   round(95 + 60 * _wave(seq, 5), 1), 18 * GIB, t - 86000,
                   status="running", num_threads=212,
                   gpus=(ProcGpuUse(0, 61 * GIB, round(70 * _wave(seq, 6), 1)),
                         ProcGpuUse(1, 61 * GIB, round(65 * _wave(seq, 7), 1))) if g else ()),
        ProcSample(5200, 812, "bob", "torchrun",
                   "torchrun --nproc_per_node=1 train.py --config configs/sft-llama3-8b.yaml",
                   3.1, 2 * GIB, t - 9000, status="sleeping", num_threads=18),
        ProcSample(5201, 5200, "bob", "python3",
                   "/usr/bin/python3 -u train.py --config configs/sft-llama3-8b.yaml "
                   "--local_rank=0",
                   round(99 + 20 * _wave(seq, 4), 1), int((9 + 3 * _wave(seq, 50)) * GIB),
                   t - 8990, status="running", num_threads=64,
                   gpus=(ProcGpuUse(3, int((52 + 8 * _wave(seq, 40)) * GIB), None),) if g else ()),
        ProcSample(6001, 812, "carol", "bash", "-bash", 0.0, 5 * MIB, t - 3600),
        ProcSample(6002, 6001, "carol", "nvitop", "/home/carol/.local/bin/python3 -m nvitop",
                   2.0, 60 * MIB, t - 3500),
        ProcSample(7777, 6001, "mallory", "python3", EVIL_CMDLINE, 0.3, 30 * MIB, t - 600),
        ProcSample(8123, 1, "prometheus", "node_exporter",
                   "/usr/bin/prometheus-node-exporter --collector.systemd", 0.7, 24 * MIB,
                   t - 268500),
        ProcSample(9001, 1044, "root", "containerd-shim",
                   "/usr/bin/containerd-shim-runc-v2 -namespace moby -id 3f2a", 0.1, 14 * MIB,
                   t - 86010),
        ProcSample(9100, 1, "root", "rsyslogd", "/usr/sbin/rsyslogd -n -iNONE", 0.2, 6 * MIB,
                   t - 269500),
        ProcSample(9200, 1, "www-data", "nginx", "nginx: worker process", 0.4, 11 * MIB,
                   t - 200000),
    ]
    return tuple(procs)


def demo_sample(seq: int, t: float, gpus: int = 4, lost: tuple[int, ...] = (2,)) -> Sample:
    cores = tuple(round(5 + 90 * _wave(seq, 3 + c % 5, c * 0.7), 1) for c in range(16))
    util = round(sum(cores) / len(cores), 1)
    k = seq + 1
    read = int(sum(30e6 * _wave(j, 4) for j in range(k)))
    write = int(sum(12e6 * _wave(j, 9, 1) for j in range(k)))
    rx = int(sum(400e6 * _wave(j, 6, 2) for j in range(k)))
    tx = int(sum(90e6 * _wave(j, 5, 3) for j in range(k)))
    return Sample(
        t=t,
        seq=seq,
        cpu=CpuSample(util, cores, round(1.5 + 3 * _wave(seq, 8), 1), (7.8, 7.1, 6.5), 10**6),
        mem=MemSample(256 * GIB, int(141 * GIB), int(115 * GIB), 55.1, 8 * GIB, int(0.4 * GIB),
                      5.0),
        disk=DiskCounters(read, write, 40 * k + seq * seq, 25 * k, 3 * k, 5 * k, 6 * k),
        net=NetCounters(rx, tx, 900 * k, 400 * k, 0, 0, 25000),
        gpus=demo_gpus(seq, gpus, lost) if gpus else (),
        procs=demo_procs(seq, t, with_gpus=bool(gpus)),
        self_cost=SelfSample(cpu_time_s=0.006 * seq, rss_bytes=41 * MIB),
    )


def demo_events(
    node_id: str = "gpu-node-01", samples: int = 90, t0: float = T0, gpus: int = 4,
    services: bool = False,
) -> list[Event]:
    """Joined, hello, then `samples` samples one second apart (with `services`, the vLLM
    process serves metrics too)."""
    events: list[Event] = [
        NodeJoined(t0, node_id, source="replay"),
        HelloReceived(t0, node_id, demo_hello(node_id, gpus, t0)),
    ]
    vllm = SyntheticService(random.Random(4121), 0) if services else None
    for seq in range(samples):
        t = t0 + 1.0 + seq
        sample = demo_sample(seq, t, gpus)
        if vllm is not None:
            svc = replace(vllm.sample(t, 40 + 50 * _wave(seq, 20)), pid=4121,
                          model="/models/Llama-3-70B")
            sample = replace(sample, services=(svc,))
        events.append(SampleReceived(t, node_id, sample))
    return events


def demo_end(samples: int = 90, t0: float = T0) -> float:
    """A clock reading just after the last demo sample (the node is still fresh then)."""
    return t0 + samples + 0.5
