"""The scenario corpus through the real CLI: `autoglm-tui diagnose --replay FILE --json` names
the right top finding (with evidence, a window and what to do) on every scenario, the findings
each must name, none it must not, and nothing at all on the healthy ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "scenarios"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
SCENARIOS = {s["name"]: s for s in MANIFEST["scenarios"]}


def diagnose(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "autoglm_tui", "diagnose", *args],
                          capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)


def test_the_corpus_is_big_and_varied_enough() -> None:
    assert len(SCENARIOS) >= 20
    healthy = [s for s in SCENARIOS.values() if s["top"] is None]
    assert len(healthy) >= 4
    tops = {s["top"] for s in SCENARIOS.values() if s["top"]}
    assert len(tops) >= 14
    assert sum(1 for s in SCENARIOS.values() if len(s["must"]) > 1) >= 3  # mixed cases


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(name: str) -> None:
    sc = SCENARIOS[name]
    done = diagnose("--replay", str(CORPUS / sc["file"]), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    findings = doc["findings"]
    names = [f["name"] for f in findings]
    assert doc["source"]["bad_lines"] == 0
    if sc["top"] is None:
        assert findings == [], f"{name}: a healthy fleet got {names}"
        return
    top = findings[0]
    assert top["name"] == sc["top"], f"{name}: top is {names}"
    for key, value in sc["top_subject"].items():
        assert top["subject"].get(key) == value, f"{name}: {top['subject']}"
    assert top["verdict"] and top["evidence"] and top["next"]
    assert top["window"]["seconds"] > 0
    assert set(sc["must"]) <= set(names), f"{name}: {names}"
    assert not set(sc["must_not"]) & set(names), f"{name}: {names}"


def test_text_output_and_a_time_inside_the_recording() -> None:
    path = str(CORPUS / "cpu_bound.jsonl.gz")
    done = diagnose("--replay", path)
    assert done.returncode == 0
    assert "WARNING  cpu_bound  batch-0" in done.stdout and "next:" in done.stdout
    # four minutes in, the CPU had not saturated yet (it does at five)
    early = json.loads(diagnose("--replay", path, "--at", "+4m", "--json").stdout)
    assert early["findings"] == [] and early["t"] == early["source"]["start"] + 240
    bad = diagnose("--replay", path, "--at", "+1h")
    assert bad.returncode == 2 and "outside the recording" in bad.stderr


def test_a_recording_given_as_the_argument_and_what_no_finding_rests_on() -> None:
    """`diagnose FILE` is `diagnose --replay FILE`; "no findings" says how many nodes and how
    much data it rests on, and which checks that is too short for."""
    path = str(CORPUS / "healthy_training.jsonl.gz")
    whole = diagnose(path)
    assert whole.returncode == 0, whole.stderr
    assert whole.stdout == diagnose("--replay", path).stdout
    assert "no findings as of" in whole.stdout and "(2 nodes, " in whole.stdout
    assert "too short" not in whole.stdout  # the recording is longer than every check needs
    early = diagnose(path, "--at", "+1m")
    assert early.returncode == 0, early.stderr
    assert "(2 nodes, 1m00s of data)" in early.stdout
    assert ("too short to rule everything out: bottlenecks need 2m00s of data, memory leaks "
            "5m00s, latency rises 6m00s") in early.stdout
    doc = json.loads(diagnose(path, "--at", "+1m", "--json").stdout)
    assert doc["coverage"] == {"nodes": 2, "data_s": 60.0,
                               "too_short_for": {"bottlenecks": 120.0, "memory_leaks": 300.0,
                                                 "latency_rises": 360.0}}
    assert json.loads(diagnose(path, "--json").stdout)["coverage"]["too_short_for"] == {}
    two = diagnose(path, "--replay", str(CORPUS / "cpu_bound.jsonl.gz"))
    assert two.returncode == 2 and "two recordings given" in two.stderr
    scaled = advise(str(CORPUS / "scale_out.jsonl.gz"))
    assert scaled.stdout == "llm-70b: 4 -> 6 replicas (GPU util 92% vs target 70%)\n"


def test_unreadable_recordings_are_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text("hello\n")
    done = diagnose("--replay", str(p))
    assert done.returncode == 2
    assert "not an autoglm-tui recording" in done.stderr and "Traceback" not in done.stderr


def test_the_corpus_is_what_the_script_makes() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_scenarios.py"),
                           "--check"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def advise(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "autoglm_tui", "advise", *args],
                          capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)


def test_advise_prints_the_hpa_line_and_json_for_scripts() -> None:
    path = str(CORPUS / "scale_out.jsonl.gz")
    done = advise("--replay", path)
    assert done.returncode == 0
    assert done.stdout == "llm-70b: 4 -> 6 replicas (GPU util 92% vs target 70%)\n"
    doc = json.loads(advise("--replay", path, "--json").stdout)
    (group,) = doc["groups"]
    assert (group["group"], group["current"], group["desired"]) == ("service=llm-70b", 4, 6)
    assert {m["metric"] for m in group["metrics"]} >= {"gpu_util", "queue_per_replica"}
    capped = json.loads(advise("--replay", path, "--json", "--max-replicas", "5").stdout)
    assert capped["groups"][0]["desired"] == 5
    steady = advise("--replay", str(CORPUS / "healthy_inference.jsonl.gz"))
    assert steady.stdout == "llm-a: 3 -> 3 replicas (GPU util 68% vs target 70%)\n"
    none = advise("--replay", str(CORPUS / "cpu_bound.jsonl.gz"))
    assert none.returncode == 0 and "no replica groups" in none.stdout


def test_live_diagnose_of_this_host_answers_after_collecting() -> None:
    done = diagnose("--for", "3s", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["source"] == {"live": True, "collected_s": 3.0}
    assert isinstance(doc["findings"], list)
    bad = diagnose("--at", "+1m")
    assert bad.returncode == 2 and "--at needs --replay" in bad.stderr


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "autoglm_tui", *args], capture_output=True,
                          text=True, env=env, timeout=120, cwd=ROOT)


def test_snapshot_and_record_write_recordings_that_replay(tmp_path: Path) -> None:
    snap = tmp_path / "snap.jsonl.gz"
    assert cli("snapshot", "--record", str(snap), "--wait", "5").returncode == 0
    info = json.loads(cli("replay", str(snap), "--info").stdout)
    assert info["source"] == "snapshot" and len(info["nodes"]) == 1 and info["lines"] >= 3
    rec = tmp_path / "rec.jsonl"
    done = cli("record", str(rec), "--for", "3s", "--interval", "0.5", "--quiet")
    assert done.returncode == 0, done.stderr
    info = json.loads(cli("replay", str(rec), "--info").stdout)
    assert info["source"] == "local" and info["seconds"] >= 1.5 and info["index"] == "sidecar"
    bad = cli("replay", str(tmp_path / "missing.jsonl"))
    assert bad.returncode == 2 and "cannot read" in bad.stderr


def test_a_latency_rise_names_the_load_that_rose_or_says_it_did_not() -> None:
    """Twice the requests from minute 7: the rise names them first and its step is about the
    load; where nothing on the node or in the load moved, it says that."""
    def rise(name: str) -> dict:
        done = diagnose("--replay", str(CORPUS / SCENARIOS[name]["file"]), "--json")
        assert done.returncode == 0, done.stderr
        (f,) = [f for f in json.loads(done.stdout)["findings"] if f["name"] == "latency_rise"]
        return f

    f = rise("latency_rise_with_load")
    load = {x["figure"]: x for x in f["data"]["load"]}
    assert {"requests", "prompt_tokens", "running"} <= set(load), f["data"]
    assert 19 <= load["requests"]["before"] <= 21 and 38 <= load["requests"]["after"] <= 42
    assert f["data"]["load_unchanged"] == ["output_length", "prompt_length"]  # as long as before
    changes = f["verdict"].split("; with it: ")[1]
    assert changes.index("requests ") < changes.index("GPU util"), changes  # the load first
    assert f["next"][0].startswith("more requests arrived at that moment")
    f = rise("latency_rise_unexplained")
    assert f["verdict"].endswith("neither the node's resources nor its load changed with it")
    assert f["next"][0].startswith("neither the node's resources nor the load")
