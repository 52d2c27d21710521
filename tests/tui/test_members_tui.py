"""Membership in the UI: a FAILED node stays on screen and says why, an UP node whose agent is
lost is marked, sampler restarts are counted, and forgetting a node asks first (Cancel focused)
and then hands the cluster side a ForgetNode request (the UI never talks to etcd).

The real forget against a real etcd is tests/integration/test_forget_ui.py.
"""

from __future__ import annotations

from autoglm_tui.events import HeartbeatLost, NodeLeft, SamplerExited
from autoglm_tui.requests import ForgetNode, HistoryWanted, NodesInView
from autoglm_tui.tui.cluster_app import NO_MEMBERSHIP
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.screens.cluster import ClusterScreen
from autoglm_tui.tui.screens.forget_dialog import ForgetDialog
from autoglm_tui.tui.screens.help import HelpScreen
from autoglm_tui.tui.screens.node import NodeScreen

from .cluster_kit import (
    SIZE,
    feed,
    make_app,
    record_notifications,
    screen_text,
    settle,
    shown_nodes,
    start,
)
from .scenes import ForgetRecorder, troubled_app
from .terminal import capture, style_of
from .troubled import AGENT_LOST_NODE, FAILED_NODE, LEFT_NODE


def row_of(app, node_id: str) -> str:  # type: ignore[no-untyped-def]
    return next(ln for ln in screen_text(app).splitlines() if f" {node_id} " in ln
                and ln.split()[0] in ("UP", "FAILED", "LEFT", "STALE", "CONNECTING"))


async def test_a_failed_node_stays_listed_past_the_linger_and_its_screen_says_why() -> None:
    app, fleet, clock = make_app(nodes=6, gpus=4, left_linger_s=5.0)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        t0 = clock.t
        # node-002's heartbeat lapses and its samples stop; node-004 leaves gracefully.
        await feed(pilot, app, [HeartbeatLost(t0, "node-002", "lost heartbeat: lease expired "
                                                            "without a leave"),
                                NodeLeft(t0, "node-004", "left gracefully")])
        for _ in range(30):  # far past the linger time; the others keep sampling
            clock.t += 1
            await feed(pilot, app, [e for e in fleet.tick_events(clock.t)
                                    if e.node_id not in ("node-002", "node-004")])
        nodes = shown_nodes(app)
        assert "node-002" in nodes and "node-004" not in nodes  # LEFT lingered out, FAILED not
        row = row_of(app, "node-002")
        assert row.split()[0] == "FAILED"
        p = Palette.from_variables(app.theme_variables)
        look = style_of(app, "FAILED ")
        assert look.bold and look.fg == p.error.lower()
        assert "(1 FAILED)" in screen_text(app)  # the summary line counts it

        await pilot.press("down", "down", "enter")  # node-000, -001, -002
        await settle(pilot, app)
        assert isinstance(app.screen, NodeScreen)
        text = screen_text(app)
        assert "node-002 FAILED: heartbeat lost at" in text
        assert "connecting" not in text
        assert "(30s ago, lease expired without a leave); kept with its alerts until it " \
               "returns or :forget node-002" in text
        assert "FAILED heartbeat lost 30s ago" in text  # the header, aged now, not frozen


async def test_agent_lost_mark_and_sampler_restarts() -> None:
    app, fleet, clock = make_app(nodes=4, gpus=2)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        t0 = clock.t
        await feed(pilot, app, [HeartbeatLost(t0, "node-001", "lost heartbeat"),
                                SamplerExited(t0, "node-001", "killed by SIGKILL"),
                                SamplerExited(t0, "node-001", "exit status 1")])
        clock.t += 1
        await feed(pilot, app, fleet.tick_events(clock.t))  # samples still flow
        row = row_of(app, "node-001")
        assert row.split()[:2] == ["UP", "⚠agent"]
        assert style_of(app, "⚠agent").fg == Palette.from_variables(
            app.theme_variables).warning.lower()
        await pilot.press("down")
        await settle(pilot, app)
        detail = next(ln for ln in screen_text(app).splitlines() if "agent lost at" in ln)
        assert "samples still flow" in detail and "sampler restarted 2x" in detail
        await pilot.press("enter")
        await settle(pilot, app)
        text = screen_text(app)
        assert "node-001: agent lost at" in text and "stays UP" in text
        assert "sampler restarted 2x (last: exit status 1 at" in text


async def test_help_has_the_status_legend() -> None:
    app, _, _ = make_app(nodes=2)
    async with app.run_test(size=(160, 72)) as pilot:  # tall enough for the whole help
        await start(pilot, app)
        await pilot.press("question_mark")
        await settle(pilot, app)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Legend" in text
        assert "FAILED       heartbeat lost without a graceful leave" in text
        assert "LEFT         left gracefully" in text and "UNREACHABLE  SSH fails" in text
        assert "^d  Forget the FAILED/LEFT node (asks first)" in text  # the key is listed


