"""`autoglm-tui rules` run as a user runs it (a subprocess, its own HOME): switching off a
default rule as the README says, and errors listed in line order."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env["HOME"] = str(tmp_path / "home")
    return subprocess.run([sys.executable, "-m", "autoglm_tui", *args], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


def test_enabled_false_switches_a_default_rule_off(tmp_path: Path) -> None:
    off = tmp_path / "off.toml"
    off.write_text('[[rule]]\nname = "gpu_util_high"\nenabled = false\n')
    check = _cli(tmp_path, "rules", "check", str(off))
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{off}: OK, 1 rule (0 enabled)" in check.stdout

    listed = _cli(tmp_path, "rules", "list", "--rules", str(off))
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()]
    assert "gpu_util_high" not in names and "gpu_mem_high" in names
    everything = _cli(tmp_path, "rules", "list", "--all", "--rules", str(off))
    line = next(ln for ln in everything.stdout.splitlines() if ln.startswith("gpu_util_high"))
    assert "(off)" in line and f"{off}:1" in line


def test_a_switched_off_rule_still_has_its_keys_checked(tmp_path: Path) -> None:
    off = tmp_path / "off.toml"
    off.write_text('[[rule]]\nname = "gpu_util_high"\nenabled = false\ntreshold = 95\n')
    check = _cli(tmp_path, "rules", "check", str(off))
    assert check.returncode == 1
    assert f"{off}:4: rule 'gpu_util_high': unknown key 'treshold'" in check.stdout


BAD = """\
[[rule]]
name = "gpu_util_high"
enabled = false

[[rule]]
name = "b"
metric = "gpu.utl_pct"
treshold = 85
for = "3 minutes"
severity = "urgent"

[[rule]]
metric = "cpu.util_pct"
threshold = "x"
"""


@pytest.mark.parametrize("command", [["rules", "check"], ["rules", "list", "--rules"]])
def test_errors_come_in_line_order(tmp_path: Path, command: list[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD)
    out = _cli(tmp_path, *command, str(bad))
    assert out.returncode == 1
    text = out.stdout + out.stderr
    lines = [int(m.group(1)) for m in re.finditer(rf"{re.escape(str(bad))}:(\d+):", text)]
    assert lines == [5, 7, 8, 9, 10, 12, 14]
    assert "missing 'metric'" not in text.split(f"{bad}:5:")[0]  # nothing on the switch-off


NEW_KINDS = """\
[[rule]]
name = "slow_chat"
metric = "svc.latency_p95_s"
threshold = 2
match = { model = "acme/llm-70b" }
min_requests = 50

[[rule]]
name = "queue_up"
kind = "trend"
metric = "svc.queue_len"
window = "2m"
threshold = 5

[[rule]]
name = "bottleneck"
finding = ["cpu_bound", "storage_bound"]
for = "1m"
"""


def test_service_trend_and_diagnosis_rules_are_checked_and_listed(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(NEW_KINDS)
    check = _cli(tmp_path, "rules", "check", str(good))
    assert check.returncode == 0, check.stdout + check.stderr
    listed = _cli(tmp_path, "rules", "list", "--rules", str(good))
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:] if line.strip()}
    assert "svc.latency_p95_s > 2 per service where model=acme/llm-70b" in rows["slow_chat"]
    assert "trend" in rows["queue_up"] and "slope of svc.queue_len over 2m > 5/min" in \
        rows["queue_up"]
    assert "diagnosis finds cpu_bound or storage_bound" in rows["bottleneck"]
    assert ("slope of svc.queue_len over 1m > 1/min with R² >= 0.3 per service"
            in rows["queue_growing"])

    bad = tmp_path / "bad.toml"
    bad.write_text(NEW_KINDS.replace('window = "2m"', 'window = "2 minutes"')
                   .replace('"storage_bound"', '"storage_bond"')
                   .replace("min_requests = 50", "min_requests = 1.5"))
    check = _cli(tmp_path, "rules", "check", str(bad))
    assert check.returncode == 1
    out = check.stdout
    assert f"{bad}:6: rule 'slow_chat': 'min_requests' must be a whole number" in out
    assert f"{bad}:12: rule 'queue_up': 'window':" in out
    assert (f"{bad}:17: rule 'bottleneck': unknown finding 'storage_bond' (did you mean "
            "'storage_bound'?)") in out
    assert out.index(":6:") < out.index(":12:") < out.index(":17:")
