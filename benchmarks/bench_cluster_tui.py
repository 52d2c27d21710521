"""Cluster view cost with a synthetic fleet: CPU, key-press-to-frame latency, RSS with history.

For each fleet size (default 256 and 1,024 nodes with 8 GPUs each, one sample per node per
second), in a fresh process:

1. pre-fill the fleet state with `--prefill` seconds (default: `--history`, 900 = 15 minutes)
   of synthetic samples stamped with the past 15 minutes' times, applied through
   ``FleetState.apply`` exactly as live samples are, with the monitor's tick (fleet ageing and
   the alert rules) run once per simulated second; so the history holds what 15 live minutes
   leave in it, in about a minute (`--prefill 0 --seconds 900` is the slow, all-live check);
2. start the cluster app headless at 160x50 with the same synthetic fleet live at 1 Hz (the
   repaint timer at its default 2 Hz); every frame is rendered to terminal bytes as it would be
   for a real terminal;
   The default alert rules run once a second (the monitor tick), as in `autoglm-tui cluster`
   (`--no-alerts` leaves them out).
3. measure the process's CPU over `--seconds` (default 120) of live updates with nobody
   pressing keys, and separately the time spent inventing the synthetic samples (not part of a
   real monitor, where the same time goes to reading SSH and decoding JSON). The live phase is
   also what makes the RSS figure faithful: the UI's render caches fill and cyclic garbage
   reaches its steady level only after a minute or so of live frames (after 20 s the RSS read
   20-60 MB low; after 120 s it matches an all-live 15-minute run within a few MB);
4. press Down/Up `--presses` times at irregular moments during live updates and measure the
   time from each key press to the first frame that shows the moved cursor;
5. read the process's RSS.

Besides the percentages it prints the TUI's CPU per unit of the synthetic fleet's CPU over the
same seconds, and the TUI's CPU at the largest fleet over the smallest: ratios within a run,
which hold while a shared VM's speed swings (it does, by up to 2x within an hour).

`--wire` sends the live samples as the samplers' lines (full and delta) and has the TUI decode
them as a node's stream does, so the TUI's figures include decoding (the default leaves it out:
the samples arrive as objects). The samplers then run in a child process (`--feed`) that makes
the lines ahead, while the state is pre-filled, and writes them to a pipe at 1 Hz, as a node's
sampler writes to its SSH channel; the TUI's figure is all of the app's process. Compare it
with a run without `--wire` in the same hour (the ratio to the fleet's CPU is not read).

`--repeat N` runs each fleet size N times (each in a fresh process) and reports medians.
`--memory` adds where the memory goes: the objects the garbage collector tracks, by type, and
the history's buffers by metric group; `--trace` adds the largest allocations made after the
pre-fill and alive at the end (tracemalloc, by file and line; tracing slows the live part a lot,
so read CPU and latency from a run without it). RSS after the imports, after the pre-fill and at
the end is always printed.

Prints one markdown table. Run: ``.venv/bin/python benchmarks/bench_cluster_tui.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_CPU_PCT = 15.0
TARGET_P95_MS = 100.0
TARGET_RSS_MB = 400.0
WIRE_TITLE = ("; live samples as wire lines from a feed process (made ahead, not counted), "
              "decoded by the TUI")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class WireFeed:
    """A source for `--wire`: the synthetic fleet's samplers run in a child process (this
    script with ``--feed``) that writes their lines (full and delta) to a pipe, as a node's
    sampler writes to its SSH channel; here each line is decoded by the node's own stream
    decoder, in the event loop, and folded in as a stream's samples are.

    The child makes and encodes `ahead_s` seconds of lines before it starts (while this process
    pre-fills its state), then writes them at 1 Hz: 1,024 nodes' samplers are more than one
    core of this VM can run live, and on a real fleet each runs on its own node."""

    def __init__(self, fleet: Any, nodes: int, gpus: int, ahead_s: float) -> None:
        self.fleet = fleet
        self.interval_s = fleet.interval_s
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--feed", str(nodes), "--gpus", str(gpus),
             "--seconds", str(ahead_s)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def wait_ready(self) -> None:
        """Block until the child has made its lines."""
        assert self.proc.stdout is not None
        if self.proc.stdout.readline() != b"ready\n":
            raise RuntimeError(f"the feed process failed ({self.proc.wait()})")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # by its PID
        self.proc.wait()

    async def run(self, emit: Any) -> None:
        from autoglm_tui.events import SampleReceived
        from autoglm_tui.wire_patch import StreamDecoder

        for event in self.fleet.join_events(time.time()):
            emit(event)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 22)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                     self.proc.stdout)
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()
        decoders: dict[str, StreamDecoder] = {}
        while True:
            raw = await reader.readline()
            if not raw:
                raise RuntimeError("the feed process ended")
            node_id, _, line = raw.rstrip(b"\n").partition(b"\t")
            node = node_id.decode()
            decoder = decoders.get(node)
            if decoder is None:
                decoder = decoders[node] = StreamDecoder()
            emit(SampleReceived(time.time(), node, decoder.decode(line), line=line))


def feed(nodes: int, gpus: int, ahead_s: float) -> None:
    """`--feed`: the fleet's samplers. Make `ahead_s` seconds of "node<TAB>line" lines (each
    node's from its own DeltaEncoder), say "ready", wait for a line on stdin, then write them
    at 1 Hz in slices spread over each second, as `SyntheticFleet.run` emits samples; then go
    on making lines live, until stdout closes."""
    from autoglm_tui.cluster.synthetic import Pacer, SyntheticFleet
    from autoglm_tui.wire_delta import DeltaEncoder

    fleet = SyntheticFleet(nodes=nodes, gpus=gpus, seed=1)
    encoders = {n.node_id: DeltaEncoder() for n in fleet.nodes}
    slices = fleet.slices()

    def lines(t: float, part: Any) -> bytes:
        return b"".join(e.node_id.encode() + b"\t" + encoders[e.node_id].encode(e.sample).encode()
                        + b"\n" for e in fleet.tick_events(t, part))

    t0 = time.time()
    made = [[lines(t0 + k, part) for part in slices] for k in range(int(ahead_s))]
    out = sys.stdout.buffer
    out.write(b"ready\n")
    out.flush()
    sys.stdin.readline()
    pace = Pacer(fleet.interval_s / len(slices), time.monotonic)
    k = 0
    try:
        while True:
            for j, part in enumerate(slices):
                out.write(made[k][j] if k < len(made) else lines(t0 + k, part))
                out.flush()
                time.sleep(pace.wait_s())
            if k < len(made):
                made[k] = []
            k += 1
    except BrokenPipeError:
        pass


def one(
    nodes: int, gpus: int, seconds: float, history: float, presses: int, alerts: bool = True,
    prefill: float | None = None, memory: bool = False, trace: bool = False,
    gc_tuning: bool = True, wire_lines: bool = False,
) -> dict[str, Any]:
    """Run one fleet size in this process; return the measurements."""
    from autoglm_tui.analysis.state import FleetState
    from autoglm_tui.cluster.synthetic import SyntheticFleet
    from autoglm_tui.monitor import Monitor
    from autoglm_tui.tui.cluster_app import ClusterApp, tune_gc
    from autoglm_tui.tui.screens.cluster import ClusterScreen

    fleet = SyntheticFleet(nodes=nodes, gpus=gpus, seed=1)
    gen_time = [0.0]
    tick = fleet.tick_events

    def timed_tick(t: float, nodes: Any = None) -> Any:
        # CPU time of this thread, not wall time: on a shared machine the wall time of a
        # step includes the time other processes held the cores
        t0 = time.thread_time()
        out = tick(t, nodes)
        gen_time[0] += time.thread_time() - t0
        return out

    fleet.tick_events = timed_tick  # type: ignore[method-assign]
    # --wire: the samplers' lines from a child process, made ahead while the state pre-fills
    # (the live seconds, the warm-up and the key presses, with a margin)
    feed_src = (WireFeed(fleet, nodes, gpus, ahead_s=seconds + 30 + 0.6 * presses)
                if wire_lines else None)

    state = FleetState(history_s=history)
    monitor = Monitor(state)
    scratch = tempfile.TemporaryDirectory(prefix="bench-")  # removed when the run ends
    if alerts:  # the default rules, evaluated once a second, as `cluster` does
        from autoglm_tui.alerting.pipeline import build_pipeline

        silences = Path(scratch.name) / "silences.json"
        build_pipeline([], no_log=True, include_user_rules=False,
                       silences_path=str(silences)).install(monitor)
    rss_start = rss_mb()
    if gc_tuning:  # as the app will at start: the pre-fill is not slowed by CPython's defaults
        tune_gc()
    prefill = history if prefill is None else prefill
    now = time.time()
    start = now - prefill
    t0 = time.perf_counter()
    for e in fleet.join_events(start):
        monitor.apply(e)
    for k in range(int(prefill)):
        for e in tick(start + k):
            monitor.apply(e)
        monitor.tick(start + k + 0.5)  # fleet ageing and alert rules, as the repaint timer does
    prefill_s = time.perf_counter() - t0
    gc.collect()
    rss_prefill = rss_mb()
    if trace:
        tracemalloc.start(1)

    gc_pauses: list[float] = []
    gc_start = [0.0]
    # (what, start, end) of everything that holds the event loop, to explain slow key presses
    spans: list[tuple[str, float, float]] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_start[0] = time.perf_counter()
        else:
            end = time.perf_counter()
            gc_pauses.append(end - gc_start[0])
            spans.append((f"garbage collection (generation {info['generation']})",
                          gc_start[0], end))

    gc.callbacks.append(on_gc)

    def timed(label: str, fn: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spans.append((label, t0, time.perf_counter()))
        return run

    monitor.tick = timed("monitor tick (status ageing, alert rules)", monitor.tick)  # type: ignore[method-assign]
    frames: list[tuple[float, int]] = []
    fold = [0, 0.0]  # events folded into the state, and the CPU time that took
    paint_times: list[float] = []  # CPU time of each paint (wall time is in `spans`)

    class BenchApp(ClusterApp):
        def _display(self, screen: Any, renderable: Any) -> None:
            if renderable is not None:
                d0 = time.perf_counter()
                renderable.render_segments(self.console)  # what a terminal would be sent
                cursor = -1
                if isinstance(screen, ClusterScreen) and screen.ready:
                    cursor = screen.table.cursor_row
                frames.append((time.perf_counter(), cursor))
                spans.append(("frame to terminal bytes", d0, frames[-1][0]))
            super()._display(screen, renderable)

        def on_source_batch(self, message: Any) -> None:
            b0, c0, n0 = time.perf_counter(), time.thread_time(), len(self._queue)
            super().on_source_batch(message)
            spans.append(("samples folded into the state", b0, time.perf_counter()))
            fold[0] += n0 - len(self._queue)
            fold[1] += time.thread_time() - c0

    original_paint = ClusterScreen.paint

    def timed_paint(self: ClusterScreen, now: float) -> None:
        p0, c0 = time.perf_counter(), time.thread_time()
        original_paint(self, now)
        paint_times.append(time.thread_time() - c0)
        spans.append(("screen paint (rows ordered, summary, alerts pane)", p0,
                      time.perf_counter()))

    ClusterScreen.paint = timed_paint  # type: ignore[method-assign]

    source: Any = feed_src or fleet
    if feed_src is not None:
        feed_src.wait_ready()  # its lines made while the state was pre-filled
    app = BenchApp(monitor, [source], gc_tuning=gc_tuning,
                   tick_every_s=min(1.0, fleet.interval_s))  # as `cluster` runs it
    result: dict[str, Any] = {"nodes": nodes, "gpus": gpus, "prefill_s": prefill_s,
                              "rss_start_mb": rss_start, "rss_prefill_mb": rss_prefill,
                              "wire": wire_lines}

    async def drive() -> None:
        async with app.run_test(size=(160, 50), headless=True) as pilot:
            await asyncio.sleep(4.0)  # warm up: first frames, caches
            gen_time[0] = 0.0
            fold[:] = [0, 0.0]
            paint_times.clear()
            spans.clear()
            gc_pauses.clear()
            n_frames = len(frames)
            c0, w0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            result["cpu_pct"] = 100.0 * cpu / wall
            # (none with --wire: the feed process made its samples ahead)
            result["gen_pct"] = 100.0 * gen_time[0] / wall  # CPU time over the same wall time
            result["tui_pct"] = result["cpu_pct"] - result["gen_pct"]  # the monitor's own
            # The TUI's CPU per unit of the fleet's, over the same seconds in one process: a
            # VM that runs slower for a while slows both, so the ratio holds where the
            # percentages swing (up to 2x within an hour on a shared 2-core VM)
            result["tui_per_fleet"] = result["tui_pct"] / max(result["gen_pct"], 1e-9)
            result["fold_us"] = 1e6 * fold[1] / max(1, fold[0])  # CPU per event folded in
            result["fold_pct"] = 100.0 * fold[1] / wall
            result["folded_per_s"] = fold[0] / wall  # about `nodes` unless the loop fell behind
            # wall time in garbage collections (a share of the CPU figures, of both parts)
            result["gc_pct"] = 100.0 * sum(gc_pauses) / wall
            result["frames_per_s"] = (len(frames) - n_frames) / wall
            result["paint_ms"] = (1000.0 * statistics.median(paint_times) if paint_times
                                  else None)

            screen = app.screen
            assert isinstance(screen, ClusterScreen)
            rng = random.Random(0)
            lat: list[float] = []
            slow: list[tuple[float, float]] = []  # (pressed, frame) of presses over the target
            for i in range(presses):
                await asyncio.sleep(rng.uniform(0.15, 0.6))
                key = "down" if i % 2 == 0 else "up"
                want = screen.table.cursor_row + (1 if key == "down" else -1)
                k0 = time.perf_counter()
                await pilot.press(key)
                deadline = k0 + 3.0
                seen = None
                while seen is None and time.perf_counter() < deadline:
                    seen = next((t for t, c in frames if t >= k0 and c == want), None)
                    if seen is None:
                        await asyncio.sleep(0.002)
                lat.append(1000.0 * ((seen or deadline) - k0))
                if lat[-1] > TARGET_P95_MS:
                    slow.append((k0, seen or deadline))
            result["blockers"] = explain(spans, slow)
            lat.sort()
            result["key_p50_ms"] = lat[len(lat) // 2]
            result["key_p95_ms"] = lat[min(len(lat) - 1, round(0.95 * len(lat)) - 1)]
            result["key_max_ms"] = lat[-1]
            result["rss_mb"] = rss_mb()
            result["gc_max_ms"] = 1000.0 * max(gc_pauses, default=0.0)
            result["history_mb"] = sum(n.history.nbytes() for n in state.nodes.values()) / 2**20
            # Stop painting before the slow reports and the teardown: a repaint queued while
            # the screen's widgets are being removed would fail to find its table.
            screen.ready = False
            await asyncio.sleep(0.1)
            if trace:
                snaps.append(tracemalloc.take_snapshot())
            if memory or trace:
                census: dict[str, int] = {}
                for obj in gc.get_objects():
                    name = type(obj).__name__
                    census[name] = census.get(name, 0) + 1
                top = sorted(census.items(), key=lambda kv: -kv[1])[:8]
                result["gc_census"] = (
                    f"objects the collector tracks: {sum(census.values())} "
                    f"(+{gc.get_freeze_count()} frozen); most: "
                    + ", ".join(f"{k} {v}" for k, v in top))

    snaps: list[tracemalloc.Snapshot] = []
    try:
        asyncio.run(drive())
    finally:
        if feed_src is not None:
            feed_src.close()
        scratch.cleanup()
    if memory or trace:
        tracemalloc.stop()
        result["memory"] = [result.pop("gc_census", ""),
                            *memory_report(state, snaps[0] if snaps else None)]
    return result


def explain(spans: list[tuple[str, float, float]], slow: list[tuple[float, float]]) -> list[str]:
    """How long each kind of work ran (median and max), and how much of the slow key presses'
    wait it filled (a key waits for whatever holds the event loop when it arrives)."""
    by: dict[str, list[float]] = {}
    for what, t0, t1 in spans:
        by.setdefault(what, []).append(1000.0 * (t1 - t0))
    inside: dict[str, float] = {}
    for k0, k1 in slow:
        for what, t0, t1 in spans:
            overlap = min(t1, k1) - max(t0, k0)
            if overlap > 0:
                inside[what] = inside.get(what, 0.0) + 1000.0 * overlap
    waited = sum(1000.0 * (k1 - k0) for k0, k1 in slow)
    lines = [f"{len(slow)} key presses over {TARGET_P95_MS:.0f} ms, "
             f"{waited:.0f} ms of waiting in all"]
    for what, ms in sorted(by.items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"{what}: {len(ms)} times, median {statistics.median(ms):.1f} ms, "
                     f"max {max(ms):.1f} ms; during slow presses {inside.get(what, 0.0):.0f} ms")
    return lines


def memory_report(state: Any, snap: tracemalloc.Snapshot | None) -> list[str]:
    """Lines saying where the memory goes: history by metric group, tracked processes, and the
    largest allocations made after the pre-fill and alive at the end of the run (`snap`)."""
    groups: dict[str, list[int]] = {}
    pids = infos = 0
    times = 0
    for node in state.nodes.values():
        for h in getattr(node.history, "parts", [node.history]):
            keys = h.keys()
            series_bytes = 4 * (h.capacity + 2 * h.buckets)  # float32 fine values, means, maxima
            times += h.nbytes() - series_bytes * len(keys)
            for name, _subject in keys:
                g = groups.setdefault(name.split(".", 1)[0], [0, 0])
                g[0] += 1
                g[1] += series_bytes
        pids += len(node.proc_seen)
        infos += len(node.proc_info)
    n = max(1, len(state.nodes))
    any_node = next(iter(state.nodes.values()), None)
    lines = []
    if any_node is not None:
        for h in getattr(any_node.history, "parts", [any_node.history]):
            lines.append(f"history part: {h.capacity} fine points, {h.buckets} coarse buckets "
                         f"of {h.bucket_s:g} s")
        lines.append(f"time axes {times / 2**20:.1f} MB in all")
    for name, (count, size) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
        lines.append(f"history {name}.*: {count / n:.0f} series a node, {size / 2**20:.1f} MB")
    lines.append(f"processes tracked: {pids / n:.0f} pids a node, {infos / n:.0f} listings kept")
    if snap is not None:
        stats = snap.statistics("lineno")
        total = sum(st.size for st in stats)
        lines.append(f"allocated after the pre-fill and still alive: {total / 2**20:.1f} MB; "
                     "largest by line:")
        for st in stats[:15]:
            frame = st.traceback[0]
            where = frame.filename.replace(str(REPO) + "/", "")
            if "site-packages/" in where:
                where = where.split("site-packages/", 1)[1]
            lines.append(f"  {st.size / 2**20:6.1f} MB {st.count:8d} blocks  "
                         f"{where}:{frame.lineno}")
    return lines


def median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over repeated runs of one fleet size."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, float):
            out[key] = statistics.median(r[key] for r in runs)
    out["runs"] = len(runs)
    out["rss_all"] = [r["rss_mb"] for r in runs]
    return out


def table(
    rows: list[dict[str, Any]], seconds: float, history: float, alerts: bool, prefill: float,
    gc_tuning: bool = True,
) -> str:
    def mark(value: float, target: float) -> str:
        return "meets" if value <= target else f"misses by {value - target:.0f}"

    runs = rows[0].get("runs", 1) if rows else 1
    wire = bool(rows and rows[0].get("wire"))
    how = (f"{prefill / 60:.0f} min pre-filled, then live" if prefill > 0
           else "all of it live")
    out = [
        f"Cluster view, synthetic fleet at 1 Hz, repaint 2 Hz, 160x50, {history / 60:.0f} min of "
        f"history ({how}), {'default alert rules on' if alerts else 'no alert rules'}"
        f"{'' if gc_tuning else ', no garbage-collector tuning'}"
        f"{WIRE_TITLE if wire else ''}"
        "; CPU "
        f"over {seconds:.0f} s; {'median of ' + str(runs) + ' runs; ' if runs > 1 else ''}"
        f"machine: {os.cpu_count()} CPUs",
        "",
        "| nodes x GPUs | CPU % of a core (total) | of which inventing samples | TUI CPU % "
        "(target <= 15) | repaint CPU ms (median) | key -> frame p50 / p95 / max ms "
        "(p95 target <= 100) | RSS MB (target <= 400) | history MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        tui = r["tui_pct"]
        out.append(
            f"| {r['nodes']} x {r['gpus']} | {r['cpu_pct']:.1f} | {r['gen_pct']:.1f} | "
            f"{tui:.1f} ({mark(tui, TARGET_CPU_PCT)}) | {r['paint_ms']:.1f} | "
            f"{r['key_p50_ms']:.0f} / {r['key_p95_ms']:.0f} / {r['key_max_ms']:.0f} "
            f"({mark(r['key_p95_ms'], TARGET_P95_MS)}) | "
            f"{r['rss_mb']:.0f} ({mark(r['rss_mb'], TARGET_RSS_MB)}) | {r['history_mb']:.0f} |"
        )
    out.append("")
    out.append("folding samples into the state (CPU): " + ", ".join(
        f"{r['nodes']} nodes {r['fold_pct']:.1f}% of a core, {r['fold_us']:.0f} us an event"
        for r in rows))
    behind = [r for r in rows if r.get("folded_per_s", r["nodes"]) < 0.95 * r["nodes"]]
    if behind:  # the loop was late: the fleet's ticks slipped (not made up), figures too low
        out.append("FELL BEHIND (the event loop was late and the fleet's ticks slipped, so "
                   "fewer samples came and the figures above are too low): " + ", ".join(
            f"{r['nodes']} nodes folded {r['folded_per_s']:.0f} samples a second of "
            f"{r['nodes']}" for r in behind))
    if wire:  # the feed's lines were made ahead: no fleet CPU over the window
        out.append("TUI CPU per unit of the fleet's: not read with --wire (the samplers' lines "
                   "were made ahead); compare the TUI's CPU with a run without it")
    else:
        out.append("TUI CPU per unit of the synthetic fleet's CPU, same seconds (the VM's speed "
                   "cancels out): " + ", ".join(
                       f"{r['nodes']} nodes {r['tui_per_fleet']:.2f}" for r in rows))
    if len(rows) > 1:
        small, big = min(rows, key=lambda r: r["nodes"]), max(rows, key=lambda r: r["nodes"])
        out.append(
            f"TUI CPU at {big['nodes']} nodes / at {small['nodes']}: "
            f"{big['tui_pct'] / small['tui_pct']:.2f} "
            f"for {big['nodes'] / small['nodes']:.0f}x the nodes")
    out.append("garbage collection (wall time, longest pause): " + ", ".join(
        f"{r['nodes']} nodes {r['gc_pct']:.1f}% of the time, {r['gc_max_ms']:.0f} ms"
        for r in rows))
    out.append("RSS MB after the imports / after the pre-fill / at the end: " + ", ".join(
        f"{r['nodes']} nodes {r['rss_start_mb']:.0f} / {r['rss_prefill_mb']:.0f} / "
        f"{r['rss_mb']:.0f}" for r in rows))
    if runs > 1:
        out.append("RSS MB of each run: " + ", ".join(
            f"{r['nodes']} nodes " + " ".join(f"{v:.0f}" for v in r["rss_all"]) for r in rows))
    for r in rows:
        if r.get("blockers"):
            out.append("")
            out.append(f"What held the event loop, {r['nodes']} nodes (one run):")
            out.extend(r["blockers"])
    for r in rows:
        if r.get("memory"):
            out.append("")
            out.append(f"Where the memory goes, {r['nodes']} nodes:")
            out.extend(r["memory"])
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120.0,
                        help="live seconds before RSS is read (CPU is measured over them): "
                             "long enough for the UI's render caches to fill and for a few "
                             "full garbage collections (default 120)")
    parser.add_argument("--history", type=float, default=900.0,
                        help="seconds of history the fleet state keeps (default 900)")
    parser.add_argument("--prefill", type=float,
                        help="seconds of samples applied before the app starts (default: "
                             "--history; 0 with --seconds 900 builds the history live)")
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per fleet size, each in a fresh process; medians reported")
    parser.add_argument("--memory", action="store_true",
                        help="report where the memory goes (collector census, history)")
    parser.add_argument("--trace", action="store_true",
                        help="--memory plus tracemalloc from the end of the pre-fill (slow)")
    parser.add_argument("--no-gc-tuning", action="store_true",
                        help="CPython's default garbage collection (no gc.freeze at start-up, "
                             "no rarer full collections), to see what the tuning buys")
    parser.add_argument("--no-alerts", action="store_true",
                        help="leave the default alert rules out (they run in `cluster`)")
    parser.add_argument("--wire", action="store_true",
                        help="live samples travel as the samplers' lines (full and delta, as "
                             "`cluster` asks for) and are decoded as a node's stream decodes "
                             "them (the samplers' lines are made ahead by a child process and "
                             "written to a pipe at 1 Hz): the TUI's figures include decoding")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--feed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    prefill = args.history if args.prefill is None else args.prefill
    if args.feed is not None:
        feed(args.feed, args.gpus, args.seconds)
        return 0
    if args.one is not None:
        print(json.dumps(one(args.one, args.gpus, args.seconds, args.history, args.presses,
                             alerts=not args.no_alerts, prefill=prefill, memory=args.memory,
                             gc_tuning=not args.no_gc_tuning,
                             trace=args.trace, wire_lines=args.wire)))
        return 0
    rows = []
    for n in args.nodes:
        runs = []
        for _ in range(max(1, args.repeat)):
            proc = subprocess.run(
                [sys.executable, __file__, "--one", str(n), "--gpus", str(args.gpus),
                 "--seconds", str(args.seconds), "--history", str(args.history),
                 "--prefill", str(prefill), "--presses", str(args.presses),
                 *(["--no-alerts"] if args.no_alerts else []),
                 *(["--no-gc-tuning"] if args.no_gc_tuning else []),
                 *(["--wire"] if args.wire else []),
                 *(["--memory"] if args.memory else []),
                 *(["--trace"] if args.trace else [])],
                capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"{n} nodes done (pre-fill {runs[-1]['prefill_s']:.0f} s, "
                  f"RSS {runs[-1]['rss_mb']:.0f} MB)", file=sys.stderr)
        rows.append(median_row(runs))
    print(table(rows, args.seconds, args.history, not args.no_alerts, prefill,
                not args.no_gc_tuning))
    return 0


if __name__ == "__main__":
    sys.exit(main())
