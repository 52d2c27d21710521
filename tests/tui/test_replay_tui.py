"""Pilot tests of `autoglm-tui replay`'s timeline: the bar, pause, seek, speed, `:goto`, alerts
marked where they fired, and alerts and diagnosis recomputed as they were at the replay's time.

The app is the one `replay` builds (commands/replay.py:build_app) over a scenario recording of
the diagnosis corpus, played by the real ReplaySource (decoding in its worker thread).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from types import SimpleNamespace

from rich.text import Text
from textual.pilot import Pilot

from autoglm_tui.commands.replay import build_app, replay_monitor
from autoglm_tui.recording.checkpoints import CheckpointStore
from autoglm_tui.recording.reader import Recording
from autoglm_tui.recording.replay import ReplayController
from autoglm_tui.tui.app import MonitorApp
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.replay_app import NOT_LIVE
from autoglm_tui.tui.screens.diagnosis import DiagnosisScreen
from autoglm_tui.tui.widgets.replay_bar import timeline_text

from .cluster_kit import record_notifications
from .scenes import SCENARIOS, utc
from .terminal import screen_text

SMALL = (80, 24)
BIG = (160, 50)


def replay(scenario: str, warmup_s: float = 60.0) -> tuple[MonitorApp, ReplayController]:
    """`autoglm-tui replay tests/scenarios/SCENARIO.jsonl.gz --paused` (default rules only)."""
    rec = Recording.open(SCENARIOS / f"{scenario}.jsonl.gz")
    monitor = replay_monitor([])
    store = CheckpointStore(64 << 20)
    monitor.checkpoints = store
    c = ReplayController(rec, paused=True, checkpoints=store, warmup_s=warmup_s)
    app = build_app(argparse.Namespace(theme="dark", node=None), monitor, c, rec.nodes)
    assert app is not None
    return app, c


def bar(app: MonitorApp) -> str:
    """The timeline line (above the footer)."""
    return screen_text(app).splitlines()[app.size.height - 2]


async def wait_bar(pilot: Pilot, cond: Callable[[str], bool], what: str, rounds: int = 400
                   ) -> str:
    """Let the replay work until the bar shows `what` (bounded; no timing is asserted)."""
    text = ""
    for _ in range(rounds):
        await pilot.pause(0.05)
        text = bar(pilot.app)  # type: ignore[arg-type]
        if cond(text):
            return text
    raise AssertionError(f"the bar never showed {what}: {text!r}")


async def test_seek_keys_move_the_timeline_and_it_stays_paused() -> None:
    with utc():
        app, c = replay("gpu_memory_leak")
        async with app.run_test(size=SMALL) as pilot:
            text = await wait_bar(pilot, lambda t: "0:00/9:55" in t, "the start")
            assert text.split()[:4] == ["||", "paused", "1x", "00:00:05"]
            steps = [("right_square_bracket", "00:00:15", "0:10/9:55"),
                     ("right_curly_bracket", "00:01:15", "1:10/9:55"),
                     ("left_square_bracket", "00:01:05", "1:00/9:55"),
                     ("left_curly_bracket", "00:00:05", "0:00/9:55")]
            for key, clock, where in steps:
                await pilot.press(key)
                text = await wait_bar(pilot, lambda t, w=where: t.rstrip().endswith(w), where)
                assert text.split()[:4] == ["||", "paused", "1x", clock], text
            assert c.paused


async def test_speed_keys_go_from_a_quarter_to_sixteen() -> None:
    with utc():
        app, c = replay("gpu_memory_leak")
        async with app.run_test(size=SMALL) as pilot:
            await wait_bar(pilot, lambda t: "0:00/9:55" in t, "the start")
            await pilot.press("plus")
            assert (await wait_bar(pilot, lambda t: " 2x " in t, "2x")).split()[2] == "2x"
            for _ in range(5):
                await pilot.press("plus")
            assert (await wait_bar(pilot, lambda t: " 16x " in t, "16x")).split()[2] == "16x"
            for _ in range(8):
                await pilot.press("minus")
            text = await wait_bar(pilot, lambda t: " 0.25x " in t, "0.25x")
            assert text.split()[2] == "0.25x" and c.speed == 0.25
            await pilot.press("equals_sign")  # + without shift
            await wait_bar(pilot, lambda t: " 0.5x " in t, "0.5x")


async def test_space_plays_then_pauses_where_it_is() -> None:
    with utc():
        app, c = replay("gpu_memory_leak")
        async with app.run_test(size=SMALL) as pilot:
            await wait_bar(pilot, lambda t: "0:00/9:55" in t, "the start")
            for _ in range(6):
                await pilot.press("plus")  # 16x
            await pilot.press("space")
            text = await wait_bar(pilot, lambda t: t.split()[0] == "▶" and "0:00/" not in t,
                                  "playing, moved")
            assert text.split()[1] == "16x"
            await pilot.press("space")
            paused = await wait_bar(pilot, lambda t: "paused" in t, "paused")
            await pilot.pause(0.5)
            assert bar(app) == paused  # nothing moves while paused
            assert c.paused and c.position > c.start


async def test_goto_jumps_and_a_bad_time_says_what_it_accepts() -> None:
    with utc():
        app, _c = replay("gpu_memory_leak")
        async with app.run_test(size=SMALL, notifications=True) as pilot:
            await wait_bar(pilot, lambda t: "0:00/9:55" in t, "the start")
            await pilot.press("colon", *"goto 00:05:00", "enter")
            text = await wait_bar(pilot, lambda t: "00:05:00" in t, "00:05:00")
            assert text.rstrip().endswith("4:54/9:55")
            await pilot.press("colon", *"goto -1m", "enter")  # a minute before the end
            text = await wait_bar(pilot, lambda t: "8:55/9:55" in t, "-1m")
            assert "00:09:00" in text
            await pilot.press("colon", *"goto 25:99", "enter")
            await pilot.pause(0.2)
            assert "bad time of day" in screen_text(app)
            assert bar(app).split()[3] == "00:09:00"  # unmoved (a toast covers the right end)


async def test_alerts_that_fired_are_marked_on_the_track() -> None:
    with utc():
        app, _c = replay("gpu_memory_leak", warmup_s=600)
        async with app.run_test(size=SMALL) as pilot:
            await wait_bar(pilot, lambda t: "0:00/9:55" in t, "the start")
            assert "!" not in bar(app)
            await pilot.press("colon", *"goto 00:09:00", "enter")
            text = await wait_bar(pilot, lambda t: "00:09:00" in t and "!" in t, "a mark")
            # gpu_util_high (a default rule, pending from the first sample, `for` 3 min)
            # fired 180 s into the 595 s recording: 30% of the way
            found = re.search(r"00:09:00 (\S+) \d+:\d\d/9:55", text)
            assert found is not None, text
            track = found.group(1)
            assert track.count("!") == 1
            assert track.index("!") == int(180 / 595 * len(track)), track


async def test_diagnosis_is_recomputed_as_it_was_at_the_replays_time() -> None:
    with utc():
        app, _c = replay("mixed_leak_and_straggler", warmup_s=600)
        async with app.run_test(size=BIG) as pilot:
            await wait_bar(pilot, lambda t: "0:00/9:55" in t, "the start")
            await pilot.press("d")
            await pilot.press("colon", *"goto 00:09:30", "enter")
            await wait_bar(pilot, lambda t: "00:09:30" in t and "9:24/9:55" in t, "00:09:30")
            await pilot.pause(0.5)
            app.repaint(force=True)
            await pilot.pause(0.2)
            assert isinstance(app.screen, DiagnosisScreen)
            text = screen_text(app)
            assert "gpu_memory_leak" in text and "straggler_gpu" in text
            await pilot.press("colon", *"goto 00:02:00", "enter")  # back: no leak yet
            await wait_bar(pilot, lambda t: "00:02:00" in t and "1:54/9:55" in t, "00:02:00")
            await pilot.pause(0.5)
            app.repaint(force=True)
            await pilot.pause(0.2)
            text = screen_text(app)
            assert "as of 00:02:00" in text
            assert "gpu_memory_leak" not in text


def test_the_bar_shows_a_seeks_progress() -> None:
    """While a seek reads the file, its share; while its events are applied, how many wait."""

    def fake(**kw: object) -> SimpleNamespace:
        base = dict(start=0.0, end=600.0, position=0.0, target=None, rebuilding=False,
                    version=1, speed=1.0, paused=False, at_end=False, marks=[],
                    seek_progress=lambda: None)
        base.update(kw)
        return SimpleNamespace(**base)

    p = Palette()
    reading = timeline_text(fake(rebuilding=True, seek_progress=lambda: 0.4), 80, p, [])  # type: ignore[arg-type]
    assert reading.plain.rstrip().endswith("seeking 40%")
    applying = timeline_text(fake(), 80, p, [], backlog=12_000)  # type: ignore[arg-type]
    assert applying.plain.rstrip().endswith("applying 12,000")
    playing = timeline_text(fake(position=300.0), 80, p, [150.0])  # type: ignore[arg-type]
    assert isinstance(playing, Text) and playing.cell_len == 80
    assert playing.plain.rstrip().endswith("5:00/10:00") and "!" in playing.plain


async def test_help_lists_the_timeline_keys() -> None:
    with utc():
        app, _c = replay("gpu_memory_leak")
        async with app.run_test(size=(100, 50)) as pilot:
            await wait_bar(pilot, lambda t: "0:00/9:55" in t, "the start")
            await pilot.press("question_mark")
            await pilot.pause(0.2)
            text = screen_text(app)
            for key, what in (("space", "Pause/play"), ("[", "Back 10 s"), ("]", "Forward 10 s"),
                              ("{", "Back 1 min"), ("}", "Forward 1 min"),
                              ("-", "Slower (down to 0.25x)"), ("+", "Faster (up to 16x)"),
                              ("d", "Diagnosis")):
                line = next((ln for ln in text.splitlines() if what in ln), "")
                assert f"{key}  {what}" in line, (key, what, text)


async def test_recorded_processes_are_not_signalled() -> None:
    """`k` on a process of a recording says it is not live, in the one-node view and in the
    cluster view (whose live message would send the user to a flag `replay` does not have)."""
    for scenario, size, keys in (("gpu_memory_leak", SMALL, ()),
                                 ("straggler_node", BIG, ("enter",))):
        with utc():
            app, _c = replay(scenario)
            async with app.run_test(size=size, notifications=True) as pilot:
                await wait_bar(pilot, lambda t: "0:00/9:55" in t, "the start")
                shown = record_notifications(app)  # type: ignore[arg-type]
                await pilot.press(*keys, "k")
                await pilot.pause(0.2)
                assert shown == [NOT_LIVE], (scenario, shown)
                for _ in range(40):  # the toast shows within a few frames
                    if "this is a recording" in screen_text(app):
                        break
                    await pilot.pause(0.05)
                assert "this is a recording" in screen_text(app)
