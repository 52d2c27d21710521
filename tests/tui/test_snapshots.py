"""The main screens look as recorded: text and styles at 80x24 and 160x50, from fixed data.

Each snapshot (tests/tui/snapshots/NAME-WxH.txt) holds what the terminal shows, read through
Textual's public screenshot API: every line's text, then every line's style runs (colour, bold,
background). A change in the UI shows here as a diff; when the change is meant, rewrite the
files with ``.venv/bin/python scripts/snapshots.py`` and review the diff before committing.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from .scenes import SNAPSHOT_SIZES, SNAPSHOTS, shoot
from .terminal import capture, snapshot_text

SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshots"
REGENERATE = ".venv/bin/python scripts/snapshots.py"


def snapshot_path(name: str, size: tuple[int, int]) -> Path:
    return SNAPSHOT_DIR / f"{name}-{size[0]}x{size[1]}.txt"


async def take(name: str, size: tuple[int, int]) -> str:
    """The snapshot text of scene `name` at `size`, as the test compares it."""
    title = f"{name} at {size[0]}x{size[1]}"
    return await shoot(name, size, lambda app: snapshot_text(capture(app), title))  # type: ignore[return-value]


@pytest.mark.parametrize("size", SNAPSHOT_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", SNAPSHOTS)
async def test_screen_matches_its_snapshot(name: str, size: tuple[int, int]) -> None:
    path = snapshot_path(name, size)
    assert path.is_file(), f"no snapshot {path.name}: run {REGENERATE}"
    want = path.read_text(encoding="utf-8")
    got = await take(name, size)
    if got != want:
        diff = "\n".join(difflib.unified_diff(
            want.splitlines(), got.splitlines(), "recorded", "now", lineterm="", n=1))
        pytest.fail(f"{path.name} differs (if meant: {REGENERATE}):\n{diff[:6000]}")
