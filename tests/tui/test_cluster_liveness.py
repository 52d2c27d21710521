"""Liveness in the UI: STALE, UNREACHABLE, LEFT and removal change rows in place, and open
screens stay open and say what happened."""

from __future__ import annotations

from autoglm_tui.events import NodeInvalid, NodeLeft, NodeUnreachable
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.screens.cluster import ClusterScreen
from autoglm_tui.tui.screens.gpu import GpuScreen
from autoglm_tui.tui.screens.node import NodeScreen
from autoglm_tui.tui.screens.process import ProcessScreen

from .cluster_kit import SIZE, crumbs, feed, make_app, screen_text, settle, shown_nodes, start
from .terminal import Cell, capture


def cell_under(app, node_id: str, title: str) -> Cell:  # type: ignore[no-untyped-def]
    """The look of the last character of column `title`'s figure on `node_id`'s row (figures
    are right-aligned under their title)."""
    screen = capture(app)
    head_y, head_x = screen.find(f" {title} ", line_with="Status")
    row_y, _ = screen.find(f" {node_id} ")
    assert row_y > head_y
    return screen.lines[row_y][head_x + len(title)]


def name_cell(app, node_id: str) -> Cell:  # type: ignore[no-untyped-def]
    """The look of the node's name in its row."""
    screen = capture(app)
    y, x = screen.find(f" {node_id} ", line_with="  ")
    return screen.lines[y][x + 1]


def muted(app) -> str:  # type: ignore[no-untyped-def]
    return Palette.from_variables(app.theme_variables).muted.lower()


async def test_a_node_going_stale_while_its_screen_is_open() -> None:
    app, fleet, clock = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await pilot.press("down", "enter")
        await settle(pilot, app)
        assert crumbs(app) == "cluster › node-001"
        assert "STALE" not in screen_text(app)

        # 10 s pass; every node but node-001 keeps sampling.
        for _ in range(10):
            clock.t += 1
            await feed(pilot, app, [e for e in fleet.tick_events(clock.t)
                                    if e.node_id != "node-001"])
        text = screen_text(app)
        assert isinstance(app.screen, NodeScreen)  # still open
        assert "node-001 is STALE: no sample for 10s; figures shown are from" in text
        assert "node-001.synthetic" in text and "H100" in text  # last figures still shown

        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, ClusterScreen)
        text = screen_text(app)
        assert "nodes 5/6 up (1 STALE)" in text
        line = next(ln for ln in text.splitlines() if "node-001" in ln)
        assert line.split()[0] == "STALE"
        assert " 10s " in line  # the age of its figures, in the Lag column
        assert cell_under(app, "node-001", "CPU").fg == muted(app)  # greyed
        assert cell_under(app, "node-000", "CPU").fg != muted(app)

        # It comes back: UP again, in place.
        clock.t += 1
        await feed(pilot, app, fleet.tick_events(clock.t))
        line = next(ln for ln in screen_text(app).splitlines() if "node-001" in ln)
        assert line.split()[0] == "UP"


async def test_unreachable_and_invalid_rows_give_their_reason_on_demand() -> None:
    app, _, clock = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await feed(pilot, app, [
            NodeUnreachable(clock.t, "node-002", "connection refused", retry_in_s=4.0),
            NodeInvalid(clock.t, "node-003", "sampler schema 9 is not supported"),
        ])
        text = screen_text(app)
        assert "nodes 4/6 up (1 UNREACHABLE, 1 INVALID)" in text
        line = next(ln for ln in text.splitlines() if " node-002 " in ln)
        assert line.split()[0] == "UNREACHABLE"
        assert "connection refused" not in text  # the reason is shown on demand...
        await pilot.press("down", "down")
        await settle(pilot, app)
        assert "node-002  UNREACHABLE: connection refused" in screen_text(app)  # ...here
        await pilot.press("down")
        await settle(pilot, app)
        assert "node-003  INVALID: sampler schema 9 is not supported" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert "node-003 is INVALID (sampler schema 9 is not supported)" in screen_text(app)


async def test_a_node_that_leaves_is_greyed_then_removed_and_its_screens_say_so() -> None:
    app, fleet, clock = make_app(left_linger_s=30.0)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await pilot.press("down", "down", "enter", "1")  # node-002, GPU 1
        await settle(pilot, app)
        assert isinstance(app.screen, GpuScreen)
        await feed(pilot, app, [NodeLeft(clock.t, "node-002", "lease revoked")])
        text = screen_text(app)
        assert "node-002 LEFT the cluster at" in text and "(lease revoked)" in text
        assert isinstance(app.screen, GpuScreen)

        await pilot.press("escape")
        await settle(pilot, app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, ClusterScreen)
        line = next(ln for ln in screen_text(app).splitlines() if " node-002 " in ln)
        assert line.split()[0] == "LEFT"
        assert name_cell(app, "node-002").fg == muted(app)
        assert name_cell(app, "node-001").fg != muted(app)

        await pilot.press("enter")  # open the LEFT node again, and its process
        await settle(pilot, app)
        assert crumbs(app) == "cluster › node-002"
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, ProcessScreen)

        clock.t += 31  # past the linger: removed from the state
        await feed(pilot, app, [e for e in fleet.tick_events(clock.t) if e.node_id != "node-002"])
        assert "node-002" not in app.monitor.state.nodes
        text = screen_text(app)
        assert isinstance(app.screen, ProcessScreen)  # not closed under the user
        assert "node-002 left the cluster and was removed from the table" in text
        assert "--local-rank" in text  # its last figures are still there
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, NodeScreen)
        assert "node-002 left the cluster and was removed from the table" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, ClusterScreen)
        assert "node-002" not in shown_nodes(app)
        assert "nodes 5/5 up" in screen_text(app)
