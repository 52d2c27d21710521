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
        # the two alerts of one rule are one group, open (firing), its header first
        assert "▾ train_cpu" in text and "2 processes on 1 node" in text
        await pilot.press("a")  # on the header: every alert of the group
        await settle(pilot)
        assert sum(r.acked for r in pipeline.rows()) == 2 and "2 ack" in screen_text(pilot)
        await pilot.press("a")  # again: un-acknowledged
        await settle(pilot)
        assert sum(r.acked for r in pipeline.rows()) == 0
        await pilot.press("down")  # the first alert of the group
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


async def test_at_80x24_the_highlighted_alert_says_all_of_its_summary(tmp_path: Path) -> None:
    """The table's Summary column is off screen at 80 columns: the summary of the alert under
    the cursor (on a group's header, of its worst member) is shown whole below the table."""
    app, pipeline = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("A")
        await settle(pilot)
        rows = screen_text(pilot).splitlines()
        table = next(i for i, ln in enumerate(rows) if "Summary" in ln or "State" in ln)
        summary_col = rows[table].find("Summary")
        assert summary_col == -1 or summary_col > 70  # not readable in the table
        below = " ".join(" ".join(rows[-5:]).split())
        worst = max(pipeline.firing(), key=lambda a: a.value or 0.0)
        assert f"worst: {worst.summary()}" in below
        await pilot.press("down")  # the group's first alert
        await settle(pilot)
        row = app.screen.selected  # type: ignore[attr-defined]
        below = " ".join(" ".join(screen_text(pilot).splitlines()[-5:]).split())
        assert row.alert.summary() in below and "worst:" not in below
        assert f"pid {row.alert.target.pid} (" in below  # its command, which it quotes


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
        await pilot.press("enter")  # open the rule's group (13 alerts: closed at first)
        await settle(pilot)
        text = screen_text(pilot)
        assert "[red]x[/red]" in text  # markup shown as text, not applied
        assert "\x1b" not in text and "\x07" not in text
        assert EVIL_CMDLINE not in text  # the control characters were replaced


def fleet_with_alerts(nodes: int, gpus: int, rules: str, seconds: int
                      ) -> tuple[Monitor, AlertPipeline, object]:
    """A synthetic fleet's monitor after `seconds` of samples, alerting with `rules`."""
    from autoglm_tui.analysis.state import FleetState
    from autoglm_tui.cluster.synthetic import SyntheticFleet

    from .cluster_kit import T0, Clock

    clock = Clock(T0 + seconds)
    fleet = SyntheticFleet(nodes=nodes, gpus=gpus, seed=7, clock=clock)
    monitor = Monitor(FleetState())
    pipeline = AlertPipeline(AlertEngine(parse_rules(rules)[0]))
    pipeline.install(monitor)
    for e in fleet.join_events(T0):
        monitor.apply(e)
    for k in range(seconds):
        for e in fleet.tick_events(T0 + 1 + k):
            monitor.apply(e)
        monitor.tick(T0 + 1 + k)
    return monitor, pipeline, clock


async def test_cluster_screen_alerts_pane_io_column_and_jump(tmp_path: Path) -> None:
    from autoglm_tui.tui.cluster_app import ClusterApp
    from autoglm_tui.tui.screens.cluster import ClusterScreen

    rules = '[[rule]]\nname = "busy_node"\nmetric = "cpu.util_pct"\nthreshold = -1\n' \
            'match = { zone = "a" }\n'
    monitor, pipeline, clock = fleet_with_alerts(4, 2, rules, 20)
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


UNIT_RULES = """
[[rule]]
name = "rss_big"
metric = "proc.rss_bytes"
threshold = 1000000
"""


async def test_alert_values_read_in_their_unit(tmp_path: Path) -> None:
    """Issue 15 item 14: a byte value reads 41.0M on the alerts screen and in the pane's
    summaries, never 4.299e+07."""
    app, pipeline = _app(tmp_path, UNIT_RULES)
    assert pipeline.firing()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = screen_text(pilot)
        assert "e+0" not in pane
        # one line for the rule, its worst process's value in bytes
        assert re.search(r"rss_big · \d+ processes · worst pid 4121 18\.0G", pane), pane
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        text = screen_text(pilot)
        assert "▸ rss_big" in text and "13 processes on 1 node" in text  # a large group: closed
        assert re.search(r"13 processes on 1 node\s+18\.0G\s", text)  # the worst's value
        await pilot.press("enter")
        await settle(pilot)
        text = screen_text(pilot)
        assert "e+0" not in text
        rows = [ln for ln in text.splitlines() if "pid" in ln and "FIRING" in ln]
        assert rows and all(re.search(r"\s\d+(\.\d)?[KMG]\s", ln) for ln in rows), rows
    # the summaries (screen, pane, log) say it in bytes too
    assert all(re.search(r"proc\.rss_bytes of pid \d+ .* is \d+(\.\d)?[KMG] > 977K",
                         r.alert.summary()) for r in pipeline.rows())


async def test_cluster_alerts_grouped_by_rule_pending_closed_until_enter() -> None:
    """Issue 15 item 8: hundreds of pending GPUs are one line in the pane and one closed
    group on the alerts screen; Enter opens it."""
    from autoglm_tui.tui.cluster_app import ClusterApp

    rules = ('[[rule]]\nname = "gpu_util_high"\nmetric = "gpu.util_pct"\nthreshold = 85\n'
             'for = "3m"\n')
    monitor, pipeline, clock = fleet_with_alerts(24, 8, rules, 60)
    pending = [r for r in pipeline.rows() if r.alert.state == AlertState.PENDING]
    nodes = {r.alert.target.node for r in pending}
    assert len(pending) > 50 and not pipeline.firing()
    app = ClusterApp(monitor, [ScriptedSource([])], clock=clock, gc_tuning=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = screen_text(pilot)
        line = f"gpu_util_high · {len(pending)} GPUs on {len(nodes)} nodes · worst node-"
        assert line in text
        assert f"0 firing · {len(pending)} pending" in text
        assert sum("gpu_util_high" in ln for ln in text.splitlines()) == 1  # one line, not 100s
        await pilot.press("colon", *"alerts", "enter")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        text = screen_text(pilot)
        assert "▸ gpu_util_high" in text and f"{len(pending)} GPUs on {len(nodes)} nodes" in text
        assert sum("gpu_util_high" in ln for ln in text.splitlines()) == 1  # closed
        assert app.screen.selected is None  # the cursor is on the group's header
        await pilot.press("enter")
        await settle(pilot)
        text = screen_text(pilot)
        assert "▾ gpu_util_high" in text
        members = [ln for ln in text.splitlines() if re.search(r"node-\d+ gpu\d", ln)]
        assert len(members) > 20  # as many as the screen holds
        await pilot.press("down", "enter")  # an alert of the group: its GPU opens
        await settle(pilot)
        assert type(app.screen).__name__ == "GpuScreen"
