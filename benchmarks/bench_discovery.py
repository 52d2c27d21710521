"""Discovery latency against a real etcd (started here on loopback): how fast nodes appear and
disappear in the registry watcher, and how long a full re-list of 1,000 registrations takes after
the watch's history was compacted. Prints a Markdown table.

    .venv/bin/python benchmarks/bench_discovery.py [--tries 20] [--nodes 1000]

Rows:
- join (put -> event): an agent's grant + put until the watcher emits NodeJoined.
- join (agent start -> event): `autoglm-tui agent` started as a process until NodeJoined
  (includes Python start-up and reading the host's resources).
- leave (SIGTERM -> event): SIGTERM to a running agent until NodeLeft (the agent revokes).
- leave (revoke -> event): a lease revoked until NodeLeft.
- fail (last heartbeat -> event, TTL 2 s): a heartbeat and member record whose lease is never
  refreshed again (a crashed agent) until HeartbeatLost; bounded below by the TTL.
- re-list N after compaction: from the compaction until all N registrations are known again.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autoglm_tui.cluster.backoff import Backoff
from autoglm_tui.cluster.discovery import RegistryWatcher
from autoglm_tui.cluster.etcd_client import EtcdClient, EtcdConfig
from autoglm_tui.cluster.members import MemberState, member_value
from autoglm_tui.cluster.registration import parse_registration
from autoglm_tui.events import Event, HeartbeatLost, NodeJoined, NodeLeft
from tests.integration.discovery_helpers import AgentPool, registration
from tests.integration.etcd_fixture import EtcdServer, etcd_missing


class Waiter:
    """Records when each (kind, node) event arrived, and lets a caller wait for one."""

    def __init__(self) -> None:
        self.seen: dict[tuple[type, str], float] = {}
        self._waiting: dict[tuple[type, str], asyncio.Event] = {}

    def emit(self, event: Event) -> None:
        node = getattr(event, "node_id", "")
        key = (type(event), node)
        self.seen.setdefault(key, time.perf_counter())
        flag = self._waiting.get(key)
        if flag is not None:
            flag.set()

    async def wait(self, kind: type, node_id: str, timeout: float = 30.0) -> float:
        key = (kind, node_id)
        if key not in self.seen:
            flag = self._waiting.setdefault(key, asyncio.Event())
            await asyncio.wait_for(flag.wait(), timeout)
        return self.seen[key]


async def run_watcher(config: EtcdConfig, emit: Callable[[Event], None], **kw: object) -> tuple:
    watcher = RegistryWatcher(config, emit, backoff=Backoff(base=0.1, cap=0.5), **kw)  # type: ignore[arg-type]
    task = asyncio.ensure_future(watcher.run())
    return watcher, task


async def stop_watcher(watcher: RegistryWatcher, task: asyncio.Task[None]) -> None:
    await watcher.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def bench_registry(server: EtcdServer, tries: int) -> dict[str, list[float]]:
    config = server.config(prefix="/bench/latency/nodes/")
    waiter = Waiter()
    watcher, task = await run_watcher(config, waiter.emit)
    out: dict[str, list[float]] = {"put": [], "revoke": [], "expiry": []}
    client = EtcdClient(config)
    await client.connect()
    try:
        await asyncio.sleep(0.3)  # let the first list finish
        for n in range(tries):
            node = f"put{n}"
            t0 = time.perf_counter()
            lease = await client.grant(10)
            await client.put(f"{config.prefix}{node}".encode(), registration(node), lease=lease)
            out["put"].append(await waiter.wait(NodeJoined, node) - t0)
            t0 = time.perf_counter()
            await client.revoke(lease)
            out["revoke"].append(await waiter.wait(NodeLeft, node) - t0)
        # Crashed agents: heartbeats (with member records) on leases of 2 s that nobody
        # refreshes, all at once.
        starts: dict[str, float] = {}
        for n in range(tries):
            node = f"crash{n}"
            key = f"{config.prefix}{node}"
            reg = parse_registration(key, registration(node), config.prefix)
            record = member_value(node, MemberState.ALIVE, time.time(), reg)
            lease = await client.grant(2)
            await client.txn(puts=[(key.encode(), registration(node), lease),
                                   (f"{config.member_prefix}{node}".encode(), record, 0)])
            starts[node] = time.perf_counter()
        for node, t0 in starts.items():
            out["expiry"].append(await waiter.wait(HeartbeatLost, node) - t0)
    finally:
        await client.close()
        await stop_watcher(watcher, task)
    return out


async def bench_agents(server: EtcdServer, tries: int) -> dict[str, list[float]]:
    config = server.config()
    waiter = Waiter()
    watcher, task = await run_watcher(config, waiter.emit)
    pool = AgentPool()
    out: dict[str, list[float]] = {"start": [], "sigterm": []}
    try:
        await asyncio.sleep(0.3)
        for n in range(tries):
            node = f"agent{n}"
            t0 = time.perf_counter()
            agent = pool.start(server.endpoint, node, interval=1, ttl=5)
            out["start"].append(await waiter.wait(NodeJoined, node) - t0)
            t0 = time.perf_counter()
            agent.signal(signal.SIGTERM)
            out["sigterm"].append(await waiter.wait(NodeLeft, node) - t0)
            await asyncio.to_thread(agent.wait, 10)
    finally:
        pool.close()
        await stop_watcher(watcher, task)
    return out


async def relist_once(server: EtcdServer, prefix: str, nodes: int) -> float:
    """Seconds from a compaction (made between the watcher's list and its watch) until all
    `nodes` registrations written meanwhile are known again."""
    config = server.config(prefix=prefix)
    client = EtcdClient(config)
    await client.connect()
    compacted_at: list[float] = []
    done = asyncio.Event()
    joined = 0

    def emit(event: Event) -> None:
        nonlocal joined
        if isinstance(event, NodeJoined):
            joined += 1
            if joined == nodes:
                done.set()

    async def fill_then_compact(revision: int) -> None:
        if compacted_at:
            return
        rev = revision
        for n in range(nodes):
            rev = await client.put(f"{prefix}n{n:05d}".encode(), registration(f"n{n:05d}"))
        await client.compact(rev)
        compacted_at.append(time.perf_counter())

    watcher, task = await run_watcher(config, emit, on_listed=fill_then_compact)
    try:
        await asyncio.wait_for(done.wait(), 120)
        if watcher.lists < 2:
            raise RuntimeError("the watcher did not list again after the compaction")
        return time.perf_counter() - compacted_at[0]
    finally:
        await stop_watcher(watcher, task)
        await client.close()


async def bench_relist(server: EtcdServer, nodes: int, runs: int) -> list[float]:
    return [
        await relist_once(server, f"/bench/relist{run}/nodes/", nodes) for run in range(runs)
    ]


def row(name: str, values: list[float], target: str = "") -> str:
    med = statistics.median(values)
    return (
        f"| {name} | {len(values)} | {med * 1000:.1f} ms | {max(values) * 1000:.1f} ms | {target} |"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--relist-runs", type=int, default=5)
    args = parser.parse_args()
    reason = etcd_missing()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, EtcdServer(Path(tmp)) as server:
        registry = await bench_registry(server, args.tries)
        agents = await bench_agents(server, args.tries)
        relist = await bench_relist(server, args.nodes, args.relist_runs)
    print(f"etcd {server.command()[0]} on loopback; {args.tries} tries per row\n")
    print("| measure | n | median | max | target |")
    print("| --- | --- | --- | --- | --- |")
    print(row("join: put -> NodeJoined", registry["put"]))
    print(row("join: agent process start -> NodeJoined", agents["start"]))
    print(row("leave: agent SIGTERM -> NodeLeft", agents["sigterm"], "< 1 s"))
    print(row("leave: lease revoke -> NodeLeft", registry["revoke"]))
    print(
        row(
            "fail: last heartbeat -> HeartbeatLost (kill -9, TTL 2 s)",
            registry["expiry"],
            "< TTL + 1 s",
        )
    )
    print(row(f"re-list {args.nodes} registrations after compaction", relist, "< 2 s"))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
