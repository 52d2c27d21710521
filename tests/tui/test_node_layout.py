"""The node screen at 80x24 (issue 15): every GPU of an 8-GPU node, its host and IO figures,
its alerts and a few processes on one screen; nothing wraps; `i` keeps the table and footer."""

from __future__ import annotations

import re

from textual.pilot import Pilot

from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.alerting.rule_files import default_rules
from autoglm_tui.analysis.alerts import AlertEngine

from . import cluster_kit, scenes
from .terminal import capture

SPARK = set("▁▂▃▄▅▆▇█")


async def screen_of(name: str, size: tuple[int, int], *keys: str) -> list[str]:
    """The lines of scene `name` at `size` after pressing `keys`."""
    base = scenes.SCENES[name]

    async def steps(pilot: Pilot) -> None:
        await base.steps(pilot)
        for key in keys:
            await pilot.press(key)
            await scenes.settle(pilot)

    scenes.SCENES["_layout"] = scenes.Scene(base.app, steps)
    try:
        text = await scenes.shoot("_layout", size, lambda app: capture(app).text)
    finally:
        del scenes.SCENES["_layout"]
    assert isinstance(text, str)
    return text.splitlines()


def gpu_indices(lines: list[str]) -> list[int]:
    # "  3 OK    util ███…" (the health badge, then the figures) or a lost GPU's line
    found = (re.match(r"^[│ ]\s*(\d+) (?:(?:OK|SLOW|RESET)\s+util|\S.*LOST)", ln) for ln in lines)
    return [int(m.group(1)) for m in found if m]


def process_rows(lines: list[str]) -> list[str]:
    return [ln for ln in lines if re.match(r"^[│ ]\s+\d+ \S+ ", ln) and "util" not in ln]


def assert_nothing_wraps(lines: list[str]) -> None:
    for ln in lines:
        body = ln.strip(" │")
        # A wrapped sparkline or line end shows up as a line of its own.
        assert not (body and set(body) <= SPARK | {" "}), f"a sparkline wrapped: {ln!r}"
        assert not re.fullmatch(r"\d+\)", body), f"a GPU line wrapped: {ln!r}"


async def test_80x24_shows_all_8_gpus_alerts_and_processes() -> None:
    lines = await screen_of("cluster-node", (80, 24))
    assert len(lines) == 24
    assert gpu_indices(lines) == list(range(8))
    alerts = next(ln for ln in lines if "Alerts" in ln)
    assert "16 firing" in alerts  # the counts are in the pane's title (memory and util rules)
    assert any(ln.lstrip(" │").startswith("FIRING") for ln in lines)
    head = next(i for i, ln in enumerate(lines) if "PID" in ln and "COMMAND" in ln)
    assert len(process_rows(lines[head:])) >= 3
    assert "Filter" in lines[-1]  # the footer is on the last line
    io = next(ln for ln in lines if "Disk" in ln)
    assert "R " in io and "W " in io and set(io) & SPARK
    assert_nothing_wraps(lines)


async def test_local_view_lost_gpu_line_does_not_wrap() -> None:
    for size in ((80, 24), (80, 40)):
        lines = await screen_of("local", size)
        assert gpu_indices(lines) == [0, 1, 2, 3], size
        lost = next(i for i, ln in enumerate(lines) if "LOST" in ln)
        assert gpu_indices(lines[lost + 1:])[:1] == [3], size  # the next line is GPU 3's
        assert_nothing_wraps(lines)
        assert "Filter" in lines[-1], size


async def test_io_correlation_keeps_the_table_and_footer() -> None:
    for size in ((80, 24), (120, 40)):
        lines = await screen_of("cluster-node", size, "i")
        assert len(lines) == size[1]
        assert any("IO correlation" in ln for ln in lines), size
        head = next(i for i, ln in enumerate(lines) if "PID" in ln and "COMMAND" in ln)
        assert len(process_rows(lines[head:])) >= 3, size
        assert "Filter" in lines[-1], size
        assert_nothing_wraps(lines)
    lines = await screen_of("cluster-node", (80, 24), "i", "i")  # back: the GPUs again
    assert gpu_indices(lines) == list(range(8))


async def test_the_command_line_takes_the_alerts_rows_not_the_table() -> None:
    lines = await screen_of("cluster-node", (80, 24), "colon")
    assert len(lines) == 24
    assert gpu_indices(lines) == list(range(8))
    assert any(ln.startswith(" :command") for ln in lines[-3:])  # the input row is on screen
    head = next(i for i, ln in enumerate(lines) if "PID" in ln and "COMMAND" in ln)
    assert len(process_rows(lines[head:])) >= 3
    lines = await screen_of("cluster-node", (80, 24), "colon", "escape")
    assert any("Alerts" in ln and "firing" in ln for ln in lines)


async def test_demo_fleet_node_screen_starts_at_its_header() -> None:
    """`cluster --demo 4x8`, Enter at 80x24: the node screen fits, header and GPUs included
    (the alerts pane, with only pending alerts, once pushed the header off the top)."""
    app, fleet, clock = cluster_kit.make_app(nodes=4, gpus=8)
    AlertPipeline(AlertEngine(default_rules())).install(app.monitor)  # as the command does
    async with app.run_test(size=(80, 24)) as pilot:
        await cluster_kit.start(pilot, app)
        for k in range(1, 16):  # long enough for the demo's util rule to be pending
            clock.t = cluster_kit.T0 + k
            await cluster_kit.feed(pilot, app, fleet.tick_events(clock.t))
        await pilot.press("enter")
        for _ in range(3):  # the panes settle over a repaint or two, as on the timer
            await cluster_kit.settle(pilot, app)
        lines = cluster_kit.screen_text(app).splitlines()
        assert len(lines) == 24
        node = app.screen.node_id  # type: ignore[attr-defined]
        assert node in lines[0] and node in lines[1]  # the breadcrumb, then the node header
        assert gpu_indices(lines) == list(range(8))
        alerts = next(ln for ln in lines if "Alerts" in ln)
        assert "0 firing" in alerts and "0 pending" not in alerts
        head = next(i for i, ln in enumerate(lines) if "PID" in ln and "COMMAND" in ln)
        assert len(process_rows(lines[head:])) >= 3
        assert "Filter" in lines[-1]
        assert_nothing_wraps(lines)


async def test_a_failed_node_with_a_service_keeps_its_banner_and_header_at_80x24() -> None:
    """Banner, header, 8 GPUs, a service, host/IO, an alert: more than 24 rows hold. The table
    shrinks to one process and the Services pane folds; nothing leaves the top."""
    lines = await screen_of("members-failed", (80, 24))
    assert len(lines) == 24
    assert "node-003 FAILED" in lines[1] and lines[2].startswith(" node-003.")
    assert gpu_indices(lines) == list(range(8))
    assert any("▸ Services (1)" in ln and "P95" in ln for ln in lines)
    assert any("FIRING" in ln and "node_not_up" in ln for ln in lines)
    head = next(i for i, ln in enumerate(lines) if "PID" in ln and "COMMAND" in ln)
    assert len(process_rows(lines[head:])) >= 1
    assert "Filter" in lines[-1]
    assert_nothing_wraps(lines)
    lines = await screen_of("members-failed", (80, 40))  # room: the pane is not folded
    assert not any("▸ Services" in ln for ln in lines)
    assert any(ln.lstrip(" │").startswith("vllm ") for ln in lines)
