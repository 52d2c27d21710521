#!/usr/bin/env python3
"""Write the diagnosis scenario corpus: short recordings of seeded synthetic fleets, each with
the findings `diagnose --replay` must and must not name (tests/scenarios/manifest.json).

    .venv/bin/python scripts/make_scenarios.py            # (re)write tests/scenarios/
    .venv/bin/python scripts/make_scenarios.py --check    # the committed files are up to date

Each scenario is 10 minutes of 2-5 nodes sampled every 5 s, in the recording format
(docs/recording.md), gzip-compressed. Figures are chosen per node and tick by a small function
(the scenario's story) plus seeded jitter; the builder turns them into the sampler's wire
objects: counters that only grow, GPUs, processes and an inference service. Inference-service
figures are built in ONE function, `service_sample`, to adapt when the service model changes.
Add a scenario whenever a finding changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autoglm_tui.events import (  # noqa: E402
    Event,
    HelloReceived,
    NodeJoined,
    NodeUnreachable,
    SampleReceived,
)
from autoglm_tui.model import (  # noqa: E402
    SCHEMA,
    CpuSample,
    DiskCounters,
    GpuInfo,
    GpuSample,
    Hello,
    Histogram,
    HostStatic,
    MemSample,
    NetCounters,
    NvmlInfo,
    ProcGpuUse,
    ProcSample,
    Sample,
    SelfSample,
    ServiceSample,
)
from autoglm_tui.recording import codec as codecs  # noqa: E402
from autoglm_tui.recording.writer import RecordingWriter  # noqa: E402

OUT = ROOT / "tests" / "scenarios"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SECONDS = 600
INTERVAL = 5.0
GIB = 1 << 30
MIB = 1 << 20
GPU_MEM = 80 * GIB
HOST_MEM = 512 * GIB
LINK_MBPS = 25_000


# ---------------------------------------------------------------- figures of one tick


@dataclass
class Proc:
    pid: int
    name: str
    cpu: float = 50.0
    rss: float = 4 * GIB
    gpu_mem: dict[int, float] = field(default_factory=dict)  # GPU index -> bytes


@dataclass
class Service:
    """What an inference server shows at one tick (turned into wire counters below)."""

    latency_p95_s: float
    tokens_per_s: float
    requests_per_s: float = 20.0
    running: float = 16.0
    queue: float = 2.0
    error_rate: float = 0.0  # share of finished requests
    prompt_tokens_per_s: float | None = None  # None: the server reports no prompt tokens


@dataclass
class Figures:
    cpu: float = 35.0
    iowait: float = 1.0
    mem_pct: float = 40.0
    gpu_util: list[float] = field(default_factory=list)
    gpu_mem: list[float] = field(default_factory=list)  # bytes
    pcie_rx: list[float] = field(default_factory=list)
    pcie_tx: list[float] = field(default_factory=list)
    clock_reasons: list[int] | None = None  # NVML clock-event reason bits per GPU
    disk_await_ms: float = 1.5
    disk_iops: float = 300.0
    disk_read_bps: float = 50e6
    disk_write_bps: float = 20e6
    net_util: float = 15.0
    procs: list[Proc] = field(default_factory=list)
    service: Service | None = None


Story = Callable[[float, random.Random], Figures]  # seconds since start -> figures


@dataclass
class NodeSpec:
    name: str
    story: Story
    gpus: int = 2
    labels: dict[str, str] = field(default_factory=dict)
    gaps: tuple[tuple[float, float], ...] = ()  # (from, to): unreachable, no samples


@dataclass
class Scenario:
    name: str
    description: str
    nodes: list[NodeSpec]
    top: str | None  # the finding named first; None: nothing at all
    must: list[str] = field(default_factory=list)
    must_not: list[str] = field(default_factory=list)
    top_subject: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- building wire objects


def jitter(rng: random.Random, v: float, share: float = 0.02) -> float:
    return max(0.0, v * (1.0 + rng.uniform(-share, share)))


def hello(spec: NodeSpec) -> Hello:
    gpus = tuple(GpuInfo(i, f"GPU-{spec.name}-{i}", "NVIDIA H100 80GB HBM3", GPU_MEM)
                 for i in range(spec.gpus))
    static = HostStatic(
        hostname=spec.name, os="Linux", kernel="6.8.0", cpu_model="Xeon 8480",
        cpu_cores_logical=64, cpu_cores_physical=32, mem_total_bytes=HOST_MEM,
        swap_total_bytes=0, boot_time=T0 - 86400.0,
        nvml=NvmlInfo(spec.gpus > 0, None if spec.gpus else "no GPU", "550.54.15"),
        gpus=gpus, net_links_mbps={"eth0": LINK_MBPS}, interval_s=INTERVAL)
    return Hello(SCHEMA, spec.name, "scenario", T0, static)


@dataclass
class Counters:
    seq: int = 0
    disk_read: float = 0.0
    disk_write: float = 0.0
    disk_ops: float = 0.0
    disk_ms: float = 0.0
    net_rx: float = 0.0
    net_tx: float = 0.0
    tokens: float = 0.0
    requests: float = 0.0
    errors: float = 0.0
    prompt: float = 0.0
    p95: float | None = None  # the latency bucket bound in use
    p95_n: int = 0  # ticks under it
    self_cpu: float = 0.0


def service_sample(svc: Service | None, c: Counters, t: float, dt: float) -> ServiceSample | None:
    """The node's inference service at one tick, as the sampler ships it: the one place that
    knows the service model (adapt it here when ServiceSample changes).

    A scrape per tick. The latency histogram has one bucket, bounded at the tick's P95 and
    holding 95 of every 100 requests: a new bound restarts the histogram (as a server with new
    buckets would), and the same bound adds the same shape, so the monitor's windowed P95
    reads exactly the story's figure at every tick."""
    if svc is None:
        return None
    c.tokens += svc.tokens_per_s * dt
    c.requests += svc.requests_per_s * dt
    c.errors += svc.requests_per_s * svc.error_rate * dt
    if svc.prompt_tokens_per_s is not None:
        c.prompt += svc.prompt_tokens_per_s * dt
    p95 = round(svc.latency_p95_s, 4)
    if p95 != c.p95:
        c.p95, c.p95_n = p95, 0
    c.p95_n += 1
    n = c.p95_n
    return ServiceSample(url="http://127.0.0.1:8000/metrics", kind="vllm", ok=True,
                         model="llm", port=8000, t=t,
                         running=float(round(svc.running)), waiting=float(round(svc.queue)),
                         generation_tokens=c.tokens, requests_finished=c.requests,
                         requests_error=c.errors,
                         prompt_tokens=None if svc.prompt_tokens_per_s is None else c.prompt,
                         e2e=Histogram((p95,), (95.0 * n, 100.0 * n), 0.9 * p95 * 100.0 * n))


