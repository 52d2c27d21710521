#!/usr/bin/env python3
"""Build the README screenshots (SVG) from the deterministic scenes of tests/tui/scenes.py.

    .venv/bin/python scripts/screenshots.py [--out screenshots]

The local view: the demo recording (four H100s, GPU 2 lost, GPU 3 without power and fan
readings, a dozen processes, one with a hostile command line, alerts firing). The cluster view:
12 synthetic nodes x 8 GPUs with five minutes of history and alert rules that fire on it; the
same fleet in trouble (a FAILED node, a lost agent, a LEFT node, GPU health faults, an alert log
on a full disk). Diagnosis and replay: `autoglm-tui replay` of three recordings of the diagnosis
corpus (tests/scenarios/: a GPU memory leak and a straggling GPU; a leak alone; a latency that
rose when a batch job took the CPU, its finding opened), paused near the end. The clock and the
time zone are fixed, so the files change only when the UI does.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tui.scenes import shoot  # noqa: E402

# file name -> (scene, size)
SHOTS: dict[str, tuple[str, tuple[int, int]]] = {
    "local-120x40": ("local", (120, 40)),
    "local-80x24": ("local", (80, 24)),
    "process-detail": ("local-process", (120, 40)),
    "local-light-120x40": ("local-light", (120, 40)),
    "local-tree-120x40": ("local-tree", (120, 40)),
    "local-gpu-120x40": ("local-gpu", (120, 40)),
    "cluster-160x44": ("cluster", (160, 44)),
    "cluster-80x24": ("cluster", (80, 24)),
    "cluster-node-80x24": ("cluster-node", (80, 24)),
    "cluster-gpus-160x44": ("cluster-gpus", (160, 44)),
    "cluster-alerts-160x44": ("cluster-alerts", (160, 44)),
    "diagnosis-120x40": ("replay-diagnosis", (120, 40)),
    "diagnosis-80x24": ("replay-diagnosis", (80, 24)),
    "diagnosis-rise-80x24": ("replay-rise", (80, 24)),
    "replay-120x40": ("replay-cluster", (120, 40)),
    "replay-80x24": ("replay-node", (80, 24)),
    "local-services-120x40": ("local-services", (120, 40)),
    "service-120x40": ("local-service", (120, 40)),
    "service-80x24": ("local-service", (80, 24)),
    "services-pane-80x24": ("cluster-service-node", (80, 24)),
    "cluster-services-160x44": ("cluster-services", (160, 44)),
    "members-160x44": ("members", (160, 44)),
    "members-80x24": ("members", (80, 24)),
    "members-failed-120x40": ("members-failed", (120, 40)),
    "members-forget-120x40": ("members-forget", (120, 40)),
    "health-gpu-160x44": ("health-gpu", (160, 44)),
    "health-gpu-80x24": ("health-gpu", (80, 24)),
    "health-gpus-160x44": ("health-gpus", (160, 44)),
    "health-node-120x40": ("health-node", (120, 40)),
    "sink-full-120x40": ("sink-full", (120, 40)),
}


async def build(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (scene, size) in SHOTS.items():
        svg = await shoot(scene, size, lambda app: app.export_screenshot())
        path = out / f"{name}.svg"
        path.write_text(str(svg), encoding="utf-8")
        written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    for path in asyncio.run(build(args.out)):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
