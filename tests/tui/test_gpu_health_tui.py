"""GPU health in the UI: a badge and its short reason on every GPU line (node screen, all-GPUs
table), the worst GPU on the cluster rows, and the GPU screen's health section.

The first test goes the whole way from the fake NVML (nvidia-ml-py's names and errors) through
the real sampler's Collector and the app's one door (``app.emit``); the others read the
troubled synthetic fleet of tests/tui/troubled.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoglm_tui import format as fmt
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.sources import ScriptedSource
from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived
from autoglm_tui.gpu_codes import REASON_HW_POWER_BRAKE
from autoglm_tui.monitor import Monitor
from autoglm_tui.sampler.collector import Collector
from autoglm_tui.sampler.nvml import MODULE_ENV
from autoglm_tui.tui.cluster_app import ClusterApp
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.screens.gpu import GpuScreen
from autoglm_tui.tui.screens.gpus import GpusScreen

from .cluster_kit import Clock, settle
from .scenes import troubled_app
from .terminal import capture, screen_text, style_of
from .troubled import PCIE_GPU, REMAP_GPU, SLOW_GPU, XID_GPU

FAKE = Path(__file__).resolve().parents[1] / "fakes" / "fake_nvml.py"
T0 = 1_800_000_000.0


def line_with(app, *needles: str) -> str:  # type: ignore[no-untyped-def]
    return next(ln for ln in screen_text(app).splitlines() if all(n in ln for n in needles))


async def test_badges_from_the_fake_nvml_through_the_real_sampler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gpus = [
        {},  # healthy
        {"remapped_rows": [0, 2, 1, 0]},  # 2 uncorrectable rows, a remap pending
        {"clock_reasons": REASON_HW_POWER_BRAKE, "throttle_power": 0.4},  # 40% of the time
        {"pcie_width": 8},  # trained down from x16
    ]
    monkeypatch.setenv(MODULE_ENV, str(FAKE))
    monkeypatch.setenv("AUTOGLM_FAKE_NVML", json.dumps({"gpu_count": 4, "gpus": gpus}))
    coll = Collector(top_n=5)
    try:
        hello = coll.hello(T0)
        samples = [coll.sample(T0 + k) for k in (1, 2)]
    finally:
        coll.close()
    clock = Clock(T0 + 2)
    events = [NodeJoined(T0, "dgx-1", source="hosts"), HelloReceived(T0, "dgx-1", hello)]
    events += [SampleReceived(s.t, "dgx-1", s) for s in samples]
    app = ClusterApp(Monitor(FleetState()), [ScriptedSource([])], clock=clock,
                     gc_tuning=False)
    async with app.run_test(size=(160, 44)) as pilot:
        for e in events:
            app.emit(e)
        await settle(pilot, app)
        p = Palette.from_variables(app.theme_variables)
        assert line_with(app, " dgx-1 ").split()[3] == "RESET"  # the worst of its GPUs
        await pilot.press("enter")
        await settle(pilot, app)
        assert line_with(app, " 0 OK ", "util")
        assert "remap pending" in line_with(app, " 1 RESET ", "util")
        assert "HW power brake" in line_with(app, " 2 SLOW ", "util")
        assert "PCIe x8 of x16" in line_with(app, " 3 SLOW ", "util")
        screen = capture(app)
        y, x = screen.find("RESET", line_with=" 1 RESET ")
        assert screen.lines[y][x].fg == p.error.lower() and screen.lines[y][x].bold
        y, x = screen.find("SLOW", line_with=" 2 SLOW ")
        assert screen.lines[y][x].fg == p.warning.lower()

        await pilot.press("2")
        await settle(pilot, app)
        assert isinstance(app.screen, GpuScreen)
        text = screen_text(app)
        assert "Health SLOW (degraded)  HW power brake" in text
        assert "Clocks HW power brake" in text and "held back power 40%" in text
        # and over the history the node has: the brake was on in both samples
        assert "Limits, last " in text and "HW power brake 100% of 2 samples" in text
        assert "PCIe Gen5 x16" in text and "NVLink 18 links up" in text


async def test_cluster_rows_gpus_table_and_the_gpu_health_section() -> None:
    app = troubled_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot, app)
        p = Palette.from_variables(app.theme_variables)
        hlth = {ln.split()[1]: ln.split()[3] for ln in screen_text(app).splitlines()
                if len(ln.split()) > 3 and ln.split()[0] == "UP" and ln.split()[1][:5] == "node-"}
        assert hlth[REMAP_GPU[0]] == "RESET" and hlth[XID_GPU[0]] == "RESET"
        assert hlth[SLOW_GPU[0]] == "SLOW" and hlth[PCIE_GPU[0]] == "SLOW"
        assert hlth["node-000"] == "OK"
        assert style_of(app, "RESET ").fg == p.error.lower()

        await pilot.press("down", "down")  # node-002: the detail line names the GPU
        await settle(pilot, app)
        assert "GPU 3 RESET: row remap pending: reset the GPU" in screen_text(app)

        await pilot.press("G")
        await settle(pilot, app)
        assert isinstance(app.screen, GpusScreen)
        await pilot.press("colon", *"sort health", "enter")  # worst first
        await settle(pilot, app)
        rows = [ln for ln in screen_text(app).splitlines() if " node-0" in ln]
        assert rows[0].split()[3] == "RESET"
        assert any(ln.split()[:2] == ["node-006", "5"] and "SLOW  PCIe x8 of x16" in ln
                   for ln in rows)
        assert any(ln.split()[:2] == ["node-004", "1"] and "SLOW  HW slowdown" in ln
                   for ln in rows)

        await pilot.press("colon", *f"gpu {XID_GPU[0]} {XID_GPU[1]}", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, GpuScreen)
        text = screen_text(app)
        end = 1_763_980_000.0
        assert "Health RESET (reset needed)  Xid 48: double-bit ECC error" in text
        assert "Xids 2 in the last 10 minutes, 2 since the sampler started" in text
        newest = line_with(app, "Xid 48 double-bit ECC error")
        assert newest.split()[0] == fmt.clock_time(end - 40)
        assert line_with(app, "Xid 94 contained ECC error").split()[0] == fmt.clock_time(end - 100)
        assert text.index("Xid 48 double") < text.index("Xid 94 contained")  # newest first
        assert "Memory rows remapped: 0 correctable, 0 uncorrectable" in text


async def test_the_health_section_is_two_lines_on_a_small_terminal() -> None:
    app = troubled_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("colon", *f"gpu {XID_GPU[0]} {XID_GPU[1]}", "enter")
        await settle(pilot, app)
        text = screen_text(app)
        assert "Health RESET (reset needed)  Xid 48: double-bit ECC error" in text
        assert "Memory rows remapped" not in text  # the full section needs a taller terminal

