"""Cluster mode drill-down: cluster -> node -> GPU -> process, Esc back, `:` commands, help."""

from __future__ import annotations

import pytest

from autoglm_tui.tui.screens.cluster import ClusterScreen
from autoglm_tui.tui.screens.gpu import GpuScreen
from autoglm_tui.tui.screens.gpus import GpusScreen
from autoglm_tui.tui.screens.help import HelpScreen
from autoglm_tui.tui.screens.node import NodeScreen
from autoglm_tui.tui.screens.process import ProcessScreen
from autoglm_tui.tui.widgets.breadcrumb import SEPARATOR
from autoglm_tui.tui.widgets.command_line import CommandLine

from .cluster_kit import (
    SIZE,
    crumbs,
    make_app,
    record_notifications,
    screen_text,
    settle,
    start,
)


async def test_drill_down_to_a_process_and_back_out_with_esc() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        screen = app.screen
        assert isinstance(screen, ClusterScreen)
        text = screen_text(app)
        for i in range(6):
            assert f"node-00{i}" in text
        assert text.count(" UP ") >= 6
        assert "nodes 6/6 up" in text
        assert crumbs(app) == "cluster"

        await pilot.press("down", "enter")  # the second node
        await settle(pilot, app)
        assert isinstance(app.screen, NodeScreen)
        assert app.screen.node_id == "node-001"
        assert crumbs(app) == f"cluster{SEPARATOR}node-001"
        assert "node-001.synthetic" in screen_text(app)

        await pilot.press("2")  # GPU 2 of this node
        await settle(pilot, app)
        assert isinstance(app.screen, GpuScreen)
        assert (app.screen.node_id, app.screen.index) == ("node-001", 2)
        assert crumbs(app) == SEPARATOR.join(["cluster", "node-001", "GPU 2"])
        text = screen_text(app)
        assert "GPU util %" in text and "Processes on this GPU" in text
        assert "--local-rank 2" in text  # the process using this GPU

        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, ProcessScreen)
        pid = app.screen.pid
        assert crumbs(app) == SEPARATOR.join(["cluster", "node-001", "GPU 2", f"pid {pid}"])
        assert "--local-rank 2" in screen_text(app)

        for expected in (GpuScreen, NodeScreen, ClusterScreen, ClusterScreen):
            await pilot.press("escape")
            await settle(pilot, app)
            assert isinstance(app.screen, expected)
        assert crumbs(app) == "cluster"


async def test_enter_on_a_process_of_the_node_screen_opens_the_cluster_process_screen() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, NodeScreen)
        await pilot.press("enter")  # the process table has the focus
        await settle(pilot, app)
        assert isinstance(app.screen, ProcessScreen)
        assert crumbs(app).startswith(f"cluster{SEPARATOR}node-000{SEPARATOR}pid ")


async def test_mouse_clicks_drill_down() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        table = app.screen.table
        # header is row 0 of the table; click the third node twice (highlight, then open)
        await pilot.click(table, offset=(20, 3))
        await pilot.click(table, offset=(20, 3))
        await settle(pilot, app)
        assert isinstance(app.screen, NodeScreen)
        assert app.screen.node_id == "node-002"
        gpus = app.screen.query_one("#gpus")
        await pilot.click(gpus, offset=(4, 2))  # border, then GPU 0, GPU 1
        await settle(pilot, app)
        assert isinstance(app.screen, GpuScreen)
        assert app.screen.index == 1


async def test_command_line_moves_between_views() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await pilot.press("colon", *"gpus", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, GpusScreen)
        assert crumbs(app) == f"cluster{SEPARATOR}GPUs"
        assert "24 of 24 shown" in screen_text(app)  # 6 nodes x 4 GPUs

        await pilot.press("colon", *"node node-004", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, NodeScreen)
        assert crumbs(app) == f"cluster{SEPARATOR}node-004"  # the GPU view was left

        await pilot.press("colon", *"gpu 3", "enter")  # on a node screen: its GPU 3
        await settle(pilot, app)
        assert isinstance(app.screen, GpuScreen)
        assert crumbs(app) == SEPARATOR.join(["cluster", "node-004", "GPU 3"])

        await pilot.press("colon", *"gpu node-001 0", "enter")
        await settle(pilot, app)
        assert crumbs(app) == SEPARATOR.join(["cluster", "node-001", "GPU 0"])
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, NodeScreen) and app.screen.node_id == "node-001"

        await pilot.press("colon", *"nodes", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, ClusterScreen)
        assert len(app.screen_stack) == 2


