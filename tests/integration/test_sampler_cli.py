"""The real `autoglm-tui sample` command: its lines decode, it stops the ways SSH and users stop
it, fake GPUs show up, and it runs from a zip with the standard library alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from autoglm_tui import wire
from autoglm_tui.model import Hello, Sample

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "autoglm_tui", "sample"]
BUSY = "import time\nt = time.process_time()\nwhile time.process_time() - t < 60: pass\n"


def env(**extra: str) -> dict[str, str]:
    out = dict(os.environ)
    for key in ("AUTOGLM_NVML_MODULE", "AUTOGLM_FAKE_NVML", "AUTOGLM_COLLECTOR"):
        out.pop(key, None)
    out["PYTHONPATH"] = str(ROOT)
    out.update(extra)
    return out


def decode_all(stdout: bytes) -> list[Hello | Sample]:
    return [wire.decode(line) for line in stdout.splitlines()]


@pytest.fixture
def busy() -> Iterator[subprocess.Popen[bytes]]:
    """A process this test starts and that uses enough CPU to rank in the top list."""
    proc = subprocess.Popen([sys.executable, "-c", BUSY, "cli-busy-marker"])
    yield proc
    proc.kill()
    proc.wait()


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_count_run_prints_hello_and_samples(busy) -> None:
    done = subprocess.run(
        [*CLI, "--count", "3", "--interval", "0.2"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""
    msgs = decode_all(done.stdout)
    assert len(msgs) == 4
    hello, samples = msgs[0], msgs[1:]
    assert isinstance(hello, Hello)
    assert hello.static.cpu_cores_logical == psutil.cpu_count()
    assert hello.static.mem_total_bytes == psutil.virtual_memory().total
    assert hello.static.collector == "psutil"
    assert all(isinstance(s, Sample) for s in samples)
    assert [s.seq for s in samples] == [1, 2, 3]
    pids = {p.pid for s in samples for p in s.procs}
    assert busy.pid in pids
    listed = next(p for p in samples[-1].procs if p.pid == busy.pid)
    assert "cli-busy-marker" in listed.cmdline
    assert all(s.self_cost is not None for s in samples)


def test_end_of_input_stops_it() -> None:
    proc = subprocess.Popen(
        [*CLI, "--interval", "0.2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert isinstance(wire.decode(proc.stdout.readline()), Hello)
        assert isinstance(wire.decode(proc.stdout.readline()), Sample)
        proc.stdin.close()  # what closing the SSH channel does
        assert proc.wait(timeout=10) == 0
        rest = proc.stdout.read()
        assert all(isinstance(m, Sample) for m in decode_all(rest))
        assert proc.stderr is not None and proc.stderr.read() == b""
    finally:
        stop(proc)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_it_with_status_zero(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [*CLI, "--interval", "0.2"],
        stdin=subprocess.DEVNULL,  # not a pipe: only a signal can stop it
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
    )
    try:
        assert proc.stdout is not None
        assert isinstance(wire.decode(proc.stdout.readline()), Hello)
        assert isinstance(wire.decode(proc.stdout.readline()), Sample)
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None and proc.stderr.read() == b""
    finally:
        stop(proc)


def test_a_closed_reader_ends_it_quietly() -> None:
    """`autoglm-tui sample | head -1`: the next write hits a closed pipe."""
    done = subprocess.run(
        f"{sys.executable} -m autoglm_tui sample --count 3 --interval 0.2 | head -1",
        shell=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env(),
        timeout=60,
        executable="/bin/bash",
    )
    assert done.returncode == 0
    assert isinstance(wire.decode(done.stdout), Hello)
    assert done.stderr == b""


def test_once_then_head_two() -> None:
    done = subprocess.run(
        f"set -o pipefail; {sys.executable} -m autoglm_tui sample --once --interval 0.2 | head -2",
        shell=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env(),
        timeout=60,
        executable="/bin/bash",
    )
    assert done.returncode == 0, done.stderr.decode()
    hello, sample = decode_all(done.stdout)
    assert isinstance(hello, Hello) and isinstance(sample, Sample)


def test_fake_gpus_appear(tmp_path: Path) -> None:
    scenario = {
        "gpu_count": 4,
        "gpus": [{}, {"not_supported": ["nvmlDeviceGetFanSpeed"]}, {"lost": True}],
    }
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario))
    done = subprocess.run(
        [*CLI, "--count", "2", "--interval", "0.2"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env(AUTOGLM_NVML_MODULE="tests.fakes.fake_nvml", AUTOGLM_FAKE_NVML=str(path)),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    hello, *samples = decode_all(done.stdout)
    assert isinstance(hello, Hello)
    assert hello.static.nvml.available
    assert hello.static.nvml.driver_version
    assert [g.index for g in hello.static.gpus] == [0, 1, 2, 3]
    for s in samples:
        assert isinstance(s, Sample)
        assert [g.state for g in s.gpus] == ["ok", "ok", "lost", "ok"]
        assert s.gpus[1].fan_pct is None and s.gpus[0].fan_pct is not None


def test_runs_from_a_zip_with_the_standard_library_alone(tmp_path: Path) -> None:
    """Push mode: only python3 on the node, the sampler's modules shipped as a zip."""
    from autoglm_tui.cluster.push import bundle_files

    bundle = tmp_path / "sampler.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        # What push mode ships (the sampler and the modules it imports), minus the NVML binding.
        for arcname, path in bundle_files().items():
            if arcname != "pynvml.py":
                zf.write(path, arcname)
    # -S: no site-packages, so neither psutil, pynvml nor the installed package is there.
    cmd = [sys.executable, "-S", "-m", "autoglm_tui.sampler.loop", "--count", "2"]
    done = subprocess.run(
        [*cmd, "--interval", "0.2"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(bundle)},
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    hello, *samples = decode_all(done.stdout)
    assert isinstance(hello, Hello)
    assert hello.static.collector == "procfs"
    assert hello.static.mem_total_bytes == psutil.virtual_memory().total
    assert hello.static.nvml.available is False
    assert "pynvml" in (hello.static.nvml.reason or "")
    assert [s.seq for s in samples] == [1, 2]
    assert all(isinstance(s, Sample) and s.procs for s in samples)
