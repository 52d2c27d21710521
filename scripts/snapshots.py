#!/usr/bin/env python3
"""Rewrite the UI snapshot files (tests/tui/snapshots/) from the deterministic scenes.

    .venv/bin/python scripts/snapshots.py

Run it after a change to the UI that is meant, then review `git diff tests/tui/snapshots` before
committing: each file is a screen's text and its style runs, so the diff says what changed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tui.scenes import SNAPSHOT_SIZES, SNAPSHOTS  # noqa: E402
from tests.tui.test_snapshots import SNAPSHOT_DIR, snapshot_path, take  # noqa: E402


async def build() -> list[Path]:
    SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SNAPSHOTS:
        for size in SNAPSHOT_SIZES:
            path = snapshot_path(name, size)
            path.write_text(await take(name, size), encoding="utf-8")
            written.append(path)
    return written


def main() -> int:
    for path in asyncio.run(build()):
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
