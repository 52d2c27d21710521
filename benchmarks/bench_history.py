#!/usr/bin/env python3
"""Node history, measured: memory per node, CPU per sample folded in, and a copy of the state
(what a replay checkpoint takes), for this tree and, with ``--peer DIR``, another checkout of
the project (e.g. ``git archive main | tar -x -C /tmp/main``), each in its own process.

    .venv/bin/python benchmarks/bench_history.py --peer /tmp/main --runs 3

A synthetic fleet (8 GPUs, 25 processes a node, services as the fleet makes them, 1 Hz) is fed
to a FleetState for `--seconds` (default 960: the 15-minute history full, both tiers). Memory
is what tracemalloc counts as freed when the nodes' histories are dropped (a second run, traced
from the start); CPU is thread time per sample over the last 120 s; a copy is
``FleetState.clone()``. Medians of `--runs` runs, alternating the trees.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import gc, json, statistics, sys, time, tracemalloc
sys.path.insert(0, sys.argv[1])
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.synthetic import SyntheticFleet
nodes, secs = int(sys.argv[2]), int(sys.argv[3])
T0 = 1_700_000_000.0
f = SyntheticFleet(nodes=nodes, gpus=8, clock=lambda: T0, top=25, seed=1)
batches = list(f.history(T0, secs))
joins = f.join_events(T0)


def fed(trace: bool) -> FleetState:
    st = FleetState()
    for e in joins:
        st.apply(e)
    for b in batches:
        c0 = time.thread_time()
        for e in b:
            st.apply(e)
        if not trace:
            per.append((time.thread_time() - c0) / len(b) * 1e6)
    return st


per = []
st = fed(False)
clones = []
for _ in range(9):
    c0 = time.thread_time()
    st.clone()
    clones.append(time.thread_time() - c0)
del st
gc.collect()
tracemalloc.start()  # memory: a second state, every allocation traced
st = fed(True)
hist = [n.history for n in st.nodes.values()]
for n in st.nodes.values():
    n.history = None
gc.collect()
held = tracemalloc.get_traced_memory()[0]
del hist
gc.collect()
freed = held - tracemalloc.get_traced_memory()[0]
print(json.dumps({"us": statistics.median(per[-120:]), "clone_ms": 1e3 * statistics.median(clones),
                  "mb_node": freed / nodes / 1e6}))
"""


def run(tree: Path, nodes: int, seconds: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(tree), str(nodes), str(seconds)],
                         capture_output=True, text=True, check=True,
                         env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", type=Path, help="another checkout to measure beside this tree")
    ap.add_argument("--nodes", type=int, default=16)
    ap.add_argument("--seconds", type=int, default=960)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    trees = [("this tree", ROOT)] + ([("peer", args.peer.resolve())] if args.peer else [])
    got: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
    for _ in range(args.runs):
        for name, tree in trees:
            got[name].append(run(tree, args.nodes, args.seconds))
    print(f"\n{args.nodes} nodes x 8 GPUs, 25 processes, {args.seconds} s at 1 Hz, "
          f"medians of {args.runs} runs\n")
    print("| tree | history MB per node | CPU us per sample folded in | state copy ms |")
    print("| :--- | ---: | ---: | ---: |")
    for name, tree in trees:
        rows = got[name]

        def med(key: str, rows: list[dict[str, float]] = rows) -> float:
            return statistics.median(r[key] for r in rows)

        print(f"| {name} ({tree.name}) | {med('mb_node'):.3f} | {med('us'):.0f} | "
              f"{med('clone_ms'):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
