"""Time one alert-engine tick: the default rules plus 10 custom ones on 256 nodes x 8 GPUs.

Every node runs an inference service (a quarter of them two), made as the synthetic fleet
makes them (cluster/synthetic_services.py: vLLM-shaped counters and histograms, a new scrape
every 5 s), so the service rules (per service since the engine evaluates service subjects)
have real figures to read.

Every node gets a fresh sample each tick (the worst case at 1 Hz sampling); applying samples to
the fleet state is not timed, only ``AlertEngine.evaluate``, in wall-clock time and in this
thread's CPU time (what a tick costs on a shared machine). Garbage collections that start
inside a timed call are counted: they land in whichever code allocates when they fall due.
``--runs N`` repeats the whole measurement on fresh fleets and reports the median run.
Prints a Markdown table.

    .venv/bin/python benchmarks/bench_alerts.py [--nodes 256] [--gpus 8] [--procs 16]
        [--ticks 60] [--runs 1] [--breakdown]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from dataclasses import dataclass, field

from autoglm_tui.alerting.rule_files import default_rules
from autoglm_tui.analysis.alerts import AlertEngine, parse_rules
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.synthetic_services import SyntheticService
from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived
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
    ProcSample,
    Sample,
)

CUSTOM_RULES = """
[[rule]]
name = "gpu_temp_high"
metric = "gpu.temp_c"
threshold = 85
for = "1m"

[[rule]]
name = "gpu_mem_bw_high"
metric = "gpu.mem_util_pct"
threshold = 95
for = "2m"

[[rule]]
name = "gpu_util_anomaly"
kind = "zscore"
metric = "gpu.util_pct"
window = "10m"
z = 3
min_samples = 30
min_std = 2

[[rule]]
name = "gpu_util_straggler"
kind = "peer"
metric = "gpu.util_pct"
group = "node"
z = 3
min_std = 5

[[rule]]
name = "node_gpu_hottest"
metric = "gpu.temp_c"
scope = "node"
agg = "max"
threshold = 90

[[rule]]
name = "cpu_high"
metric = "cpu.util_pct"
threshold = 90
for = "2m"

[[rule]]
name = "mem_high"
metric = "mem.used_pct"
threshold = 95

[[rule]]
name = "proc_cpu_high"
metric = "proc.cpu_pct"
threshold = 400
for = "1m"

[[rule]]
name = "proc_rss_high"
metric = "proc.rss_bytes"
threshold = 68719476736

[[rule]]
name = "zone_cpu_outlier"
kind = "peer"
metric = "cpu.util_pct"
group = "label:zone"
z = 4
min_std = 5
"""


def make_hello(node: str, gpus: int) -> Hello:
    static = HostStatic(
        hostname=node, os="Linux", kernel="6.1", cpu_model="Xeon", cpu_cores_logical=64,
        cpu_cores_physical=32, mem_total_bytes=1 << 40, swap_total_bytes=0, boot_time=0.0,
        nvml=NvmlInfo(True), gpus=tuple(GpuInfo(i, f"GPU-{i}", "H100", 80 << 30)
                                        for i in range(gpus)),
        interval_s=1.0,
    )
    return Hello(SCHEMA, node, "bench", 0.0, static)


class Node:
    """One synthetic node: steady per-GPU baselines with small noise; a few hot GPUs."""

    def __init__(self, rng: random.Random, gpus: int, procs: int, index: int) -> None:
        self.rng = rng
        base = rng.uniform(30, 80)  # one job per node: its GPUs run alike
        self.util = [base + rng.uniform(-3, 3) for _ in range(gpus)]
        self.temp = [rng.uniform(45, 75) for _ in range(gpus)]
        if rng.random() < 0.05:  # about 5% of nodes have a GPU that runs hot and busy
            self.util[0] = 97.0
            self.temp[0] = 88.0
        self.procs = procs
        self.cpu = rng.uniform(20, 70)
        self.services = [SyntheticService(random.Random(rng.random()), index + k, 5.0, 8000 + k)
                         for k in range(2 if index % 4 == 0 else 1)]
        self.load = sum(self.util) / len(self.util) if self.util else 50.0

    def sample(self, t: float, seq: int) -> Sample:
        g = self.rng.gauss
        return Sample(
            t=t, seq=seq,
            cpu=CpuSample(self.cpu + g(0, 2), (), 1.0, (1.0, 1.0, 1.0)),
            mem=MemSample(1 << 40, 1 << 39, 1 << 39, 50.0, 0, 0, None),
            disk=DiskCounters(seq * 10_000_000, seq * 5_000_000, seq * 200, seq * 100,
                              seq * 900, seq * 600, seq * 500),
            net=NetCounters(seq * 50_000_000, seq * 20_000_000, 0, 0, 0, 0, 25_000),
            gpus=tuple(
                GpuSample(index=i, uuid=f"GPU-{i}", state="ok", util_pct=u + g(0, 1.5),
                          mem_util_pct=30.0 + g(0, 2), mem_used_bytes=60 << 30,
                          mem_total_bytes=80 << 30, temp_c=self.temp[i] + g(0, 0.5),
                          power_w=500.0)
                for i, u in enumerate(self.util)
            ),
            procs=tuple(
                ProcSample(1000 + p, 1, "svc", "python", "python serve.py",
                           (450.0 if p == 0 and self.util[0] > 90 else 50.0) + g(0, 5),
                           4 << 30, 0.0)
                for p in range(self.procs)
            ),
            services=tuple(svc.sample(t, self.load) for svc in self.services),
        )


@dataclass
class Run:
    """One measurement: per timed tick, wall and CPU milliseconds; the rest for the report."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    events: int = 0
    collections: int = 0
    alone_ms: dict[str, list[float]] = field(default_factory=dict)
    base_ms: list[float] = field(default_factory=list)


