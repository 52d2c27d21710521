"""A time limit and a stop that never lose a cancellation (the CI hang of 2026-12-03)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from autoglm_tui.aio import stop_tasks, within
from autoglm_tui.cluster.hosts import HostSpec
from autoglm_tui.cluster.runner import Runner, RunnerConfig, _Stream


async def _cancel_as_it_finishes(limit: Callable[[Any, float], Awaitable[Any]]) -> bool:
    """Cancel a task in the same loop turn as the result it waits for; True when it stopped."""
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def body() -> None:
        await limit(fut, 5.0)
        await asyncio.sleep(3600)  # reached only when the cancellation was lost

    task = asyncio.ensure_future(body())
    for _ in range(3):
        await asyncio.sleep(0)
    fut.set_result(1)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1.0)
    task.cancel()
    await asyncio.wait({task})
    return bool(done) and task.cancelled()


async def test_within_keeps_a_cancellation_that_arrives_with_the_result() -> None:
    assert await _cancel_as_it_finishes(within)


async def test_within_returns_the_result_or_times_out_and_cancels() -> None:
    async def answer() -> int:
        await asyncio.sleep(0.01)
        return 42

    assert await within(answer(), 5.0) == 42
    slow = asyncio.ensure_future(asyncio.sleep(3600))
    with pytest.raises(asyncio.TimeoutError):
        await within(slow, 0.05)
    assert slow.cancelled()
    with pytest.raises(ValueError, match="boom"):
        await within(_raise(ValueError("boom")), 5.0)


async def _raise(exc: Exception) -> None:
    raise exc


def _stubborn(stopped: list[str]) -> asyncio.Task[None]:
    """A task that catches its first cancellation and goes on, as a lost one looks."""
    async def body() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        try:
            await asyncio.sleep(3600)
        finally:
            stopped.append("stopped")

    return asyncio.ensure_future(body())


async def test_stop_tasks_cancels_again_a_task_that_went_on() -> None:
    stopped: list[str] = []
    task = _stubborn(stopped)
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_tasks([task], grace_s=0.05), 5.0)
    assert task.cancelled() and stopped == ["stopped"]


async def test_runner_close_and_stop_end_streams_that_lost_a_cancellation() -> None:
    runner = Runner(RunnerConfig(), lambda event: None, stop_grace_s=0.05)
    stopped: list[str] = []
    spec = HostSpec("n1", "127.0.0.1", 22, None, {})
    runner.streams["n1"] = _Stream(spec, _stubborn(stopped))
    runner.streams["n2"] = _Stream(HostSpec("n2", "127.0.0.1", 22, None, {}), _stubborn(stopped))
    await asyncio.sleep(0)
    runner._stop("n1")  # a node taken out: its stream must end, not run on unseen
    for _ in range(100):
        if stopped:
            break
        await asyncio.sleep(0.02)
    assert stopped == ["stopped"]
    await asyncio.wait_for(runner.close(), 5.0)
    assert stopped == ["stopped", "stopped"] and not runner.streams


def test_the_package_times_its_awaits_with_within() -> None:
    """`asyncio.wait_for` can lose a cancellation before Python 3.12; the package never uses it."""
    from pathlib import Path

    import autoglm_tui

    root = Path(autoglm_tui.__file__).parent
    users = [str(p.relative_to(root)) for p in root.rglob("*.py")
             if p.name != "aio.py" and "asyncio.wait_for(" in p.read_text(encoding="utf-8")]
    assert users == []


def test_the_reaper_ends_when_a_stopped_stream_ends_at_once() -> None:
    """A stream that ends on its first cancellation, in the loop turn the reaper starts in:
    the reaper returns and close() ends (it once spun in place, holding the loop)."""
    outcome: list[str] = []

    async def scenario() -> None:
        runner = Runner(RunnerConfig(), lambda event: None, stop_grace_s=0.05)
        for name in ("n1", "n2"):
            task = asyncio.ensure_future(asyncio.sleep(3600))
            runner.streams[name] = _Stream(HostSpec(name, "127.0.0.1", 22, None, {}), task)
        await asyncio.sleep(0)
        runner._stop("n1")  # ends in the turn the reaper first runs in, before its callbacks
        await asyncio.sleep(0.2)
        runner._stop("n2")
        await asyncio.sleep(0.2)
        await runner.close()
        outcome.append("closed")

    # In a thread of its own: a loop that spins never yields to a timeout in its own loop.
    thread = threading.Thread(target=asyncio.run, args=(scenario(),), daemon=True)
    thread.start()
    thread.join(10.0)
    assert outcome == ["closed"]
