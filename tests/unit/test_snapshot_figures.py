"""`snapshot`'s node figures: node-level only, by metric name, JSON-safe; and `--for`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from autoglm_tui.analysis.history import NodeHistory
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.commands.snapshot import figures

ROOT = Path(__file__).resolve().parents[2]


def _env(home: Path) -> dict[str, str]:
    out = dict(os.environ)
    for key in ("AUTOGLM_NVML_MODULE", "AUTOGLM_FAKE_NVML", "AUTOGLM_COLLECTOR"):
        out.pop(key, None)
    out.update(HOME=str(home), PYTHONPATH=str(ROOT))
    return out


def test_figures_are_the_node_level_values_by_name_with_nan_as_null() -> None:
    node = NodeState(node_id="n1", history=NodeHistory(60))
    node.metrics = {
        ("cpu.util_pct", None): 12.5,
        ("disk.read_bps", None): None,  # one sample so far: no rate
        ("net.rx_bps", None): float("nan"),
        ("svc.tokens_per_s", None): float("inf"),
        ("gpu.util_pct", 3): 97.0,  # a GPU's: in last_sample, not here
        ("svc.tokens_per_s", "vllm:8000"): 40.0,  # a service's: in services, not here
    }
    got = figures(node)
    assert got == {"cpu.util_pct": 12.5, "disk.read_bps": None, "net.rx_bps": None,
                   "svc.tokens_per_s": None}
    assert list(got) == sorted(got)
    json.loads(json.dumps(got, allow_nan=False))  # strict JSON: no NaN or Infinity


def test_snapshot_for_keeps_sampling_so_rates_are_known(tmp_path) -> None:
    env = _env(tmp_path)
    once = subprocess.run([sys.executable, "-m", "autoglm_tui", "snapshot", "--compact"],
                          capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL)
    doc = json.loads(once.stdout)
    (node,) = doc["nodes"]
    assert node["figures"]["disk.read_bps"] is None  # one sample: no rate yet, and not 0
    assert isinstance(node["figures"]["cpu.util_pct"], float)
    longer = subprocess.run(
        [sys.executable, "-m", "autoglm_tui", "snapshot", "--compact", "--for", "2.5s",
         "--interval", "0.5"],
        capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    doc = json.loads(longer.stdout)
    assert doc["collected_s"] >= 2.5
    (node,) = doc["nodes"]
    for name in ("disk.read_bps", "disk.write_bps", "net.rx_bps", "net.tx_bps"):
        assert isinstance(node["figures"][name], float) and node["figures"][name] >= 0, name
    assert node["last_sample"]["seq"] >= 3  # samples kept coming while it waited


def test_snapshot_for_refuses_a_bad_duration(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "autoglm_tui", "snapshot", "--for", "2h"],
                          capture_output=True, text=True, timeout=60,
                          env=_env(tmp_path),
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "--for: must be 0 to 1 hour" in done.stderr and done.stdout == ""
