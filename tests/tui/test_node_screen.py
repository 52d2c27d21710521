"""Pilot tests of the local view (NodeScreen) fed by hand-made Hello/Sample events."""

from __future__ import annotations

from dataclasses import replace

from autoglm_tui.events import SampleReceived
from autoglm_tui.model import ProcSample
from autoglm_tui.tui.demo import (
    EVIL_CMDLINE,
    LOST_REASON,
    NO_NVML_REASON,
    demo_end,
    demo_events,
    demo_sample,
)
from autoglm_tui.tui.screens.help import HelpScreen
from autoglm_tui.tui.screens.node import NodeScreen
from autoglm_tui.tui.screens.process import ProcessScreen
from autoglm_tui.tui.widgets.process_table import ProcessTable

from .helpers import NODE, make_app, screen_text, settle, table_pids, table_rows

SIZE = (120, 40)


def _line_with(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


async def test_four_gpus_one_lost_and_unsupported_fields() -> None:
    app = make_app(demo_events())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(pilot)
        for title in ("GPUs", "Host", "IO", "Processes"):
            assert title in text
        assert "gpu-node-01" in text and "UP" in text
        lost = _line_with(text, "LOST")
        assert lost.split()[1] == "2"  # the line of GPU 2 (after the border)
        assert LOST_REASON in lost
        gpu3 = _line_with(text, " 3 OK    H100")  # the health badge comes first
        assert "util" in gpu3 and "N/A" in gpu3  # power and fan NOT_SUPPORTED: N/A, not 0
        assert "0W" not in gpu3
        gpu0 = _line_with(text, " 0 OK    H100")
        assert "/700W" in gpu0 and "°C" in gpu0 and "MHz" in gpu0


async def test_no_gpu_shows_the_reason_and_the_rest_works() -> None:
    app = make_app(demo_events(gpus=0))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(pilot)
        assert f"No GPU: {NO_NVML_REASON}" in text
        assert "Mem" in text and "Swap" in text and "Disk" in text
        assert len(table_rows(pilot)) == len(demo_sample(0, 0.0, gpus=0).procs)


async def test_gpu_processes_first_then_top_cpu() -> None:
    app = make_app(demo_events())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        last = demo_sample(89, demo_end() - 0.5)
        gpu_pids = {p.pid for p in last.procs if p.gpus}
        pids = table_pids(pilot)
        assert set(pids[: len(gpu_pids)]) == gpu_pids
        others = [p for p in last.procs if not p.gpus]
        by_cpu = sorted(others, key=lambda p: (-(p.cpu_pct or 0), p.pid))
        assert pids[len(gpu_pids):] == [p.pid for p in by_cpu]


async def test_sort_keys_change_the_order() -> None:
    app = make_app(demo_events())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        last = demo_sample(89, demo_end() - 0.5)
        gpu = sorted(p.pid for p in last.procs if p.gpus)
        other = sorted(p.pid for p in last.procs if not p.gpus)

        await pilot.press("p")
        assert table_pids(pilot) == gpu + other
        await pilot.press("r")
        assert table_pids(pilot) == gpu[::-1] + other[::-1]

        await pilot.press("m")
        by_rss = sorted(
            (p for p in last.procs if not p.gpus), key=lambda p: (-(p.rss_bytes or 0), p.pid)
        )
        assert table_pids(pilot)[len(gpu):] == [p.pid for p in by_rss]

        await pilot.press("greater_than_sign")  # m (RSS) -> g (GPU memory)
        gpu_by_mem = sorted((p for p in last.procs if p.gpus), key=lambda p: -p.gpu_mem_bytes)
        assert table_pids(pilot)[: len(gpu)] == [p.pid for p in gpu_by_mem]
        assert "GPU MEM" in screen_text(pilot).splitlines()[-2]  # the pane's subtitle


async def test_filter_hides_rows_and_escape_restores_them() -> None:
    app = make_app(demo_events())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        everything = table_pids(pilot)
        await pilot.press("slash")
        await pilot.press(*"bob")
        assert sorted(table_pids(pilot)) == [5200, 5201]
        await pilot.press("enter")  # keep the filter, back to the table
        assert sorted(table_pids(pilot)) == [5200, 5201]
        assert app.screen.focused is app.screen.query_one(ProcessTable)
        await pilot.press("escape")
        assert table_pids(pilot) == everything

        await pilot.press("slash")
        await pilot.press(*"7777")  # by pid
        assert table_pids(pilot) == [7777]
        await pilot.press("escape")
        assert table_pids(pilot) == everything

        # Letters that are keys of the screen (p r o m e t h u s) go into the filter box.
        screen = app.screen
        assert isinstance(screen, NodeScreen)
        await pilot.press("slash")
        await pilot.press(*"prometheus")
        assert table_pids(pilot) == [8123]
        subtitle = screen_text(pilot).splitlines()[-2]  # the process pane's bottom border
        assert "sort CPU% ▼" in subtitle and "tree" not in subtitle


async def test_reopening_the_filter_keeps_it_and_types_at_its_end() -> None:
    app = make_app(demo_events())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"bo", "enter")
        assert sorted(table_pids(pilot)) == [5200, 5201]
        await pilot.press("slash", "b")  # the first key after `/` adds to the filter
        await pilot.pause()
        assert "filter 'bob'" in screen_text(pilot)
        assert sorted(table_pids(pilot)) == [5200, 5201]


