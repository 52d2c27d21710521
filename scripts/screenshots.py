#!/usr/bin/env python3
"""Build the README screenshots (SVG) from the deterministic demo recording.

    .venv/bin/python scripts/screenshots.py [--out screenshots]

Four fake H100s (GPU 2 lost, GPU 3 without power/fan readings), a dozen processes (one with a
hostile command line), 90 seconds of history. The clock and time zone are fixed, so the files
only change when the UI does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ["TZ"] = "UTC"
time.tzset()

from textual.pilot import Pilot  # noqa: E402

from autoglm_tui.analysis.state import FleetState  # noqa: E402
from autoglm_tui.cluster.sources import ScriptedSource  # noqa: E402
from autoglm_tui.cluster.synthetic import SyntheticFleet  # noqa: E402
from autoglm_tui.monitor import Monitor  # noqa: E402
from autoglm_tui.tui.app import MonitorApp  # noqa: E402
from autoglm_tui.tui.cluster_app import ClusterApp  # noqa: E402
from autoglm_tui.tui.demo import demo_end, demo_events  # noqa: E402
from autoglm_tui.tui.screens.nav import ClusterOptions  # noqa: E402
from autoglm_tui.tui.screens.node import NodeScreen  # noqa: E402
from autoglm_tui.tui.themes import resolve_theme  # noqa: E402
from autoglm_tui.tui.widgets.process_table import ProcessTable  # noqa: E402

NODE = "gpu-node-01"
Steps = Callable[[Pilot], Awaitable[None]]


async def _nothing(pilot: Pilot) -> None:
    return None


async def _open_vllm(pilot: Pilot) -> None:
    pilot.app.screen.query_one(ProcessTable).select_pid(4121)
    await pilot.press("enter")


async def _gpu0(pilot: Pilot) -> None:
    await pilot.press("0")


async def _tree(pilot: Pilot) -> None:
    await pilot.press("t")


async def shoot(
    out: Path, name: str, size: tuple[int, int], theme: str = "dark", steps: Steps = _nothing
) -> Path:
    events = demo_events(NODE)
    app = MonitorApp(
        Monitor(),
        [ScriptedSource([(0.0, e) for e in events])],
        lambda: NodeScreen(NODE),
        theme=resolve_theme(theme),
        clock=demo_end,
    )
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.pause()
        app.repaint(force=True)
        await pilot.pause()
        await steps(pilot)
        await pilot.pause()
        app.repaint(force=True)
        await pilot.pause(0.1)
        path = Path(app.save_screenshot(filename=f"{name}.svg", path=str(out)))
    return path


CLUSTER_T0 = 1_763_980_000.0


async def _gpus(pilot: Pilot) -> None:
    await pilot.press("colon")
    await pilot.press(*"gpus")
    await pilot.press("enter")


async def shoot_cluster(
    out: Path, name: str, size: tuple[int, int], steps: Steps = _nothing
) -> Path:
    """The cluster view over a deterministic synthetic fleet of 12 nodes x 8 GPUs."""
    fleet = SyntheticFleet(nodes=12, gpus=8, seed=7, clock=lambda: CLUSTER_T0)
    events = list(fleet.join_events(CLUSTER_T0 - 60))
    for k in range(60):
        events.extend(fleet.tick_events(CLUSTER_T0 - 59 + k))
    app = ClusterApp(
        Monitor(FleetState()),
        [ScriptedSource([(0.0, e) for e in events])],
        options=ClusterOptions(),
        clock=lambda: CLUSTER_T0,
        gc_tuning=False,
    )
    async with app.run_test(size=size) as pilot:
        for _ in range(100):
            await pilot.pause(0.02)
            nodes = app.monitor.state.nodes
            if len(nodes) == 12 and all(n.last_sample is not None for n in nodes.values()):
                break
        app.repaint(force=True)
        await pilot.pause()
        await steps(pilot)
        await pilot.pause()
        app.repaint(force=True)
        await pilot.pause(0.1)
        path = Path(app.save_screenshot(filename=f"{name}.svg", path=str(out)))
    return path


async def build(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [
        await shoot(out, "local-120x40", (120, 40)),
        await shoot(out, "local-80x24", (80, 24)),
        await shoot(out, "process-detail", (120, 40), steps=_open_vllm),
        await shoot(out, "local-light-120x40", (120, 40), theme="light"),
        await shoot(out, "local-tree-120x40", (120, 40), steps=_tree),
        await shoot(out, "local-gpu-120x40", (120, 40), steps=_gpu0),
        await shoot_cluster(out, "cluster-160x44", (160, 44)),
        await shoot_cluster(out, "cluster-gpus-160x44", (160, 44), steps=_gpus),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    for path in asyncio.run(build(args.out)):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
