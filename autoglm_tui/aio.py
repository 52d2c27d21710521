"""A time limit on an await that never loses a cancellation.

``asyncio.wait_for`` before Python 3.12 returns the awaited result when a cancellation arrives in
the same loop turn as that result, so the cancellation is lost. A task stopped that way goes on
running, and whoever cancelled it and waits for it (``Runner.close``) waits forever. ``within``
takes the same arguments and raises the same ``asyncio.TimeoutError``, and a cancellation always
reaches its caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def within(aw: Awaitable[T], timeout: float | None) -> T:
    """``await aw`` for at most `timeout` seconds (None: no limit); asyncio.TimeoutError past it.

    On timeout or cancellation `aw` is cancelled (as ``asyncio.wait_for`` does); the caller's
    CancelledError is raised even when `aw` finished in the same loop turn."""
    inner = asyncio.ensure_future(aw)
    try:
        done, _ = await asyncio.wait({inner}, timeout=timeout)
    except asyncio.CancelledError:
        inner.cancel()
        raise
    if not done:
        inner.cancel()
        await asyncio.wait({inner})  # let it finish cancelling, as wait_for does
        raise asyncio.TimeoutError
    return inner.result()


async def stop_tasks(tasks: Iterable[asyncio.Future[Any]], grace_s: float = 5.0) -> None:
    """Cancel `tasks` and wait until all have ended, cancelling again every `grace_s` seconds
    any that caught the cancellation and went on (library code may lose one, see above).

    `grace_s` leaves a task time to close what it holds (an SSH channel waits up to 2 s)."""
    every = list(tasks)
    pending = {t for t in every if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=grace_s)
    for task in every:
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" warning


__all__ = ["stop_tasks", "within"]