def sample(spec: NodeSpec, f: Figures, t: float, c: Counters, dt: float) -> Sample:
    c.seq += 1
    ops = f.disk_iops * dt
    c.disk_ops += ops
    c.disk_ms += ops * f.disk_await_ms
    c.disk_read += f.disk_read_bps * dt
    c.disk_write += f.disk_write_bps * dt
    bps = f.net_util / 100.0 * LINK_MBPS * 1e6 / 8
    c.net_rx += bps * dt
    c.net_tx += 0.3 * bps * dt
    c.self_cpu += 0.01 * dt
    gpus = []
    for i in range(spec.gpus):
        used = int(f.gpu_mem[i])
        gpus.append(GpuSample(
            index=i, uuid=f"GPU-{spec.name}-{i}", state="ok",
            util_pct=round(min(100.0, f.gpu_util[i]), 1), mem_util_pct=None,
            mem_used_bytes=used, mem_total_bytes=GPU_MEM,
            temp_c=round(35 + 0.4 * f.gpu_util[i]), power_w=round(80 + 6 * f.gpu_util[i], 1),
            power_limit_w=700.0, sm_clock_mhz=1980.0,
            pcie_rx_bps=f.pcie_rx[i] if f.pcie_rx else 2e8,
            pcie_tx_bps=f.pcie_tx[i] if f.pcie_tx else 1e8, ecc_errors=0,
            clock_reasons=f.clock_reasons[i] if f.clock_reasons else None))
    procs = tuple(
        ProcSample(pid=p.pid, ppid=1, user="svc", name=p.name, cmdline=f"{p.name} --serve",
                   cpu_pct=round(p.cpu, 1), rss_bytes=int(p.rss), create_time=T0 - 3600,
                   status="running", num_threads=16,
                   gpus=tuple(ProcGpuUse(i, int(m)) for i, m in sorted(p.gpu_mem.items())))
        for p in f.procs)
    used = int(HOST_MEM * f.mem_pct / 100.0)
    ncores = 4
    return Sample(
        t=t, seq=c.seq,
        cpu=CpuSample(round(f.cpu, 1), tuple(round(f.cpu, 1) for _ in range(ncores)),
                      round(f.iowait, 1), (f.cpu / 10, f.cpu / 10, f.cpu / 10)),
        mem=MemSample(HOST_MEM, used, HOST_MEM - used, round(f.mem_pct, 2), 0, 0, None),
        disk=DiskCounters(int(c.disk_read), int(c.disk_write), int(c.disk_ops), 0,
                          int(c.disk_ms), 0, None),
        net=NetCounters(int(c.net_rx), int(c.net_tx), 0, 0, 0, 0, LINK_MBPS),
        gpus=tuple(gpus), procs=procs, self_cost=SelfSample(round(c.self_cpu, 3), 30 * MIB),
        services=tuple(s for s in (service_sample(f.service, c, t, INTERVAL),) if s))


