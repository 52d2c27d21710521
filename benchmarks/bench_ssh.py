"""Benchmark: N SSH sessions on loopback, each streaming one sample a second, into the monitor.

Starts one real sshd on 127.0.0.1 (MaxStartups/MaxSessions raised for the test) and runs the
monitor's Runner + FleetState (what `snapshot` and the cluster view run) against N node
entries. The remote command is a light stand-in (benchmarks/ssh_standins.py: a bash loop
writing recorded lines with fresh t/seq) because N real samplers would swamp a small machine;
the monitor's work per line is the same. Like the real sampler, which writes each line with one
write(), the loop runs under `stdbuf -o 1M` so that bash's printf does too; `--chunked-writes`
keeps bash's 4 KiB stdio chunks (2-3 writes per line, so about twice as many SSH packets).

What the nodes send:

- default: a hello and one sample recorded once from the real sampler, sent again and again;
- ``--replay STREAM``: cycles through a recorded stream's lines as they are (full and delta);
- ``--serve STREAM`` (a stream of full lines, e.g. ``full.jsonl`` or ``before.jsonl`` from
  benchmarks/bench_wire.py --save): answers control lines like a schema 1.1 sampler, so the
  monitor's real handshake decides: a 1.1 hello gets ``{"type":"control","delta":true}`` and
  deltas follow (``--no-delta``: the monitor does not ask, full lines flow); a 1.0 hello gets
  nothing.

``--ssh-compression on|off|auto`` is the monitor's option; ``--monitor-root DIR`` imports the
monitor (the autoglm_tui package) from DIR instead of this tree, e.g. an export of an older
commit (``git archive REF autoglm_tui | tar -x -C DIR``) for a before/after in one session.

Measures the monitor process only: time until every node is UP, its CPU (user+system time)
while streaming, in several back-to-back windows whose median is the figure, its RSS; also the
bytes the monitor's sockets received (``ss``), and the CPU of sshd's per-session processes
(where a node's SSH compression is paid). Prints a markdown table.

    .venv/bin/python benchmarks/bench_ssh.py [--nodes 256] [--seconds 10] [--windows 5]
        [--replay STREAM | --serve STREAM [--no-delta]] [--ssh-compression on|off]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
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
sys.path.insert(0, str(ROOT / "benchmarks"))

import ssh_standins  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _monitor(root: Path | None) -> Any:
    """The monitor's modules, from `root` (an export of another commit) or this tree."""
    if root is not None:
        sys.path.insert(0, str(root.resolve()))
    from autoglm_tui import events
    from autoglm_tui.analysis import state
    from autoglm_tui.cluster import runner

    return state, runner, events


def _rss_kib() -> tuple[int, int]:
    rss = hwm = 0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def _time_decoding(spent: dict[str, float], clock: Any) -> None:
    """Count the CPU time spent in SamplerStream.feed (a line in, its event out: decoding)
    into spent["decode"]."""
    from autoglm_tui.cluster import stream

    feed = stream.SamplerStream.feed

    def timed(self: Any, line: bytes, now: float) -> Any:
        t0 = clock()
        try:
            return feed(self, line, now)
        finally:
            spent["decode"] += clock() - t0

    stream.SamplerStream.feed = timed  # type: ignore[method-assign]


def _ss_bytes_received(port: int) -> int:
    """Bytes received so far by this host's TCP sockets connected to `port` (the monitor's
    side of every session; counted by the kernel, SSH framing and MACs included)."""
    out = subprocess.run(
        ["ss", "-tinH", "state", "established", f"( dport = :{port} )"],
        capture_output=True, text=True, check=False,
    ).stdout
    return sum(int(m) for m in re.findall(r"bytes_received:(\d+)", out))


