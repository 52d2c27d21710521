"""The node and GPU tables: sorting, filter queries (good and malformed), grouping, stragglers."""

from __future__ import annotations

from autoglm_tui.tui.screens.cluster import ClusterScreen
from autoglm_tui.tui.screens.gpus import GpusScreen
from autoglm_tui.tui.widgets.node_row import latency_text

from .cluster_kit import SIZE, feed, make_app, screen_text, settle, shown_nodes, start


def cpu_of(app, node_id: str) -> float:  # type: ignore[no-untyped-def]
    return app.monitor.state.nodes[node_id].metric("cpu.util_pct")


def header(app) -> str:  # type: ignore[no-untyped-def]
    return next(ln for ln in screen_text(app).splitlines() if "Status" in ln and "Node" in ln)


def group_rows(app) -> list[str]:  # type: ignore[no-untyped-def]
    """Titles of the group rows, top to bottom."""
    return [ln.split()[3] for ln in screen_text(app).splitlines()
            if ln.split()[:1] in (["▸"], ["▾"])]


def gpu_rows(app) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    """(node, GPU index) of the all-GPUs table's rows, top to bottom."""
    out = []
    for ln in screen_text(app).splitlines():
        words = ln.split()
        if len(words) > 2 and words[0].startswith("node-") and words[1].isdigit():
            out.append((words[0], int(words[1])))
    return out


def marked(app) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    """GPUs whose Peers column carries the straggler mark."""
    rows = [ln for ln in screen_text(app).splitlines() if "⚠" in ln]
    return [(ln.split()[0], int(ln.split()[1])) for ln in rows if ln.split()[0].startswith("node-")]


async def test_sorting_by_columns_keys_and_header_clicks() -> None:
    app, _, _ = make_app(nodes=8)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        screen = app.screen
        assert isinstance(screen, ClusterScreen)
        assert shown_nodes(app) == [f"node-00{i}" for i in range(8)]
        assert "Node▲" in screen_text(app)

        await pilot.press("colon", *"sort cpu", "enter")  # numbers sort high first
        await settle(pilot, app)
        cpus = [cpu_of(app, n) for n in shown_nodes(app)]
        assert cpus == sorted(cpus, reverse=True)
        assert "CPU▼" in screen_text(app)
        await pilot.press("r")
        await settle(pilot, app)
        cpus = [cpu_of(app, n) for n in shown_nodes(app)]
        assert cpus == sorted(cpus)

        await pilot.press("less_than_sign")  # previous column: GPU mem
        await settle(pilot, app)
        assert "GPU mem▲" in header(app)

        await pilot.press("greater_than_sign", "greater_than_sign")
        await settle(pilot, app)
        assert "Mem▲" in header(app) and "GPU mem▲" not in header(app)

        # Clicking the CPU header sorts by CPU, busiest first; again: reversed.
        cpu_x = header(app).index(" CPU ") + 2  # where the title is drawn
        await pilot.click(screen.table, offset=(cpu_x, 0))
        await settle(pilot, app)
        assert "CPU▼" in header(app)
        cpus = [cpu_of(app, n) for n in shown_nodes(app)]
        assert cpus == sorted(cpus, reverse=True)
        await pilot.click(screen.table, offset=(cpu_x, 0))
        await settle(pilot, app)
        assert "CPU▲" in header(app)
        cpus = [cpu_of(app, n) for n in shown_nodes(app)]
        assert cpus == sorted(cpus)

        await pilot.press("colon", *"sort labels", "enter")  # text sorts A-Z first
        await settle(pilot, app)
        labels = [" ".join(f"{k}={v}" for k, v in sorted(app.monitor.state.nodes[n].labels.items()))
                  for n in shown_nodes(app)]
        assert labels == sorted(labels)


async def test_reopening_the_filter_types_at_its_end() -> None:
    app, _, _ = make_app(nodes=8)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await pilot.press("slash", *"host~=node-00", "enter")
        await settle(pilot, app)
        assert "filter 8 of 8 shown" in screen_text(app)
        await pilot.press("slash", *"[04]", "enter")  # reopened: the keys go after the text
        await settle(pilot, app)
        assert shown_nodes(app) == ["node-000", "node-004"]
        assert "filter 2 of 8 shown" in screen_text(app)


