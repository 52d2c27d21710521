"""The node and GPU tables: sorting, filter queries (good and malformed), grouping, stragglers."""

from __future__ import annotations

from autoglm_tui.tui.screens.cluster import ClusterScreen
from autoglm_tui.tui.screens.gpus import GpusScreen

from .cluster_kit import SIZE, make_app, screen_text, settle, start


def cpu_of(app, node_id: str) -> float:  # type: ignore[no-untyped-def]
    return app.monitor.state.nodes[node_id].metric("cpu.util_pct")


async def test_sorting_by_columns_keys_and_header_clicks() -> None:
    app, _, _ = make_app(nodes=8)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        screen = app.screen
        assert isinstance(screen, ClusterScreen)
        assert screen.shown_nodes == [f"node-00{i}" for i in range(8)]
        assert "Node▲" in screen_text(app)

        await pilot.press("colon", *"sort cpu", "enter")  # numbers sort high first
        await settle(pilot, app)
        cpus = [cpu_of(app, n) for n in screen.shown_nodes]
        assert cpus == sorted(cpus, reverse=True)
        assert "CPU▼" in screen_text(app)
        await pilot.press("r")
        await settle(pilot, app)
        cpus = [cpu_of(app, n) for n in screen.shown_nodes]
        assert cpus == sorted(cpus)

        await pilot.press("less_than_sign")  # previous column: GPU mem
        await settle(pilot, app)
        assert screen.sort_key == "gmem"

        await pilot.press("greater_than_sign", "greater_than_sign")
        await settle(pilot, app)
        assert screen.sort_key == "mem"

        # Clicking the CPU header sorts by CPU, busiest first; again: reversed.
        await pilot.click(screen.table, offset=(62, 0))
        await settle(pilot, app)
        assert (screen.sort_key, screen.sort_reverse) == ("cpu", True)
        cpus = [cpu_of(app, n) for n in screen.shown_nodes]
        assert cpus == sorted(cpus, reverse=True)
        await pilot.click(screen.table, offset=(62, 0))
        await settle(pilot, app)
        assert (screen.sort_key, screen.sort_reverse) == ("cpu", False)

        await pilot.press("colon", *"sort labels", "enter")  # text sorts A-Z first
        await settle(pilot, app)
        labels = [" ".join(f"{k}={v}" for k, v in sorted(app.monitor.state.nodes[n].labels.items()))
                  for n in screen.shown_nodes]
        assert labels == sorted(labels)


async def test_filter_queries_including_malformed_ones() -> None:
    app, _, _ = make_app(nodes=8)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        screen = app.screen
        assert isinstance(screen, ClusterScreen)
        await pilot.press("slash", *"label.zone=a")
        await settle(pilot, app)
        assert screen.shown_nodes == ["node-000", "node-004"]
        assert "filter 2 of 8 shown" in screen_text(app)

        await pilot.press(*" & label.role=infer")
        await settle(pilot, app)
        assert screen.shown_nodes == []  # node 3 and 7 are infer, in zone d

        for _ in range(len(" & label.role=infer")):
            await pilot.press("backspace")
        await pilot.press(*" & gpu.util>")  # incomplete: an error, the last good filter stays
        await settle(pilot, app)
        text = screen_text(app)
        assert "filter: expected a value at the end of the query at column 25" in text
        assert screen.shown_nodes == ["node-000", "node-004"]
        await pilot.press("enter")  # refused while malformed
        await settle(pilot, app)
        assert app.focused is not None and app.focused.id == "cluster-filter"

        await pilot.press("1", "0", "1")  # gpu.util>101: nothing is that busy
        await settle(pilot, app)
        assert screen.shown_nodes == []
        await pilot.press("escape")  # clears the filter
        await settle(pilot, app)
        assert len(screen.shown_nodes) == 8
        assert screen.query_error is None

        for bad in ("host~=[", "[red]x=1", "cpu>>1", "gpu.utl>3", "\x1b[31m=1"):
            await pilot.press("slash")
            screen.query_one("#cluster-filter").value = bad
            await settle(pilot, app)
            assert "filter: " in screen_text(app), bad
            assert len(screen.shown_nodes) == 8
            await pilot.press("escape")
            await settle(pilot, app)

        await pilot.press("slash", *"host~=node-00[12]", "enter")
        await settle(pilot, app)
        assert screen.shown_nodes == ["node-001", "node-002"]
        assert app.focused is screen.table