async def test_elapsed_column_is_named_elapsed_not_time() -> None:
    # top and ps call CPU time TIME; this column is wall time since the process started.
    app = make_app(demo_events())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        head = _line_with(screen_text(pilot), "PID")
        assert "ELAPSED" in head and " TIME " not in head
        await pilot.press("e")
        await settle(pilot)
        assert "sort ELAPSED ▼" in screen_text(pilot)


async def test_home_end_and_a_new_sort_shows_the_top_of_the_process_table() -> None:
    app = make_app(demo_events())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ProcessTable)
        pids = table_pids(pilot)
        await pilot.press("end")
        await pilot.pause()
        assert table.selected is not None and table.selected.pid == pids[-1]
        assert _line_with(screen_text(pilot), f" {pids[-1]} ")  # scrolled into view
        await pilot.press("home")
        await pilot.pause()
        assert table.selected is not None and table.selected.pid == pids[0]

        await pilot.press("end", "p")  # sort by pid: the view goes to the top of the new order
        await settle(pilot)
        by_pid = table_pids(pilot)
        assert by_pid != pids
        assert table.selected is not None and table.selected.pid == by_pid[0]
        assert _line_with(screen_text(pilot), f" {by_pid[0]} ")
        assert table.scroll_y == 0


async def test_tree_view_nests_children_under_parents() -> None:
    app = make_app(demo_events())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("t")
        rows = {int(r[0]): r[-1] for r in table_rows(pilot)}
        pids = table_pids(pilot)
        assert pids.index(5200) < pids.index(5201)  # torchrun, then its child
        assert rows[5201].startswith(("│", "└", "├", " "))
        assert "└─ " in rows[7777] or "├─ " in rows[7777]
        assert not rows[1].startswith(("└", "├"))  # init is a root


async def test_enter_opens_process_detail_and_escape_returns() -> None:
    app = make_app(demo_events())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ProcessTable)
        assert table.select_pid(4121)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ProcessScreen) and app.screen.pid == 4121
        text = screen_text(pilot)
        assert "--tensor-parallel-size 2 --port 8000" in text  # the full command line
        assert "alice" in text and "started" in text
        for title in ("CPU", "RSS", "GPU memory"):
            assert title in text
        assert "GPU 0" in text and "GPU 1" in text
        await pilot.press("escape")
        assert isinstance(app.screen, NodeScreen)


async def test_a_process_without_gpu_says_so_in_its_gpu_charts() -> None:
    app = make_app(demo_events())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.query_one(ProcessTable).select_pid(812)  # sshd: no GPU
        await pilot.press("enter")
        await settle(pilot)
        text = screen_text(pilot)
        assert isinstance(app.screen, ProcessScreen) and app.screen.pid == 812
        assert text.count("uses no GPU") == 2  # GPU memory and SM
        assert "no data recorded" not in text
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.query_one(ProcessTable).select_pid(4121)  # a GPU process
        await pilot.press("enter")
        await settle(pilot)
        assert "uses no GPU" not in screen_text(pilot)


async def test_click_selects_and_double_click_opens() -> None:
    app = make_app(demo_events())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ProcessTable)
        third = table_pids(pilot)[2]
        await pilot.click(ProcessTable, offset=(3, 3))  # header is line 0
        await pilot.pause()
        assert isinstance(app.screen, NodeScreen)
        assert table.selected is not None and table.selected.pid == third
        await pilot.double_click(ProcessTable, offset=(3, 3))
        await settle(pilot)
        assert isinstance(app.screen, ProcessScreen) and app.screen.pid == third