def _cpu_of(pids: list[int]) -> float:
    """User+system seconds of `pids` (gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            data = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


async def measure(servers: Any, modules: Any, node_count: int, command: str, seconds: float,
                  windows: int, interval: float, max_connects: int,
                  ssh_extra: dict[str, Any]) -> dict[str, Any]:
    state_mod, runner_mod, events = modules
    node = servers.servers[0]
    specs = tuple(node.spec(name=f"n{i:03d}") for i in range(node_count))
    state = state_mod.FleetState()
    counts = {"samples": 0, "unreachable": 0, "invalid": 0}
    spent = {"decode": 0.0, "state": 0.0}  # CPU seconds (this thread), for the breakdown
    clock = time.thread_time
    _time_decoding(spent, clock)

    def emit(event: object) -> None:
        t0 = clock()
        state.apply(event)
        spent["state"] += clock() - t0
        if isinstance(event, events.SampleReceived):
            counts["samples"] += 1
        elif isinstance(event, events.NodeUnreachable):
            counts["unreachable"] += 1
        elif isinstance(event, events.NodeInvalid):
            counts["invalid"] += 1

    options = servers.ssh_options(
        remote_command=command, interval_s=interval, connect_timeout_s=30.0,
        backoff_base_s=0.5, backoff_cap_s=5.0, **ssh_extra,
    )
    config = runner_mod.RunnerConfig(hosts=specs, ssh=options, max_connects=max_connects)
    runner = runner_mod.Runner(config, emit)
    up = events.NodeStatus.UP
    t0 = time.monotonic()
    cpu0 = time.process_time()
    task = asyncio.ensure_future(runner.run())
    all_up = float("nan")
    deadline = t0 + 120
    while time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        if all(n.status == up for n in state.nodes.values()) and len(state.nodes) == node_count:
            all_up = time.monotonic() - t0
            break
    connect_cpu = time.process_time() - cpu0
    # Steady state: let the last connects settle (and the streams switch to deltas), then
    # measure back-to-back windows.
    await asyncio.sleep(3.0)
    sshd_pids = [p for p in node.session_pids() if Path(f"/proc/{p}/comm").exists()
                 and Path(f"/proc/{p}/comm").read_text().strip() == "sshd"]
    cpu_pcts: list[float] = []
    us_per_sample: list[float] = []
    rates: list[float] = []
    bytes_per_node_s: list[float] = []
    sshd_pcts: list[float] = []
    sys_shares: list[float] = []
    decode_us: list[float] = []
    state_us: list[float] = []
    for _ in range(windows):
        s0, c0, w0 = counts["samples"], time.process_time(), time.monotonic()
        sys0 = os.times().system
        dec0, st0 = spent["decode"], spent["state"]
        b0, d0 = _ss_bytes_received(node.port), _cpu_of(sshd_pids)
        end = w0 + seconds
        while time.monotonic() < end:
            await asyncio.sleep(1.0)
            state.tick(time.time())  # what a UI does once a second
        wall = time.monotonic() - w0
        cpu = time.process_time() - c0
        sys_shares.append((os.times().system - sys0) / cpu if cpu > 0 else 0.0)
        got = counts["samples"] - s0
        cpu_pcts.append(100.0 * cpu / wall)
        us_per_sample.append(1e6 * cpu / max(1, got))
        decode_us.append(1e6 * (spent["decode"] - dec0) / max(1, got))
        state_us.append(1e6 * (spent["state"] - st0) / max(1, got))
        rates.append(got / wall)
        bytes_per_node_s.append((_ss_bytes_received(node.port) - b0) / wall / node_count)
        sshd_pcts.append(100.0 * (_cpu_of(sshd_pids) - d0) / wall)
    rss, hwm = _rss_kib()
    up_now = sum(1 for n in state.nodes.values() if n.status == up)
    deltas = samples = 0
    compressions = set()
    for stream in runner.streams.values():
        source = stream.source
        sampler = getattr(source, "stream", None)
        if sampler is not None:
            deltas += sampler.stats.deltas
            samples += sampler.stats.samples
        compressions.add(getattr(source, "compression", None) or "?")
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
        "bytes_per_node_s": statistics.median(bytes_per_node_s),
        "sshd_cpu_pct": statistics.median(sshd_pcts),
        "system_share": statistics.median(sys_shares),
        "decode_us": statistics.median(decode_us),
        "state_us": statistics.median(state_us),
        "delta_share": deltas / samples if samples else float("nan"),
        "compression": ",".join(sorted(compressions)),
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
    return lines_decode_cost_us(path.read_bytes().splitlines())


def lines_decode_cost_us(lines: list[bytes]) -> tuple[float, float]:
    """Median CPU time per line of `lines` through the monitor's decoder, and of json.loads."""
    import json

    import autoglm_tui

    package = Path(autoglm_tui.__file__).parent
    decoder: Any = None
    if (package / "wire_patch.py").exists():
        from autoglm_tui.wire_patch import StreamDecoder as decoder
    elif (package / "wire_delta.py").exists():  # schema 1.1 before wire_patch.py was split off
        from autoglm_tui.wire_delta import StreamDecoder as decoder  # type: ignore[attr-defined]
    if decoder is None:
        from autoglm_tui import wire  # a monitor older than schema 1.1: full lines only

        def decode_all() -> None:
            for line in lines:
                wire.decode(line)
    else:
        StreamDecoder = decoder

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