def measure(args: argparse.Namespace, seed: int) -> Run:
    custom, errors, _ = parse_rules(CUSTOM_RULES, "<bench>")
    assert not errors, errors
    rules = default_rules() + custom
    enabled = [r for r in rules if r.enabled]
    rng = random.Random(seed)
    state = FleetState()
    names = [f"node-{i:03d}" for i in range(args.nodes)]
    fleet = {n: Node(rng, args.gpus, args.procs, i) for i, n in enumerate(names)}
    for i, n in enumerate(names):
        state.apply(NodeJoined(0.0, n, labels={"zone": f"z{i % 4}"}))
        state.apply(HelloReceived(0.0, n, make_hello(n, args.gpus)))
    engine = AlertEngine(rules)
    alone = {r.name: AlertEngine([r]) for r in enabled} if args.breakdown else {}
    run = Run(alone_ms={name: [] for name in alone})
    inside = [False]

    def count_collections(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and inside[0]:
            run.collections += 1

    gc.callbacks.append(count_collections)
    try:
        now = 0.0
        for tick in range(1, args.warmup + args.ticks + 1):
            now = float(tick)
            changes = []
            for n in names:
                changes += state.apply(SampleReceived(now, n, fleet[n].sample(now, tick)))
            changes += state.tick(now)
            timed = tick > args.warmup
            inside[0] = timed
            c0 = time.thread_time()
            t0 = time.perf_counter()
            out = engine.evaluate(state, now, changes)
            dt = time.perf_counter() - t0
            dc = time.thread_time() - c0
            inside[0] = False
            if timed:
                run.wall.append(dt * 1000)
                run.cpu.append(dc * 1000)
                run.events += len(out)
            for name, single in alone.items():
                t0 = time.perf_counter()
                single.evaluate(state, now, changes)
                if timed:
                    run.alone_ms[name].append((time.perf_counter() - t0) * 1000)
        if alone:
            base = AlertEngine([])
            for _ in range(20):
                t0 = time.perf_counter()
                base._last_at.clear()  # every node's sample is new to it again
                base.evaluate(state, now, [])
                run.base_ms.append((time.perf_counter() - t0) * 1000)
    finally:
        gc.callbacks.remove(count_collections)
    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=256)
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--procs", type=int, default=16)
    ap.add_argument("--ticks", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=200,
                    help="ticks before timing starts (fills the 3 min `for` and z windows)")
    ap.add_argument("--runs", type=int, default=1,
                    help="repeat the measurement on fresh fleets; report the median run")
    ap.add_argument("--breakdown", action="store_true",
                    help="also time each rule alone (an engine per rule, same fleet)")
    args = ap.parse_args()

    custom, _, _ = parse_rules(CUSTOM_RULES, "<bench>")
    rules = default_rules() + custom
    enabled = [r for r in rules if r.enabled]
    runs = [measure(args, 1) for _ in range(args.runs)]  # the same fleet each time
    runs.sort(key=lambda r: statistics.median(r.cpu))
    run = runs[len(runs) // 2]  # the median run, by median CPU time per tick

    targets = args.nodes * args.gpus
    print(f"alert engine: {len(enabled)} rules ({len(enabled) - len(custom)} default + "
          f"{len(custom)} custom), {args.nodes} nodes x {args.gpus} GPUs ({targets} GPUs), "
          f"{args.procs} processes per node, Python {sys.version.split()[0]}")
    if args.runs > 1:
        print(f"median of {args.runs} runs (median CPU ms per tick of each: "
              + ", ".join(f"{statistics.median(r.cpu):.2f}" for r in runs) + ")")
    print()
    print("| time per tick | ticks | mean ms | median ms | p95 ms | max ms | target |")
    print("| :--- | ---: | ---: | ---: | ---: | ---: | :--- |")
    for label, xs in (("wall clock", run.wall), ("CPU (thread)", run.cpu)):
        p95 = sorted(xs)[int(0.95 * (len(xs) - 1))]
        print(f"| {label} | {len(xs)} | {statistics.fmean(xs):.2f} | "
              f"{statistics.median(xs):.2f} | {p95:.2f} | {max(xs):.2f} | <= 5 ms |")
    print(f"\n{run.events} alert state changes during the timed ticks; "
          f"{run.collections} garbage collections started inside them")
    if run.alone_ms:
        print("\n| rule alone (includes the per-node setup, about the first line) | kind | "
              "median ms |")
        print("| :--- | :--- | ---: |")
        print(f"| (no rules: per-node setup) | - | {statistics.median(run.base_ms):.2f} |")
        kinds = {r.name: r.kind for r in enabled}
        for name, xs in run.alone_ms.items():
            print(f"| {name} | {kinds[name]} | {statistics.median(xs):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
