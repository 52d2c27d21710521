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

from autoglm_tui.cluster.sources import ScriptedSource  # noqa: E402
from autoglm_tui.monitor import Monitor  # noqa: E402
from autoglm_tui.tui.app import MonitorApp  # noqa: E402
from autoglm_tui.tui.demo import demo_end, demo_events  # noqa: E402
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


async def build(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [
        await shoot(out, "local-120x40", (120, 40)),
        await shoot(out, "local-80x24", (80, 24)),
        await shoot(out, "process-detail", (120, 40), steps=_open_vllm),
        await shoot(out, "local-light-120x40", (120, 40), theme="light"),
        await shoot(out, "local-tree-120x40", (120, 40), steps=_tree),
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
