"""Soak: a monitor under membership churn for an hour; does it leak, and does it see every failure?

One process is the monitor: the real RegistryWatcher on a real etcd (started here on loopback),
a FleetState with the default alert rules ticked at 2 Hz (as the cluster view's repaint timer
does), and a synthetic fleet of `--nodes` nodes x 8 GPUs (one sample per node per second)
applied through the same ``Monitor.apply`` path as SSH samples. Three of those nodes also run a
real ``autoglm-tui agent`` process (heartbeat 1 s, TTL 3 s), so heartbeat and samples are two
signals of one node, as in production. Every `--period` seconds (default 60):

- fail and return: the agent of node F is killed with SIGKILL (its samples keep flowing: UP with
  the agent-lost flag), 5 s later its samples stop for 15 s (FAILED), then resume, and at 30 s
  its agent is started again (the heartbeat returns);
- agent restart: the agent of node R gets SIGTERM (a graceful leave: LEFT; its samples stop as
  the runner would stop its stream), lingers out (`--left-linger`, default 20 s), and its agent
  is started again at 40 s (it joins anew);
- link flap: node L's samples stop for 10 s (STALE), then resume;
- node S (agent and samples) never changes: it must stay UP throughout.

Every 15 s it records RSS, asyncio tasks, open file descriptors and threads. It prints the
samples (one row a minute), RSS growth over the last 45 minutes (or the last three quarters of
a shorter run; target < 5 %), the range of tasks and descriptors over that window (target: no
growth), and for each injected fault whether the monitor saw it (HeartbeatLost and FAILED, LEFT
and the removal, STALE), with the median delay. Not a CI test: run it at a quiet time.

    .venv/bin/python benchmarks/bench_soak.py --minutes 60
    .venv/bin/python benchmarks/bench_soak.py --minutes 10 --history 120   # a short run

`--history` sizes each node's history (default 900 s, as `cluster`); the history fills during
its first `--history` seconds, so the growth window must start after that (the short run
passes a short history).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autoglm_tui.alerting.rule_files import default_rules
from autoglm_tui.analysis.alerts import AlertEngine
from autoglm_tui.analysis.state import FleetState, StatusChange
from autoglm_tui.cluster.backoff import Backoff
from autoglm_tui.cluster.discovery import RegistryWatcher
from autoglm_tui.cluster.synthetic import SyntheticFleet
from autoglm_tui.events import (
    Event,
    HeartbeatLost,
    NodeJoined,
    NodeLeft,
    NodeStatus,
    RegistryChanged,
)
from autoglm_tui.monitor import Monitor
from tests.integration.discovery_helpers import AgentPool, AgentProcess
from tests.integration.etcd_fixture import EtcdServer, etcd_missing

TICK_S = 0.5
PROBE_EVERY_S = 15.0
TARGET_GROWTH_PCT = 5.0


@dataclass
class Probe:
    t: float
    rss_mb: float
    tasks: int
    fds: int
    threads: int
    nodes: int
    alerts: int
    cpu_s: float


@dataclass
class Soak:
    """The monitor, the fault schedule and what was injected and seen."""

    args: argparse.Namespace
    server: EtcdServer
    pool: AgentPool = field(default_factory=AgentPool)
    injected: Counter[str] = field(default_factory=Counter)
    seen: Counter[str] = field(default_factory=Counter)
    delays: dict[str, list[float]] = field(default_factory=dict)
    pending: dict[str, float] = field(default_factory=dict)  # fault -> injected at
    probes: list[Probe] = field(default_factory=list)
    steady_changes: list[StatusChange] = field(default_factory=list)
    muted: set[str] = field(default_factory=set)  # nodes whose samples are held back
    churning: bool = False  # set once every agent has registered and the faults begin
    registry: list[tuple[float, bool, str | None]] = field(default_factory=list)
    lags: list[tuple[float, float]] = field(default_factory=list)  # (when, event loop stall)

    def __post_init__(self) -> None:
        a = self.args
        self.fleet = SyntheticFleet(nodes=a.nodes, gpus=8, interval_s=1.0, seed=7)
        ids = [n.node_id for n in self.fleet.nodes]
        self.fail_node, self.restart_node, self.steady_node = ids[-3], ids[-2], ids[-1]
        self.flap_node = ids[len(ids) // 2]
        self.state = FleetState(history_s=a.history, left_linger_s=a.left_linger)
        self.monitor = Monitor(self.state)
        self.engine = AlertEngine(default_rules())
        self.monitor.hooks.append(self._hook)
        self.watcher = RegistryWatcher(
            self.server.config(), self._emit, backoff=Backoff(base=0.2, cap=1.0)
        )
        self.agents: dict[str, AgentProcess] = {}
        self.t0 = time.monotonic()

    # ------------------------------------------------------------------ monitor side

    def _emit(self, event: Event) -> None:
        self.monitor.apply(event)
        if isinstance(event, RegistryChanged):
            self.registry.append((time.monotonic() - self.t0, event.ok, event.reason))
        node = getattr(event, "node_id", None)
        if isinstance(event, HeartbeatLost) and node == self.fail_node:
            self._saw("heartbeat lost (kill -9)")
        elif isinstance(event, NodeLeft) and node == self.restart_node:
            self._saw("left (SIGTERM)")
        elif isinstance(event, NodeJoined) and node == self.fail_node:
            self._saw("heartbeat back (agent started)")
        elif isinstance(event, NodeJoined) and node == self.restart_node:
            self._saw("joined again (agent started)")

    def _hook(self, state: FleetState, now: float, changes: list[StatusChange]) -> None:
        self.engine.evaluate(state, now, changes)
        for c in changes:
            if c.node_id == self.fail_node and c.new is NodeStatus.FAILED:
                self._saw("FAILED (no samples, no heartbeat)")
            elif c.node_id == self.restart_node and c.new is None:
                self._saw("removed after the linger")
            elif c.node_id == self.flap_node and c.new is NodeStatus.STALE:
                self._saw("STALE (link down)")
            elif c.node_id == self.steady_node and self.churning:
                self.steady_changes.append(c)

    def _inject(self, fault: str) -> None:
        self.injected[fault] += 1
        self.pending[fault] = time.monotonic()

    def _saw(self, fault: str) -> None:
        started = self.pending.pop(fault, None)
        if started is None:
            return  # not one we injected (e.g. the first join)
        self.seen[fault] += 1
        self.delays.setdefault(fault, []).append(time.monotonic() - started)

    # ------------------------------------------------------------------ loops

    async def samples(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        for event in self.fleet.join_events(time.time()):
            self.monitor.apply(event)
        while True:
            for event in self.fleet.tick_events(time.time()):
                if event.node_id not in self.muted:
                    self.monitor.apply(event)
            next_at += 1.0
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def ticks(self) -> None:
        while True:
            self.monitor.tick(time.time())
            await asyncio.sleep(TICK_S)

    def start_agent(self, node_id: str) -> None:
        self.agents[node_id] = self.pool.start(
            self.server.endpoint, node_id, interval=1.0, ttl=3
        )

    async def churn(self) -> None:
        period = self.args.period
        for node_id in (self.fail_node, self.restart_node, self.steady_node):
            self.start_agent(node_id)
        await asyncio.sleep(10)  # let them register
        self.churning = True
        base = time.monotonic()
        cycle = 0
        while True:
            async def at(offset: float, cycle: int = cycle) -> None:
                await asyncio.sleep(max(0.0, base + cycle * period + offset - time.monotonic()))

            await at(0)
            self._inject("heartbeat lost (kill -9)")
            self.agents[self.fail_node].signal(signal.SIGKILL)
            await asyncio.to_thread(self.agents[self.fail_node].wait, 10)
            await at(5)
            self._inject("FAILED (no samples, no heartbeat)")
            self.muted.add(self.fail_node)
            await at(10)
            self._inject("left (SIGTERM)")
            self.muted.add(self.restart_node)  # its stream stops with the leave
            self.agents[self.restart_node].signal(signal.SIGTERM)
            await asyncio.to_thread(self.agents[self.restart_node].wait, 10)
            self._inject("removed after the linger")
            await at(20)
            self.muted.discard(self.fail_node)
            await at(30)
            self._inject("heartbeat back (agent started)")
            self.agents[self.fail_node].close()
            self.start_agent(self.fail_node)
            await at(40)
            self._inject("joined again (agent started)")
            self.agents[self.restart_node].close()
            self.start_agent(self.restart_node)
            self.muted.discard(self.restart_node)
            await at(45)
            self._inject("STALE (link down)")
            self.muted.add(self.flap_node)
            await at(55)
            self.muted.discard(self.flap_node)
            cycle += 1

    async def probe(self) -> None:
        proc = psutil.Process()
        start = time.monotonic()
        while True:
            cpu = proc.cpu_times()
            self.probes.append(Probe(
                t=time.monotonic() - start,
                rss_mb=proc.memory_info().rss / 2**20,
                tasks=len(asyncio.all_tasks()),
                fds=len(os.listdir("/proc/self/fd")),
                threads=threading.active_count(),
                nodes=len(self.state.nodes),
                alerts=len(self.engine.active()),
                cpu_s=cpu.user + cpu.system,
            ))
            await asyncio.sleep(PROBE_EVERY_S)

    async def loop_lag(self) -> None:
        """Record every stall of the event loop over 0.25 s (a stall delays the watch too)."""
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.05)
            stall = loop.time() - before - 0.05
            if stall > 0.25:
                self.lags.append((time.monotonic() - self.t0, stall))

    async def run(self) -> None:
        tasks = [
            asyncio.ensure_future(c)
            for c in (self.watcher.run(), self.samples(), self.ticks(), self.churn(),
                      self.probe(), self.loop_lag())
        ]
        try:
            await asyncio.sleep(self.args.minutes * 60)
            for t in tasks:
                if t.done():
                    t.result()  # surface a crash
        finally:
            await self.watcher.close()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.pool.close()


def report(soak: Soak, args: argparse.Namespace) -> int:
    probes = soak.probes
    total = args.minutes * 60
    window_start = max(total - 45 * 60, total / 4)
    window = [p for p in probes if p.t >= window_start]
    print(f"soak: {args.minutes} min, {args.nodes} nodes x 8 GPUs at 1 Hz, churn every "
          f"{args.period:g} s, history {args.history:g} s, left-linger {args.left_linger:g} s; "
          f"{os.cpu_count()} CPUs, shared\n")
    print("| minute | RSS MB | tasks | fds | threads | nodes | active alerts | CPU % |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    last = None
    for p in probes:
        if last is not None and p.t - last.t < 59:
            continue
        cpu = "" if last is None else f"{100 * (p.cpu_s - last.cpu_s) / (p.t - last.t):.1f}"
        print(f"| {p.t / 60:.1f} | {p.rss_mb:.1f} | {p.tasks} | {p.fds} | {p.threads} | "
              f"{p.nodes} | {p.alerts} | {cpu} |")
        last = p
    ok = True
    if len(window) >= 2:
        first, end = window[0], window[-1]
        growth = 100 * (end.rss_mb - first.rss_mb) / first.rss_mb
        ok &= growth < TARGET_GROWTH_PCT
        print(f"\nRSS over minutes {first.t / 60:.1f}-{end.t / 60:.1f}: {first.rss_mb:.1f} -> "
              f"{end.rss_mb:.1f} MB ({growth:+.1f} %, target < {TARGET_GROWTH_PCT:g} %)")
        for name in ("tasks", "fds", "threads"):
            values = [getattr(p, name) for p in window]
            # No growth: the end of the window holds no more than its start (a connection or
            # two in flight aside).
            grew = max(values[-3:]) - min(values[:3])
            ok &= grew <= 2
            print(f"{name} over the same window: min {min(values)}, max {max(values)}, "
                  f"first {values[0]}, last {values[-1]} (growth {grew:+d}, target <= 2)")
    print("\n| fault | injected | seen | median delay |")
    print("| --- | --- | --- | --- |")
    for fault, count in soak.injected.items():
        seen = soak.seen[fault]
        # The last cycle's fault may still be in flight when the run ends.
        in_flight = 1 if fault in soak.pending else 0
        ok &= seen >= count - in_flight
        delays = soak.delays.get(fault, [])
        med = f"{statistics.median(delays):.2f} s" if delays else "-"
        print(f"| {fault} | {count} | {seen} | {med} |")
    downs = [(t, reason) for t, ok, reason in soak.registry if not ok]
    print(f"\nregistry degraded {len(downs)} times (etcd was never stopped: expected 0)"
          + "".join(f"\n  at {t:.0f} s: {reason}" for t, reason in downs[:5]))
    worst = sorted(soak.lags, key=lambda x: -x[1])[:5]
    print(f"event loop stalls over 0.25 s: {len(soak.lags)}"
          + "".join(f"\n  at {t:.0f} s: {stall:.2f} s" for t, stall in worst))
    print(f"\nsteady node {soak.steady_node}: {len(soak.steady_changes)} status changes "
          f"(expected 0){'' if not soak.steady_changes else ': ' + str(soak.steady_changes[:3])}")
    ok &= not soak.steady_changes
    print("result:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--period", type=float, default=60.0, help="seconds per churn cycle")
    parser.add_argument("--history", type=float, default=900.0)
    parser.add_argument("--left-linger", type=float, default=20.0)
    args = parser.parse_args()
    if args.period < 60:
        parser.error("--period must be at least 60 s (the schedule uses 55 s of it)")
    reason = etcd_missing()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, EtcdServer(Path(tmp)) as server:
        soak = Soak(args, server)
        await soak.run()
    return report(soak, args)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
