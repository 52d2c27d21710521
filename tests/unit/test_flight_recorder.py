"""The flight recorder: the last minutes in memory, written out when an alert fires (plus the
minutes after), named in the alert's log line, and replayable on its own."""

from __future__ import annotations

from pathlib import Path

from autoglm_tui.alerting.alert_log import AlertLog, read_log
from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.analysis.alerts import AlertEngine, parse_rules
from autoglm_tui.cluster.synthetic import SyntheticFleet
from autoglm_tui.events import HelloReceived, SampleReceived
from autoglm_tui.monitor import Monitor
from autoglm_tui.recording.flight import FlightRecorder, file_name
from autoglm_tui.recording.reader import Recording

T0 = 1_700_000_000.0
RULES = """
[[rule]]
name = "cpu_very_high"
metric = "cpu.util_pct"
threshold = 1000
scope = "node"
"""


def rig(tmp_path: Path, rules: str = RULES, **kw):
    monitor = Monitor()
    log = AlertLog(tmp_path / "alerts.jsonl")
    pipeline = AlertPipeline(AlertEngine(parse_rules(rules)[0]), log=log)
    pipeline.install(monitor)
    flight = FlightRecorder(tmp_path / "flight", clock=lambda: T0, block_s=5.0, **kw)
    flight.install(monitor)
    fleet = SyntheticFleet(nodes=3, gpus=2, clock=lambda: T0, top=3)
    for e in fleet.join_events(T0):
        monitor.apply(e)
    return monitor, pipeline, flight, fleet, log


def run(monitor: Monitor, fleet: SyntheticFleet, start: int, stop: int) -> None:
    for k in range(start, stop):
        t = T0 + k
        for e in fleet.tick_events(t):
            monitor.apply(e)
        monitor.tick(t)


def test_nothing_is_written_until_an_alert_fires_and_memory_stays_bounded(tmp_path: Path) -> None:
    monitor, _, flight, fleet, log = rig(tmp_path, window_s=60.0)
    run(monitor, fleet, 1, 200)
    assert flight.worker.flush(30)
    assert not (tmp_path / "flight").exists()
    assert 55 <= flight.covered_s <= 70  # the window (plus the block being sealed)
    assert flight.bytes_per_node_minute() is not None
    monitor.close()
    log.close()


def test_an_alert_writes_the_window_and_the_minutes_after_and_the_log_names_it(
        tmp_path: Path) -> None:
    rules = RULES.replace("threshold = 1000", "threshold = 0")
    monitor, pipeline, flight, fleet, log = rig(tmp_path, rules=rules, window_s=60.0,
                                                after_s=30.0)
    pipeline.engine = AlertEngine([])  # quiet for the first 100 s
    run(monitor, fleet, 1, 100)
    pipeline.engine = AlertEngine(parse_rules(rules)[0])
    run(monitor, fleet, 100, 101)  # fires for all three nodes at once
    run(monitor, fleet, 101, 160)
    assert flight.worker.flush(30)
    files = sorted((tmp_path / "flight").glob("*.jsonl*"))
    data = [f for f in files if not f.name.endswith(".idx")]
    assert len(data) == 1  # three alerts at once: one file, all three named
    assert log.flush(10)  # the log is written by its own thread
    fired = [r for r in read_log(tmp_path / "alerts.jsonl") if r.get("state") == "firing"]
    assert len(fired) == 3 and {r["flight_recording"] for r in fired} == {str(data[0])}
    rec = Recording.open(data[0])
    assert rec.header["source"] == "flight" and rec.header["alert"]["rule"] == "cpu_very_high"
    assert rec.index_source == "sidecar"
    events = list(rec.events())
    samples = [e for e in events if isinstance(e, SampleReceived)]
    times = sorted({e.t for e in samples})
    assert times[0] <= T0 + 100 - 55  # the minute before
    assert times[-1] >= T0 + 100 + 29  # the half minute after
    assert {e.node_id for e in events if isinstance(e, HelloReceived)} == \
        {"node-000", "node-001", "node-002"}  # the preamble: replayable on its own
    assert [m.kind for m in rec.marks] == ["alert"] * 3
    assert rec.marks[0].t == T0 + 100
    monitor.close()
    log.close()


def test_memory_cap_drops_the_oldest_blocks(tmp_path: Path) -> None:
    monitor, _, flight, fleet, log = rig(tmp_path, window_s=600.0, max_memory_bytes=20_000)
    run(monitor, fleet, 1, 120)
    assert flight.worker.flush(30)
    assert flight.memory_bytes <= 20_000 + 10_000 and flight.trimmed_for_memory > 0
    monitor.close()
    log.close()


def test_file_names_are_safe() -> None:
    name = file_name(T0, "gpu/mem high", "../../etc\x1b", 3, None, ".zst")
    assert name == "20231114T221320Z-gpu_mem_high-etc-gpu3.jsonl.zst"
    assert "/" not in name