def events(sc: Scenario) -> list[Event]:
    out: list[Event] = []
    for spec in sc.nodes:
        out.append(NodeJoined(T0, spec.name, address=f"10.0.0.{len(out) + 1}", ssh_port=22,
                              labels=dict(spec.labels), source="hosts"))
        out.append(HelloReceived(T0, spec.name, hello(spec)))
    counters = {s.name: Counters() for s in sc.nodes}
    rngs = {s.name: random.Random(f"{sc.name}:{s.name}") for s in sc.nodes}
    steps = int(SECONDS / INTERVAL)
    for k in range(1, steps + 1):
        s = k * INTERVAL
        t = T0 + s
        for spec in sc.nodes:
            if any(a <= s < b for a, b in spec.gaps):
                if any(a == s for a, _ in spec.gaps):
                    out.append(NodeUnreachable(t + 0.1, spec.name, "ssh: connection lost", 2.0))
                continue
            f = spec.story(s, rngs[spec.name])
            # the monitor receives a node's sample a little after it was taken
            out.append(SampleReceived(t + 0.05, spec.name,
                                      sample(spec, f, t, counters[spec.name], INTERVAL)))
    return out


# ---------------------------------------------------------------- stories


def busy(gpus: int, util: float, mem_gib: float, rng: random.Random, **kw: Any) -> Figures:
    """A node doing steady work, plus the overrides in `kw`."""
    procs = [Proc(4000 + i, "python3", 90.0, 6 * GIB, {i: (mem_gib - 0.5) * GIB})
             for i in range(gpus)]
    f = Figures(
        cpu=jitter(rng, 40.0, 0.1), iowait=jitter(rng, 1.0, 0.3),
        mem_pct=jitter(rng, 40.0, 0.01),
        gpu_util=[jitter(rng, util, 0.03) for _ in range(gpus)],
        gpu_mem=[mem_gib * GIB + rng.uniform(-64, 64) * MIB for _ in range(gpus)],
        disk_await_ms=jitter(rng, 1.5, 0.3), disk_iops=jitter(rng, 300.0, 0.2),
        net_util=jitter(rng, 15.0, 0.1), procs=procs)
    for key, value in kw.items():
        setattr(f, key, value)
    return f


def serving(rng: random.Random, util: float = 65.0, latency: float = 0.8,
            tokens: float = 3000.0, queue: float = 2.0, gpus: int = 2, **kw: Any) -> Figures:
    f = busy(gpus, util, 60.0, rng, **kw)
    f.service = Service(latency_p95_s=jitter(rng, latency, 0.02),
                        tokens_per_s=jitter(rng, tokens, 0.02), queue=queue,
                        running=jitter(rng, 16.0, 0.1))
    return f


