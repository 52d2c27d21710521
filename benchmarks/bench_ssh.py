"""Benchmark: N SSH sessions on loopback, each streaming one sample a second, into the monitor.

Starts one real sshd on 127.0.0.1 (MaxStartups/MaxSessions raised for the test), records a real
hello and sample once with the real sampler (or takes a recorded stream: ``--replay FILE``, e.g.
the compact delta stream benchmarks/bench_wire.py --save writes), and runs the monitor's Runner +
FleetState (what
`snapshot` and the cluster view run) against N node entries. The remote command is a light
stand-in (a bash loop replaying the recorded lines with fresh t/seq) because N real samplers
would swamp a small machine; the monitor's work per line is the same. Like the real sampler,
which writes each line with one write(), the loop runs under `stdbuf -o 1M` so that bash's
printf does too; `--chunked-writes` keeps bash's 4 KiB stdio chunks (2-3 writes per line, so
about twice as many SSH packets), as this benchmark did before 2026-11-24. Measures the monitor
process only: time until every node is UP, its CPU (user+system time) while streaming, in
several back-to-back windows whose median is the figure, its RSS. Prints a markdown table.

    .venv/bin/python benchmarks/bench_ssh.py [--nodes 256] [--seconds 10] [--windows 5]
        [--replay STREAM.jsonl]

With ``--replay`` each session cycles through the recorded lines (a hello, then full samples
and deltas), each sent with a fresh t and the next seq, so deltas apply as they did live.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autoglm_tui.analysis.state import FleetState  # noqa: E402
from autoglm_tui.cluster.runner import Runner, RunnerConfig  # noqa: E402
from autoglm_tui.events import (  # noqa: E402
    NodeInvalid,
    NodeStatus,
    NodeUnreachable,
    SampleReceived,
)
from tests.integration.sshd_fixture import SshdSet, sshd_missing  # noqa: E402

REPLAY = r"""
IFS= read -r hello < "$1"
IFS= read -r rest < "$2"
printf '%s\n' "$hello"
n=0
while :; do
    read -r -t "$3" _
    rc=$?
    if [ "$rc" -eq 1 ]; then exit 0; fi   # EOF on stdin: the monitor has gone
    n=$((n + 1))
    printf '{"type":"sample","t":%s,"seq":%d%s\n' "$EPOCHREALTIME" "$n" "$rest"
