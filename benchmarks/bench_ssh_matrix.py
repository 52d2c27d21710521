"""Runs benchmarks/bench_ssh.py over several configurations, interleaved, and prints one table
of medians (each run's figure is already the median of its windows).

    .venv/bin/python benchmarks/bench_ssh_matrix.py --streams DIR [--before-root DIR]
        [--runs 3] [--nodes 256] [--only NAME,NAME]

DIR holds ``before.jsonl`` and ``full.jsonl`` (benchmarks/bench_wire.py --save DIR). With
``--before-root`` (an export of the commit before schema 1.1: ``git archive 911cc40
autoglm_tui | tar -x -C ROOT``) the first row runs that monitor on the 1.0 sampler's lines.
Runs alternate between configurations, so a change in the machine's load touches all of them.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURES = {
    "cpu": r"monitor CPU while streaming \(median of \d+ windows\) \| ([\d.]+)%",
    "us": r"monitor CPU per sample \(median window\) \| (\d+) us",
    "bytes": r"bytes received per node-second \(TCP payload\) \| ([\d,]+)",
    "sshd": r"sshd CPU \(all sessions, the nodes' side\) \| ([\d.]+)%",
    "deltas": r"samples that came as deltas \| ([\d.]+|n/a)",
    "up": r"nodes UP at the end of the window \| (\d+)",
}


def configs(streams: Path, before_root: Path | None) -> list[tuple[str, list[str]]]:
    before, full = str(streams / "before.jsonl"), str(streams / "full.jsonl")
    out = []
    if before_root is not None:
        out.append(("before: 1.0 sampler, 1.0 monitor (911cc40)",
                    ["--serve", before, "--monitor-root", str(before_root)]))
    out += [
        ("1.0 sampler, this monitor (auto: zlib)", ["--serve", before]),
        ("1.1 full lines (--no-delta)", ["--serve", full, "--no-delta", "--ssh-compression",
                                         "off"]),
        ("1.1 full lines + SSH zlib", ["--serve", full, "--no-delta", "--ssh-compression",
                                       "on"]),
        ("1.1 deltas (handshake)", ["--serve", full, "--ssh-compression", "off"]),
        ("1.1 deltas + SSH zlib", ["--serve", full, "--ssh-compression", "on"]),
    ]
    return out


def run_one(args: list[str], nodes: int, seconds: float, windows: int) -> dict[str, str]:
    cmd = [sys.executable, str(HERE / "bench_ssh.py"), "--nodes", str(nodes), "--seconds",
           str(seconds), "--windows", str(windows), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900).stdout
    found = {}
    for name, pattern in FIGURES.items():
        m = re.search(pattern, out)
        found[name] = m.group(1) if m else "?"
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=Path, required=True)
    parser.add_argument("--before-root", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--only", default=None, help="comma-separated row numbers (1-based)")
    args = parser.parse_args()
    rows = configs(args.streams, args.before_root)
    if args.only:
        keep = {int(k) for k in args.only.split(",")}
        rows = [r for i, r in enumerate(rows, 1) if i in keep]
    results: dict[str, list[dict[str, str]]] = {name: [] for name, _ in rows}
    loads = []
    for k in range(args.runs):
        for name, extra in rows:
            loads.append(Path("/proc/loadavg").read_text().split()[0])
            got = run_one(extra, args.nodes, args.seconds, args.windows)
            results[name].append(got)
            print(f"run {k + 1} {name}: {got}", file=sys.stderr, flush=True)
    print(f"## SSH data path, {args.nodes} nodes, medians of {args.runs} runs "
          f"({time.strftime('%Y-%m-%d')}; 1-min load average at the runs' starts: "
          f"{min(loads, key=float)}-{max(loads, key=float)})\n")
    print("| stream | monitor CPU | per sample | vs first row | bytes/node-s | sshd CPU | deltas "
          "| runs (CPU %) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    first = next(iter(results.values()))
    for name, runs in results.items():
        def med(key: str, runs: list[dict[str, str]] = runs) -> float:
            vals = [_num(r[key]) for r in runs]
            vals = [v for v in vals if v == v]
            return statistics.median(vals) if vals else float("nan")

        # Per-sample CPU as a ratio to the first row's in the same round (the machine's load
        # moves between rounds more than between neighbouring runs), median over rounds.
        ratios = [_num(r["us"]) / _num(f["us"]) for r, f in zip(runs, first, strict=True)]
        ratio = statistics.median(ratios)
        deltas = runs[0]["deltas"]
        each = ", ".join(r["cpu"] for r in runs)
        print(f"| {name} | {med('cpu'):.1f}% | {med('us'):.0f} us | {ratio:.2f}x | "
              f"{med('bytes'):,.0f} | {med('sshd'):.1f}% | {deltas} | {each} |")
    return 0


def _num(text: str) -> float:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
