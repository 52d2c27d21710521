"""Record a live local run (the real LocalSource), then replay it: the replayed state holds the
same figures at the same times, the replayed screen matches the live screen at that time, and a
flight recording written when an alert fires opens in `replay`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from autoglm_tui import format as fmt
from autoglm_tui.alerting.alert_log import AlertLog, read_log
from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.analysis.alerts import AlertEngine, parse_rules
from autoglm_tui.cluster.sources import LocalSource, ScriptedSource
from autoglm_tui.commands.replay import build_app, build_monitor
from autoglm_tui.events import SampleReceived
from autoglm_tui.monitor import Monitor
from autoglm_tui.recording.feed import timeline
from autoglm_tui.recording.flight import FlightRecorder
from autoglm_tui.recording.reader import Recording
from autoglm_tui.recording.recorder import RECORDABLE, Recorder
from autoglm_tui.recording.replay import ReplayController
from autoglm_tui.tui.app import MonitorApp
from autoglm_tui.tui.intents import OpenNode
from autoglm_tui.tui.screens.node import NodeScreen
from tests.tui.helpers import screen_text

ROOT = Path(__file__).resolve().parents[2]


async def record_live(path: Path, seconds: float, extra=None) -> tuple[Monitor, list, dict]:
    """Run the real LocalSource into a monitor with a recorder; the events it applied and the
    node's derived figures after each sample, by time."""
    monitor = Monitor()
    if extra is not None:
        extra(monitor)
    Recorder(path, source="local").install(monitor)
    events: list = []
    figures: dict[float, dict] = {}

    def emit(ev) -> None:
        events.append(ev)
        monitor.apply(ev)
        if isinstance(ev, SampleReceived):
            figures[ev.t] = dict(monitor.state.nodes[ev.node_id].metrics)

    source = LocalSource(interval_s=0.5, top_n=40)
    task = asyncio.ensure_future(source.run(emit))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(0.25)
        monitor.tick(time.time())
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    monitor.close()
    return monitor, events, figures


async def test_replayed_state_has_the_same_figures_at_the_same_times(tmp_path: Path) -> None:
    path = tmp_path / "local.jsonl.zst"
    live, _, figures = await record_live(path, 5.0)
    rec = Recording.open(path)
    assert rec.nodes == [next(iter(live.state.nodes))]
    replayed = Monitor()
    seen: dict[float, dict] = {}
    for ev in timeline(rec, rec.start, rec.end):
        replayed.apply(ev)
        if isinstance(ev, SampleReceived):
            seen[ev.t] = dict(replayed.state.nodes[ev.node_id].metrics)
    assert len(figures) >= 6
    assert seen.keys() == figures.keys()
    for t, values in figures.items():
        assert seen[t] == values, f"figures differ at {t}"
    node_id = rec.nodes[0]
    a, b = live.state.nodes[node_id], replayed.state.nodes[node_id]
    for key in a.history.keys():  # noqa: SIM118  (NodeHistory is not a dict)
        assert b.history.points(key) == a.history.points(key), key


async def test_replayed_screen_matches_the_live_screen_at_that_time(tmp_path: Path) -> None:
    path = tmp_path / "local.jsonl"
    _, events, figures = await record_live(path, 4.0)
    at = sorted(figures)[-3]  # a time in the middle of the run
    # what was recorded: the monitor's own cost (MonitorCost) is about the live run, not the
    # node, and is not recorded (the replay's header shows the sampler's cost alone)
    upto = [e for e in events if e.t <= at and isinstance(e, RECORDABLE)]
    live_app = MonitorApp(Monitor(), [ScriptedSource([(0, e) for e in upto])],
                          OpenNode(upto[0].node_id), clock=lambda: at)
    async with live_app.run_test(size=(120, 40)) as pilot:
        for i in range(300):  # every event folded in (longer on a loaded machine)
            await pilot.pause(0.05)
            if i >= 20 and live_app.backlog == 0:
                break
        live_app.repaint(force=True)
        await pilot.pause()
        want = screen_text(pilot)
    args = argparse.Namespace(theme="dark", node=None, no_alerts=True, rules=[])
    rec = Recording.open(path)
    monitor = build_monitor(args)
    controller = ReplayController(rec, at=at, paused=True)
    app = build_app(args, monitor, controller, rec.nodes)
    shown = ["||", "paused", "1x", fmt.clock_time(at)]
    async with app.run_test(size=(120, 40)) as pilot:
        got = ""
        for _ in range(300):  # the seek done and the timeline redrawn (its own 4 Hz timer)
            await pilot.pause(0.05)
            if monitor.clock_t == at and app.backlog == 0:
                app.repaint(force=True)
                await pilot.pause()
                got = screen_text(pilot)
                if got.splitlines()[-2].split()[:4] == shown:
                    break
        assert isinstance(app.screen, NodeScreen)
    assert monitor.clock_t == at
    # The replay shows its timeline above the footer, so its process table is a row shorter
    # (and its scroll bar, in the last columns of the rows, a little different); the rest of
    # the screen is the live one, figure for figure.
    want_lines, got_lines = want.splitlines(), got.splitlines()
    assert got_lines[-2].split()[:4] == shown
    rows_end = len(got_lines) - 3  # the process table's bottom border
    procs = next(i for i, line in enumerate(want_lines) if "Processes" in line)
    assert got_lines[:procs + 2] == want_lines[:procs + 2]  # all above the process rows
    assert [ln[:-3] for ln in got_lines[procs + 2:rows_end]] == \
        [ln[:-3] for ln in want_lines[procs + 2:rows_end]]
    assert got_lines[rows_end] == want_lines[rows_end + 1]  # "sort CPU% ▼ · N shown"


