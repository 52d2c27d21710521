"""Control lines written to the real `autoglm-tui sample` process's stdin: a new interval, a
full sample, compact deltas; bad lines are reported on the wire and never stop it."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from autoglm_tui import wire
from autoglm_tui.model import Hello, Sample
from autoglm_tui.sampler.control import MAX_LINE
from autoglm_tui.wire_patch import StreamDecoder

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "fakes" / "fake_nvml.py"


class Sampler:
    """A running sampler: write control lines, read decoded messages with a deadline."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ)
        env.update({"PYTHONPATH": str(ROOT), "AUTOGLM_NVML_MODULE": str(FAKE),
                    "AUTOGLM_FAKE_NVML": json.dumps({"gpu_count": 2, "wave": True})})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autoglm_tui", "sample", "--top", "3", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.decoder = StreamDecoder()
        self.raw: list[dict[str, object]] = []
        self._buf = b""

    def send(self, line: str | bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() if isinstance(line, str) else line)
        self.proc.stdin.flush()

    def read(self, timeout: float = 20.0) -> tuple[Hello | Sample, float]:
        """The next message and the monotonic time its line arrived."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, left))
            if not ready:
                raise AssertionError(f"no line within {timeout} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"sampler ended: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        self.raw.append(json.loads(line))
        return self.decoder.decode(line), time.monotonic()

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            return self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def sampler() -> Iterator[type[Sampler]]:
    made: list[Sampler] = []

    class Tracked(Sampler):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            made.append(self)

    yield Tracked
    for s in made:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def test_a_new_interval_takes_effect_and_travels_on_the_wire(sampler) -> None:
    s = sampler("--interval", "2")
    hello, _ = s.read()
    assert isinstance(hello, Hello)
    # "services": it scrapes inference servers, so it takes the registration's list too.
    assert hello.schema_minor == 1 and set(hello.features) == {"control", "delta", "services"}
    first, _ = s.read()
    assert isinstance(first, Sample) and first.sampling is not None
    assert first.sampling.interval_s == 2.0 and first.sampling.requested_interval_s is None
    s.send('{"type":"control","interval":0.3}\n')
    got = [s.read() for _ in range(4)]
    assert all(m.sampling.interval_s == 0.3 for m, _ in got)  # type: ignore[union-attr]
    assert got[-1][0].sampling.requested_interval_s == 0.3  # type: ignore[union-attr]
    # On the sampler's own clock the samples are now 0.3 s apart, not 2 s.
    gaps = [b.t - a.t for (a, _), (b, _) in pairwise(got)]  # type: ignore[union-attr]
    assert all(0.2 < g < 1.0 for g in gaps), gaps
    s.send('{"type":"control","interval":null}\n')  # back to --interval
    for _ in range(4):
        msg, _ = s.read()
        if msg.sampling.interval_s == 2.0:  # type: ignore[union-attr]
            break
    assert msg.sampling.interval_s == 2.0 and msg.sampling.requested_interval_s is None  # type: ignore[union-attr]
    assert s.close() == 0


def test_bad_control_lines_are_reported_and_ignored(sampler) -> None:
    s = sampler("--interval", "0.3")
    s.read()
    s.send(b"not json\n")
    s.send(b'{"type":"control","interval":-1,"colour":"red"}\n')
    s.send(b'["type","control"]\n')
    s.send(b'{"type":"other"}\n')
    s.send(b"\xff\xfe\n")
    s.send(b'{"type":"control","interval":"' + b"9" * (MAX_LINE + 10) + b'"}\n')
    errors: list[str] = []
    for _ in range(8):
        msg, _ = s.read()
        assert isinstance(msg, Sample)
        errors += [e for e in msg.errors if e.startswith("control")]
        if len(errors) >= 7:
            break
    text = "\n".join(errors)
    assert "control line is not JSON" in text
    assert "control interval: -1 is outside 0.2 to 3600 s" in text
    assert "control key 'colour' is not known here" in text
    assert "must be a JSON object" in text
    assert "needs \"type\": \"control\"" in text
    assert f"longer than {MAX_LINE} bytes" in text
    assert msg.sampling.interval_s == 0.3  # type: ignore[union-attr]
    assert s.proc.poll() is None  # still running
    assert s.close() == 0


def test_compact_samples_on_request_and_a_full_one_on_demand(sampler) -> None:
    s = sampler("--interval", "0.3")
    s.read()
    s.read()
    assert s.raw[-1]["type"] == "sample"  # nobody asked: full samples, as schema 1.0
    s.send('{"type":"control","delta":true}\n')
    kinds = []
    for _ in range(5):
        s.read()
        kinds.append(s.raw[-1]["type"])
    assert "delta" in kinds
    first_delta = kinds.index("delta")
    assert kinds[first_delta - 1] == "sample"  # switching starts from a full sample
    s.send('{"type":"control","full":true}\n')
    for _ in range(3):
        s.read()
        if s.raw[-1]["type"] == "sample":
            break
    assert s.raw[-1]["type"] == "sample"
    assert s.decoder.deltas >= 1 and s.decoder.fulls >= 3
    full_line = json.dumps(s.raw[-1])
    assert s.decoder.last == wire.decode(full_line)
    assert s.close() == 0


def test_delta_flag_and_full_every(sampler) -> None:
    s = sampler("--interval", "0.25", "--delta", "--full-every", "1")
    s.read()
    for _ in range(9):
        msg, _ = s.read()
        assert isinstance(msg, Sample)
    kinds = [r["type"] for r in s.raw[1:]]
    assert kinds[0] == "sample" and kinds.count("delta") >= 4
    assert kinds.count("sample") >= 2  # a full one at least every second
    sizes = [len(json.dumps(r)) for r in s.raw[1:]]
    deltas = [n for n, k in zip(sizes, kinds, strict=True) if k == "delta"]
    assert max(deltas) < min(n for n, k in zip(sizes, kinds, strict=True) if k == "sample")
    assert s.close() == 0
