"""Plot axes (issue 15): no negative ticks for values that cannot be negative, round tick
labels, a time axis in minutes ago, GPU plots several rows high at 80x24."""

from __future__ import annotations

import re
from dataclasses import replace

from autoglm_tui.events import SampleReceived
from autoglm_tui.model import DiskCounters, NetCounters
from autoglm_tui.tui.demo import demo_events
from autoglm_tui.tui.plot_axes import time_axis, value_axis

from .helpers import make_app, screen_text, settle
from .test_node_layout import screen_of

TICK = re.compile(r"(-?[\d.]+[kMGT]?)[┤├]")  # a y tick label and its mark on the axis


def test_flat_zero_and_missing_series_have_no_negative_ticks() -> None:
    for values in ([0.0, 0.0, 0.0], [], [None, None], [0.0, None]):
        axis = value_axis(values, 6)
        assert axis.lo == 0 and all(t >= 0 for t in axis.ticks), values
        assert not any(label.startswith("-") for label in axis.labels)


def test_ticks_are_round_and_labels_short() -> None:
    axis = value_axis([1234.0, 20249.8], 6)
    assert axis.labels == ("0", "10k", "20k", "30k") or axis.labels == ("0", "20k", "40k")
    assert value_axis([0.0, 3.9e9], 6).labels == ("0", "2G", "4G")
    assert value_axis([47.0, 76.0], 4).labels == ("40", "60", "80")  # no need to start at 0
    assert value_axis([65.3, 65.8], 6, fixed=(0.0, 80.0)).labels == ("0", "50", "80")
    assert value_axis([], 6, fixed=(0.0, 100.0)).labels == ("0", "50", "100")
    for labels in (value_axis([0.1, 0.37], 8).labels, value_axis([3.0, 9.7], 8).labels):
        assert all(len(label) <= 4 for label in labels), labels


def test_time_axis_reads_minutes_ago() -> None:
    assert time_axis(300, 60) == ([-300.0, -240.0, -180.0, -120.0, -60.0, 0.0],
                                  ["5m", "4m", "3m", "2m", "1m", "now"])
    assert time_axis(300, 14) == ([-300.0, 0.0], ["5m", "now"])  # narrow: fewer labels


def y_ticks(lines: list[str]) -> list[str]:
    return [m.group(1) for ln in lines for m in TICK.finditer(ln)]


async def test_gpu_plots_at_80x24_are_several_rows_high_with_round_ticks() -> None:
    lines = await screen_of("cluster-gpu", (80, 24))
    assert "Processes on this GPU" in "\n".join(lines)
    assert "Filter" in lines[-1] or "Back" in lines[-1]
    tops = [i for i, ln in enumerate(lines) if "┌" in ln]
    bottoms = [i for i, ln in enumerate(lines) if "└" in ln]
    assert len(tops) == 2 and len(bottoms) == 2  # two rows of plots
    assert all(b - t - 1 >= 3 for t, b in zip(tops, bottoms, strict=True))  # data rows
    ticks = y_ticks(lines)
    assert "100" in ticks and "0" in ticks
    for label in ticks:
        assert not label.startswith("-"), label
        assert not re.fullmatch(r"\d+\.\d{2,}|\d{4,}\.\d", label), label  # 65.849, 20249.8
    assert any("now" in ln and "5m" in ln for ln in lines)  # time axis in minutes ago
    assert not any(re.search(r"-\d+\.\d", ln) for ln in lines)  # no "-299.0" seconds


async def test_io_correlation_charts_have_no_negative_ticks() -> None:
    for scene in ("local", "cluster-node"):
        lines = await screen_of(scene, (120, 40), "i")
        ticks = y_ticks(lines)
        assert ticks, scene
        assert not any(t.startswith("-") for t in ticks), (scene, ticks)
        assert not any(re.search(r"-\d+\.\d", ln.split("r(")[0]) for ln in lines), scene


async def test_an_idle_node_io_charts_start_at_zero() -> None:
    # No disk or network traffic at all: flat zero series, which plotext alone would centre
    # on zero with ticks like -0.67.
    idle_net = NetCounters(0, 0, 0, 0, 0, 0, 25000)
    idle_disk = DiskCounters(0, 0, 0, 0, 0, 0, 0)
    events = [replace(e, sample=replace(e.sample, net=idle_net, disk=idle_disk))
              if isinstance(e, SampleReceived) else e for e in demo_events()]
    app = make_app(events)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        lines = screen_text(pilot).splitlines()
        ticks = y_ticks(lines)
        assert "0" in ticks
        assert not any(t.startswith("-") for t in ticks), ticks