async def test_forget_asks_first_with_cancel_focused_then_sends_the_request() -> None:
    app = troubled_app()
    recorder = next(s for s in app.sources if isinstance(s, ForgetRecorder))
    shown = record_notifications(app)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot, app)
        await pilot.press("down", "down", "down")  # node-003, FAILED
        await settle(pilot, app)
        assert row_of(app, FAILED_NODE).startswith(" FAILED")
        await pilot.press("ctrl+d")
        await settle(pilot, app)
        assert isinstance(app.screen, ForgetDialog)
        text = screen_text(app)
        assert f"Forget node {FAILED_NODE}?" in text
        assert "FAILED since" in text and "removes its member record from the registry" in text
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("enter")  # Enter on the focused Cancel: nothing happens
        await settle(pilot, app)
        assert isinstance(app.screen, ClusterScreen)
        assert not [r for r in recorder.requests if isinstance(r, ForgetNode)]

        await pilot.press("ctrl+d")
        await settle(pilot, app)
        await pilot.press("escape")  # Esc cancels too
        await settle(pilot, app)
        assert not [r for r in recorder.requests if isinstance(r, ForgetNode)]

        await pilot.press("ctrl+d")
        await settle(pilot, app)
        await pilot.press("left", "enter")  # to Forget, then confirm
        await settle(pilot, app)
        sent = [r for r in recorder.requests if isinstance(r, ForgetNode)]
        assert [r.node_id for r in sent] == [FAILED_NODE]
        assert any(f"forgetting {FAILED_NODE}" in m for m in shown)
        sent[0].reply(True, f"forgot {FAILED_NODE} in the registry")  # the source answers
        await settle(pilot, app)
        assert shown[-1] == f"forgot {FAILED_NODE} in the registry"

        # An UP node is refused without a dialog; the command line asks like the key.
        await pilot.press("up")
        await settle(pilot, app)
        await pilot.press("ctrl+d")
        await settle(pilot, app)
        assert isinstance(app.screen, ClusterScreen)
        assert "only a FAILED or LEFT node can be forgotten" in shown[-1]
        await pilot.press("colon", *f"forget {LEFT_NODE}", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, ForgetDialog)
        assert "left gracefully" in screen_text(app).lower()
        await pilot.press("escape")
        await settle(pilot, app)
        assert [r.node_id for r in recorder.requests if isinstance(r, ForgetNode)] == [
            FAILED_NODE]


async def test_forget_says_when_no_source_keeps_membership() -> None:
    app, _, _ = make_app(nodes=3, extra=[])
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await feed(pilot, app, [HeartbeatLost(app.clock(), "node-001", "lost heartbeat")])
        await pilot.press("colon", *"forget node-001", "enter")
        await settle(pilot, app)
        # node-001 still samples (UP, agent lost): refused; a FAILED one would meet no taker.
        assert "only a FAILED or LEFT node" in shown[-1]
        await feed(pilot, app, [NodeLeft(app.clock(), "node-002", "left gracefully")])
        await pilot.press("colon", *"forget node-002", "enter")
        await settle(pilot, app)
        assert shown[-1] == NO_MEMBERSHIP
        assert isinstance(app.screen, ClusterScreen)


async def test_the_navigator_tells_sources_which_nodes_are_on_screen() -> None:
    app = troubled_app()
    recorder = next(s for s in app.sources if isinstance(s, ForgetRecorder))
    recorder.takes = (ForgetNode, NodesInView, HistoryWanted)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot, app)
        await pilot.press("down", "enter")  # node-001
        await settle(pilot, app)
        await pilot.press("1")  # its GPU 1: same node, no new request
        await settle(pilot, app)
        await pilot.press("escape", "escape")
        await settle(pilot, app)
        got = [(type(r).__name__, getattr(r, "node_ids", getattr(r, "node_id", None)))
               for r in recorder.requests]
        history = [r for r in recorder.requests if isinstance(r, HistoryWanted)]
        assert got == [("NodesInView", frozenset({"node-001"})),
                       ("HistoryWanted", "node-001"),
                       ("NodesInView", frozenset())]
        assert history[0].seconds == app.monitor.state.history_s


async def test_agent_lost_node_of_the_troubled_scene_is_marked_and_failed_is_listed() -> None:
    app = troubled_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot, app)
        assert row_of(app, AGENT_LOST_NODE).split()[:2] == ["UP", "⚠agent"]
        assert row_of(app, FAILED_NODE).split()[0] == "FAILED"
        assert row_of(app, LEFT_NODE).split()[0] == "LEFT"
        screen = capture(app)
        y, x = screen.find(" LEFT ")
        assert screen.lines[y][x + 1].fg == Palette.from_variables(
            app.theme_variables).muted.lower()