def served_lines(hello: Path, fulls: Path, deltas: Path, delta: bool, n: int = 121) -> list[bytes]:
    """The lines a SERVE loop sends in its first `n` samples (for the decode-alone figures)."""
    out = [hello.read_bytes().rstrip(b"\n")]
    f, d = fulls.read_text().splitlines(), deltas.read_text().splitlines()
    for k in range(n):
        kind, rest = ("delta", d[k % len(d)]) if delta and k % 60 else ("sample", f[k % len(f)])
        out.append(f'{{"type":"{kind}","t":{1000.0 + k},"seq":{k + 1}{rest}'.encode())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=10.0, help="one steady-state window")
    parser.add_argument("--windows", type=int, default=5, help="windows measured (median shown)")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--max-connects", type=int, default=16)
    parser.add_argument("--chunked-writes", action="store_true",
                        help="let bash write each line in 4 KiB pieces (the old stand-in)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--replay", type=Path, default=None, metavar="STREAM",
                      help="cycle through this recorded stream's lines as they are")
    what.add_argument("--serve", type=Path, default=None, metavar="STREAM",
                      help="serve this stream of full lines, answering control lines")
    parser.add_argument("--no-delta", action="store_true",
                        help="the monitor does not ask for deltas (SshOptions.delta=False)")
    parser.add_argument("--ssh-compression", choices=("auto", "on", "off"), default=None,
                        help="the monitor's SSH compression option (default: its default)")
    parser.add_argument("--monitor-root", type=Path, default=None, metavar="DIR",
                        help="import the monitor (autoglm_tui) from DIR instead of this tree")
    args = parser.parse_args()
    modules = _monitor(args.monitor_root)
    from tests.integration.sshd_fixture import SshdSet, sshd_missing

    missing = sshd_missing() or (None if shutil.which("ss") else "ss (iproute2) not found")
    if missing:
        print(f"skipped: {missing}")
        return 0
    ssh_extra: dict[str, Any] = {}
    if args.no_delta:
        ssh_extra["delta"] = False
    if args.ssh_compression is not None:
        ssh_extra["compression"] = args.ssh_compression
    with tempfile.TemporaryDirectory(prefix="bench-ssh-") as tmp:
        work = Path(tmp)
        script = work / "standin.sh"
        served: list[bytes] | None = None
        if args.serve is not None:
            hello, fulls, deltas, full_bytes, delta_bytes = ssh_standins.serve_files(
                args.serve, work)
            script.write_text(ssh_standins.SERVE)
            script_args = f"{hello} {fulls} {deltas} {int(args.interval * 1e6)}"
            served = served_lines(hello, fulls, deltas, delta=not args.no_delta
                                  and b'"delta"' in hello.read_bytes())
            source = (f"a bash loop serving {args.serve.name} ({full_bytes} bytes a full line, "
                      f"{delta_bytes} a delta) and answering control lines")
        elif args.replay is not None:
            hello, kinds, rest, sample_bytes, n_lines = ssh_standins.split_stream(
                args.replay, work)
            script.write_text(ssh_standins.REPLAY_STREAM)
            script_args = f"{hello} {kinds} {rest} {args.interval:g}"
            source = (f"a bash loop replaying {args.replay.name} ({n_lines} recorded lines, "
                      f"{sample_bytes} bytes a line on average)")
        else:
            hello, rest, sample_bytes = ssh_standins.record(work, args.interval, sys.executable)
            script.write_text(ssh_standins.REPLAY)
            script_args = f"{hello} {rest} {args.interval:g}"
            source = (f"a bash loop replaying a hello and a {sample_bytes}-byte sample "
                      "recorded once from the real sampler")
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
                measure(servers, modules, args.nodes, command, args.seconds, args.windows,
                        args.interval, args.max_connects, ssh_extra)
            )
            # Every stand-in is under this sshd; after close they must all be gone.
            time.sleep(1.0)
            left = leftover_samplers(list(node.session_pids()))
        if served is not None:
            decode_us, json_us = lines_decode_cost_us(served)
        elif args.replay is not None:
            decode_us, json_us = stream_decode_cost_us(args.replay)
        else:
            decode_us, json_us = decode_cost_us(hello, rest)
    print_table(args, result, decode_us, json_us, left, source)
    return 0


