"""Diagnosis and recordings, measured.

1. Diagnosis per tick: 256 nodes x 8 GPUs, 25 processes a node, a quarter of the nodes serving
   (tokens/s, P95, queue) in replica groups, 15 minutes of history pre-filled; the monitor
   ticks twice a second and every node sends a sample a second. ``DiagnosisRunner.step`` is
   timed per tick (wall and thread CPU), beside ``AlertEngine.evaluate`` with the default rules
   on the same state in the same run.
2. Replay of a 1-hour, 64-node recording (.jsonl.zst; of deltas as a cluster view on the
   compact wire records them, or ``--whole`` samples): start-up (open with its index, first
   second applied), opening without the index (it is built), the checkpoints taken while
   playing and the lookahead's, and seeks (-10 s, -1 min, +10 s, +1 min from the middle)
   measured as the work the replay source does: restore, decode and apply, wall and CPU.
3. Recording size per node-hour (plain, gzip, zstd), from 10 minutes of 8 synthetic nodes
   (the flight recorder has its own benchmark, bench_flight.py).

    .venv/bin/python benchmarks/bench_diagnosis.py [--nodes 256] [--ticks 240] [--runs 3]
        [--replay-nodes 64] [--replay-minutes 60] [--skip-replay]

Prints Markdown tables. Medians over --runs for the tick figures; the replay seeks are
repeated 3 times each.
"""

from __future__ import annotations

import argparse
import gc
import math
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from autoglm_tui.alerting.rule_files import default_rules
from autoglm_tui.analysis.alerts import AlertEngine
from autoglm_tui.analysis.diagnosis import DiagnosisRunner
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.synthetic import SyntheticFleet
from autoglm_tui.events import ClockTick
from autoglm_tui.monitor import Monitor
from autoglm_tui.recording import codec as codecs
from autoglm_tui.recording.checkpoints import CheckpointStore
from autoglm_tui.recording.feed import feed, timeline
from autoglm_tui.recording.index import index_path
from autoglm_tui.recording.lookahead import Lookahead
from autoglm_tui.recording.reader import Recording
from autoglm_tui.recording.replay import seeds
from autoglm_tui.recording.writer import RecordingWriter

T0 = 1_767_225_600.0


def fleet(nodes: int, gpus: int = 8, top: int = 25) -> SyntheticFleet:
    f = SyntheticFleet(nodes=nodes, gpus=gpus, clock=lambda: T0, top=top, seed=1)
    for n in f.nodes:  # serving nodes form replica groups of four
        if n.role == "infer":
            n.labels["service"] = f"llm-{n.index // 16}"
    return f


def joins(f: SyntheticFleet, t: float) -> list:
    return f.join_events(t)


# ---------------------------------------------------------------- 1. diagnosis per tick


