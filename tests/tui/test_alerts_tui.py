"""Pilot tests of the alerts pane, the alerts screen and the IO correlation pane."""

from __future__ import annotations

import re
from pathlib import Path

from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.alerting.silences import SilenceStore
from autoglm_tui.analysis.alerts import AlertEngine, AlertState
from autoglm_tui.analysis.rules import parse_rules
from autoglm_tui.cluster.sources import ScriptedSource
from autoglm_tui.events import SampleReceived
from autoglm_tui.monitor import Monitor
from autoglm_tui.tui.app import MonitorApp
from autoglm_tui.tui.demo import EVIL_CMDLINE, demo_end, demo_events
from autoglm_tui.tui.intents import OpenNode
from autoglm_tui.tui.screens.alerts import AlertsScreen, SilenceDialog
from autoglm_tui.tui.screens.node import NodeScreen
from autoglm_tui.tui.screens.process import ProcessScreen
from autoglm_tui.tui.themes import resolve_theme
from autoglm_tui.tui.widgets.alerts_pane import AlertsPane

from .helpers import NODE, screen_text, settle

SIZE = (140, 50)
RULES = """
[[rule]]
name = "train_cpu"
metric = "proc.cpu_pct"
threshold = 90
for = "5s"
summary = "pid {pid} ({command}) at {value:.0f}% CPU"

[[rule]]
name = "evil_rss"
metric = "proc.rss_bytes"
threshold = 1000000
match = { never = "matches" }
"""


def _app(tmp_path: Path, rules: str = RULES) -> tuple[MonitorApp, AlertPipeline]:
    """The local view over the demo recording, with the monitor ticked after every sample."""
    monitor = Monitor()
    pipeline = AlertPipeline(AlertEngine(parse_rules(rules)[0]),
                             silences=SilenceStore(tmp_path / "silences.json"))
    pipeline.install(monitor)
    for event in demo_events(NODE):
        monitor.apply(event)
        if isinstance(event, SampleReceived):
            monitor.tick(event.t)
    end = demo_end()
    app = MonitorApp(monitor, [ScriptedSource([])], OpenNode(NODE),
                     theme=resolve_theme("dark"), clock=lambda: end)
    return app, pipeline


async def test_pane_on_the_node_screen_lists_firing_alerts(tmp_path: Path) -> None:
    app, pipeline = _app(tmp_path)
    assert {str(a.target) for a in pipeline.firing()} == {f"{NODE} pid 4121", f"{NODE} pid 5201"}
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(AlertsPane)
        assert pane.display
        text = screen_text(pilot)
        assert "Alerts" in text and "2 firing · 0 pending" in text
        line = next(ln for ln in text.splitlines() if "pid 5201" in ln and "FIRING" in ln)
        assert "train_cpu" in line and "/usr/bin/python3 -u train.py" in line


async def test_alerts_screen_ack_silence_and_jump(tmp_path: Path) -> None:
    app, pipeline = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        text = screen_text(pilot)
        assert "2 firing · 0 pending" in text and "train_cpu" in text
        await pilot.press("a")
        await settle(pilot)
        assert sum(r.acked for r in pipeline.rows()) == 1
        assert "ack" in screen_text(pilot)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SilenceDialog)
        await pilot.press("down", "enter")  # 1 hour, this target
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        silenced = [r for r in pipeline.rows() if r.silence is not None]
        assert len(silenced) == 1 and silenced[0].silence.until - silenced[0].silence.created \
            == 3600
        assert "silenced 1h00m" in screen_text(pilot)
        # both survive a restart (the file under the state dir)
        store = SilenceStore(tmp_path / "silences.json")
        assert store.acks and store.silences
        # Enter opens the process that fired; Esc comes back to the alert list
        row = app.screen.selected  # type: ignore[attr-defined]
        assert row is not None
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ProcessScreen)
        assert app.screen.pid == row.alert.target.pid
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, NodeScreen)


async def test_io_correlation_pane_toggles_and_shows_r(tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "aligned points" not in screen_text(pilot)  # the pane is hidden at first
        await pilot.press("i")
        await settle(pilot)
        text = screen_text(pilot)
        assert "IO correlation" in text and "network: bytes/s" in text and "disk: IOPS" in text
        points = re.search(r"(\d+) aligned points", text)
        assert points and int(points.group(1)) >= 60  # the demo's 90 s of history, aligned
        r = re.search(r"r\(net, disk MB/s\) (\S+)", text)
        assert r and r.group(1) != "n/a"  # a correlation, not "unknown"
        float(r.group(1))


async def test_untrusted_command_lines_show_literally(tmp_path: Path) -> None:
    rules = '[[rule]]\nname = "evil"\nmetric = "proc.rss_bytes"\nthreshold = 1\n' \
            'summary = "{command}"\n'
    app, pipeline = _app(tmp_path, rules)
    evil = [a for a in pipeline.firing() if a.target.pid == 7777]
    assert evil and evil[0].state == AlertState.FIRING
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("A")
        await settle(pilot)
        text = screen_text(pilot)
        assert "[red]x[/red]" in text  # markup shown as text, not applied
        assert "\x1b" not in text and "\x07" not in text
        assert EVIL_CMDLINE not in text  # the control characters were replaced


async def test_cluster_screen_alerts_pane_io_column_and_jump(tmp_path: Path) -> None:
    from autoglm_tui.analysis.state import FleetState
    from autoglm_tui.cluster.synthetic import SyntheticFleet
    from autoglm_tui.tui.cluster_app import ClusterApp
    from autoglm_tui.tui.screens.cluster import ClusterScreen

    from .cluster_kit import T0, Clock

    clock = Clock(T0 + 20)
    fleet = SyntheticFleet(nodes=4, gpus=2, seed=7, clock=clock)
    monitor = Monitor(FleetState())
    rules = '[[rule]]\nname = "busy_node"\nmetric = "cpu.util_pct"\nthreshold = -1\n' \
            'match = { zone = "a" }\n'
    pipeline = AlertPipeline(AlertEngine(parse_rules(rules)[0]))
    pipeline.install(monitor)
    for e in fleet.join_events(T0):
        monitor.apply(e)
    for k in range(20):
        for e in fleet.tick_events(T0 + 1 + k):
            monitor.apply(e)
        monitor.tick(T0 + 1 + k)
    firing = sorted(a.target.node for a in pipeline.firing())
    assert firing, "the synthetic fleet has zone=a nodes"
    app = ClusterApp(monitor, [ScriptedSource([])], clock=clock)
    async with app.run_test(size=(180, 44)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ClusterScreen)
        text = screen_text(pilot)
        assert "IO r" in text
        pane = app.screen.query_one(AlertsPane)
        assert pane.display and f"{len(firing)} firing" in text
        assert "busy_node" in text
        await pilot.press("colon", *"alerts", "enter")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        row = app.screen.selected  # type: ignore[attr-defined]
        assert row is not None
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NodeScreen)
        target = row.alert.target.node
        assert screen_text(pilot).splitlines()[0].strip() == f"cluster › alerts › {target}"
        await pilot.press("escape")  # back where the user came from: the alert list
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ClusterScreen)
