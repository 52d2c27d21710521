"""The sink banner and restored alerts in the UI.

The alert log here is a real ``AlertLog`` on ``/dev/full``, where every write fails with ENOSPC
from the kernel: the writer thread retries and keeps the events in memory, and every screen
says so in one line. That the banner goes once space is back is shown on a real loop-mounted
disk that fills up (tests/integration/test_sink_banner_disk.py). An alert restored from the log
after a restart is marked "restored" on the alerts screen.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autoglm_tui.alerting.alert_log import AlertLog
from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.analysis.alerts import AlertEngine, parse_rules
from autoglm_tui.events import HeartbeatLost, NodeJoined
from autoglm_tui.monitor import Monitor
from autoglm_tui.tui.screens.alerts import AlertsScreen

from .cluster_kit import SIZE, feed, make_app, screen_text, settle, start

NODE_RULE = """
[[rule]]
name = "node_not_up"
kind = "node"
for = "0s"
"""


def banner(app) -> str:  # type: ignore[no-untyped-def]
    return next((ln for ln in screen_text(app).splitlines() if "alert log:" in ln), "")


@pytest.mark.skipif(not os.access("/dev/full", os.W_OK), reason="needs a writable /dev/full")
async def test_a_log_that_cannot_be_written_shows_a_banner_on_every_screen() -> None:
    log = AlertLog("/dev/full")
    try:
        app, _, _ = make_app(nodes=3, gpus=2)
        AlertPipeline(AlertEngine(parse_rules(NODE_RULE)[0]), log=log).install(app.monitor)
        async with app.run_test(size=SIZE) as pilot:
            await start(pilot, app)
            for _ in range(100):  # the writer thread meets ENOSPC on its first line
                if log.health().error:
                    break
                await pilot.pause(0.02)
            await settle(pilot, app)
            line = banner(app)
            assert "alert log: disk full — " in line
            assert "kept in memory, retrying; free space on that disk (/dev/full)" in line
            queued = log.health().queued
            assert queued >= 3 and f"{queued} events kept in memory" in line
            await pilot.press("down", "enter")  # a node's screen has it too
            await settle(pilot, app)
            assert "alert log: disk full" in banner(app)
            await pilot.press("escape", "colon", *"alerts", "enter")
            await settle(pilot, app)
            assert isinstance(app.screen, AlertsScreen)
            assert "alert log: disk full" in banner(app)
    finally:
        assert log.close(0.2) >= 3  # nothing could be written, and close says so


async def test_no_banner_while_the_log_writes(tmp_path: Path) -> None:
    log = AlertLog(tmp_path / "alerts.jsonl")
    try:
        app, _, _ = make_app(nodes=2)
        AlertPipeline(AlertEngine(parse_rules(NODE_RULE)[0]), log=log).install(app.monitor)
        async with app.run_test(size=SIZE) as pilot:
            await start(pilot, app)
            assert log.flush(5.0)
            await settle(pilot, app)
            assert banner(app) == ""
            assert log.health().written >= 2
    finally:
        log.close(1.0)


async def test_an_alert_restored_after_a_restart_is_marked(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    # The first run: dgx-9 fails and node_not_up fires; the monitor then stops.
    first = Monitor()
    log = AlertLog(path)
    AlertPipeline(AlertEngine(parse_rules(NODE_RULE)[0]), log=log).install(first)
    t0 = 1_763_980_000.0 - 60
    first.apply(NodeJoined(t0, "dgx-9", source="hosts"))
    first.apply(HeartbeatLost(t0 + 1, "dgx-9", "lost heartbeat"))
    first.tick(t0 + 2)
    first.tick(t0 + 3)
    assert [a.state.value for a in first.alerts.firing()] == ["firing"]  # type: ignore[union-attr]
    log.close(2.0)

    # The second run restores it before its first tick, and the alerts screen marks it (dgx-9
    # is not back yet: it keeps firing, as the log said, for the restore's grace time).
    app, _, clock = make_app(nodes=2)
    log2 = AlertLog(path)
    try:
        pipeline = AlertPipeline(AlertEngine(parse_rules(NODE_RULE)[0]), log=log2)
        pipeline.install(app.monitor)
        pipeline.restore(clock.t)
        async with app.run_test(size=SIZE) as pilot:
            await start(pilot, app)
            await feed(pilot, app, [])
            await pilot.press("colon", *"alerts", "enter")
            await settle(pilot, app)
            row = next(ln for ln in screen_text(app).splitlines() if "node_not_up" in ln)
            assert row.split()[:4] == ["FIRING", "!", "node_not_up", "dgx-9"]
            assert "restored" in row
    finally:
        log2.close(1.0)
