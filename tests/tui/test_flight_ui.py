"""The flight recorder in the UI: the alerts screen names the file an alert's firing wrote, and
`autoglm-tui replay` opens that file with the alert marked on its timeline."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.analysis.alerts import AlertEngine
from autoglm_tui.analysis.rules import parse_rules
from autoglm_tui.cluster.sources import ScriptedSource
from autoglm_tui.cluster.synthetic import SyntheticFleet
from autoglm_tui.commands.replay import build_app, replay_monitor
from autoglm_tui.monitor import Monitor
from autoglm_tui.recording.flight import FlightRecorder
from autoglm_tui.recording.reader import Recording
from autoglm_tui.recording.replay import ReplayController
from autoglm_tui.tui.cluster_app import ClusterApp
from autoglm_tui.tui.screens.alerts import AlertsScreen
from autoglm_tui.tui.themes import resolve_theme

from .scenes import utc
from .terminal import screen_text

T0 = 1_700_000_000.0
SIZE = (160, 40)
RULES = """
[[rule]]
name = "cpu_any"
metric = "cpu.util_pct"
threshold = 0
scope = "node"
"""


def flight_fleet(tmp_path: Path) -> tuple[Monitor, FlightRecorder, Path]:
    """Two synthetic nodes for 100 s, then a rule that fires on both: the flight recorder
    writes one file, the minute before and the 20 s after."""
    monitor = Monitor()
    pipeline = AlertPipeline(AlertEngine([]))
    pipeline.install(monitor)
    flight = FlightRecorder(tmp_path / "flight", clock=lambda: T0, block_s=5.0, window_s=60.0,
                            after_s=20.0)
    flight.install(monitor)
    fleet = SyntheticFleet(nodes=2, gpus=2, clock=lambda: T0, top=3)
    for e in fleet.join_events(T0):
        monitor.apply(e)
    for k in range(1, 140):
        if k == 100:
            pipeline.engine = AlertEngine(parse_rules(RULES)[0])
        for e in fleet.tick_events(T0 + k):
            monitor.apply(e)
        monitor.tick(T0 + k)
    assert flight.worker.flush(30)
    monitor.close()
    files = [f for f in (tmp_path / "flight").glob("*.jsonl*") if not f.name.endswith(".idx")]
    assert len(files) == 1
    return monitor, flight, files[0]


async def test_the_alerts_screen_names_the_flight_recording(tmp_path: Path) -> None:
    monitor, _, path = flight_fleet(tmp_path)
    app = ClusterApp(monitor, [ScriptedSource([])], clock=lambda: T0 + 139,
                     theme=resolve_theme("dark"), gc_tuning=False)
    with utc():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("colon", *"alerts", "enter")
            await pilot.pause()
            app.repaint(force=True)
            await pilot.pause()
            assert isinstance(app.screen, AlertsScreen)
            text = screen_text(app)
            lines = [line for line in text.splitlines() if "cpu_any" in line and "FIRING" in line]
            groups = [line for line in lines if "▾ cpu_any" in line or "▸ cpu_any" in line]
            rows = [line for line in lines if line not in groups]  # one line per alert
            assert len(groups) == 1 and "2 nodes" in groups[0]  # the rule's group, open
            assert len(rows) == 2
            assert all("FIRING" in row and " rec " in row + " " for row in rows)
            await pilot.press("down")  # from the group's header to its first alert
            await pilot.pause()
            below = screen_text(app).split("Summary", 1)[1]
            words = " ".join(below.split())
            assert f"flight recording (open it with autoglm-tui replay): {path}" in words


async def test_replay_opens_the_flight_recording_with_the_alert_marked(tmp_path: Path) -> None:
    _, _, path = flight_fleet(tmp_path)
    rec = Recording.open(path)
    assert [(m.kind, m.t) for m in rec.marks] == [("alert", T0 + 100)] * 2
    monitor = replay_monitor([])
    c = ReplayController(rec, paused=True)
    app = build_app(argparse.Namespace(theme="dark", node=None), monitor, c, rec.nodes)
    assert app is not None
    with utc():
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(200):
                await pilot.pause(0.05)
                line = screen_text(app).splitlines()[22]
                if "/1:" in line:
                    break
            text = screen_text(app)
            assert "node-000" in text and "node-001" in text
            bar = text.splitlines()[22]
            track = bar.split()[4]
            # the file starts a minute before the alert and ends 20 s after it
            start, end = rec.start, rec.end
            assert track.index("!") == int((T0 + 100 - start) / (end - start) * len(track))