def tick_run(nodes: int, ticks: int, prefill_s: int) -> dict[str, list[float]]:
    f = fleet(nodes)
    state = FleetState(history_s=900.0)
    for e in joins(f, T0):
        state.apply(e)
    t = T0
    for batch in f.history(T0 + 1, prefill_s):
        for e in batch:
            state.apply(e)
        t = batch[0].t
    runner = DiagnosisRunner()
    engine = AlertEngine(default_rules())
    # settle: the first period staggers every node's first turn
    now = t
    for _ in range(4):
        now += 0.5
        runner.step(state.nodes, now)
        engine.evaluate(state, now, [])
    out: dict[str, list[float]] = {"diag_wall": [], "diag_cpu": [], "alert_wall": [],
                                   "alert_cpu": []}
    gc.collect()
    for k in range(ticks):
        now += 0.5
        if k % 2 == 0:
            for e in f.tick_events(now):
                state.apply(e)
        w0, c0 = time.perf_counter(), time.thread_time()
        runner.step(state.nodes, now)
        w1, c1 = time.perf_counter(), time.thread_time()
        engine.evaluate(state, now, [])
        w2, c2 = time.perf_counter(), time.thread_time()
        out["diag_wall"].append(1e3 * (w1 - w0))
        out["diag_cpu"].append(1e3 * (c1 - c0))
        out["alert_wall"].append(1e3 * (w2 - w1))
        out["alert_cpu"].append(1e3 * (c2 - c1))
    out["evaluations"] = [float(runner.evaluations)]
    out["findings"] = [float(len(runner.findings))]
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def table_ticks(runs: list[dict[str, list[float]]], nodes: int, ticks: int) -> None:
    def med(key: str, fn) -> float:
        return statistics.median(fn(r[key]) for r in runs)

    print(f"\n### Diagnosis per tick ({nodes} nodes x 8 GPUs, 25 processes a node, "
          f"{nodes // 4} serving; {ticks} ticks at 2 Hz; median of {len(runs)} runs)\n")
    print("| per tick | mean ms (amortised) | median ms | p95 ms | max ms | target |")
    print("| :--- | ---: | ---: | ---: | ---: | :--- |")
    for key, label, target in (("diag_wall", "diagnosis, wall", "<= 10 ms amortised"),
                               ("diag_cpu", "diagnosis, thread CPU", ""),
                               ("alert_wall", "alert engine (6 default rules), wall", ""),
                               ("alert_cpu", "alert engine, thread CPU", "")):
        print(f"| {label} | {med(key, statistics.fmean):.2f} | {med(key, statistics.median):.2f}"
              f" | {med(key, lambda v: pct(v, 0.95)):.2f} | {med(key, max):.2f} | {target} |")
    ev = statistics.median(r["evaluations"][0] for r in runs)
    fi = statistics.median(r["findings"][0] for r in runs)
    print(f"\nanalyzer evaluations (a node or the fleet each) over the run: {ev:.0f}; "
          f"findings shown at the end: {fi:.0f}")


# ---------------------------------------------------------------- 2. replay


def make_recording(path: Path, nodes: int, minutes: float, delta: bool = False) -> float:
    """A recording as a monitor writes it: with `delta`, each node's samples come as the SSH
    source delivers them from a sampler on the compact wire (the line kept, a delta or a full
    line every 60 s; figures rounded as the sampler rounds them), else whole samples."""
    from bench_flight import as_sampled

    from autoglm_tui import wire
    from autoglm_tui.cluster.stream import SamplerStream
    from autoglm_tui.events import HelloReceived
    from autoglm_tui.wire_delta import DeltaEncoder

    f = fleet(nodes)
    w = RecordingWriter(path, source="bench", t=T0, codec=codecs.for_path(str(path)))
    readers = {n.node_id: SamplerStream(n.node_id) for n in f.nodes}
    writers = {n.node_id: DeltaEncoder() for n in f.nodes}
    for e in joins(f, T0):
        if delta and isinstance(e, HelloReceived):
            e = readers[e.node_id].feed(wire.encode(e.hello).encode(), e.t)
        w.add_event(e)
    t0 = time.perf_counter()
    for batch in f.history(T0 + 1, int(minutes * 60)):
        for e in batch:
            if delta:
                line = writers[e.node_id].encode(as_sampled(e.sample)).encode()
                e = readers[e.node_id].feed(line, e.t)
            w.add_event(e)
    w.close()
    return time.perf_counter() - t0


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class Both:
    """Wall and this thread's CPU time of a step (the VM is shared: CPU is the work done)."""

    def __enter__(self) -> Both:
        self.w0, self.c0 = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.thread_time() - self.c0

    @property
    def pair(self) -> tuple[float, float]:
        return self.wall, self.cpu


def both(fn) -> tuple[float, float]:
    with Both() as b:
        fn()
    return b.pair


def replay_factory():
    """What `replay` builds its monitors with: default alert rules and the diagnosis."""
    import argparse

    from autoglm_tui.commands.replay import monitor_factory

    return monitor_factory(argparse.Namespace(no_alerts=False, rules=[]))


def replay_monitor() -> Monitor:
    return replay_factory()()


def play(rec: Recording, m: Monitor, begin: float, until: float, store=None
         ) -> list[tuple[float, float]]:
    """Play [begin, until] as the replay source does (events, a tick each second, a checkpoint
    when due); the (wall, CPU) time each checkpoint took."""
    took = []
    for ev in timeline(rec, begin, until, preamble=False):
        m.apply(ev)
        if store is not None and isinstance(ev, ClockTick) and store.due(ev.t):
            took.append(both(lambda t=ev.t: m.checkpoint(t)))
    return took


