"""Wire cost per node: bytes per node-second (full vs compact, with and without zlib as SSH
compression would add), the sampler's CPU, and the monitor's decode CPU per sample.

Three samplers run side by side for the same seconds on this host, at 1 s, so they see the same
processes and the same (fake) GPUs: the schema 1.0 sampler (the code at ``--before-ref``, taken
with ``git archive``), this sampler writing full samples, and this sampler writing compact
deltas (``--delta``, a full sample every 60 s). The GPUs are the fake NVML with 8 GPUs whose
utilisation, memory bandwidth, power, temperature, clocks and PCIe traffic move every second
(``wave``: a pessimistic case, a busy inference node moves fewer of them), each with one GPU
process (real idle processes this script starts, with server-like command lines); ``--top``
picks how many more processes the samplers list by CPU.

By default (as root, with ``unshare``) everything runs in a PID namespace of its own, so the
samplers see only the processes of a stand-in inference node: the 8 GPU processes and
``--top`` helper processes (tokenizer, API and logging workers) whose CPU use moves every
second; 25 listed processes in all. ``--host`` lists this host's real processes instead (on a
shared development machine: many short-lived processes entering the top list, each one sent
in full once).

- bytes: every sample line plus its newline, per sample (= per node-second at 1 Hz); "zlib"
  runs each stream through one zlib stream with a sync flush per line, as SSH compression does
  per packet (level 6, OpenSSH's);
- sampler CPU: user+system time per wall second from the first sample to the end;
- decode: median CPU time per line over ``--passes`` passes over the recorded stream; "before"
  is the schema 1.0 monitor's own code (the same export, in a subprocess) on the schema 1.0
  sampler's lines; "+ state" adds FleetState.apply (derived metrics, history) per sample.

    .venv/bin/python benchmarks/bench_wire.py [--seconds 120] [--top 17] [--save DIR]

``--save DIR`` keeps the three recorded streams (``before.jsonl``, ``full.jsonl``,
``delta.jsonl``) for ``bench_ssh.py --replay``. Everything started is stopped by PID.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autoglm_tui.analysis.state import FleetState  # noqa: E402
from autoglm_tui.events import HelloReceived, SampleReceived  # noqa: E402
from autoglm_tui.model import Hello, Sample  # noqa: E402
from autoglm_tui.wire_patch import StreamDecoder  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
FAKE = ROOT / "tests" / "fakes" / "fake_nvml.py"
BEFORE_REF = "911cc40"  # main just before schema 1.1
WORKER = "import time\ntime.sleep(3600)\n"
# A helper process: busy for a varying few milliseconds of every 100 ms (1-8% of a core).
HELPER = """
import random, time
random.seed()
while True:
    busy = random.uniform(0.001, 0.008)
    t = time.perf_counter()
    while time.perf_counter() - t < busy:
        pass
    time.sleep(0.1 - busy)
"""
HELPER_ARGS = [["-m", "uvicorn", "api.server:app", "--workers", "4"],
               ["-m", "tokenizers.worker", "--model", "meta-llama/Llama-3.1-70B-Instruct"],
               ["-m", "log_shipper", "--to", "tcp://logs:5170"]]
SERVER_ARGS = ["-m", "vllm.entrypoints.openai.api_server", "--model",
               "meta-llama/Llama-3.1-70B-Instruct", "--tensor-parallel-size", "8",
               "--gpu-memory-utilization", "0.92", "--max-model-len", "32768", "--port", "8000"]


def cpu_seconds(pid: int) -> float:
    data = Path(f"/proc/{pid}/stat").read_bytes()
    fields = data[data.rfind(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def export_before(ref: str, into: Path) -> Path | None:
    """The package as it was at `ref` (git archive), or None where git cannot give it."""
    git = shutil.which("git")
    if git is None:
        return None
    tar = into / "before.tar"
    with tar.open("wb") as fh:
        done = subprocess.run([git, "archive", ref, "autoglm_tui"], cwd=ROOT, stdout=fh,
                              stderr=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        return None
    out = into / "before"
    with tarfile.open(tar) as tf:
        tf.extractall(out, filter="data")
    return out


class Run:
    """One sampler process: its lines and its CPU from the first sample on."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str],
                 cwd: Path = ROOT) -> None:
        self.name = name
        # `python -m` puts the working directory first on sys.path, before PYTHONPATH: the
        # schema 1.0 sampler runs from its own export, or this tree's package would win.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, cwd=cwd)
        self.lines: list[bytes] = []
        self.first = threading.Event()
        self.cpu0 = self.t0 = self.cpu1 = self.t1 = 0.0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip(b"\n"))
            if len(self.lines) == 2:
                self.cpu0, self.t0 = cpu_seconds(self.proc.pid), time.monotonic()
                self.first.set()
        self.first.set()

    def finish(self) -> None:
        self.cpu1, self.t1 = cpu_seconds(self.proc.pid), time.monotonic()
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # how SSH stops a sampler
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)

    @property
    def cpu_pct(self) -> float:
        return 100.0 * (self.cpu1 - self.cpu0) / max(1e-9, self.t1 - self.t0)


