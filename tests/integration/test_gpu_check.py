"""scripts/gpu_check.py, the side-by-side check for a GPU machine, run here on the real sampler
with the fake NVML against an `nvidia-smi -q` text in the layout of driver 550 (written for this
test: there is no GPU here). It must agree where the figures agree and say where they do not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SMI = ROOT / "tests" / "fakes" / "nvidia_smi_q.txt"
FAKE = ROOT / "tests" / "fakes" / "fake_nvml.py"


def sampler_lines(tmp_path: Path, pid: int) -> Path:
    env = dict(os.environ)
    env.update({"PYTHONPATH": str(ROOT), "AUTOGLM_NVML_MODULE": str(FAKE),
                "AUTOGLM_FAKE_NVML": json.dumps({"gpu_count": 1, "gpus": [
                    {"processes": [{"pid": pid, "mem": 3 << 30, "sm": 20}]}]})})
    done = subprocess.run([sys.executable, "-m", "autoglm_tui", "sample", "--count", "2",
                           "--interval", "0.3", "--collector", "procfs", "--top", "2"],
                          env=env, capture_output=True, text=True, timeout=60, check=True,
                          stdin=subprocess.DEVNULL)
    out = tmp_path / "sampler.jsonl"
    out.write_text(done.stdout)
    return out


def check(tmp_path: Path, smi_text: str) -> subprocess.CompletedProcess[str]:
    smi = tmp_path / "smi.txt"
    smi.write_text(smi_text)
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--smi-file", str(smi),
         "--sampler-file", str(tmp_path / "sampler.jsonl")],
        capture_output=True, text=True, timeout=60)


def test_the_check_agrees_where_the_figures_agree(tmp_path: Path) -> None:
    pid = os.getpid()
    sampler_lines(tmp_path, pid)
    text = SMI.read_text().replace("PID_HERE", str(pid))
    done = check(tmp_path, text)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "## GPU 0 (NVIDIA H100 80GB HBM3, 00000000:18:00.0)" in out
    assert "every exact field agrees" in out
    for field in ("PCIe width max", "rows remapped, uncorrectable", "clock-event reasons",
                  "power W", "processes (pids)"):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(field))
        assert line.rstrip().endswith("ok"), line
    assert "retired pages" in out and "n/a in nvidia-smi" in out
    assert "sampler CPU:" in out


def test_the_check_says_what_differs(tmp_path: Path) -> None:
    sampler_lines(tmp_path, os.getpid())
    text = (SMI.read_text().replace("PID_HERE", "1")
            .replace("Current                   : 16x", "Current                   : 8x")
            .replace("Pending                           : No",
                     "Pending                           : Yes"))
    done = check(tmp_path, text)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    width = next(ln for ln in lines if ln.strip().startswith("PCIe width now"))
    pending = next(ln for ln in lines if ln.strip().startswith("row remap pending"))
    assert "DIFFERS" in width and "DIFFERS" in pending
    assert "field(s) that should agree do not" in done.stdout