async def test_filter_queries_including_malformed_ones() -> None:
    app, _, _ = make_app(nodes=8)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        screen = app.screen
        assert isinstance(screen, ClusterScreen)
        await pilot.press("slash", *"label.zone=a")
        await settle(pilot, app)
        assert shown_nodes(app) == ["node-000", "node-004"]
        assert "filter 2 of 8 shown" in screen_text(app)

        await pilot.press(*" & label.role=infer")
        await settle(pilot, app)
        assert shown_nodes(app) == []  # node 3 and 7 are infer, in zone d

        for _ in range(len(" & label.role=infer")):
            await pilot.press("backspace")
        await pilot.press(*" & gpu.util>")  # incomplete: an error, the last good filter stays
        await settle(pilot, app)
        text = screen_text(app)
        assert "filter: expected a value at the end of the query at column 25" in text
        assert shown_nodes(app) == ["node-000", "node-004"]
        await pilot.press("enter")  # refused while malformed
        await settle(pilot, app)
        assert app.focused is not None and app.focused.id == "cluster-filter"

        await pilot.press("1", "0", "1")  # gpu.util>101: nothing is that busy
        await settle(pilot, app)
        assert shown_nodes(app) == []
        assert "No node matches the filter. Esc clears it." in screen_text(app)
        await pilot.press("escape")  # clears the filter
        await settle(pilot, app)
        assert len(shown_nodes(app)) == 8
        assert "filter: " not in screen_text(app)

        for bad in ("host~=[", "[red]x=1", "cpu>>1", "gpu.utl>3", "\x1b[31m=1"):
            await pilot.press("slash")
            screen.query_one("#cluster-filter").value = bad
            await settle(pilot, app)
            assert "filter: " in screen_text(app), bad
            assert len(shown_nodes(app)) == 8
            await pilot.press("escape")
            await settle(pilot, app)

        await pilot.press("slash", *"host~=node-00[12]", "enter")
        await settle(pilot, app)
        assert shown_nodes(app) == ["node-001", "node-002"]
        assert app.focused is screen.table


async def test_grouping_by_label_with_aggregated_rows_that_expand() -> None:
    app, fleet, clock = make_app(nodes=8)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        for _ in range(8):  # the inference servers' first scrapes (every 5 s)
            clock.t += 1
            await feed(pilot, app, list(fleet.tick_events(clock.t)))
        screen = app.screen
        assert isinstance(screen, ClusterScreen)
        await pilot.press("g")  # labels: rack, role, zone -> rack first
        await settle(pilot, app)
        assert group_rows(app) == ["r00"]  # 8 nodes, all in rack r00
        assert "rack=r00  8 nodes" in screen_text(app)
        await pilot.press("g")
        await settle(pilot, app)
        assert group_rows(app) == ["infer", "train"]
        text = screen_text(app)
        assert "▸ 2/2 up" in text and "▸ 6/6 up" in text
        assert shown_nodes(app) == []  # collapsed
        # The aggregated row sums GPU memory over the group's GPUs.
        state = app.monitor.state
        infer = [n for n in state.nodes.values() if n.labels["role"] == "infer"]
        used = sum(n.metric("gpu.mem_used_bytes", i) for n in infer for i in range(4))
        from autoglm_tui import format as fmt

        assert fmt.bytes_(used) in text
        assert "role=infer  2 nodes, 2 up, 8 GPUs" in text  # the detail line: sums and means
        assert "GPU util x̄" in text and "GPU mem Σ" in text
        # issue 15 item 9: percentages as mean and max, never summed; P95 the worst member's
        assert "util Σ" not in text and "CPU Σ" not in text and "mem Σ" not in text.replace(
            "GPU mem Σ", "")
        utils = [n.metric("gpu.util_pct", i) for n in infer for i in range(4)]
        assert f"GPU util x̄ {sum(utils) / 8:.0f}% max {max(utils):.0f}%" in text
        infer_row = next(ln for ln in text.splitlines() if "▸ 2/2 up" in ln)
        assert f"{sum(utils) / 8:.0f}% ↑{max(utils):.0f}%" in infer_row
        worst = max(n.metric("svc.latency_p95_s") for n in infer)
        mean = sum(n.metric("svc.latency_p95_s") for n in infer) / 2
        assert latency_text(worst) in infer_row and latency_text(mean) not in infer_row

        await pilot.press("enter")  # expand "infer"
        await settle(pilot, app)
        assert shown_nodes(app) == ["node-003", "node-007"]
        assert "▾ 2/2 up" in screen_text(app)
        await pilot.press("down", "enter")  # a member row opens the node
        await settle(pilot, app)
        assert screen_text(app).splitlines()[0].strip() == "cluster › node-003"
        await pilot.press("escape")
        await settle(pilot, app)
        await pilot.press("escape")  # closes open groups
        await settle(pilot, app)
        assert shown_nodes(app) == []
        await pilot.press("colon", *"group off", "enter")
        await settle(pilot, app)
        assert group_rows(app) == [] and len(shown_nodes(app)) == 8