async def test_help_lists_the_keys_of_the_screen() -> None:
    app = make_app(demo_events())
    async with app.run_test(size=(120, 60)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(pilot)
        for needle in ("Sort by CPU%", "Sort by memory (RSS)", "Sort by GPU memory",
                       "Sort by PID", "Reverse sort", "Filter", "Tree", "Signal", "Quit",
                       "Open the GPU with that index"):
            assert needle in text, needle
        await pilot.press("escape")
        assert isinstance(app.screen, NodeScreen)


async def test_untrusted_command_line_is_shown_literally() -> None:
    events = demo_events(samples=3)
    last = events[-1]
    assert isinstance(last, SampleReceived)
    evil_user = ProcSample(4242, 1, "[b]eve\x1b[31m", "x", "[link=http://x]y", 1.0, 1, 1.0)
    sample = replace(last.sample, procs=(*last.sample.procs, evil_user))
    events[-1] = replace(last, sample=sample)
    app = make_app(events, now=demo_end(3))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        rows = {int(r[0]): r for r in table_rows(pilot)}
        assert rows[7777][-1] == "]0;pwned [red]x[/red] --serve  (python3)"
        assert rows[4242][1] == "[b]eve [31m"
        assert rows[4242][-1] == "[link=http://x]y"
        text = screen_text(pilot)
        assert "[red]x[/red]" in text
        assert "\x1b" not in text and "\x07" not in text
        app.screen.query_one(ProcessTable).select_pid(7777)
        await pilot.press("enter")
        await settle(pilot)
        assert "[red]x[/red] --serve" in screen_text(pilot)
        assert EVIL_CMDLINE not in screen_text(pilot)  # the escape never reaches the terminal


async def test_a_pid_listed_twice_is_shown_once() -> None:
    events = demo_events(samples=3)
    last = events[-1]
    assert isinstance(last, SampleReceived)
    twin = replace(last.sample.procs[0], cmdline="a second listing of the same pid")
    events[-1] = replace(last, sample=replace(last.sample, procs=(*last.sample.procs, twin)))
    app = make_app(events, now=demo_end(3))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pids = table_pids(pilot)
        assert len(pids) == len(set(pids)) == len(last.sample.procs)


async def test_rows_update_in_place_and_the_cursor_follows_its_process() -> None:
    events = demo_events(samples=5)
    app = make_app(events, now=demo_end(5))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ProcessTable)
        table.select_pid(9200)
        before = table.cursor_row
        last = events[-1]
        assert isinstance(last, SampleReceived)
        procs = tuple(
            replace(p, cpu_pct=500.0) if p.pid == 9200 else p for p in last.sample.procs
        )
        t = last.t + 1
        sample = replace(last.sample, t=t, seq=last.sample.seq + 1, procs=procs)
        app.emit(SampleReceived(t, NODE, sample))  # the door every source uses
        await settle(pilot)
        rows = table_rows(pilot)
        assert table.selected is not None and table.selected.pid == 9200
        assert table.cursor_row != before
        assert rows[table.cursor_row][4] == "500.0"


async def test_small_terminal_keeps_every_pane_title() -> None:
    app = make_app(demo_events())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = screen_text(pilot)
        for title in ("GPUs", "Host", "IO", "Processes"):
            assert title in text
        assert len(table_rows(pilot)) > 0
        assert "PID" in text and "COMMAND" in text


async def test_stale_node_is_marked_in_the_header() -> None:
    app = make_app(demo_events(), now=demo_end() + 30)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "STALE" in screen_text(pilot).splitlines()[0]


async def test_a_digit_opens_that_gpu_with_its_history_and_processes() -> None:
    from autoglm_tui.tui.screens.gpu import GpuScreen

    app = make_app(demo_events())
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press("7")  # the demo node has GPUs 0-3
        await settle(pilot)
        assert isinstance(app.screen, NodeScreen)
        await pilot.press("0")
        await settle(pilot)
        assert isinstance(app.screen, GpuScreen)
        text = screen_text(pilot)
        assert text.splitlines()[0].split()[0] == NODE  # no breadcrumb: the header comes first
        assert ":node" not in text  # nor the cluster's command line
        for title in ("GPU util %", "GPU memory used (GiB)", "temperature °C", "power W",
                      "PCIe bytes/s", "Processes on this GPU"):
            assert title in text, title
        assert "cluster ›" not in text
        assert "4121" in text  # the demo's vLLM server holds GPU 0
        assert app.screen.table.selected == 4121  # the first row is selected
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ProcessScreen) and app.screen.pid == 4121
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, GpuScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, NodeScreen)


async def test_a_click_on_a_gpu_line_opens_that_gpu() -> None:
    from autoglm_tui.tui.screens.gpu import GpuScreen
    from autoglm_tui.tui.widgets.gpu_pane import GpuPane

    app = make_app(demo_events())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.click(GpuPane, offset=(4, 2))  # border, GPU 0, GPU 1
        await settle(pilot)
        assert isinstance(app.screen, GpuScreen) and app.screen.index == 1