async def test_grouping_by_label_with_aggregated_rows_that_expand() -> None:
    app, _, _ = make_app(nodes=8)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        screen = app.screen
        assert isinstance(screen, ClusterScreen)
        await pilot.press("g")  # labels: rack, role, zone -> rack first
        await settle(pilot, app)
        assert screen.group_key == "rack"
        await pilot.press("g")
        await settle(pilot, app)
        assert screen.group_key == "role"
        assert screen.table.items == [("group", "infer"), ("group", "train")]
        text = screen_text(app)
        assert "▸ 2/2 up" in text and "▸ 6/6 up" in text
        assert screen.shown_nodes == []  # collapsed
        # The aggregated row sums GPU memory over the group's GPUs.
        state = app.monitor.state
        infer = [n for n in state.nodes.values() if n.labels["role"] == "infer"]
        used = sum(n.metric("gpu.mem_used_bytes", i) for n in infer for i in range(4))
        from autoglm_tui import format as fmt

        assert fmt.bytes_(used) in text
        assert "role=infer  2 nodes, 2 up, 8 GPUs" in text  # the detail line: sums and means
        assert "GPU util Σ" in text and "x̄" in text

        await pilot.press("enter")  # expand "infer"
        await settle(pilot, app)
        assert screen.shown_nodes == ["node-003", "node-007"]
        assert "▾ 2/2 up" in screen_text(app)
        await pilot.press("down", "enter")  # a member row opens the node
        await settle(pilot, app)
        assert app.screen.node_id == "node-003"  # type: ignore[attr-defined]
        await pilot.press("escape")
        await settle(pilot, app)
        await pilot.press("escape")  # closes open groups
        await settle(pilot, app)
        assert screen.shown_nodes == []
        await pilot.press("colon", *"group off", "enter")
        await settle(pilot, app)
        assert screen.group_key is None and len(screen.shown_nodes) == 8


async def test_all_gpus_view_marks_stragglers_sorts_and_filters() -> None:
    app, _, _ = make_app(nodes=8, gpus=4)  # node-005 has a lagging GPU
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await pilot.press("G")
        await settle(pilot, app)
        screen = app.screen
        assert isinstance(screen, GpusScreen)
        assert len(screen.shown) == 32
        lagging = [k for k in screen.marks]
        assert [k[0] for k in lagging] == ["node-005"]
        text = screen_text(app)
        assert "⚠ util ▼" in text
        assert "stragglers 1" in text

        await pilot.press("x")  # only marked GPUs
        await settle(pilot, app)
        assert screen.shown == lagging
        await pilot.press("x")
        await settle(pilot, app)

        await pilot.press("colon", *"sort util", "enter")
        await settle(pilot, app)
        utils = [app.monitor.state.nodes[n].metric("gpu.util_pct", i) for n, i in screen.shown]
        assert utils == sorted(utils, reverse=True)
        assert screen.shown[-1] == lagging[0]  # the straggler is the least busy

        await pilot.press("slash", *"gpu=1 & label.zone=b")
        await settle(pilot, app)
        assert screen.shown == [("node-001", 1), ("node-005", 1)]
        await pilot.press("escape")
        await settle(pilot, app)
        assert len(screen.shown) == 32
        await pilot.press("slash", *"gpu.util>>")
        await settle(pilot, app)
        assert "filter: " in screen_text(app)
        await pilot.press("escape", "escape")  # clear, then back to the cluster
        await settle(pilot, app)
        assert isinstance(app.screen, ClusterScreen)