def late(s: float, start: float = 300.0) -> bool:
    """True in the last part of the recording (where a problem develops)."""
    return s >= start


def scenarios() -> list[Scenario]:
    out: list[Scenario] = []
    add = out.append

    # ---- healthy fleets: nothing to say
    add(Scenario("healthy_training", "two training nodes, steady and even", [
        NodeSpec(f"train-{i}", lambda s, r: busy(4, 92.0, 70.0, r), gpus=4) for i in range(2)],
        None, must_not=["straggler_gpu", "gpu_memory_leak"]))
    add(Scenario("healthy_inference", "three replicas of one service near the HPA target", [
        NodeSpec(f"llm-a-{i}", lambda s, r: serving(r, util=68.0), labels={"service": "llm-a"})
        for i in range(3)], None, must_not=["scale_out", "scale_in", "latency_factors"]))
    add(Scenario("healthy_warmup", "a job loads its model (a step in GPU memory) then runs: "
                 "not a leak", [
        NodeSpec("warm-0", lambda s, r: busy(
            2, 85.0, 10.0 if s < 40 else 62.0, r,
            procs=[Proc(4100 + i, "python3", 90.0, 6 * GIB,
                        {i: (9.5 if s < 40 else 61.5) * GIB}) for i in range(2)]))],
        None, must_not=["gpu_memory_leak", "host_memory_leak"]))
    add(Scenario("healthy_bursts", "short CPU and disk bursts: not bottlenecks", [
        NodeSpec("burst-0", lambda s, r: busy(
            2, 30.0 if 500 <= s < 520 else 88.0, 50.0, r,
            cpu=98.0 if 500 <= s < 520 else jitter(r, 40.0, 0.1),
            disk_await_ms=180.0 if 560 <= s < 575 else jitter(r, 1.5, 0.3),
            iowait=35.0 if 560 <= s < 575 else jitter(r, 1.0, 0.3)))],
        None, must_not=["cpu_bound", "storage_bound"]))
    add(Scenario("healthy_flapping", "a node drops off for 40 s and comes back", [
        NodeSpec("flap-0", lambda s, r: busy(2, 80.0, 50.0, r), gaps=((200.0, 240.0),)),
        NodeSpec("flap-1", lambda s, r: busy(2, 80.0, 50.0, r))], None))
    add(Scenario("healthy_sawtooth", "a cache that grows and is freed every 2 minutes", [
        NodeSpec("saw-0", lambda s, r: busy(
            2, 80.0, 50.0, r, gpu_mem=[(30.5 + (s % 120) / 12) * GIB, 0.5 * GIB],
            procs=[Proc(4200, "python3", 60.0, 8 * GIB, {0: (30 + (s % 120) / 12) * GIB})]))],
        None, must_not=["gpu_memory_leak"]))

    # ---- batch-inference bottlenecks
    add(Scenario("cpu_bound", "GPUs starve while pre-processing saturates the host CPU", [
        NodeSpec("batch-0", lambda s, r: busy(
            4, 22.0 if late(s) else 85.0, 50.0, r,
            cpu=jitter(r, 97.0, 0.01) if late(s) else jitter(r, 45.0, 0.1)), gpus=4)],
        "cpu_bound", must_not=["transfer_bound", "straggler_gpu"],
        top_subject={"node": "batch-0"}))
    add(Scenario("transfer_bound", "GPU 1 waits on host-to-device copies near the PCIe limit", [
        NodeSpec("batch-1", lambda s, r: busy(
            2, 28.0 if late(s) else 85.0, 50.0, r,
            pcie_rx=[2e8, jitter(r, 26e9, 0.02) if late(s) else 3e9], pcie_tx=[1e8, 1e9]))],
        "transfer_bound", must_not=["cpu_bound"], top_subject={"node": "batch-1", "gpu": 1}))
    add(Scenario("compute_bound", "GPUs saturated, throughput flat, the queue grows", [
        NodeSpec("llm-c-0", lambda s, r: serving(
            r, util=97.0 if late(s) else 70.0, tokens=5200.0,
            queue=max(2.0, (s - 300) / 10) if late(s) else 2.0))],
        "compute_bound", must_not=["memory_bound"], top_subject={"node": "llm-c-0"}))
    add(Scenario("storage_bound", "model reload from a slow disk: await and iowait high", [
        NodeSpec("store-0", lambda s, r: busy(
            2, 40.0, 50.0, r, disk_await_ms=jitter(r, 140.0, 0.1) if late(s) else 2.0,
            iowait=jitter(r, 28.0, 0.1) if late(s) else 1.0,
            disk_read_bps=jitter(r, 400e6, 0.1)))],
        "storage_bound", must_not=["write_amplification", "network_saturation"]))
    add(Scenario("network_saturation", "the link is full while disk latency climbs", [
        NodeSpec("net-0", lambda s, r: busy(
            2, 70.0, 50.0, r, net_util=jitter(r, 93.0, 0.01) if late(s, 120) else 20.0,
            disk_await_ms=(3.0 + 0.25 * (s - 120)) if late(s, 120) else 3.0))],
        "network_saturation", must_not=["write_amplification"]))
    add(Scenario("write_amplification", "small synchronous writes: IOPS and await up, network "
                 "normal", [
        NodeSpec("wa-0", lambda s, r: busy(
            2, 70.0, 50.0, r, net_util=jitter(r, 12.0, 0.1),
            disk_iops=jitter(r, 4200.0, 0.05) if late(s, 450) else jitter(r, 200.0, 0.1),
            disk_await_ms=jitter(r, 45.0, 0.05) if late(s, 450) else 1.5,
            iowait=jitter(r, 4.0, 0.2)))],
        "write_amplification", must_not=["network_saturation"]))

    add(Scenario("clock_throttled", "GPU 1 runs into its power cap most of the time while busy", [
        NodeSpec("pwr-0", lambda s, r: busy(
            2, 93.0, 50.0, r,
            clock_reasons=[0, 0x4 if late(s) and r.random() < 0.8 else 0]))],
        "clock_throttled", top_subject={"node": "pwr-0", "gpu": 1}))

    # ---- stragglers
    add(Scenario("straggler_gpu", "GPU 5 of eight lags its peers", [
        NodeSpec("tp-0", lambda s, r: busy(
            8, 90.0, 70.0, r,
            gpu_util=[jitter(r, 32.0 if i == 5 else 91.0, 0.03) for i in range(8)]), gpus=8)],
        "straggler_gpu", top_subject={"node": "tp-0", "gpu": 5}))
    add(Scenario("straggler_node", "one of four replicas runs at half speed", [
        NodeSpec(f"llm-b-{i}", lambda s, r, i=i: serving(
            r, util=35.0 if i == 2 else 70.0, tokens=1500.0 if i == 2 else 3200.0),
            labels={"service": "llm-b"}) for i in range(4)],
        "straggler_node", must_not=["scale_out"], top_subject={"node": "llm-b-2"}))

    # ---- scaling
    add(Scenario("scale_out", "four replicas at 92% GPU util: HPA says 6", [
        NodeSpec(f"llm-70b-{i}", lambda s, r: serving(r, util=92.0),
                 labels={"service": "llm-70b"}) for i in range(4)],
        "scale_out", top_subject={"group": "service=llm-70b"}))
    add(Scenario("scale_in", "four replicas idle at 25% for ten minutes: HPA says 2", [
        NodeSpec(f"llm-s-{i}", lambda s, r: serving(r, util=25.0, tokens=900.0),
                 labels={"service": "llm-s"}) for i in range(4)],
        "scale_in", top_subject={"group": "service=llm-s"}))

    # ---- memory
    add(Scenario("gpu_memory_leak", "a training step keeps tensors: +2 MiB/s of GPU memory", [
        NodeSpec("leak-0", lambda s, r: busy(
            2, 90.0, 50.0, r, gpu_mem=[30 * GIB + 2 * MIB * s, 50 * GIB],
            procs=[Proc(4300, "python3", 95.0, 6 * GIB, {0: 29.5 * GIB + 2 * MIB * s}),
                   Proc(4301, "python3", 95.0, 6 * GIB, {1: 49.5 * GIB})]))],
        "gpu_memory_leak", must_not=["orphan_gpu_memory"],
        top_subject={"node": "leak-0", "pid": 4300}))
    add(Scenario("host_memory_leak", "a CPU-only worker's RSS grows 3 MiB/s", [
        NodeSpec("cpu-0", lambda s, r: busy(
            0, 0.0, 0.0, r, procs=[Proc(4400, "worker", 80.0, 2 * GIB + 3 * MIB * s)]),
            gpus=0)],
        "host_memory_leak", top_subject={"node": "cpu-0", "pid": 4400}))
    add(Scenario("orphan_gpu_memory", "30 GiB in use on GPU 1 after its job crashed", [
        NodeSpec("orphan-0", lambda s, r: busy(
            2, 60.0, 40.0, r, gpu_mem=[40 * GIB, 30 * GIB],
            procs=[Proc(4500, "python3", 90.0, 6 * GIB, {0: 39.5 * GIB})]))],
        "orphan_gpu_memory", top_subject={"node": "orphan-0", "gpu": 1}))

    # ---- latency vs resources
    def cpu_wave(s: float) -> float:
        return 55.0 + 25.0 * math.sin(2 * math.pi * s / 160.0)

    add(Scenario("latency_follows_cpu", "P95 moves with host CPU (tokenisation on the host)", [
        NodeSpec("llm-l-0", lambda s, r: serving(
            r, util=60.0, latency=0.25 + 0.0025 * cpu_wave(s),
            cpu=jitter(r, cpu_wave(s), 0.02)))],
        "latency_factors", must_not=["cpu_bound"], top_subject={"node": "llm-l-0"}))

    def queue_wave(s: float) -> float:
        # Below the 4-per-replica scaling target on average (the service is its own replica
        # group: a queue above it would rightly be a scale-out first).
        return 3.0 + 2.5 * math.sin(2 * math.pi * s / 210.0)

    add(Scenario("latency_follows_queue", "P95 moves with the queue length", [
        NodeSpec("llm-q-0", lambda s, r: serving(
            r, util=62.0, latency=0.4 + 0.1 * round(queue_wave(s)), queue=queue_wave(s)))],
        "latency_factors", top_subject={"node": "llm-q-0"}))

    # ---- a latency that went up and stayed up (at minute 7 of 10)
    def export_job(s: float, r: random.Random) -> Figures:
        """A server on the host CPU's spare room, until a batch export takes it at minute 7."""
        taken = late(s, 420.0)
        f = serving(r, util=60.0, latency=0.65 if taken else 0.3,
                    cpu=jitter(r, 93.0 if taken else 38.0, 0.03))
        if taken:
            f.procs.append(Proc(4700, "export-batch", 640.0, 2 * GIB))
        return f

    add(Scenario("latency_rise_with_cpu", "P95 doubles at minute 7, when a batch job takes the "
                 "host CPU", [NodeSpec("llm-r-0", export_job)],
        "latency_rise", top_subject={"node": "llm-r-0"}))
    def more_requests(s: float, r: random.Random) -> Figures:
        """Twice the requests from minute 7 (as long as before); the GPUs busier with them,
        still under the scaling target (the replica is too small for the latency, not yet for
        the HPA rule)."""
        more = 2.0 if late(s, 420.0) else 1.0
        f = serving(r, util=66.0 if more > 1 else 35.0, latency=0.7 if more > 1 else 0.33,
                    tokens=3000.0 * more)
        assert f.service is not None
        f.service.requests_per_s = jitter(r, 20.0 * more, 0.03)
        f.service.prompt_tokens_per_s = jitter(r, 8000.0 * more, 0.03)
        f.service.running = jitter(r, 16.0 * more, 0.1)
        return f

    add(Scenario("latency_rise_with_load", "P95 doubles at minute 7, when twice the requests "
                 "arrive", [NodeSpec("llm-w-0", more_requests)],
        "latency_rise", must_not=["scale_out"], top_subject={"node": "llm-w-0"}))
    add(Scenario("latency_rise_unexplained", "P95 doubles at minute 7 and nothing on the node "
                 "or in its load changes", [
        NodeSpec("llm-u-0", lambda s, r: serving(
            r, util=60.0, latency=0.7 if late(s, 420.0) else 0.35))],
        "latency_rise", top_subject={"node": "llm-u-0"}))

    # ---- mixed cases: the worst comes first, the rest is still named
    add(Scenario("mixed_leak_and_straggler", "a leak about to run out of memory, and a "
                 "straggler GPU elsewhere", [
        NodeSpec("mix-0", lambda s, r: busy(
            2, 90.0, 60.0, r, gpu_mem=[74 * GIB + 4 * MIB * s, 60 * GIB],
            procs=[Proc(4600, "python3", 95.0, 6 * GIB, {0: 73.5 * GIB + 4 * MIB * s}),
                   Proc(4601, "python3", 95.0, 6 * GIB, {1: 59.5 * GIB})])),
        NodeSpec("mix-1", lambda s, r: busy(
            4, 90.0, 60.0, r, gpu_util=[jitter(r, 25.0 if i == 2 else 90.0, 0.03)
                                        for i in range(4)]), gpus=4)],
        "gpu_memory_leak", must=["straggler_gpu"], top_subject={"node": "mix-0", "pid": 4600}))
    add(Scenario("mixed_saturation_and_scale", "a saturated link on one replica of a busy "
                 "group", [
        NodeSpec(f"llm-m-{i}", lambda s, r, i=i: serving(
            r, util=93.0, net_util=jitter(r, 94.0, 0.01) if i == 0 and late(s, 120) else 20.0,
            disk_await_ms=3.0 + 0.25 * (s - 120) if i == 0 and late(s, 120) else 2.0),
            labels={"service": "llm-m"}) for i in range(3)],
        "network_saturation", must=["scale_out"], top_subject={"node": "llm-m-0"}))
    add(Scenario("mixed_orphan_and_scale_in", "leftover memory on a node of a quiet group", [
        NodeSpec(f"llm-o-{i}", lambda s, r, i=i: serving(
            r, util=25.0, tokens=900.0,
            **({"gpu_mem": [40 * GIB, 35 * GIB],
                "procs": [Proc(4700, "python3", 90.0, 6 * GIB, {0: 39.5 * GIB})]}
               if i == 1 else {})), labels={"service": "llm-o"}) for i in range(4)],
        "orphan_gpu_memory", must=["scale_in"], top_subject={"node": "llm-o-1", "gpu": 1}))
    return out


