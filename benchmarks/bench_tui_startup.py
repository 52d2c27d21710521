"""Time from launching `autoglm-tui` in tmux to the first frame that shows host figures.

Launches the venv's console script in a private tmux server (120x40), polls `capture-pane`
until the Host pane shows a CPU percentage and memory figures, then quits it with `q`.
Repeats and prints a Markdown table (target: median under 1 s).

    .venv/bin/python benchmarks/bench_tui_startup.py [--runs 5] [--size 120x40]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

CLI = Path(sys.executable).with_name("autoglm-tui")
ENV = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
CPU_FIGURE = re.compile(r"CPU\s.*\d+%")
MEM_FIGURE = re.compile(r"Mem\s.*\d+%.*\d")
TARGET_S = 1.0


def tmux(socket: str, *args: str) -> str:
    out = subprocess.run(["tmux", "-u", "-L", socket, "-f", "/dev/null", *args],
                         capture_output=True, text=True, env=ENV, timeout=20)
    return out.stdout


def one_run(width: int, height: int, timeout: float = 30.0) -> float:
    socket = f"autoglm-bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        start = time.perf_counter()
        tmux(socket, "new-session", "-d", "-x", str(width), "-y", str(height), "-s", "main",
             "--", str(CLI))
        while time.perf_counter() - start < timeout:
            screen = tmux(socket, "capture-pane", "-p", "-t", "main")
            if CPU_FIGURE.search(screen) and MEM_FIGURE.search(screen):
                elapsed = time.perf_counter() - start
                tmux(socket, "send-keys", "-t", "main", "q")
                return elapsed
            time.sleep(0.02)
        raise RuntimeError(f"no host figures within {timeout}s; the screen was:\n{screen}")
    finally:
        time.sleep(0.3)  # let it quit before the server goes
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", default="120x40")
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.lower().split("x"))
    times = [one_run(width, height) for _ in range(args.runs)]
    median, worst = statistics.median(times), max(times)
    print(f"autoglm-tui start-up to first host figures ({width}x{height}, {args.runs} runs, "
          f"{os.cpu_count()} CPUs)\n")
    print("| run | seconds |")
    print("| ---: | ---: |")
    for i, t in enumerate(times, 1):
        print(f"| {i} | {t:.3f} |")
    print(f"| median | {median:.3f} |")
    print(f"| max | {worst:.3f} |")
    verdict = "meets" if median <= TARGET_S else "misses"
    print(f"\nmedian {verdict} the {TARGET_S:.0f} s target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