async def test_all_gpus_view_marks_stragglers_sorts_and_filters() -> None:
    app, _, _ = make_app(nodes=8, gpus=4)  # node-005 has a lagging GPU
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await pilot.press("G")
        await settle(pilot, app)
        assert isinstance(app.screen, GpusScreen)
        assert len(gpu_rows(app)) == 32 and "32 of 32 shown" in screen_text(app)
        lagging = marked(app)
        assert [k[0] for k in lagging] == ["node-005"]
        text = screen_text(app)
        assert "⚠ util ▼" in text
        assert "stragglers 1" in text

        await pilot.press("x")  # only marked GPUs
        await settle(pilot, app)
        assert gpu_rows(app) == lagging
        await pilot.press("x")
        await settle(pilot, app)

        await pilot.press("colon", *"sort util", "enter")
        await settle(pilot, app)
        shown = gpu_rows(app)
        utils = [app.monitor.state.nodes[n].metric("gpu.util_pct", i) for n, i in shown]
        assert utils == sorted(utils, reverse=True)
        assert shown[-1] == lagging[0]  # the straggler is the least busy

        await pilot.press("slash", *"gpu=1 & label.zone=b")
        await settle(pilot, app)
        assert gpu_rows(app) == [("node-001", 1), ("node-005", 1)]
        await pilot.press("escape")
        await settle(pilot, app)
        assert len(gpu_rows(app)) == 32
        await pilot.press("slash", *"gpu.util>>")
        await settle(pilot, app)
        assert "filter: " in screen_text(app)
        await pilot.press("escape", "escape")  # clear, then back to the cluster
        await settle(pilot, app)
        assert isinstance(app.screen, ClusterScreen)


def highlighted(app) -> str:  # type: ignore[no-untyped-def]
    """The text of the highlighted row (the cursor's background) as the terminal shows it."""
    from .terminal import capture

    screen = capture(app)
    table = app.screen.table
    cursor_bg = table.get_component_rich_style("live-table--cursor").bgcolor
    want = cursor_bg.get_truecolor().hex.lower() if cursor_bg else ""
    rows = ["".join(c.char for c in line) for line in screen.lines
            if line and sum(c.bg == want for c in line) > len(line) // 2]
    assert len(rows) == 1, rows
    return rows[0]


async def test_home_end_and_a_new_sort_shows_the_top() -> None:
    app, _, _ = make_app(nodes=16, gpus=4)  # 64 GPUs: more rows than the screen holds
    async with app.run_test(size=(100, 24)) as pilot:
        await start(pilot, app)
        await pilot.press("G")
        await settle(pilot, app)
        first = gpu_rows(app)[0]
        await pilot.press("end")
        await settle(pilot, app)
        assert first not in gpu_rows(app)  # scrolled to the bottom
        assert highlighted(app).split()[:2] == ["node-015", "3"]
        await pilot.press("home")
        await settle(pilot, app)
        assert gpu_rows(app)[0] == first and highlighted(app).split()[:2] == ["node-000", "0"]

        await pilot.press("end", "greater_than_sign")  # a new sort: the view goes to its top
        await settle(pilot, app)
        top = gpu_rows(app)[0]
        assert highlighted(app).split()[:2] == [top[0], str(top[1])]
        assert app.screen.table.cursor_row == 0


async def test_a_straggling_gpu_is_marked_in_its_rows_strip_until_it_catches_up() -> None:
    """GPU 0 of node-001 far below its three peers: its block in the GPU util strip is drawn
    bold in the accent colour, on every repaint while that sample is the newest, and plain
    again once a sample shows it caught up."""
    from dataclasses import replace

    from autoglm_tui.events import SampleReceived

    from .terminal import capture

    app, fleet, clock = make_app(nodes=4, gpus=4)

    def with_util(events: list, utils: tuple[float, ...]) -> list:  # type: ignore[type-arg]
        out = []
        for e in events:
            if isinstance(e, SampleReceived) and e.node_id == "node-001":  # not under the cursor
                gpus = tuple(replace(g, util_pct=u) for g, u in zip(e.sample.gpus, utils,
                                                                  strict=True))
                e = SampleReceived(e.t, e.node_id, replace(e.sample, gpus=gpus))
            out.append(e)
        return out

    def strip_cells(node_id: str) -> list:  # type: ignore[type-arg]
        """The cells of the node's GPU util strip (the column under the title)."""
        screen = capture(app)
        lines = screen.text.splitlines()
        head = next(ln for ln in lines if "Status" in ln and "GPU util" in ln)
        y = next(i for i, ln in enumerate(lines) if f" {node_id} " in ln)
        x = head.index("GPU util")
        cells = screen.lines[y][x:x + len("GPU util")]
        return [c for c in cells if c.char != " "]

    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        clock.t += 1
        await feed(pilot, app, with_util(fleet.tick_events(clock.t), (5.0, 95.0, 95.0, 95.0)))
        first, *others = strip_cells("node-001")
        assert first.bold and not any(c.bold for c in others), strip_cells("node-001")
        assert first.fg != others[0].fg
        await settle(pilot, app)  # a repaint with no new sample keeps the mark
        assert strip_cells("node-001")[0] == first
        clock.t += 1
        await feed(pilot, app, with_util(fleet.tick_events(clock.t), (94.0, 95.0, 95.0, 95.0)))
        assert not any(c.bold for c in strip_cells("node-001")), strip_cells("node-001")
