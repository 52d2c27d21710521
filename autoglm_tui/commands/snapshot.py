"""`autoglm-tui snapshot`: connect, wait for each node's first sample, print the fleet as JSON.

The scripting interface: one JSON document on stdout,
``{"nodes": [{"node_id", "status", "reason", "labels", "last_sample": {...}, "figures": {...},
"services": [...], ...}, ...]}``. ``figures`` are the node's derived node-level figures by
metric name (the names alert rules use); services carry theirs. Rates need two samples (disk
and network) or two scrapes of a service (5 s apart by default), so a snapshot taken at a
sampler's start has them null; ``--for DUR`` keeps sampling that long first. With no
--etcd/--hosts/--hosts-file it snapshots this machine. Exit status: 0 when every node is UP, 1
when some node is not, 2 for bad options.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from typing import Any

from autoglm_tui.aio import stop_tasks, within
from autoglm_tui.cluster.source_args import add_source_args
from autoglm_tui.commands.arg_types import UP_TO_AN_HOUR

DEFAULT_WAIT_S = 10.0


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "snapshot",
        help="print every node (or this host) once as JSON and exit",
        description=(
            "Connect to the nodes (or sample this host when no source is given), wait for the "
            "first sample of each node or the timeout (and, with --for, keep sampling so rates are "
            "known), print the fleet as one JSON document and exit: 0 when every node is UP, 1 "
            "when some node is not. Each node has its newest sample as sent (last_sample), its "
            "node-level figures by metric name (figures) and its services' figures (services)."
        ),
    )
    add_source_args(parser)
    parser.add_argument(
        "--wait", metavar="S", type=float, default=DEFAULT_WAIT_S,
        help=f"longest time to wait for first samples (default: {DEFAULT_WAIT_S:g})",
    )
    parser.add_argument(
        "--for", dest="collect_s", metavar="DUR", type=UP_TO_AN_HOUR, default=0.0,
        help="keep sampling this long from the start (30s, 1m) before printing, so rates are "
        "known: disk and network rates need two samples (2s at --interval 1), a service's "
        "tokens/s, error rate and quantiles two scrapes (12s at the sampler's default 5 s "
        "between scrapes); default: print at the first sample of every node",
    )
    parser.add_argument("--compact", action="store_true", help="print the JSON on one line")
    parser.add_argument("--record", metavar="FILE",
                        help="also record what was received to FILE (.jsonl, .jsonl.gz, "
                        ".jsonl.zst), for 'autoglm-tui replay' or 'diagnose --replay'")


def figures(node: Any) -> dict[str, float | None]:
    """The node's newest node-level figures by metric name (CPU, memory, disk and network
    rates, GPU and service totals), null where unknown; never NaN (not JSON)."""
    out: dict[str, float | None] = {}
    for (name, subject), value in sorted(node.node_metrics.items(), key=_name_of):
        if subject is None:
            out[name] = None if value is None or not math.isfinite(value) else value
    return out


def _name_of(item: tuple[tuple[str, object], object]) -> str:
    return item[0][0]


def node_document(node: Any, now: float) -> dict[str, Any]:
    """One node of the snapshot, from an analysis.state.NodeState."""
    from autoglm_tui import wire

    sample = node.last_sample
    hello = node.hello
    return {
        "node_id": node.node_id,
        "status": node.status.value,
        "reason": node.reason,
        "agent_lost": node.agent_lost,
        "labels": dict(node.labels),
        "last_sample": wire.to_dict(sample) if sample is not None else None,
        "last_sample_age_s": None if node.age(now) is None else round(node.age(now), 3),
        "figures": figures(node),
        "address": node.address,
        "ssh_port": node.ssh_port,
        "source": node.source,
        "sampler_version": hello.sampler_version if hello else None,
        "static": wire.to_dict(hello)["static"] if hello else None,
        "services": [service_document(v) for v in node.services.values()],
    }


def service_document(view: Any) -> dict[str, Any]:
    """One inference service of a node (an analysis.services.ServiceView) as plain JSON:
    identity, up/down and why, gauges, rates, error rate, and per latency the P50/P95/P99
    (each with `above` when it lies beyond the largest bucket), the mean, the number of
    requests behind them and `few` when that is too few to trust."""
    import dataclasses

    doc = dataclasses.asdict(view)
    doc["gpus"] = list(view.gpus)
    return doc


async def take_snapshot(config: Any, wait_s: float, tap: Any = None,
                        collect_s: float = 0.0) -> dict[str, Any]:
    """Run the sources until every node has a sample (or is INVALID/LEFT/FAILED), or `wait_s`
    passes, and at least `collect_s` from the start; `tap` sees every event (the recorder)."""
    import asyncio
    import time

    from autoglm_tui.analysis.state import FleetState
    from autoglm_tui.cluster.runner import Runner
    from autoglm_tui.events import NodeStatus, RegistryChanged

    state = FleetState()
    settled = asyncio.Event()
    registry_seen = config.etcd is None

    def done() -> bool:
        if not registry_seen or not state.nodes:
            return False
        return all(
            n.last_sample is not None
            or n.status in (NodeStatus.INVALID, NodeStatus.LEFT, NodeStatus.FAILED)
            for n in state.nodes.values()
        )

    def on_event(event: Any) -> None:
        nonlocal registry_seen
        if tap is not None:
            tap(event)
        state.apply(event)
        if isinstance(event, RegistryChanged):
            registry_seen = True
        if done():
            settled.set()

    runner = Runner(config, on_event)
    task = asyncio.ensure_future(runner.run())
    try:
        collected = await _collect(settled, wait_s, collect_s, state)
    finally:
        await runner.close()
        await stop_tasks([task])
    now = time.time()
    state.tick(now)
    doc: dict[str, Any] = {
        "t": round(now, 3),
        "collected_s": round(collected, 3),
        "nodes": [node_document(n, now) for n in state.nodes.values()],
    }
    if config.etcd is not None:
        doc["registry"] = {"ok": state.registry_ok, "reason": state.registry_reason}
    return doc


async def take_source_snapshot(source: Any, wait_s: float, tap: Any = None,
                               collect_s: float = 0.0) -> dict[str, Any]:
    """The same document from any event source (``--prometheus``): one refresh, or `wait_s`,
    and at least `collect_s` from the start; `tap` sees every event (the recorder)."""
    import asyncio
    import time

    from autoglm_tui.analysis.state import FleetState
    from autoglm_tui.events import NodeStatus, RegistryChanged

    state = FleetState()
    settled = asyncio.Event()
    registry_seen = False
    waiting = (NodeStatus.CONNECTING,)

    def on_event(event: Any) -> None:
        nonlocal registry_seen
        state.apply(event)
        if tap is not None:
            tap(event)
        if isinstance(event, RegistryChanged):
            registry_seen = True
        if registry_seen and state.nodes and all(
            n.last_sample is not None or n.status not in waiting for n in state.nodes.values()
        ):
            settled.set()

    task = asyncio.ensure_future(source.run(on_event))
    try:
        collected = await _collect(settled, wait_s, collect_s, state)
    finally:
        await stop_tasks([task])
    now = time.time()
    state.tick(now)
    return {
        "t": round(now, 3),
        "collected_s": round(collected, 3),
        "nodes": [node_document(n, now) for n in state.nodes.values()],
        "registry": {"ok": state.registry_ok, "reason": state.registry_reason},
    }


async def _collect(settled: Any, wait_s: float, collect_s: float, state: Any) -> float:
    """Wait for `settled` (every node's first sample) or `wait_s`, then until `collect_s` has
    passed since the start, saying how long is left on a terminal's stderr; the seconds it
    took."""
    import asyncio
    import time

    started = time.monotonic()
    with contextlib.suppress(asyncio.TimeoutError):
        await within(settled.wait(), timeout=max(0.0, wait_s))
    end = started + collect_s
    tty = sys.stderr.isatty()
    while (left := end - time.monotonic()) > 0:
        if tty:
            n = len(state.nodes)
            print(f"\rsampling: {n} node{'' if n == 1 else 's'}, {left:.0f}s left ", end="",
                  file=sys.stderr, flush=True)
        await asyncio.sleep(min(1.0, left))
    if tty and collect_s > 0:
        print(file=sys.stderr)
    return time.monotonic() - started


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from autoglm_tui.cluster.source_args import SourceArgsError, runner_config_from_args

    if not 0 <= args.wait <= 3600:
        print("autoglm-tui snapshot: --wait must be 0..3600 seconds", file=sys.stderr)
        return 2
    recorder = None
    if args.record:
        from autoglm_tui.recording.format import RecordingError
        from autoglm_tui.recording.recorder import Recorder

        try:
            recorder = Recorder(args.record, source="snapshot")
        except (OSError, RecordingError) as exc:
            print(f"autoglm-tui snapshot: --record {args.record}: {exc}", file=sys.stderr)
            return 2
    tap = recorder.tap if recorder is not None else None
    try:
        if args.prometheus:
            from autoglm_tui.cluster.prometheus.args import prometheus_source_from_args
            from autoglm_tui.cluster.prometheus.client import PromError

            try:
                source = prometheus_source_from_args(args)
            except PromError as exc:
                print(f"autoglm-tui snapshot: --prometheus: {exc}", file=sys.stderr)
                return 2
            doc = asyncio.run(take_source_snapshot(source, args.wait, tap, args.collect_s))
        else:
            try:
                config = runner_config_from_args(args)
            except SourceArgsError as exc:
                print(f"autoglm-tui snapshot: {exc}", file=sys.stderr)
                return 2
            doc = asyncio.run(take_snapshot(config, args.wait, tap, args.collect_s))
    finally:
        if recorder is not None:
            recorder.close()
    text = json.dumps(doc, indent=None if args.compact else 2, ensure_ascii=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return 0 if doc["nodes"] and all(n["status"] == "UP" for n in doc["nodes"]) else 1