def stream_bytes(lines: list[bytes]) -> tuple[float, float]:
    """Mean bytes per sample line, raw and through one zlib stream (sync flush per line)."""
    samples = lines[1:]
    z = zlib.compressobj(6)
    packed = 0
    for line in lines:  # the hello goes through the stream too, as it would over SSH
        n = len(z.compress(line + b"\n")) + len(z.flush(zlib.Z_SYNC_FLUSH))
        if line is not lines[0]:
            packed += n
    raw = sum(len(line) + 1 for line in samples)
    return raw / len(samples), packed / len(samples)


def median_us(fn: Any, n_lines: int, passes: int) -> float:
    times = []
    for _ in range(passes):
        t0 = time.process_time()
        fn()
        times.append((time.process_time() - t0) / n_lines)
    return 1e6 * statistics.median(times)


# The schema 1.0 monitor's work per line, run by its own code (PYTHONPATH = the export).
OLD_MONITOR = """
import json, statistics, sys, time
from autoglm_tui import wire
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import HelloReceived, SampleReceived
lines = open(sys.argv[1], 'rb').read().splitlines()
passes = int(sys.argv[2])
def run_decode():
    for line in lines[1:]:
        wire.decode(line)
def run_state():
    state = FleetState()
    state.apply(HelloReceived(0.0, 'n', wire.decode(lines[0])))
    for i, line in enumerate(lines[1:]):
        state.apply(SampleReceived(1.0 + i, 'n', wire.decode(line)))
out = []
for fn in (run_decode, run_state):
    times = []
    for _ in range(passes):
        t0 = time.process_time()
        fn()
        times.append((time.process_time() - t0) / (len(lines) - 1))
    out.append(1e6 * statistics.median(times))
print(json.dumps(out))
"""