def seek(rec: Recording, m: Monitor, store, target: float, warmup_s: float
         ) -> tuple[float, float]:
    """What ReplaySource does for a seek served by a checkpoint: restore the newest one at or
    before the target, decode and apply the events after it with their ticks, tick at the
    target. (wall, CPU)"""
    with Both() as b:
        cp = store.best(target, target - warmup_s)
        assert cp is not None, f"no checkpoint before {target - rec.start:.1f}"
        snap = store.get(cp)
        events = list(rec.events(since=math.nextafter(cp, math.inf), until=target,
                                 seeds=seeds(snap)))
        m.restore(snap)
        tick = math.floor(cp) + 1.0
        for ev in events:
            while tick < ev.t:
                m.apply(ClockTick(tick))
                tick += 1.0
            m.apply(ev)
        while tick <= target:
            m.apply(ClockTick(tick))
            tick += 1.0
        m.apply(ClockTick(target))
    return b.pair


def replay_run(path: Path, warmup_s: float, nodes: int) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    rec_box: list[Recording] = []
    out["open (index present)"] = both(lambda: rec_box.append(Recording.open(path)))
    rec = rec_box[0]
    make = replay_factory()
    monitor = make()
    out[f"first second applied ({nodes} nodes UP)"] = both(
        lambda: feed(rec, monitor, rec.start, rec.start + 1.0))
    assert sum(1 for n in monitor.state.nodes.values() if n.status.value == "UP") == nodes
    mid = math.floor(rec.start + (rec.end - rec.start) / 2) + 0.5
    # a replay that has played the 150 s before the middle, keeping checkpoints as it went
    store = CheckpointStore()
    store.focus = mid
    m = make()
    m.checkpoints = store
    feed(rec, m, mid - 150.0 - warmup_s, mid - 150.0)
    took = play(rec, m, mid - 150.0, mid, store)
    out["take a checkpoint (every 2 s near the playhead)"] = (
        statistics.median(w for w, _ in took), statistics.median(c for _, c in took))
    # the lookahead, from the playhead: its thread plays 75 s ahead, leaving checkpoints
    look = Lookahead(rec, make, store, duty=1.0, seeds=seeds)
    w0 = time.perf_counter()
    look.follow(mid)
    while not look.idle() and look.error is None:
        time.sleep(0.02)
    look.close()
    assert look.error is None, look.error
    out["lookahead: fill the 75 s ahead"] = (time.perf_counter() - w0, look.cpu_s)
    per_s = look.cpu_s / max(1, look.ticks)
    out["lookahead: per second of recording"] = (per_s, per_s)
    out["checkpoints held (MB, estimated)"] = (store.estimate() / 1e6,) * 2
    for label, dt in (("seek -10 s", -10.0), ("seek -60 s", -60.0), ("seek +10 s", 10.0),
                      ("seek +60 s", 60.0)):
        out[f"{label} (restore a checkpoint, then the events after it)"] = seek(
            rec, m, store, mid + dt, warmup_s)
    # without checkpoints: forward plays the events in between; far rebuilds the warm-up

    def forward(dt: float) -> tuple[float, float]:
        f = make()
        feed(rec, f, mid - 1.0, mid)  # a state to move forward from (not timed)
        with Both() as b:  # the replay reads on from where it is: its decoders are primed
            tick = math.floor(mid) + 1.0
            for ev in rec.events(since=math.nextafter(mid, math.inf), until=mid + dt,
                                 seeds=seeds((f.state,))):
                while tick < ev.t:
                    f.apply(ClockTick(tick))
                    tick += 1.0
                f.apply(ev)
            f.apply(ClockTick(mid + dt))
        return b.pair

    out["seek +10 s with no checkpoint ahead (the events in between)"] = forward(10.0)

    def rebuild() -> None:
        r = make()
        feed(rec, r, mid - warmup_s, mid)

    out[f"seek far, no checkpoint near: rebuild {warmup_s:.0f} s"] = both(rebuild)
    out[f"  of which reading and decoding {warmup_s:.0f} s"] = both(
        lambda: sum(1 for _ in rec.events(since=mid - warmup_s, until=mid)))
    return out


