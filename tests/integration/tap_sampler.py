"""The real sampler with a tap, run on a test node over real SSH (never by the monitor itself).

    python3 tap_sampler.py --tap FILE [--drop-delta N] [--as-1.0] -- SAMPLER_ARGS...

Runs ``autoglm_tui.sampler.loop.run`` (the real loop, collector, control lines and delta
encoder) and writes, besides its normal stdout, one JSON line per event to FILE:

- ``{"control": LINE}`` for every control line the sampler read on its stdin;
- ``{"seq": n, "kind": "sample"|"delta", "dropped": bool, "full": FULL_LINE}`` for every
  sample, where FULL_LINE is ``wire.encode`` of the very Sample object that went out (as a
  full line or as a delta), so a test can hold the monitor's state against full lines.

``--drop-delta N`` leaves the Nth delta line out of stdout (a line lost on the way).
``--as-1.0`` makes it a schema 1.0 sampler: every line re-encoded by the frozen 1.0 wire
(tests/compat/v1_0: no ``features``, no health fields, no ``sampling``) and control lines
logged but not obeyed (a 1.0 sampler reads stdin only to see its end).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from autoglm_tui import wire, wire_delta
from autoglm_tui.sampler import control, loop


class TapOut:
    """The sampler's stdout: passes lines on (or drops one delta) and logs each sample."""

    def __init__(self, tap: Any, drop_delta: int, as_old: bool) -> None:
        self.tap = tap
        self.drop_delta = drop_delta
        self.as_old = as_old
        self.deltas = 0
        self.pending: tuple[int, str] | None = None  # (seq, full line) of the sample encoded
        self.out = sys.stdout.buffer

    def write(self, data: bytes) -> int:
        kind = "delta" if data.startswith(b'{"type":"delta"') else "other"
        dropped = False
        if kind == "delta":
            self.deltas += 1
            dropped = self.deltas == self.drop_delta
        if self.pending is not None:
            seq, full = self.pending
            self.pending = None
            self._log({"seq": seq, "kind": "delta" if kind == "delta" else "sample",
                       "dropped": dropped, "full": full})
        if dropped:
            return len(data)
        if self.as_old:
            data = _as_v1_0(data)
        self.out.write(data)
        return len(data)

    def flush(self) -> None:
        self.out.flush()

    def _log(self, record: dict[str, Any]) -> None:
        self.tap.write(json.dumps(record) + "\n")
        self.tap.flush()


def _as_v1_0(data: bytes) -> bytes:
    from tests.compat.v1_0 import wire as old_wire

    return old_wire.encode(old_wire.decode(data.rstrip(b"\n"))).encode() + b"\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tap", required=True)
    parser.add_argument("--drop-delta", type=int, default=0)
    parser.add_argument("--as-1.0", dest="as_old", action="store_true")
    parser.add_argument("sampler_args", nargs="*")
    args = parser.parse_args()
    sampler = loop.build_parser().parse_args(args.sampler_args)
    tap = open(args.tap, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    out = TapOut(tap, args.drop_delta, args.as_old)

    encode = wire_delta.DeltaEncoder.encode

    def tapped_encode(self: Any, sample: Any, delta: bool = True) -> str:
        out.pending = (sample.seq, wire.encode(sample))
        return encode(self, sample, delta)

    wire_delta.DeltaEncoder.encode = tapped_encode  # type: ignore[method-assign]

    apply_line = control.Controls.apply_line

    def tapped_apply_line(self: Any, raw: bytes) -> None:
        out._log({"control": raw.decode("utf-8", "replace")})
        if not args.as_old:
            apply_line(self, raw)

    control.Controls.apply_line = tapped_apply_line  # type: ignore[method-assign]
    return loop.run(
        interval_s=sampler.interval,
        count=sampler.count,
        proc_interval_s=sampler.proc_interval,
        top_n=sampler.top,
        collector=sampler.collector,
        out=out,  # type: ignore[arg-type]
        delta=sampler.delta,
        full_every_s=sampler.full_every,
        health_interval_s=sampler.health_interval,
        adaptive=sampler.adaptive,
    )


if __name__ == "__main__":
    raise SystemExit(main())