async def test_bad_commands_say_why_and_change_nothing() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        shown = record_notifications(app)
        messages: list[str] = []
        for command in ("frobnicate", "node nosuch", "gpu node-001 9", "gpu node-001 x",
                        "sort nosuch", "group nosuch", "filter gpu.util>", "node 'unclosed",
                        "n"):
            shown.clear()
            await pilot.press("colon", *command, "enter")
            await settle(pilot, app)
            assert isinstance(app.screen, ClusterScreen), command
            messages.append(" | ".join(shown))
        assert "unknown command 'frobnicate'" in messages[0]
        assert "no node 'nosuch'" in messages[1]
        assert "has no GPU 9" in messages[2]
        assert "must be a number" in messages[3]
        assert "no column 'nosuch'" in messages[4]
        assert "no node has a label 'nosuch'" in messages[5]
        assert "expected a value" in messages[6]
        assert "No closing quotation" in messages[7]
        assert "ambiguous" in messages[8]  # n: nodes or node


async def test_command_line_completes_commands_and_node_names() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await pilot.press("colon")
        bar = app.screen.query_one(CommandLine)
        assert bar.is_open
        await pilot.press("a", "l", "tab")
        assert bar.input.value == "alerts"
        bar.input.value = ""
        await pilot.press("g", "p", "tab")
        assert bar.input.value == "gpu"  # gpu and gpus share it
        await pilot.press("tab")
        assert bar.input.value == "gpus"
        bar.input.value = ""
        await pilot.press(*"node node-00", "tab")  # 6 candidates: common prefix, then cycle
        assert bar.input.value == "node node-000"
        await pilot.press("tab")
        assert bar.input.value == "node node-001"
        bar.input.value = ""
        await pilot.press(*"node node-005"[:-1], "5", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, NodeScreen) and app.screen.node_id == "node-005"
        await pilot.press("colon")
        await pilot.press("escape")  # closes the command line, not the screen
        await settle(pilot, app)
        assert isinstance(app.screen, NodeScreen)
        assert not app.screen.query_one(CommandLine).is_open


async def test_help_lists_every_key_of_each_screen() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        expectations = [
            ((), ["Filter", "Group: by the next label", "Reverse sort", "Command: :nodes",
                  "Quit"]),
            (("enter",), ["Open a GPU", "Send a signal", "Command: :nodes", "Quit"]),
            (("1",), ["Back", "Signal the selected process", "Command: :nodes"]),
        ]
        for keys, words in expectations:
            await pilot.press(*keys)
            await settle(pilot, app)
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            text = screen_text(app)
            for word in words:
                assert word in text, (keys, word)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 50)])
async def test_the_command_line_shows_what_is_typed_and_the_completions(
    size: tuple[int, int],
) -> None:
    app, _, _ = make_app(nodes=64, gpus=8)
    async with app.run_test(size=size) as pilot:
        await start(pilot, app)
        await pilot.press("colon", *"node node-00")
        await pilot.pause()
        lines = screen_text(app).splitlines()
        # the input, above the footer (a grey suggestion may follow what was typed)
        assert lines[-2].strip().startswith(":node node-00")
        assert "node NAME" in lines[-3]  # the hint says what the command does
        await pilot.press("tab")  # ten candidates: listed, the first filled in
        await pilot.pause()
        lines = screen_text(app).splitlines()
        assert lines[-2].strip() == ":node node-000"
        assert lines[-3].split()[:3] == ["node-000", "node-001", "node-002"]
        await pilot.press("tab", "tab")
        await pilot.pause()
        assert screen_text(app).splitlines()[-2].strip() == ":node node-002"
        await pilot.press("enter")
        await settle(pilot, app)
        assert crumbs(app) == f"cluster{SEPARATOR}node-002"


async def test_esc_returns_where_the_user_came_from() -> None:
    app, _, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await pilot.press("G")  # all GPUs, then Enter on the first: node-000 GPU 0
        await settle(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert crumbs(app) == SEPARATOR.join(["cluster", "GPUs", "node-000 GPU 0"])
        await pilot.press("escape")
        await settle(pilot, app)
        assert crumbs(app) == f"cluster{SEPARATOR}GPUs"  # back to the GPU table, not the node
        await pilot.press("escape")
        await settle(pilot, app)
        assert crumbs(app) == "cluster"
        await pilot.press("escape")  # the root stays
        await settle(pilot, app)
        assert crumbs(app) == "cluster" and isinstance(app.screen, ClusterScreen)

        # Opening a place that is already open goes back to it instead of stacking it again.
        await pilot.press("enter", "1")  # node-000, GPU 1
        await settle(pilot, app)
        await pilot.press("colon", *"node node-000", "enter")
        await settle(pilot, app)
        assert crumbs(app) == f"cluster{SEPARATOR}node-000"
        await pilot.press("escape")
        await settle(pilot, app)
        assert crumbs(app) == "cluster"
