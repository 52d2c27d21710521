"""The node screen at 80x24 (issue 15): every GPU of an 8-GPU node, its host and IO figures,
its alerts and a few processes on one screen; nothing wraps; `i` keeps the table and footer."""

from __future__ import annotations

import re

from textual.pilot import Pilot

from . import scenes
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
    found = (re.match(r"^[│ ]\s*(\d+) (util|\S.*LOST)", ln) for ln in lines)
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
    assert "8 firing" in alerts  # the counts are in the pane's title
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
