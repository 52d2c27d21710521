"""Where folding a sample into the cluster state goes, in the running cluster app.

`bench_cluster_tui.py` measures folding as one figure (CPU time per sample, in the app, while
it repaints and runs the alert rules). This benchmark runs the same app and fleet several times,
each time with `FleetState._on_sample` replaced after the pre-fill by a variant that leaves
parts of the work out, so the figure per sample can be split: the node's figures and history
(with the fleet-summary sums), the process tracking, the services' windows. A variant that
leaves work out is not a working monitor (screens read stale or missing figures); it exists to
measure what that work costs where it runs, with the app's caches and garbage as they are,
which a tight loop over one node's sample does not show.

Run: ``.venv/bin/python benchmarks/bench_fold_parts.py --nodes 256 --repeat 3``; one fresh
process per variant and run, medians printed as one markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def variants() -> dict[str, Callable[..., None] | None]:
    """Name -> the `_on_sample` to use after the pre-fill (None: the one that ships)."""
    from autoglm_tui.analysis import state as S

    def fold(self: Any, event: Any, *, services: bool = True, procs: bool = True,
             figures: bool = True) -> None:
        # FleetState._on_sample as shipped, less the parts switched off (no duplicate check,
        # no interval confirmation, no source-derived figures: none of them runs here)
        node = self._node(event.node_id, event.t)
        sample = event.sample
        old, old_at = node.last_sample, node.last_sample_at
        if figures:
            node.sampler_cpu_pct = S.sampler_cpu_pct(old, sample)
            prev = old if old is not None and sample.t > old.t else None
            head = S.node_figures(sample, prev)
            if services:
                svc_values, _gone = node.service_tracker.update(sample, event.t)
                if svc_values:
                    head.update(svc_values)
            self._fold_figures(node, event.t, sample, head, False)
        node.last_sample = sample
        node.last_sample_at = event.t
        if procs:
            self._track_procs(node, event.t, old, old_at, sample)
        self._data(node, S.NodeStatus.UP, None, event.t)

    def only(**off: bool) -> Callable[..., None]:
        return lambda self, event: fold(self, event, **off)

    return {
        "as shipped": None,
        "without the services' windows": only(services=False),
        "without the process tracking": only(procs=False),
        "figures + history only": only(services=False, procs=False),
        "newest sample replaced only": only(services=False, procs=False, figures=False),
    }


def one(nodes: int, variant: str, seconds: float, prefill: float) -> dict[str, Any]:
    import bench_cluster_tui as bench

    from autoglm_tui.analysis.state import FleetState
    from autoglm_tui.tui import cluster_app

    replacement = variants()[variant]
    original_init = cluster_app.ClusterApp.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if replacement is not None:  # after the pre-fill: the history is the shipped one's
            FleetState._on_sample = replacement  # type: ignore[method-assign]
        original_init(self, *args, **kwargs)

    cluster_app.ClusterApp.__init__ = init  # type: ignore[method-assign]
    r = bench.one(nodes, 8, seconds, 900.0, presses=5, prefill=prefill)
    return {"fold_us": r["fold_us"], "tui_pct": r["cpu_pct"] - r["gen_pct"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=40.0, help="live seconds measured")
    parser.add_argument("--prefill", type=float, default=120.0,
                        help="seconds of history applied before the app starts")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.nodes, args.one, args.seconds, args.prefill)))
        return 0
    names = list(variants())
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for k in range(max(1, args.repeat)):
        for name in names:  # interleaved, so a slow minute of the machine hits every variant
            proc = subprocess.run(
                [sys.executable, __file__, "--one", name, "--nodes", str(args.nodes),
                 "--seconds", str(args.seconds), "--prefill", str(args.prefill)],
                capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"round {k + 1}: {name} done", file=sys.stderr)
    print(f"Folding one sample, in the running cluster app: {args.nodes} nodes x 8 GPUs at 1 Hz, "
          f"{args.prefill:.0f} s pre-filled, {args.seconds:.0f} s live, median of "
          f"{args.repeat} runs; machine: {os.cpu_count()} CPUs")
    print()
    print("| fold variant | CPU per sample folded, us (runs) | TUI CPU % of a core |")
    print("| --- | --- | --- |")
    for name in names:
        us = [r["fold_us"] for r in runs[name]]
        pct = [r["tui_pct"] for r in runs[name]]
        print(f"| {name} | {statistics.median(us):.0f} ({' '.join(f'{v:.0f}' for v in us)}) "
              f"| {statistics.median(pct):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