def old_monitor_costs(lines: list[bytes], before: Path, passes: int) -> tuple[float, float]:
    """Decode and decode + state µs per line, measured with the schema 1.0 monitor's code."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as fh:
        fh.write(b"\n".join(lines) + b"\n")
        fh.flush()
        done = subprocess.run([sys.executable, "-c", OLD_MONITOR, fh.name, str(passes)],
                              env={**os.environ, "PYTHONPATH": str(before)}, cwd=before,
                              capture_output=True, text=True, check=True)
    dec, state = json.loads(done.stdout)
    return dec, state


def decode_costs(lines: list[bytes], passes: int) -> tuple[float, float]:
    """Median CPU µs per sample line: decode alone, and decode + FleetState.apply."""
    body = lines[1:]

    def run_decode() -> None:
        dec = StreamDecoder()
        dec.decode(lines[0])
        for line in body:
            dec.decode(line)

    def run_state() -> None:
        dec = StreamDecoder()
        state = FleetState()
        h = dec.decode(lines[0])
        assert isinstance(h, Hello)
        state.apply(HelloReceived(0.0, "n", h))
        for i, line in enumerate(body):
            s = dec.decode(line)
            assert isinstance(s, Sample)
            state.apply(SampleReceived(1.0 + i, "n", s))

    return median_us(run_decode, len(body), passes), median_us(run_state, len(body), passes)


def listed(lines: list[bytes]) -> tuple[float, int]:
    """Mean processes listed per sample and GPUs, from the full lines of a stream."""
    dec = StreamDecoder()
    counts, gpus = [], 0
    for line in lines:
        msg = dec.decode(line)
        if isinstance(msg, Sample):
            counts.append(len(msg.procs))
            gpus = len(msg.gpus)
    return statistics.mean(counts), gpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="run length (120)")
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--top", type=int, default=17,
                        help="processes listed by CPU besides the GPU processes (17: with 8 "
                        "GPU processes, 25 listed)")
    parser.add_argument("--passes", type=int, default=7, help="decode passes (median)")
    parser.add_argument("--before-ref", default=BEFORE_REF)
    parser.add_argument("--save", type=Path, default=None, help="keep the recorded streams")
    parser.add_argument("--host", action="store_true",
                        help="list this host's processes (no PID namespace of its own)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    unshare = shutil.which("unshare")
    if not args.host and not args.inside:
        if unshare is None or os.geteuid() != 0:
            print("a PID namespace needs root and unshare (util-linux); use --host",
                  file=sys.stderr)
            return 2
        cmd = [unshare, "--pid", "--fork", "--mount-proc", sys.executable, __file__,
               "--inside", *sys.argv[1:]]
        return subprocess.run(cmd, check=False).returncode

    workers = [subprocess.Popen([sys.executable, "-c", WORKER, *SERVER_ARGS, f"--rank={i}"],
                                stdin=subprocess.DEVNULL) for i in range(args.gpus)]
    if args.inside:  # a stand-in inference node: helpers whose CPU moves every second
        workers += [subprocess.Popen([sys.executable, "-c", HELPER,
                                      *HELPER_ARGS[i % len(HELPER_ARGS)], f"--worker={i}"],
                                     stdin=subprocess.DEVNULL) for i in range(args.top)]
    scenario = {"gpu_count": args.gpus, "wave": True, "gpus": [
        {"processes": [{"pid": w.pid, "mem": 70 << 30, "sm": 60}]} for w in workers]}
    env = dict(os.environ)
    env.update({"AUTOGLM_NVML_MODULE": str(FAKE), "AUTOGLM_FAKE_NVML": json.dumps(scenario)})
    base = [sys.executable, "-m", "autoglm_tui", "sample", "--interval", "1", "--top",
            str(args.top)]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-wire-") as tmp:
        before = export_before(args.before_ref, Path(tmp))
        try:
            if before is not None:
                runs.append(Run("before", base, {**env, "PYTHONPATH": str(before)}, before))
            runs.append(Run("full", base, {**env, "PYTHONPATH": str(ROOT)}))
            runs.append(Run("delta", [*base, "--delta"], {**env, "PYTHONPATH": str(ROOT)}))
            for r in runs:
                if not r.first.wait(60):
                    raise RuntimeError(f"{r.name}: no sample within 60 s")
            time.sleep(args.seconds)
            for r in runs:
                r.finish()
        finally:
            for r in runs:
                if r.proc.poll() is None:
                    r.proc.kill()
                    r.proc.wait()
            for w in workers:
                w.kill()
                w.wait()
        old_costs = (old_monitor_costs(runs[0].lines, before, args.passes)
                     if before is not None else None)
    streams = {r.name: r.lines for r in runs}
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
        for name, lines in streams.items():
            (args.save / f"{name}.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    rows = []
    for r in runs:
        raw, packed = stream_bytes(r.lines)
        if r.name == "before" and old_costs is not None:
            dec_us, state_us = old_costs
        else:
            dec_us, state_us = decode_costs(r.lines, args.passes)
        rows.append((r.name, len(r.lines) - 1, raw, packed, r.cpu_pct, dec_us, state_us))
    procs, gpus = listed(streams["full"])
    cpu_model = "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    print(f"## Wire cost per node, {datetime.date.today()}, {os.cpu_count()} CPUs "
          f"({cpu_model}), Python {platform.python_version()}\n")
    where = ("a PID namespace (a stand-in inference node)" if args.inside
             else "this host's processes")
    print(f"{gpus} fake GPUs (all figures moving), {procs:.1f} processes listed per sample "
          f"from {where}, 1 Hz, {args.seconds:g} s side by side.\n")
    print("| stream | samples | bytes/node-s | with zlib | sampler CPU % | decode us/sample "
          "| decode + state us/sample |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    labels = {"before": f"before (schema 1.0, {args.before_ref})", "full": "full (schema 1.1)",
              "delta": "delta (schema 1.1, full every 60 s)"}
    for name, n, raw, packed, cpu, dec_us, state_us in rows:
        print(f"| {labels[name]} | {n} | {raw:,.0f} | {packed:,.0f} | {cpu:.2f} | "
              f"{dec_us:.0f} | {state_us:.0f} |")
    by = {row[0]: row for row in rows}
    if "before" in by:
        d, b = by["delta"], by["before"]
        print(f"\ndelta vs before: {d[2] / b[2]:.3f}x the bytes, {d[5] / b[5]:.2f}x the decode "
              f"CPU, {d[6] / b[6]:.2f}x decode + state; target <= 1,500 bytes/node-s: "
              f"{'met' if d[2] <= 1500 else 'MISSED'}")
    else:
        print("\n(no 'before' row: git could not export --before-ref)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