# ---------------------------------------------------------------- writing


def write(sc: Scenario, directory: Path) -> Path:
    path = directory / f"{sc.name}.jsonl.gz"
    rid = hashlib.sha256(sc.name.encode()).hexdigest()[:16]
    w = RecordingWriter(path, source="scenario", t=T0, codec=codecs.Gzip(level=9),
                        block_s=60.0,
                        header_extra={"id": rid, "created": T0,
                                      "writer": "scripts/make_scenarios.py",
                                      "scenario": sc.name, "description": sc.description})
    for e in events(sc):
        w.add_event(e)
    w.close()
    return path


def manifest(items: list[Scenario]) -> dict[str, Any]:
    return {"generated_by": "scripts/make_scenarios.py", "scenarios": [
        {"name": sc.name, "file": f"{sc.name}.jsonl.gz", "description": sc.description,
         "nodes": len(sc.nodes), "top": sc.top, "top_subject": sc.top_subject,
         "must": sorted({*([sc.top] if sc.top else []), *sc.must}), "must_not": sc.must_not}
        for sc in items]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="exit 1 when the committed corpus differs from a fresh one")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    items = scenarios()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp)
            for sc in items:
                write(sc, fresh)
            (fresh / "manifest.json").write_text(json.dumps(manifest(items), indent=1) + "\n")
            stale = [p.name for p in sorted(fresh.iterdir())
                     if not (args.out / p.name).exists()
                     or (args.out / p.name).read_bytes() != p.read_bytes()]
        if stale:
            print("out of date: " + ", ".join(stale), file=sys.stderr)
            return 1
        print(f"{len(items)} scenarios up to date")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    for sc in items:
        p = write(sc, args.out)
        total += p.stat().st_size
        print(f"{p.name}: {p.stat().st_size / 1024:.0f} KiB")
    (args.out / "manifest.json").write_text(json.dumps(manifest(items), indent=1) + "\n")
    print(f"{len(items)} scenarios, {total / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
