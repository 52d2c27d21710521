"""Light stand-ins for samplers, for benchmarks/bench_ssh.py: bash loops that write recorded
lines with a fresh ``t`` and the next ``seq`` once per interval (N real samplers would swamp a
small machine; the monitor's work per line is the same).

- ``REPLAY``: one recorded sample line, over and over (the original stand-in).
- ``REPLAY_STREAM``: cycles through a recorded stream's lines as they are (full and delta).
- ``SERVE``: answers control lines like a schema 1.1 sampler: full lines until a control line
  asks for deltas, then deltas of the same recorded samples, a full line every 60 lines and
  whenever one is asked for. Its hello is the recorded one, so a stream recorded from a 1.0
  sampler (no ``features``) is never asked anything and sends full lines throughout.

Every loop exits at end of its stdin (the monitor has gone), as the real sampler does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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

# Cycles through recorded lines: $2 holds each line's type, $3 what follows its seq.
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

# $2: each sample as a full line (after its seq); $3: each sample as a delta from the one
# before it (the first from the last: the loop wraps); $4: the interval in microseconds.
# Control lines are read while waiting for the next tick, which stays on schedule.
SERVE = r"""
IFS= read -r hello < "$1"
mapfile -t F < "$2"
mapfile -t D < "$3"
step=$4
printf '%s\n' "$hello"
n=0; i=0; N=${#F[@]}; delta=0; full=1; since=0
due=$(( ${EPOCHREALTIME/./} + step ))
while :; do
    left=$(( due - ${EPOCHREALTIME/./} ))
    if (( left > 0 )); then
        printf -v wait '%d.%06d' $(( left / 1000000 )) $(( left % 1000000 ))
        if IFS= read -r -t "$wait" line; then
            case $line in *'"delta":true'*) (( delta )) || full=1; delta=1 ;; esac
            case $line in *'"delta":false'*) delta=0 ;; esac
            case $line in *'"full":true'*) full=1 ;; esac
            continue
        elif (( $? <= 128 )); then
            exit 0   # EOF on stdin: the monitor has gone
        fi
    elif (( left < -step )); then
        due=$(( ${EPOCHREALTIME/./} ))   # far behind: skip ticks, as the sampler does
    fi
    n=$((n + 1))
    if (( delta && !full && since < 60 )); then
        printf '{"type":"delta","t":%s,"seq":%d%s\n' "$EPOCHREALTIME" "$n" "${D[$i]}"
        since=$((since + 1))
    else
        printf '{"type":"sample","t":%s,"seq":%d%s\n' "$EPOCHREALTIME" "$n" "${F[$i]}"
        full=0; since=1
    fi
    i=$(( (i + 1) % N ))
    due=$(( due + step ))
done
"""


def _after_seq(data: dict[str, object]) -> str:
    """A message's JSON after its type, t and seq: what the loops print after them."""
    body = {k: v for k, v in data.items() if k not in ("type", "t", "seq")}
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return "," + text[1:] if text != "{}" else "}"


def split_stream(path: Path, workdir: Path) -> tuple[Path, Path, Path, int, int]:
    """A recorded stream for REPLAY_STREAM: the hello, each line's type, and each line's
    text after its seq. Also the mean line size and the number of lines."""
    lines = path.read_bytes().splitlines()
    kinds, rests, sizes = [], [], []
    for line in lines[1:]:
        data = json.loads(line)
        kinds.append(data["type"])
        rests.append(_after_seq(data))
        sizes.append(len(line) + 1)
    if not kinds or kinds[0] != "sample":
        raise SystemExit(f"{path}: the first line after the hello must be a full sample")
    hello_path, kinds_path, rests_path = (workdir / n for n in ("hello.json", "kinds", "rests"))
    hello_path.write_bytes(lines[0] + b"\n")
    kinds_path.write_text("\n".join(kinds) + "\n")
    rests_path.write_text("\n".join(rests) + "\n")
    return hello_path, kinds_path, rests_path, sum(sizes) // len(sizes), len(kinds)


def serve_files(path: Path, workdir: Path) -> tuple[Path, Path, Path, int, int]:
    """A recorded stream of full lines for SERVE: the hello, each sample as a full line and
    as a delta from the sample before it (wire_delta.diff, as the sampler computes them).
    Also the mean full line size and the mean delta size."""
    diff = _diff()
    lines = path.read_bytes().splitlines()
    samples = [json.loads(line) for line in lines[1:]]
    if not samples or any(s.get("type") != "sample" for s in samples):
        raise SystemExit(f"{path}: --serve takes a stream of full lines (a hello, then samples)")
    fulls = [_after_seq(s) for s in samples]
    deltas = []
    for k, cur in enumerate(samples):
        prev = samples[k - 1]  # the first one's delta is from the last: the loop wraps
        deltas.append(_after_seq(diff(_strip(prev), _strip(cur))))
    hello_path, fulls_path, deltas_path = (workdir / n for n in ("hello.json", "fulls", "deltas"))
    hello_path.write_bytes(lines[0] + b"\n")
    fulls_path.write_text("\n".join(fulls) + "\n")
    deltas_path.write_text("\n".join(deltas) + "\n")
    full_size = sum(len(line) + 1 for line in lines[1:]) // len(samples)
    delta_size = sum(len(d) + 40 for d in deltas) // len(deltas)  # + type, t and seq
    return hello_path, fulls_path, deltas_path, full_size, delta_size


def _diff() -> Any:
    """wire_delta.diff from this tree, even when an older monitor (without it) was imported."""
    try:
        from autoglm_tui.wire_delta import diff
    except ImportError:
        import importlib.util

        path = Path(__file__).resolve().parent.parent / "autoglm_tui" / "wire_delta.py"
        spec = importlib.util.spec_from_file_location("_bench_wire_delta", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        diff = module.diff
    return diff


def _strip(data: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in data.items() if k not in ("type", "t", "seq")}


def record(workdir: Path, interval: float, python: str) -> tuple[Path, Path, int]:
    """A real hello and sample from the real sampler; the sample split after its seq field."""
    import subprocess

    out = subprocess.run(
        [python, "-m", "autoglm_tui", "sample", "--interval", str(interval), "--count", "2"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.splitlines()
    hello, sample = out[0], out[-1]
    cut = sample.index(',"cpu":')
    hello_path = workdir / "hello.json"
    rest_path = workdir / "rest.json"
    hello_path.write_text(hello + "\n")
    rest_path.write_text(sample[cut:] + "\n")
    return hello_path, rest_path, len(sample)
