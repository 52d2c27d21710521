"""The alert log on a real file system: fsync per event, rotation, and kill -9 mid-stream."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autoglm_tui.alerting.alert_log import AlertLog, read_log

pytestmark = pytest.mark.integration

# A monitor with the alert pipeline, fed a CPU series that crosses a rule's threshold every
# step, so every tick writes alert lines; it waits for the writer thread to fsync them, prints
# how many lines it has written after each tick, and runs until killed.
CHILD = textwrap.dedent(
    """
    import sys
    from autoglm_tui.alerting.alert_log import AlertLog
    from autoglm_tui.alerting.pipeline import AlertPipeline
    from autoglm_tui.analysis.alerts import AlertEngine
    from autoglm_tui.analysis.alerts import parse_rules
    from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived
    from autoglm_tui.monitor import Monitor
    from tests.unit.alertseries import _Counters, build_sample
    from tests.unit.samples import hello

    rules = parse_rules('[[rule]]\\nname = "flip"\\nmetric = "cpu.util_pct"\\nthreshold = 50\\n')[0]
    log = AlertLog(sys.argv[1], max_bytes=int(sys.argv[2]), backups=1000)
    pipeline = AlertPipeline(AlertEngine(rules), log=log)
    monitor = Monitor()
    pipeline.install(monitor)
    c = _Counters()
    t = 1_700_000_000.0
    monitor.apply(NodeJoined(t, "n1"))
    monitor.apply(HelloReceived(t, "n1", hello("n1", gpus=0)))
    i = 0
    while True:
        i += 1
        t += 1
        cpu = "99" if i % 2 else "10"
        sample = build_sample(t, c, {("cpu.util_pct", None): cpu}, 1.0)
        monitor.apply(SampleReceived(t, "n1", sample))
        monitor.tick(t)
        log.flush()  # a tick's lines are on disk before the next tick (a real pace, no drops)
        print(log.lines_written, flush=True)
    """
)


def _all_lines(path: Path) -> list[bytes]:
    files = sorted(path.parent.glob(path.name + ".*"), key=lambda f: -int(f.suffix[1:]))
    out: list[bytes] = []
    for f in [*files, path]:
        out.extend(f.read_bytes().splitlines())
    return out


@pytest.mark.parametrize("max_bytes", [10 << 20, 4096])
def test_kill_9_mid_stream_loses_nothing(tmp_path: Path, max_bytes: int) -> None:
    log_path = tmp_path / "alerts.jsonl"
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(log_path), str(max_bytes)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=repo, text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    reported = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            reported = int(line)
            if reported >= 150:
                break
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: it is still writing
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    lines = _all_lines(log_path)
    records = [json.loads(raw) for raw in lines]  # every line is whole JSON
    assert len(records) >= reported >= 150
    assert not [r for r in records if r["kind"] == "log_gap"]  # nothing was dropped
    alerts = [r for r in records if r["kind"] == "alert"]
    assert [r["state"] for r in alerts[:4]] == ["firing", "resolved", "firing", "resolved"]
    assert all(r["rule"] == "flip" and r["node"] == "n1" for r in alerts)
    assert {"t", "time", "rule", "state", "node", "gpu", "pid", "value"} <= set(alerts[0])
    assert alerts[0]["value"] == 99.0 and alerts[1]["value"] == 10.0
    times = [r["t"] for r in alerts]
    assert times == sorted(times)
    statuses = [r for r in records if r["kind"] == "node_status"]
    assert statuses[0]["node"] == "n1" and statuses[0]["new"] == "CONNECTING"
    if max_bytes == 4096:
        assert len(list(tmp_path.glob("alerts.jsonl.*"))) >= 3  # it rotated while running
        assert all(f.stat().st_size <= 4096 for f in tmp_path.glob("alerts.jsonl*"))


def test_rotation_keeps_backups_and_drops_the_oldest(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "alerts.jsonl"
    log = AlertLog(path, max_bytes=1024, backups=2)
    for i in range(100):
        assert log.write({"kind": "alert", "n": i, "pad": "x" * 50})
    log.close()
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["alerts.jsonl", "alerts.jsonl.1", "alerts.jsonl.2"]
    kept = [r["n"] for r in read_log(path, include_rotated=True)]
    assert kept == list(range(kept[0], 100))  # the newest, in order, none missing
    assert kept[0] > 0
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_torn_last_line_is_skipped_and_not_glued_to_the_next(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(b'{"kind":"alert","n":1}\n{"kind":"alert","n"')  # power cut mid-line
    log = AlertLog(path)
    log.write({"kind": "alert", "n": 2})
    log.close()
    assert [r["n"] for r in read_log(path)] == [1, 2]


def test_a_full_disk_is_reported_not_raised() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    log = AlertLog("/dev/full")
    try:
        assert log.write({"kind": "alert"}) is False
        assert log.errors == 1 and "No space left" in (log.last_error or "")
    finally:
        log.close()
