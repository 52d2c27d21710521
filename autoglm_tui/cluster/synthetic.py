"""A synthetic in-process fleet for benchmarks and demos only (never a real node's data).

``SyntheticFleet(nodes, gpus)`` invents N nodes with G GPUs each and emits the same events a
real source would (NodeJoined, HelloReceived, then one SampleReceived per node per interval).
The figures look like a real mixed fleet: training nodes whose GPUs move together in
tensor-parallel steps (with an occasional straggler GPU), inference nodes with a vLLM-like
service (cluster/synthetic_services.py: counters and latency histograms scraped every 5 s),
counters that only grow. Everything is deterministic for a seed: the
same seed and the same times give the same events.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from autoglm_tui.cluster.sources import Emit
from autoglm_tui.cluster.synthetic_services import SyntheticService
from autoglm_tui.events import Event, HelloReceived, NodeJoined, SampleReceived
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

GIB = 1 << 30
GPU_MEM = 80 * GIB
HOST_MEM = 1024 * GIB
CHECKPOINT_EVERY_S = 600.0  # training nodes idle their GPUs this often (a checkpoint)
CHECKPOINT_S = 20.0
SLICE_NODES = 32  # nodes sampled together in `run` (slices spread over the interval)
ZONES = ("a", "b", "c", "d")
# Other busy processes of a GPU node, so a node lists as many processes as the real sampler's
# default (`sample --top 25`: the top 25 by CPU, GPU processes included).
HOST_PROCS: tuple[tuple[str, str], ...] = tuple(
    [("train", f"python3 -m torch.utils.data.worker --id {i}") for i in range(8)]
    + [
        ("root", "/usr/bin/containerd"),
        ("root", "/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml"),
        ("root", "/usr/bin/dcgm-exporter"),
        ("nobody", "/usr/bin/node_exporter"),
        ("root", "/usr/sbin/sshd -D"),
        ("root", "/lib/systemd/systemd-journald"),
        ("root", "python3 -m autoglm_tui sample --interval 1"),
        ("root", "/usr/bin/nvidia-persistenced"),
        ("root", "/usr/sbin/rsyslogd -n"),
        ("root", "/usr/bin/dockerd -H fd://"),
        ("syslog", "/usr/sbin/chronyd"),
        ("root", "/usr/lib/openssh/sftp-server"),
        ("root", "/usr/bin/python3 /usr/bin/networkd-dispatcher"),
        ("root", "/sbin/multipathd -d -s"),
        ("root", "/usr/bin/fluent-bit -c /etc/fluent-bit/fluent-bit.conf"),
        ("root", "/usr/sbin/irqbalance --foreground"),
        ("root", "/usr/lib/snapd/snapd"),
    ]
)


@dataclass
class _Node:
    """One invented node and its running counters."""

    node_id: str
    index: int
    role: str  # "train" or "infer"
    labels: dict[str, str]
    hello: Hello
    rng: random.Random
    phase: float
    straggler: int | None  # a GPU index that lags its peers, or None
    seq: int = 0
    disk_read: int = 0
    disk_write: int = 0
    disk_ops: int = 0
    disk_time_ms: int = 0
    net_rx: int = 0
    net_tx: int = 0
    self_cpu: float = 0.0
    base_mem: list[int] = field(default_factory=list)
    service: SyntheticService | None = None


class Pacer:
    """Ticks spread evenly, `step_s` apart on `clock`: how long to wait after each. A late
    tick is not made up (the next one is a whole step after it)."""

    def __init__(self, step_s: float, clock: Callable[[], float]) -> None:
        self.step_s, self.clock = step_s, clock
        self.next_at = clock()

    def wait_s(self) -> float:
        self.next_at += self.step_s
        delay = self.next_at - self.clock()
        if delay < 0:
            self.next_at, delay = self.clock(), 0.0
        return delay


class SyntheticFleet:
    """N nodes x G GPUs of invented but plausible data, one sample per node per interval."""

    def __init__(
        self,
        nodes: int = 8,
        gpus: int = 8,
        interval_s: float = 1.0,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        straggler_every: int = 16,
        prefix: str = "node",
        top: int = 25,
    ) -> None:
        if nodes < 0 or gpus < 0 or interval_s <= 0:
            raise ValueError("nodes and gpus must be >= 0 and interval_s > 0")
        self.interval_s = interval_s
        self.clock = clock
        self.seed = seed
        self.top = top  # processes listed per node (GPU processes first), like `sample --top`
        self.start = clock()
        width = max(3, len(str(max(nodes - 1, 0))))
        self.nodes: list[_Node] = [
            self._make_node(i, f"{prefix}-{i:0{width}d}", gpus, straggler_every)
            for i in range(nodes)
        ]

    # ------------------------------------------------------------------ set-up

    def _make_node(self, i: int, node_id: str, gpus: int, straggler_every: int) -> _Node:
        rng = random.Random(f"{self.seed}:{node_id}")
        role = "infer" if i % 4 == 3 else "train"
        labels = {"zone": ZONES[i % len(ZONES)], "role": role, "rack": f"r{i // 8:02d}"}
        infos = tuple(
            GpuInfo(g, f"GPU-{i:04x}{g:04x}-synthetic", "NVIDIA H100 80GB HBM3", GPU_MEM,
                    f"0000:{0x18 + g * 0x10:02x}:00.0")
            for g in range(gpus)
        )
        static = HostStatic(
            hostname=f"{node_id}.synthetic",
            os="Linux",
            kernel="6.8.0-synthetic",
            cpu_model="Synthetic Xeon 8480",
            cpu_cores_logical=112,
            cpu_cores_physical=56,
            mem_total_bytes=HOST_MEM,
            swap_total_bytes=0,
            boot_time=self.start - 3 * 86400 - 3600 * (i % 24),
            nvml=NvmlInfo(available=gpus > 0, reason=None if gpus else "no GPU",
                          driver_version="550.54.15", nvml_version="12.550.54.15"),
            gpus=infos,
            net_links_mbps={"eth0": 100_000},
            collector="psutil",
            interval_s=self.interval_s,
        )
        hello = Hello(SCHEMA, static.hostname, "synthetic", 0.0, static)
        straggler = None
        if gpus >= 3 and straggler_every > 0 and i % straggler_every == 5 % straggler_every:
            straggler = rng.randrange(gpus)
        base_mem = [int(GPU_MEM * (0.55 if role == "infer" else 0.82)) for _ in range(gpus)]
        service = SyntheticService(random.Random(f"{self.seed}:{node_id}:svc"), i,
                                   max(5.0, self.interval_s)) if role == "infer" else None
        return _Node(node_id, i, role, labels, hello, rng, rng.uniform(0, 2 * math.pi),
                     straggler, base_mem=base_mem, service=service)

    # ------------------------------------------------------------------ events

    def join_events(self, t: float) -> list[Event]:
        """NodeJoined and HelloReceived for every node, observed at `t`."""
        out: list[Event] = []
        for n in self.nodes:
            address = f"10.0.{n.index // 250}.{n.index % 250 + 1}"
            out.append(NodeJoined(t, n.node_id, address=address, ssh_port=22,
                                  labels=dict(n.labels), source="synthetic"))
            out.append(HelloReceived(t, n.node_id, n.hello))
        return out

    def tick_events(self, t: float, nodes: Sequence[_Node] | None = None) -> list[SampleReceived]:
        """One sample per node (of `nodes`, default all) for time `t` (advances the counters)."""
        return [SampleReceived(t, n.node_id, self._sample(n, t))
                for n in (self.nodes if nodes is None else nodes)]

    def history(self, start: float, seconds: float) -> Iterator[list[SampleReceived]]:
        """Ticks from `start` over `seconds`, one list per interval (to pre-fill a state)."""
        steps = int(seconds / self.interval_s)
        for k in range(steps):
            yield self.tick_events(start + k * self.interval_s)

    async def run(self, emit: Emit) -> None:
        """Emit joins, then a sample per node every interval until cancelled. As real
        samplers do, the nodes tick at different moments: the fleet is sampled in slices of
        at most ``SLICE_NODES`` spread over the interval, so a large fleet never holds the
        event loop for the whole fleet's samples at once."""
        for event in self.join_events(self.clock()):
            emit(event)
        slices = self.slices()
        pace = Pacer(self.interval_s / len(slices), asyncio.get_running_loop().time)
        while True:
            for part in slices:
                for event in self.tick_events(self.clock(), part):
                    emit(event)
                await asyncio.sleep(pace.wait_s())

    def slices(self) -> list[list[_Node]]:
        """The nodes in the groups `run` samples together (at least one group)."""
        return [self.nodes[i:i + SLICE_NODES]
                for i in range(0, len(self.nodes), SLICE_NODES)] or [[]]

    # ------------------------------------------------------------------ figures

    def _sample(self, n: _Node, t: float) -> Sample:
        rng = n.rng
        n.seq += 1
        dt = self.interval_s
        gpus_n = len(n.hello.static.gpus)
        if n.role == "train":
            # tensor-parallel steps keep all GPUs busy together (86-99%); a checkpoint every
            # 10 minutes (20 s, at another minute on each node) slows them together. Sync
            # stalls last milliseconds and do not show at 1 Hz: a dip every few seconds would
            # reset every `for` of a busy-GPU rule forever and never let it fire.
            wave = 0.5 + 0.5 * math.sin(t / 3.0 + n.phase)
            checkpoint = (t + n.phase * 97.0) % CHECKPOINT_EVERY_S < CHECKPOINT_S
            base = 55.0 if checkpoint else 89.0 + 7.0 * wave
        else:
            base = 45.0 + 30.0 * (0.5 + 0.5 * math.sin(t / 40.0 + n.phase))
        gpu_samples = []
        procs = []
        for g in range(gpus_n):
            util = base + rng.uniform(-3.0, 3.0)
            mem = n.base_mem[g] + rng.randrange(-(256 << 20), 256 << 20)
            if g == n.straggler:
                util = max(0.0, util - 55.0)
                mem = int(mem * 0.6)
            util = min(100.0, max(0.0, util))
            mem = min(GPU_MEM, max(0, mem))
            power = 90.0 + 6.0 * util + rng.uniform(-10, 10)
            gpu_samples.append(
                GpuSample(
                    index=g,
                    uuid=n.hello.static.gpus[g].uuid,
                    state="ok",
                    util_pct=round(util, 1),
                    mem_util_pct=round(util * 0.6, 1),
                    mem_used_bytes=mem,
                    mem_total_bytes=GPU_MEM,
                    temp_c=round(34.0 + util * 0.42 + rng.uniform(-1, 1), 0),
                    power_w=round(power, 1),
                    power_limit_w=700.0,
                    fan_pct=None,  # passively cooled
                    sm_clock_mhz=1980.0 if util > 5 else 345.0,
                    pcie_rx_bps=util * 2.0e8 * rng.uniform(0.8, 1.2),
                    pcie_tx_bps=util * 1.2e8 * rng.uniform(0.8, 1.2),
                    ecc_errors=0,
                )
            )
            procs.append(
                ProcSample(
                    pid=4000 + n.index % 97 * 10 + g,
                    ppid=3999,
                    user="train" if n.role == "train" else "serve",
                    name="python3",
                    cmdline=(
                        f"python3 -m torch.distributed.run --node-rank {n.index} train.py "
                        f"--local-rank {g}"
                        if n.role == "train"
                        else f"python3 -m vllm.entrypoints.openai.api_server --tp 8 --rank {g}"
                    ),
                    cpu_pct=round(95.0 + rng.uniform(-5, 5), 1),
                    rss_bytes=(6 << 30) + rng.randrange(0, 64 << 20),
                    create_time=self.start - 7200 - n.index,
                    status="running",
                    num_threads=48,
                    gpus=(ProcGpuUse(g, mem - (512 << 20) if mem > (512 << 20) else mem, util),),
                )
            )
        for k, (user, cmd) in enumerate(HOST_PROCS[: max(0, self.top - len(procs))]):
            procs.append(
                ProcSample(
                    pid=900 + k * 7 + n.index % 5,
                    ppid=1,
                    user=user,
                    name=cmd.split()[0].rsplit("/", 1)[-1],
                    cmdline=cmd,
                    cpu_pct=round(rng.uniform(0.0, 12.0 if k < 6 else 2.0), 1),
                    rss_bytes=(64 << 20) + k * (16 << 20) + rng.randrange(0, 1 << 20),
                    create_time=self.start - 86400 + k,
                    status="sleeping",
                    num_threads=4 + k,
                )
            )
        cpu = min(100.0, max(0.0, 22.0 + 0.25 * base + rng.uniform(-4, 4)))
        n.disk_read += int(rng.uniform(20, 200) * 1e6 * dt)
        n.disk_write += int(rng.uniform(5, 60) * 1e6 * dt)
        ops = int(rng.uniform(500, 3000) * dt)
        n.disk_ops += ops
        n.disk_time_ms += int(ops * rng.uniform(0.2, 2.0))
        n.net_rx += int((2e9 if n.role == "train" else 3e8) * rng.uniform(0.5, 1.0) * dt)
        n.net_tx += int((2e9 if n.role == "train" else 2e8) * rng.uniform(0.5, 1.0) * dt)
        n.self_cpu += dt * rng.uniform(0.008, 0.015)
        services = (n.service.sample(t, base),) if n.service is not None else ()
        used = int(HOST_MEM * (0.35 + 0.05 * math.sin(t / 300.0 + n.phase)))
        return Sample(
            t=t,
            seq=n.seq,
            cpu=CpuSample(round(cpu, 1), (), round(rng.uniform(0.1, 2.0), 1),
                          (cpu * 1.1, cpu * 1.05, cpu)),
            mem=MemSample(HOST_MEM, used, HOST_MEM - used, 100.0 * used / HOST_MEM, 0, 0, None),
            disk=DiskCounters(n.disk_read, n.disk_write, n.disk_ops, 0, n.disk_time_ms, 0, None),
            net=NetCounters(n.net_rx, n.net_tx, n.net_rx // 4000, n.net_tx // 4000, 0, 0,
                            100_000),
            gpus=tuple(gpu_samples),
            procs=tuple(procs),
            self_cost=SelfSample(round(n.self_cpu, 4), 38 << 20),
            services=services,
        )