done
"""

# The same, cycling through recorded lines: $2 holds each line's type, $3 what follows its seq.
REPLAY_STREAM = r"""
IFS= read -r hello < "$1"
mapfile -t K < "$2"
mapfile -t R < "$3"
printf '%s\n' "$hello"
n=0
i=0
N=${#R[@]}
while :; do
    read -r -t "$4" _
    rc=$?
    if [ "$rc" -eq 1 ]; then exit 0; fi   # EOF on stdin: the monitor has gone
    n=$((n + 1))
    printf '{"type":"%s","t":%s,"seq":%d%s\n' "${K[$i]}" "$EPOCHREALTIME" "$n" "${R[$i]}"
    i=$(( (i + 1) % N ))
done
"""


def split_stream(path: Path, workdir: Path) -> tuple[Path, Path, Path, int, int]:
    """A recorded stream as the replay loop reads it: the hello, each line's type, and each
    line's text after its seq. Also the mean line size and the number of lines."""
    import json

    lines = path.read_bytes().splitlines()
    kinds, rests, sizes = [], [], []
    for line in lines[1:]:
        data = json.loads(line)
        kind = data.pop("type")
        data.pop("t")
        data.pop("seq")
        rest = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        kinds.append(kind)
        rests.append("," + rest[1:] if rest != "{}" else "}")
        sizes.append(len(line) + 1)
    if not kinds or kinds[0] != "sample":
        raise SystemExit(f"{path}: the first line after the hello must be a full sample")
    hello_path, kinds_path, rests_path = (workdir / n for n in ("hello.json", "kinds", "rests"))
    hello_path.write_bytes(lines[0] + b"\n")
    kinds_path.write_text("\n".join(kinds) + "\n")
    rests_path.write_text("\n".join(rests) + "\n")
    return hello_path, kinds_path, rests_path, sum(sizes) // len(sizes), len(kinds)


def _rss_kib() -> tuple[int, int]:
    rss = hwm = 0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def record(workdir: Path, interval: float) -> tuple[Path, Path, int]:
    """A real hello and sample from the real sampler; the sample split after its seq field."""
    out = subprocess.run(
        [sys.executable, "-m", "autoglm_tui", "sample",
         "--interval", str(interval), "--count", "2"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.splitlines()
    hello, sample = out[0], out[-1]
    cut = sample.index(',"cpu":')
    hello_path = workdir / "hello.json"
    rest_path = workdir / "rest.json"
    hello_path.write_text(hello + "\n")
    rest_path.write_text(sample[cut:] + "\n")
    return hello_path, rest_path, len(sample)


async def measure(servers: SshdSet, node_count: int, command: str, seconds: float,
                  windows: int, interval: float, max_connects: int) -> dict[str, Any]:
    node = servers.servers[0]
    specs = tuple(node.spec(name=f"n{i:03d}") for i in range(node_count))
    state = FleetState()
    counts = {"samples": 0, "unreachable": 0, "invalid": 0}

    def emit(event: object) -> None:
        state.apply(event)  # type: ignore[arg-type]
        if isinstance(event, SampleReceived):
            counts["samples"] += 1
        elif isinstance(event, NodeUnreachable):
            counts["unreachable"] += 1
        elif isinstance(event, NodeInvalid):
            counts["invalid"] += 1

    options = servers.ssh_options(
        remote_command=command, interval_s=interval, connect_timeout_s=30.0,
        backoff_base_s=0.5, backoff_cap_s=5.0,
    )
    config = RunnerConfig(hosts=specs, ssh=options, max_connects=max_connects)
    runner = Runner(config, emit)
    t0 = time.monotonic()
    cpu0 = time.process_time()
    task = asyncio.ensure_future(runner.run())
    all_up = float("nan")
    deadline = t0 + 120
    while time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        if all(n.status == NodeStatus.UP for n in state.nodes.values()) and len(
            state.nodes
        ) == node_count:
            all_up = time.monotonic() - t0
            break
    connect_cpu = time.process_time() - cpu0
    # Steady state: let the last connects settle, then measure back-to-back windows.
    await asyncio.sleep(2.0)
    cpu_pcts: list[float] = []
    us_per_sample: list[float] = []
    rates: list[float] = []
    for _ in range(windows):
        s0, c0, w0 = counts["samples"], time.process_time(), time.monotonic()
        end = w0 + seconds
        while time.monotonic() < end:
            await asyncio.sleep(1.0)
            state.tick(time.time())  # what a UI does once a second
        wall = time.monotonic() - w0
        cpu = time.process_time() - c0
        got = counts["samples"] - s0
        cpu_pcts.append(100.0 * cpu / wall)
        us_per_sample.append(1e6 * cpu / max(1, got))
        rates.append(got / wall)
    rss, hwm = _rss_kib()
    up_now = sum(1 for n in state.nodes.values() if n.status == NodeStatus.UP)
    close0 = time.monotonic()
    await runner.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    close_s = time.monotonic() - close0
    return {
        "nodes": node_count,
        "all_up_s": all_up,
        "connect_cpu_s": connect_cpu,
        "cpu_pct": statistics.median(cpu_pcts),
        "cpu_pct_range": (min(cpu_pcts), max(cpu_pcts)),
        "samples_per_s": statistics.median(rates),
        "cpu_us_per_sample": statistics.median(us_per_sample),
        "rss_mib": rss / 1024,
        "hwm_mib": hwm / 1024,
        "up_at_end": up_now,
        "unreachable_events": counts["unreachable"],
        "invalid_events": counts["invalid"],
        "close_s": close_s,
    }


def _median_us(fn: Any, loops: int = 50, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        t0 = time.process_time()
        for _ in range(loops):
            fn()
        times.append((time.process_time() - t0) / loops)
    return 1e6 * statistics.median(times)


def decode_cost_us(hello_path: Path, rest_path: Path) -> tuple[float, float]:
    """Median CPU time of wire.decode on the recorded sample line, and of its json.loads part."""
    import json

    from autoglm_tui import wire

    line = ('{"type":"sample","t":1.0,"seq":1' + rest_path.read_text().strip()).encode()
    wire.decode(hello_path.read_bytes())
    text = line.decode()
    return _median_us(lambda: wire.decode(line)), _median_us(lambda: json.loads(text))


def stream_decode_cost_us(path: Path) -> tuple[float, float]:
    """Median CPU time per line of a recorded stream through one StreamDecoder, and of
    json.loads alone."""
    import json

    lines = path.read_bytes().splitlines()
    if not (ROOT / "autoglm_tui" / "wire_delta.py").exists():
        from autoglm_tui import wire  # a monitor older than schema 1.1: full lines only

        def decode_all() -> None:
            for line in lines:
                wire.decode(line)
    else:
        from autoglm_tui.wire_delta import StreamDecoder

        def decode_all() -> None:
            dec = StreamDecoder()
            for line in lines:
                dec.decode(line)

    def parse_all() -> None:
        for line in lines:
            json.loads(line)

    n = len(lines)
    return _median_us(decode_all, 5) / n, _median_us(parse_all, 5) / n


def leftover_samplers(node_pids: list[int]) -> int:
    alive = 0
    for pid in node_pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive += 1
    return alive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=10.0, help="one steady-state window")
    parser.add_argument("--windows", type=int, default=5, help="windows measured (median shown)")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--max-connects", type=int, default=16)
    parser.add_argument("--chunked-writes", action="store_true",
                        help="let bash write each line in 4 KiB pieces (the old stand-in)")
    parser.add_argument("--replay", type=Path, default=None, metavar="STREAM",
                        help="cycle through this recorded stream instead of one sample")
    args = parser.parse_args()
    missing = sshd_missing()
    if missing:
        print(f"skipped: {missing}")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-ssh-") as tmp:
        work = Path(tmp)
        script = work / "replay.sh"
        if args.replay is not None:
            hello, kinds, rest, sample_bytes, n_lines = split_stream(args.replay, work)
            script.write_text(REPLAY_STREAM)
            script_args = f"{hello} {kinds} {rest} {args.interval:g}"
        else:
            hello, rest, sample_bytes = record(work, args.interval)
            script.write_text(REPLAY)
            script_args = f"{hello} {rest} {args.interval:g}"
        command = f"exec bash {script} {script_args}"
        stdbuf = shutil.which("stdbuf")
        if not args.chunked_writes:
            if stdbuf is None:
                print("skipped: stdbuf (coreutils) not found; use --chunked-writes")
                return 0
            command = f"exec {stdbuf} -o 1M bash {script} {script_args}"
        extra = (
            f"MaxStartups {args.nodes + 50}:30:{args.nodes + 100}\n"
            f"MaxSessions {args.nodes + 10}\n"
        )
        with SshdSet(work / "ssh") as servers:
            node = servers.start(extra_config=extra)
            result = asyncio.run(
                measure(servers, args.nodes, command, args.seconds, args.windows,
                        args.interval, args.max_connects)
            )
            # Every replay loop is under this sshd; after close they must all be gone.
            time.sleep(1.0)
            remaining = [p for p in node.session_pids()]
            left = leftover_samplers(remaining)
        if args.replay is not None:
            decode_us, json_us = stream_decode_cost_us(args.replay)
        else:
            decode_us, json_us = decode_cost_us(hello, rest)
    cpu_model = "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    print(f"## SSH data path: {result['nodes']} sessions on loopback, 1 sample/s each\n")
    print("| metric | value | target |")
    print("| --- | --- | --- |")
    print(f"| time until all {result['nodes']} nodes UP | {result['all_up_s']:.1f} s | <= 10 s |")
    low, high = result["cpu_pct_range"]
    print(f"| monitor CPU while streaming (median of {args.windows} windows) | "
          f"{result['cpu_pct']:.1f}% of one core | <= 10% |")
    print(f"| the same, lowest - highest window | {low:.1f}% - {high:.1f}% | |")
    print(f"| samples received | {result['samples_per_s']:.0f} /s | {result['nodes']} /s |")
    print(f"| monitor CPU per sample (median window) | {result['cpu_us_per_sample']:.0f} us | |")
    what = "a line of the stream (StreamDecoder)" if args.replay else "the sample line"
    print(f"| wire.decode of {what}, alone | {decode_us:.0f} us | |")
    print(f"| of which json.loads | {json_us:.0f} us | |")
    print(f"| monitor CPU during connect phase | {result['connect_cpu_s']:.1f} s | |")
    print(f"| monitor RSS (peak) | {result['rss_mib']:.0f} MiB ({result['hwm_mib']:.0f} MiB) | |")
    print(f"| nodes UP at the end of the window | {result['up_at_end']} | {result['nodes']} |")
    print(f"| UNREACHABLE / INVALID events | {result['unreachable_events']} / "
          f"{result['invalid_events']} | 0 / 0 |")
    print(f"| close(): all connections closed in | {result['close_s']:.2f} s | |")
    print(f"| remote processes left after close | {left} | 0 |")
    print()
    print(f"Notes: {os.cpu_count()} CPUs ({cpu_model}), Python {platform.python_version()}, "
          f"{args.windows} steady-state windows of {args.seconds:g} s, "
          f"--max-connects {args.max_connects}. "
          + (f"Remote command: a bash loop replaying {args.replay.name} ({n_lines} recorded "
             f"lines, {sample_bytes} bytes a line on average) with fresh t/seq each second, "
             if args.replay is not None else
             f"Remote command: a bash loop replaying a hello and a {sample_bytes}-byte sample "
             "recorded once from the real sampler (fresh t/seq each second), ")
          + "not the real sampler, "
          + ("each line in 4 KiB writes (--chunked-writes); " if args.chunked_writes
             else "each line in one write like the real sampler; ")
          + "one sshd serves every session, so sshd's forks and key exchanges compete "
          "with the monitor for the same CPUs while connecting. The monitor runs Runner + "
          "FleetState (wire decode, validation, derived metrics) in this process; CPU is this "
          "process's user+system time.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