def replay_section(nodes: int, minutes: float, runs: int, delta: bool, keep: str | None,
                   warmups: tuple[float, ...]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        kind = "deltas" if delta else "whole samples"
        path = Path(keep) if keep else Path(tmp) / "fleet.jsonl.zst"
        gen = None
        if not path.exists():
            gen = make_recording(path, nodes, minutes, delta)
        size = path.stat().st_size
        print(f"\n### Replay of a {minutes:.0f}-minute, {nodes}-node recording of {kind} "
              f"({size / 1e6:.0f} MB .jsonl.zst" + (f", written in {gen:.0f} s)" if gen else ")")
              + "\n")
        results: dict[str, list[tuple[float, float]]] = {}
        for warm in warmups:
            for _ in range(runs):
                for k, v in replay_run(path, warm, nodes).items():
                    results.setdefault(k, []).append(v)
        idx = index_path(path)
        saved = idx.read_bytes()
        idx.unlink()
        build = timed(lambda: Recording.open(path, save_index=False))
        idx.write_bytes(saved)
        print("| step | median wall | median CPU | max wall | target |")
        print("| :--- | ---: | ---: | ---: | :--- |")
        for k, v in results.items():
            unit = "" if "MB" in k else " s"
            target = ("< 2 s (with the first second)" if k.startswith("open") else
                      "< 0.1 s" if "(restore" in k else "")
            wall, cpu = statistics.median(w for w, _ in v), statistics.median(c for _, c in v)
            print(f"| {k} | {wall:.3f}{unit} | {cpu:.3f}{unit} | {max(w for w, _ in v):.3f}"
                  f"{unit} | {target} |")
        print(f"| open without its index (built by reading the file) | {build:.2f} s | | "
              f"{build:.2f} s | |")


# ---------------------------------------------------------------- 3. sizes


def size_section(nodes: int = 8, minutes: float = 10.0) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for name, delta in (("r.jsonl", False), ("r.jsonl.gz", False), ("r.jsonl.zst", False),
                            ("d.jsonl", True), ("d.jsonl.zst", True)):
            path = Path(tmp) / name
            make_recording(path, nodes, minutes, delta)
            sizes[name] = path.stat().st_size
        node_hours = nodes * minutes / 60.0
        print(f"\n### Recording size ({nodes} synthetic nodes x 8 GPUs, 25 processes, 1 Hz, "
              f"{minutes:.0f} min)\n")
        print("| samples | format | MB per node-hour | ratio |")
        print("| :--- | :--- | ---: | ---: |")
        for name, size in sizes.items():
            kind = ("deltas, rounded as the sampler does" if name.startswith("d")
                    else "whole, unrounded synthetic figures")
            print(f"| {kind} | {name.split('.', 1)[1]} | {size / node_hours / 1e6:.1f} | "
                  f"{sizes['r.jsonl'] / size:.1f}x |")
        print("\n(the flight recorder's cost: benchmarks/bench_flight.py)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=256)
    ap.add_argument("--ticks", type=int, default=240)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prefill", type=int, default=900, help="seconds of history first")
    ap.add_argument("--replay-nodes", type=int, default=64)
    ap.add_argument("--replay-minutes", type=float, default=60.0)
    ap.add_argument("--skip-replay", action="store_true")
    ap.add_argument("--skip-ticks", action="store_true")
    ap.add_argument("--skip-sizes", action="store_true")
    ap.add_argument("--whole", action="store_true",
                    help="replay a recording of whole samples (default: deltas, as a cluster "
                         "view on the compact wire records)")
    ap.add_argument("--keep", metavar="PATH",
                    help="the recording to replay: made there when missing, kept after")
    ap.add_argument("--warmups", type=float, nargs="+", default=[60.0, 300.0])
    args = ap.parse_args()
    print(f"{time.strftime('%Y-%m-%d')}, {platform.python_implementation()} "
          f"{platform.python_version()}, {platform.machine()}, "
          f"{len(__import__('os').sched_getaffinity(0))} CPUs")
    if not args.skip_ticks:
        runs = [tick_run(args.nodes, args.ticks, args.prefill) for _ in range(args.runs)]
        table_ticks(runs, args.nodes, args.ticks)
    if not args.skip_sizes:
        size_section()
    if not args.skip_replay:
        replay_section(args.replay_nodes, args.replay_minutes, min(args.runs, 3),
                       not args.whole, args.keep, tuple(args.warmups))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
