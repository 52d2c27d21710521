"""The sink banner on a real disk that fills up: a tiny loop-mounted ext4 holds the alert log.

While the disk is full the UI keeps working (keys move the cursor, screens open), every screen
says in one line what cannot be written and what to do, and the events wait in memory; once
space is freed the writer catches up, the banner goes by itself, and each event is in the log
once, in order.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from autoglm_tui.alerting.alert_log import AlertLog, read_log
from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.analysis.alerts import AlertEngine, parse_rules
from autoglm_tui.events import HeartbeatLost, NodeLeft, NodeStatus
from autoglm_tui.tui.screens.node import NodeScreen
from tests.integration.disk_faults import fill, loop_ext4
from tests.tui.cluster_kit import feed, make_app, screen_text, settle, start

pytestmark = pytest.mark.integration
NODE_RULE = '[[rule]]\nname = "node_not_up"\nkind = "node"\nfor = "0s"\n'


def banner(app) -> str:  # type: ignore[no-untyped-def]
    return next((ln for ln in screen_text(app).splitlines() if "alert log:" in ln), "")


async def test_the_banner_shows_while_the_disk_is_full_and_goes_when_space_is_back(
    tmp_path: Path,
) -> None:
    with loop_ext4(tmp_path) as mnt:
        log = AlertLog(mnt / "alerts.jsonl")
        try:
            app, fleet, clock = make_app(nodes=4, gpus=2, left_linger_s=600)
            AlertPipeline(AlertEngine(parse_rules(NODE_RULE)[0]), log=log).install(app.monitor)
            async with app.run_test(size=(230, 44)) as pilot:  # the whole path fits
                await start(pilot, app)
                assert log.flush(30.0)
                await settle(pilot, app)
                assert banner(app) == ""

                filler = fill(mnt)
                # Things happen: an agent is lost, a node leaves, one more goes FAILED.
                t = clock.t
                await feed(pilot, app, [HeartbeatLost(t, "node-001", "lost heartbeat"),
                                        NodeLeft(t, "node-002", "left gracefully"),
                                        HeartbeatLost(t, "node-003", "lost heartbeat")])
                for _ in range(10):
                    clock.t += 1
                    await feed(pilot, app, [e for e in fleet.tick_events(clock.t)
                                            if e.node_id in ("node-000", "node-001")])
                deadline = time.monotonic() + 30
                while not log.health().error and time.monotonic() < deadline:
                    await pilot.pause(0.05)
                await settle(pilot, app)
                line = banner(app)
                assert "alert log: disk full — " in line, screen_text(app)
                assert f"free space on that disk ({mnt / 'alerts.jsonl'})" in line
                assert app.monitor.state.nodes["node-003"].status is NodeStatus.FAILED

                # The UI goes on: a key opens a node's screen, which shows the banner too.
                await pilot.press("home", "down", "enter")
                await settle(pilot, app)
                assert isinstance(app.screen, NodeScreen)
                assert "alert log: disk full" in banner(app)
                await pilot.press("escape")
                await settle(pilot, app)

                filler.unlink()
                log.retry_now()
                assert log.flush(60.0), log.health()
                await settle(pilot, app)
                assert banner(app) == ""
        finally:
            log.close(5.0)
        records = list(read_log(mnt / "alerts.jsonl"))
        changes = [(r["node"], r["new"]) for r in records if r["kind"] == "node_status"]
        for want in (("node-002", "LEFT"), ("node-003", "FAILED")):
            assert changes.count(want) == 1, changes  # written once, after the disk freed up
        lines = (mnt / "alerts.jsonl").read_bytes()
        assert lines.endswith(b"\n") and lines.count(b"\n") == len(records)
        times = [r["t"] for r in records]
        assert times == sorted(times)  # in order