def print_table(args: argparse.Namespace, result: dict[str, Any], decode_us: float,
                json_us: float, left: int, source: str) -> None:
    cpu_model = "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    n = result["nodes"]
    print(f"## SSH data path: {n} sessions on loopback, 1 sample/s each\n")
    print("| metric | value | target |")
    print("| --- | --- | --- |")
    print(f"| time until all {n} nodes UP | {result['all_up_s']:.1f} s | <= 10 s |")
    low, high = result["cpu_pct_range"]
    print(f"| monitor CPU while streaming (median of {args.windows} windows) | "
          f"{result['cpu_pct']:.1f}% of one core | <= 10% |")
    print(f"| the same, lowest - highest window | {low:.1f}% - {high:.1f}% | |")
    print(f"| samples received | {result['samples_per_s']:.0f} /s | {n} /s |")
    print(f"| monitor CPU per sample (median window) | {result['cpu_us_per_sample']:.0f} us | |")
    share = result["delta_share"]
    share_text = "n/a" if share != share else f"{100 * share:.0f}%"  # NaN: an older monitor
    print(f"| of which in the kernel (system time) | {100 * result['system_share']:.0f}% | |")
    print(f"| of which decoding lines (SamplerStream.feed) | {result['decode_us']:.0f} us | |")
    print(f"| of which the fleet state (FleetState.apply) | {result['state_us']:.0f} us | |")
    print(f"| samples that came as deltas | {share_text} | |")
    print(f"| bytes received per node-second (TCP payload) | "
          f"{result['bytes_per_node_s']:,.0f} | |")
    print(f"| SSH compression negotiated | {result['compression']} | |")
    print(f"| sshd CPU (all sessions, the nodes' side) | {result['sshd_cpu_pct']:.1f}% | |")
    print(f"| decode of a line as the monitor gets them, alone | {decode_us:.0f} us | |")
    print(f"| of which json.loads | {json_us:.0f} us | |")
    print(f"| monitor CPU during connect phase | {result['connect_cpu_s']:.1f} s | |")
    print(f"| monitor RSS (peak) | {result['rss_mib']:.0f} MiB ({result['hwm_mib']:.0f} MiB) | |")
    print(f"| nodes UP at the end of the window | {result['up_at_end']} | {n} |")
    print(f"| UNREACHABLE / INVALID events | {result['unreachable_events']} / "
          f"{result['invalid_events']} | 0 / 0 |")
    print(f"| close(): all connections closed in | {result['close_s']:.2f} s | |")
    print(f"| remote processes left after close | {left} | 0 |")
    print()
    monitor = f"the monitor from {args.monitor_root}" if args.monitor_root else "this monitor"
    print(f"Notes: {os.cpu_count()} CPUs ({cpu_model}), Python {platform.python_version()}, "
          f"{args.windows} steady-state windows of {args.seconds:g} s, "
          f"--max-connects {args.max_connects}, {monitor}. Remote command: {source}, "
          "fresh t/seq each second, not the real sampler, "
          + ("each line in 4 KiB writes (--chunked-writes); " if args.chunked_writes
             else "each line in one write like the real sampler; ")
          + "one sshd serves every session, so sshd's forks and key exchanges compete "
          "with the monitor for the same CPUs while connecting. The monitor runs Runner + "
          "FleetState (wire decode, validation, derived metrics) in this process; CPU is this "
          "process's user+system time.")


if __name__ == "__main__":
    raise SystemExit(main())
