"""What does monitoring cost? The sampler against glances, on a host with ~300 idle processes.

Starts N idle ``sleep`` processes, then runs each tool at a 1 s refresh for D seconds (R times,
medians reported) and measures, from /proc/PID/stat and /proc/PID/status:

- CPU % of one core: (utime + stime) spent per wall second, counted from the tool's first
  output (so interpreter start-up is left out for both tools) to the end of the run;
- peak RSS (VmHWM).

The sampler runs as ``python -m autoglm_tui sample --interval 1`` (defaults: full process scan
every 2 s, top 25). glances runs with no UI (``--stdout``) at ``-t 1`` with only the plugins that
collect the same kind of data enabled: cpu, percpu, mem, memswap, load, diskio, network,
processcount and processlist (the full process list, as the sampler's scan); it prints a few
scalar fields per refresh. Network-reaching plugins (ip, cloud) and the update check are off.

Usage: python benchmarks/bench_sampler.py [--duration 30] [--repeat 1] [--procs 300]
Everything started is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGET_CPU_PCT = 1.0
TARGET_RATIO = 5.0
TARGET_RSS_MB = 60.0

GLANCES_PLUGINS = "cpu,percpu,mem,memswap,load,diskio,network,processcount,processlist"
GLANCES_FIELDS = "cpu.total,mem.percent,load.min1,processcount.total"


def cpu_seconds(pid: int) -> float:
    data = Path(f"/proc/{pid}/stat").read_bytes()
    fields = data[data.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def measure(cmd: list[str], duration: float, env: dict[str, str]) -> tuple[float, float, int]:
    """(CPU % of one core, peak RSS MB, output lines) for `cmd` over `duration` seconds."""
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    lines = 0
    first = threading.Event()

    def drain() -> None:
        nonlocal lines
        assert proc.stdout is not None
        for _ in proc.stdout:
            lines += 1
            if lines >= 2:  # the sampler's hello then its first sample; glances' first refresh
                first.set()
        first.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        if not first.wait(60):
            raise RuntimeError(f"no output from {cmd[:3]} within 60 s")
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[:3]} exited early with status {proc.returncode}")
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(duration)
        c1, t1 = cpu_seconds(proc.pid), time.monotonic()
        rss = peak_rss_mb(proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(5)
    return 100.0 * (c1 - c0) / (t1 - t0), rss, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per run (30)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; medians (1)")
    parser.add_argument("--procs", type=int, default=300, help="idle processes to start (300)")
    parser.add_argument("--no-glances", action="store_true", help="measure the sampler only")
    parser.add_argument(
        "--collector", choices=("auto", "psutil", "procfs"), default="auto", help="sampler's"
    )
    args = parser.parse_args(argv)

    env = dict(os.environ)
    env.pop("AUTOGLM_NVML_MODULE", None)
    sampler = [sys.executable, "-m", "autoglm_tui", "sample", "--interval", "1"]
    sampler += ["--collector", args.collector]
    tools: list[tuple[str, list[str]]] = [("autoglm-tui sample", sampler)]
    glances = shutil.which("glances", path=str(Path(sys.executable).parent)) or shutil.which(
        "glances"
    )
    if not args.no_glances:
        if glances is None:
            print("glances not found: pip install 'autoglm-tui[bench]'", file=sys.stderr)
            return 2
        tools.append(
            (
                "glances",
                [
                    glances,
                    "--disable-plugin",
                    "all",
                    "--enable-plugin",
                    GLANCES_PLUGINS,
                    "--disable-check-update",
                    "--disable-webui",
                    "-t",
                    "1",
                    "--stdout",
                    GLANCES_FIELDS,
                ],
            )
        )

    idle = [
        subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL) for _ in range(args.procs)
    ]
    nproc = sum(1 for e in os.listdir("/proc") if e.isdigit())
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in tools}
    try:
        for _ in range(args.repeat):
            for name, cmd in tools:
                cpu, rss, _lines = measure(cmd, args.duration, env)
                results[name].append((cpu, rss))
    finally:
        for p in idle:
            p.kill()
        for p in idle:
            p.wait()

    med = {
        name: (statistics.median(c for c, _ in rs), statistics.median(r for _, r in rs))
        for name, rs in results.items()
    }
    base = med.get("glances", (None, None))[0]
    print(
        f"{args.procs} idle processes started ({nproc} processes on the host), 1 s refresh, "
        f"{args.duration:g} s x {args.repeat} run(s), medians, on {os.cpu_count()} CPUs\n"
    )
    print("| tool | CPU % of one core | peak RSS MB | CPU vs glances |")
    print("| --- | ---: | ---: | ---: |")
    for name, (cpu, rss) in med.items():
        ratio = f"{cpu / base:.2f}x" if base else "-"
        print(f"| {name} | {cpu:.2f} | {rss:.1f} | {ratio} |")
    cpu, rss = med["autoglm-tui sample"]
    print()
    print(f"targets: sampler <= {TARGET_CPU_PCT:g}% of a core: {'met' if cpu <= 1.0 else 'MISSED'}")
    if base:
        met = cpu * TARGET_RATIO <= base
        print(f"         sampler <= 1/{TARGET_RATIO:g} of glances: {'met' if met else 'MISSED'}")
    print(f"         sampler RSS <= {TARGET_RSS_MB:g} MB: {'met' if rss <= 60 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
