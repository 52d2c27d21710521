"""The flight recorder's cost, measured: CPU per sample and memory per node-minute.

A synthetic fleet (8 GPUs, 25 listed processes a node, 1 Hz) with its figures rounded as the
sampler rounds them (docs/wire.md), each node's samples written by a ``DeltaEncoder`` as a
sampler on the compact wire writes them (a full line every 60 s; ``--full`` for full lines
only, as a schema 1.0 sampler sends) and read back by that node's ``SamplerStream``, as the SSH
source does. Those events (made before timing starts) go through ``FlightRecorder.tap`` with a
tick every second; CPU is the process's (the event loop's tap plus the recorder's thread),
memory is the compressed blocks it holds, per node-minute, and what 10 minutes would take.

    .venv/bin/python benchmarks/bench_flight.py [--nodes 256 1024] [--seconds 120] [--runs 3]
        [--full]

Run it with another tree first on ``PYTHONPATH`` (e.g. ``git worktree add /tmp/main main``,
``PYTHONPATH=/tmp/main``) to measure that tree's flight recorder on the same streams.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import autoglm_tui
from autoglm_tui import wire
from autoglm_tui.cluster.stream import SamplerStream
from autoglm_tui.cluster.synthetic import SyntheticFleet
from autoglm_tui.events import HelloReceived
from autoglm_tui.model import Sample
from autoglm_tui.recording.flight import FlightRecorder
from autoglm_tui.wire_delta import DeltaEncoder

T0 = 1_767_225_600.0
MIB = 1 << 20


def _sig3(v: float | None) -> float | None:
    if not v:
        return v
    return float(round(v, 2 - math.floor(math.log10(abs(v)))))


def _mib(v: int | None) -> int | None:
    return None if v is None else round(v / MIB) * MIB


def as_sampled(s: Sample) -> Sample:
    """The synthetic figures rounded as the sampler and the hardware give them: power to 1 W,
    PCIe to 3 digits, memory levels to 1 MiB, process memory in pages, load to 0.01."""
    gpus = tuple(replace(g, power_w=None if g.power_w is None else float(round(g.power_w)),
                         mem_used_bytes=_mib(g.mem_used_bytes), pcie_rx_bps=_sig3(g.pcie_rx_bps),
                         pcie_tx_bps=_sig3(g.pcie_tx_bps)) for g in s.gpus)
    procs = tuple(replace(
        p, rss_bytes=None if p.rss_bytes is None else p.rss_bytes // 4096 * 4096,
        gpus=tuple(replace(u, mem_bytes=_mib(u.mem_bytes),
                           sm_pct=None if u.sm_pct is None else float(round(u.sm_pct)))
                   for u in p.gpus)) for p in s.procs)
    cpu = replace(s.cpu, load=None if s.cpu.load is None
                  else tuple(round(x, 2) for x in s.cpu.load))
    mem = replace(s.mem, used_bytes=_mib(s.mem.used_bytes),
                  available_bytes=_mib(s.mem.available_bytes), used_pct=round(s.mem.used_pct, 2))
    return replace(s, gpus=gpus, procs=procs, cpu=cpu, mem=mem,
                   self_cost=replace(s.self_cost, cpu_time_s=round(s.self_cost.cpu_time_s, 2)))


def streams(nodes: int, seconds: int, delta: bool) -> tuple[list, list[list], float]:
    """(joins and hellos, one list of events a second, wire bytes per node-second)."""
    fleet = SyntheticFleet(nodes=nodes, gpus=8, clock=lambda: T0, top=25, seed=1)
    readers = {n.node_id: SamplerStream(n.node_id) for n in fleet.nodes}
    writers = {n.node_id: DeltaEncoder() for n in fleet.nodes}
    first = []
    for e in fleet.join_events(T0):
        if isinstance(e, HelloReceived):
            e = readers[e.node_id].feed(wire.encode(e.hello).encode(), e.t)
        first.append(e)
    ticks, size = [], 0
    for k in range(1, seconds + 1):
        batch = []
        for e in fleet.tick_events(T0 + k):
            line = writers[e.node_id].encode(as_sampled(e.sample), delta=delta).encode()
            size += len(line)
            batch.append(readers[e.node_id].feed(line, e.t))
        ticks.append(batch)
    return first, ticks, size / nodes / seconds


def run(first: list, ticks: list[list], window_s: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        flight = FlightRecorder(Path(tmp) / "flight", window_s=window_s, clock=lambda: T0,
                                max_memory_bytes=1 << 40)
        for e in first:
            flight.tap(e)
        samples = sum(len(b) for b in ticks)
        c0, w0, m0 = time.process_time(), time.perf_counter(), time.thread_time()
        for batch in ticks:
            for e in batch:
                flight.tap(e)
            flight.hook(None, batch[0].t, [])  # type: ignore[arg-type]
        loop_cpu = time.thread_time() - m0
        flight.worker.flush(600)
        cpu = time.process_time() - c0
        wall = time.perf_counter() - w0
        per_nm = flight.bytes_per_node_minute() or 0.0
        held = flight.memory_bytes
        flight.close()
    return {"cpu_us": 1e6 * cpu / samples, "loop_us": 1e6 * loop_cpu / samples,
            "wall_s": wall, "kb_node_min": per_nm / 1e3, "held_mb": held / 1e6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--seconds", type=int, default=120, help="of data per node (default 120)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--full", action="store_true", help="full lines only (a 1.0 sampler)")
    args = ap.parse_args()
    tree = Path(autoglm_tui.__file__).resolve().parents[1]
    print(f"{time.strftime('%Y-%m-%d')}, {platform.python_implementation()} "
          f"{platform.python_version()}, {len(os.sched_getaffinity(0))} CPUs, "
          f"load {os.getloadavg()[0]:.1f}; code from {tree}")
    kind = "full lines" if args.full else "deltas (a full line every 60 s)"
    print(f"\nFlight recorder, {kind}, 1 Hz, {args.seconds} s of data, medians of "
          f"{args.runs} runs\n")
    print("| nodes | wire B/node-s | CPU us/sample | of which the event loop | % of a core at 1 Hz"
          " | KB per node-minute | MB for 10 minutes |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for nodes in args.nodes:
        first, ticks, per_s = streams(nodes, args.seconds, not args.full)
        rows = [run(first, ticks, window_s=600.0) for _ in range(args.runs)]

        def med(key: str, rows: list = rows) -> float:
            return statistics.median(r[key] for r in rows)

        print(f"| {nodes} | {per_s:,.0f} | {med('cpu_us'):.1f} | {med('loop_us'):.1f} | "
              f"{med('cpu_us') * nodes / 1e4:.2f} | {med('kb_node_min'):.1f} | "
              f"{med('kb_node_min') * nodes * 10 / 1e3:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
