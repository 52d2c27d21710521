"""`k` on a process: a confirmation dialog, then a real signal to a process the test started."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from dataclasses import replace

import psutil
import pytest

from autoglm_tui.events import SampleReceived
from autoglm_tui.model import ProcSample
from autoglm_tui.tui.app import local_signal_sender
from autoglm_tui.tui.demo import demo_end, demo_events
from autoglm_tui.tui.screens.confirm import SignalDialog
from autoglm_tui.tui.screens.node import NodeScreen
from autoglm_tui.tui.widgets.process_table import ProcessTable

from .helpers import NODE, make_app, screen_text, settle

SIZE = (120, 40)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "1000"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=5)


def _events_with(proc: ProcSample) -> list:  # type: ignore[type-arg]
    events = demo_events(samples=3)
    last = events[-1]
    assert isinstance(last, SampleReceived)
    events[-1] = replace(last, sample=replace(last.sample, procs=(*last.sample.procs, proc)))
    return events


def _as_listed(popen: subprocess.Popen[bytes], create_time: float | None = None) -> ProcSample:
    real = psutil.Process(popen.pid)
    started = real.create_time() if create_time is None else create_time
    return ProcSample(popen.pid, real.ppid(), real.username(), "sleep", "sleep 1000", 0.0,
                      real.memory_info().rss, started)


async def _open_dialog(pilot, pid: int) -> SignalDialog:  # type: ignore[no-untyped-def]
    await settle(pilot)
    assert pilot.app.screen.query_one(ProcessTable).select_pid(pid)
    await pilot.press("k")
    await pilot.pause()
    dialog = pilot.app.screen
    assert isinstance(dialog, SignalDialog)
    text = screen_text(pilot)
    assert f"process {pid}" in text and "sleep 1000" in text
    assert "SIGTERM" in text and "SIGINT" in text and "SIGKILL" in text
    return dialog


async def test_confirmed_term_kills_the_process(sleeper: subprocess.Popen[bytes]) -> None:
    app = make_app(_events_with(_as_listed(sleeper)), now=demo_end(3),
                   signal_sender=local_signal_sender(NODE))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _open_dialog(pilot, sleeper.pid)
        await pilot.click("#sig-TERM")
        assert sleeper.wait(timeout=5) == -signal.SIGTERM
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, NodeScreen)
        assert f"sent SIGTERM to {sleeper.pid}" in screen_text(pilot)


async def test_kill_button_sends_sigkill(sleeper: subprocess.Popen[bytes]) -> None:
    app = make_app(_events_with(_as_listed(sleeper)), now=demo_end(3),
                   signal_sender=local_signal_sender(NODE))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _open_dialog(pilot, sleeper.pid)
        await pilot.click("#sig-KILL")
        assert sleeper.wait(timeout=5) == -signal.SIGKILL


async def test_escape_cancels_and_the_process_lives(sleeper: subprocess.Popen[bytes]) -> None:
    app = make_app(_events_with(_as_listed(sleeper)), now=demo_end(3),
                   signal_sender=local_signal_sender(NODE))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _open_dialog(pilot, sleeper.pid)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, NodeScreen)
        with pytest.raises(subprocess.TimeoutExpired):
            sleeper.wait(timeout=0.3)


async def test_enter_cancels_since_cancel_has_the_focus(
    sleeper: subprocess.Popen[bytes],
) -> None:
    # As in htop, the default is to do nothing: a stray Enter must not send a signal.
    app = make_app(_events_with(_as_listed(sleeper)), now=demo_end(3),
                   signal_sender=local_signal_sender(NODE))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        dialog = await _open_dialog(pilot, sleeper.pid)
        assert dialog.focused is not None and dialog.focused.id == "cancel"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, NodeScreen)
        assert "sent SIG" not in screen_text(pilot)
        with pytest.raises(subprocess.TimeoutExpired):
            sleeper.wait(timeout=0.3)


async def test_a_recycled_pid_is_never_signalled(sleeper: subprocess.Popen[bytes]) -> None:
    # The table shows a process with this pid that started earlier: not the one running now.
    shown = _as_listed(sleeper, create_time=psutil.Process(sleeper.pid).create_time() - 100)
    app = make_app(_events_with(shown), now=demo_end(3), signal_sender=local_signal_sender(NODE))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _open_dialog(pilot, sleeper.pid)
        await pilot.click("#sig-TERM")
        await pilot.pause()
        assert "different process" in screen_text(pilot)
        with pytest.raises(subprocess.TimeoutExpired):
            sleeper.wait(timeout=0.3)


async def test_signals_need_a_sender(sleeper: subprocess.Popen[bytes]) -> None:
    app = make_app(_events_with(_as_listed(sleeper)), now=demo_end(3), signal_sender=None)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        app.screen.query_one(ProcessTable).select_pid(sleeper.pid)
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(app.screen, NodeScreen)
        assert "only be sent in the local view" in screen_text(pilot)
    assert sleeper.poll() is None