async def test_flight_recording_from_a_live_alert_opens_in_replay(tmp_path: Path) -> None:
    text = '[[rule]]\nname = "cpu_any"\nmetric = "cpu.util_pct"\nop = ">="\nthreshold = 0\n'
    (tmp_path / "rules.toml").write_text(text)
    rules = parse_rules(text)[0]
    log = AlertLog(tmp_path / "alerts.jsonl")

    def extras(monitor: Monitor) -> None:
        AlertPipeline(AlertEngine(rules), log=log).install(monitor)
        FlightRecorder(tmp_path / "flight", window_s=60.0, after_s=2.0, block_s=1.0
                       ).install(monitor)

    await record_live(tmp_path / "also.jsonl", 5.0, extras)
    log.close()
    fired = [r for r in read_log(tmp_path / "alerts.jsonl") if r.get("state") == "firing"]
    assert fired and "flight_recording" in fired[0]
    flight = Path(fired[0]["flight_recording"])
    assert flight.exists() and flight.parent == tmp_path / "flight"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "autoglm_tui", "replay", str(flight), "--info"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["source"] == "flight" and info["seconds"] >= 1.5
    assert [m["kind"] for m in info["marks"]] == ["alert"]
    # and the UI opens on it, playing the recorded node
    args = argparse.Namespace(theme="dark", node=None, no_alerts=False,
                              rules=[str(tmp_path / "rules.toml")])
    rec = Recording.open(flight)
    monitor = build_monitor(args)
    controller = ReplayController(rec, speed=16.0)
    app = build_app(args, monitor, controller, rec.nodes)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(300):  # at most 15 s on a loaded machine; it ends in about 0.3 s
            await pilot.pause(0.05)
            if controller.at_end:
                break
        assert controller.at_end
        node = monitor.state.nodes[rec.nodes[0]]
        assert node.last_sample is not None
        assert monitor.alerts is not None and monitor.alerts.firing()  # the alert again
        app.repaint(force=True)
        await pilot.pause()
        assert rec.nodes[0][:20] in screen_text(pilot)


async def test_a_fleet_recording_opens_the_cluster_view_with_alerts_and_diagnosis() -> None:
    from autoglm_tui.tui.cluster_app import ClusterApp

    rec = Recording.open(ROOT / "tests" / "scenarios" / "scale_out.jsonl.gz")
    args = argparse.Namespace(theme="dark", node=None, no_alerts=False, rules=[])
    monitor = build_monitor(args)
    controller = ReplayController(rec, speed=16.0, at=rec.end - 4.0)
    app = build_app(args, monitor, controller, rec.nodes)
    assert isinstance(app, ClusterApp) and app.replay is controller
    async with app.run_test(size=(160, 44)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if controller.at_end and monitor.clock_t == rec.end:
                break
        assert controller.at_end and monitor.clock_t == rec.end
        app.repaint(force=True)
        await pilot.pause()
        text = screen_text(pilot)
        assert all(node in text for node in rec.nodes)
        assert "UP" in text and "STALE" not in text  # the screen's now is the recording's
    assert monitor.diagnosis is not None
    assert [f.name for f in monitor.diagnosis.findings] == ["scale_out"]
