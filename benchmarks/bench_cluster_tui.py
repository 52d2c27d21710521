"""Cluster view cost with a synthetic fleet: CPU, key-press-to-frame latency, RSS with history.

For each fleet size (default 256 and 1,024 nodes with 8 GPUs each, one sample per node per
second), in a fresh process:

1. pre-fill the fleet state with `--history` seconds (default 900 = 15 minutes) of synthetic
   samples, applied through ``FleetState.apply`` exactly as live samples are;
2. start the cluster app headless at 160x50 with the same synthetic fleet live at 1 Hz (the
   repaint timer at its default 2 Hz); every frame is rendered to terminal bytes as it would be
   for a real terminal;
   The default alert rules run on each repaint tick, as in `autoglm-tui cluster`
   (`--no-alerts` leaves them out).
3. measure the process's CPU over `--seconds` of live updates with nobody pressing keys, and
   separately the time spent inventing the synthetic samples (not part of a real monitor, where
   the same time goes to reading SSH and decoding JSON);
4. press Down/Up `--presses` times at irregular moments during live updates and measure the
   time from each key press to the first frame that shows the moved cursor;
5. read the process's RSS.

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
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_CPU_PCT = 15.0
TARGET_P95_MS = 100.0
TARGET_RSS_MB = 200.0


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def one(
    nodes: int, gpus: int, seconds: float, history: float, presses: int, alerts: bool = True
) -> dict[str, Any]:
    """Run one fleet size in this process; return the measurements."""
    from autoglm_tui.analysis.state import FleetState
    from autoglm_tui.cluster.synthetic import SyntheticFleet
    from autoglm_tui.monitor import Monitor
    from autoglm_tui.tui.cluster_app import ClusterApp
    from autoglm_tui.tui.screens.cluster import ClusterScreen

    fleet = SyntheticFleet(nodes=nodes, gpus=gpus, seed=1)
    gen_time = [0.0]
    tick = fleet.tick_events

    def timed_tick(t: float) -> Any:
        t0 = time.perf_counter()
        out = tick(t)
        gen_time[0] += time.perf_counter() - t0
        return out

    fleet.tick_events = timed_tick  # type: ignore[method-assign]

    state = FleetState(history_s=history)
    monitor = Monitor(state)
    if alerts:  # the default rules, evaluated on every repaint tick, as `cluster` does
        import tempfile

        from autoglm_tui.alerting.pipeline import build_pipeline

        silences = Path(tempfile.mkdtemp(prefix="bench-")) / "silences.json"
        build_pipeline([], no_log=True, include_user_rules=False,
                       silences_path=str(silences)).install(monitor)
    now = time.time()
    start = now - history
    t0 = time.perf_counter()
    for e in fleet.join_events(start):
        state.apply(e)
    for k in range(int(history)):
        for e in tick(start + k):
            state.apply(e)
    prefill_s = time.perf_counter() - t0
    gc.collect()

    gc_pauses: list[float] = []
    gc_start = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_start[0] = time.perf_counter()
        else:
            gc_pauses.append(time.perf_counter() - gc_start[0])

    gc.callbacks.append(on_gc)
    frames: list[tuple[float, int]] = []
    paint_times: list[float] = []

    class BenchApp(ClusterApp):
        def _display(self, screen: Any, renderable: Any) -> None:
            if renderable is not None:
                renderable.render_segments(self.console)  # what a terminal would be sent
                cursor = -1
                if isinstance(screen, ClusterScreen) and screen.ready:
                    cursor = screen.table.cursor_row
                frames.append((time.perf_counter(), cursor))
            super()._display(screen, renderable)

    original_paint = ClusterScreen.paint

    def timed_paint(self: ClusterScreen, now: float) -> None:
        p0 = time.perf_counter()
        original_paint(self, now)
        paint_times.append(time.perf_counter() - p0)

    ClusterScreen.paint = timed_paint  # type: ignore[method-assign]

    app = BenchApp(monitor, [fleet])
    result: dict[str, Any] = {"nodes": nodes, "gpus": gpus, "prefill_s": prefill_s}

    async def drive() -> None:
        async with app.run_test(size=(160, 50), headless=True) as pilot:
            await asyncio.sleep(4.0)  # warm up: first frames, caches
            gen_time[0] = 0.0
            paint_times.clear()
            n_frames = len(frames)
            c0, w0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            result["cpu_pct"] = 100.0 * cpu / wall
            result["gen_pct"] = 100.0 * gen_time[0] / wall
            result["frames_per_s"] = (len(frames) - n_frames) / wall
            result["paint_ms"] = 1000.0 * statistics.mean(paint_times) if paint_times else None

            screen = app.screen
            assert isinstance(screen, ClusterScreen)
            rng = random.Random(0)
            lat: list[float] = []
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
            lat.sort()
            result["key_p50_ms"] = lat[len(lat) // 2]
            result["key_p95_ms"] = lat[min(len(lat) - 1, round(0.95 * len(lat)) - 1)]
            result["key_max_ms"] = lat[-1]
            result["rss_mb"] = rss_mb()
            result["gc_max_ms"] = 1000.0 * max(gc_pauses, default=0.0)
            result["history_mb"] = sum(n.history.nbytes() for n in state.nodes.values()) / 2**20

    asyncio.run(drive())
    return result


def table(rows: list[dict[str, Any]], seconds: float, history: float, alerts: bool) -> str:
    def mark(value: float, target: float) -> str:
        return "meets" if value <= target else f"misses by {value - target:.0f}"

    out = [
        f"Cluster view, synthetic fleet at 1 Hz, repaint 2 Hz, 160x50, {history / 60:.0f} min of "
        f"history, {'default alert rules on' if alerts else 'no alert rules'}; CPU over "
        f"{seconds:.0f} s; machine: {os.cpu_count()} CPUs",
        "",
        "| nodes x GPUs | CPU % of a core (total) | of which inventing samples | TUI CPU % "
        "(target <= 15) | repaint ms | key -> frame p50 / p95 / max ms (p95 target <= 100) | "
        "RSS MB (target <= 200) | history MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        tui = r["cpu_pct"] - r["gen_pct"]
        out.append(
            f"| {r['nodes']} x {r['gpus']} | {r['cpu_pct']:.1f} | {r['gen_pct']:.1f} | "
            f"{tui:.1f} ({mark(tui, TARGET_CPU_PCT)}) | {r['paint_ms']:.1f} | "
            f"{r['key_p50_ms']:.0f} / {r['key_p95_ms']:.0f} / {r['key_max_ms']:.0f} "
            f"({mark(r['key_p95_ms'], TARGET_P95_MS)}) | "
            f"{r['rss_mb']:.0f} ({mark(r['rss_mb'], TARGET_RSS_MB)}) | {r['history_mb']:.0f} |"
        )
    out.append("")
    out.append("longest garbage-collector pause: " + ", ".join(
        f"{r['nodes']} nodes {r['gc_max_ms']:.0f} ms" for r in rows))
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--history", type=float, default=900.0)
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--no-alerts", action="store_true",
                        help="leave the default alert rules out (they run in `cluster`)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.gpus, args.seconds, args.history, args.presses,
                             alerts=not args.no_alerts)))
        return 0
    rows = []
    for n in args.nodes:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--gpus", str(args.gpus),
             "--seconds", str(args.seconds), "--history", str(args.history),
             "--presses", str(args.presses), *(["--no-alerts"] if args.no_alerts else [])],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"{n} nodes done (pre-fill {rows[-1]['prefill_s']:.0f} s)", file=sys.stderr)
    print(table(rows, args.seconds, args.history, not args.no_alerts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
