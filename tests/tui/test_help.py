"""`?` lists what each key does on the screen underneath, and only keys that do something
there (issue 15, item 10)."""

from __future__ import annotations

import pytest

from autoglm_tui.tui.screens.help import HelpScreen

from .scenes import SCENES, settle, shoot, utc
from .terminal import screen_text

HIDDEN = ("Copy selected text", "Focus Next", "Focus Previous", "Select",
          "Open the highlighted row", "Quit the app and return")


async def help_of(scene: str, size: tuple[int, int]) -> tuple[str, str]:
    """The help screen's title and text over `scene` at `size`."""
    with utc():
        app = SCENES[scene].app()
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await SCENES[scene].steps(pilot)
            await settle(pilot)
            await pilot.press("question_mark")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, HelpScreen)
            text = screen._text().plain
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)
            return screen.title_text, text


def line_of(text: str, words: str) -> str:
    return next(ln for ln in text.splitlines() if words in ln)


@pytest.mark.parametrize("scene,title,enter", [
    ("local", "Node screen", "Open the highlighted process"),
    ("local-gpu", "GPU screen", "Open the process"),
    ("cluster", "Cluster screen", "Open the node (on a group row: open or close the group)"),
    ("cluster-node", "Node screen", "Open the highlighted process"),
    ("cluster-gpus", "All GPUs screen", "Open the GPU"),
    ("cluster-alerts", "Alerts screen", "On a group: show or hide its alerts; on an alert: "
                                        "open its node, GPU or process"),
])
async def test_each_screen_says_what_enter_does_there(scene: str, title: str, enter: str
                                                      ) -> None:
    got_title, text = await help_of(scene, (160, 50))
    assert got_title == title
    assert line_of(text, enter).split()[0] == "⏎"
    for hidden in HIDDEN:
        assert hidden not in text, (scene, hidden)
    quit_line = line_of(text, "Quit")
    assert quit_line.split()[:3] == ["q", "^q", "^c"]  # Ctrl+C quits: it is listed there


async def test_keys_that_would_do_nothing_are_not_listed() -> None:
    # at 240 columns the node table fits: no sideways scrolling; at 80 it does not
    _, wide = await help_of("cluster", (240, 50))
    _, narrow = await help_of("cluster", (80, 24))
    assert "Scroll left" not in wide and "Scroll right" not in wide
    assert "Scroll left" in narrow and "Scroll right" in narrow
    # the process screen's detail fits a tall terminal: no scrolling keys listed
    _, process = await help_of("local-process", (160, 50))
    assert "Scroll Up" not in process and "Page Down" not in process
    assert "Send signal" in process and "Back" in process


async def test_the_local_screen_names_what_its_keys_do() -> None:
    _, text = await help_of("local", (120, 40))
    for words in ("Send a signal to the highlighted process (asks first)",
                  "IO correlation: network beside disk", "Process tree", "Sort by CPU%",
                  "Open the GPU with that index", "All alerts (grouped by rule)"):
        assert words in text, words


async def test_a_long_description_wraps_under_itself_at_80x24() -> None:
    # what the help box draws at 80 columns: a description that does not fit goes on under
    # the descriptions' column, never back under the keys
    from rich.console import Console
    from textual.widgets import Static

    with utc():
        app = SCENES["local"].app()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("question_mark")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, HelpScreen)
            width = screen.query_one("#help-text", Static).content_region.width
            console = Console(width=width, record=True, color_system=None)
            console.print(screen._renderable())
            lines = console.export_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if "Open the highlighted process" in ln)
    assert "history)" not in lines[at]  # too long for the box: it wraps
    column = lines[at].index("Open")
    follow = lines[at + 1]
    assert follow[:column].strip() == "" and follow[column:].rstrip().endswith("history)")
    digits = next(ln for ln in lines if "Open the GPU with that index" in ln)
    assert digits.split()[0] == "0-9"


@pytest.mark.parametrize("scene", ["local", "cluster", "cluster-node", "cluster-gpu",
                                   "cluster-gpus", "cluster-alerts", "cluster-services",
                                   "cluster-service", "members", "replay-diagnosis"])
async def test_the_footer_shows_help_and_quit_at_80_columns(scene: str) -> None:
    # a newcomer on an 80x24 terminal sees how to get help and how to leave on every screen
    text = await shoot(scene, (80, 24), screen_text)
    footer = str(text).splitlines()[-1]
    assert "? Help" in footer and "q Quit" in footer, footer
