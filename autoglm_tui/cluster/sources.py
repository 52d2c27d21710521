"""Sample sources: anything that feeds events (events.py) to the monitor.

A source is an object with ``async run(emit)`` that emits events until it is cancelled; it owns
its own retries. ``LocalSource`` runs the sampler's collector in-process (a worker thread),
``ScriptedSource`` plays a given list of events (tests, demos, screenshots).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from autoglm_tui.events import Event, HelloReceived, MonitorCost, NodeJoined, SampleReceived

Emit = Callable[[Event], None]


class Source(Protocol):
    async def run(self, emit: Emit) -> None: ...


class LocalSource:
    """This machine, sampled in-process every `interval_s` seconds.

    The sampler runs inside the monitor, so its samples carry its own cost (its calls and
    threads, not the whole process: ``Collector(in_process=True)``), and each sample is
    followed by a ``MonitorCost`` with the monitor process's CPU time and memory."""

    def __init__(
        self,
        interval_s: float = 1.0,
        node_id: str | None = None,
        clock: Callable[[], float] = time.time,
        **collector_options: object,
    ) -> None:
        self.interval_s = interval_s
        self.node_id = node_id or socket.gethostname() or "localhost"
        self.clock = clock
        self.collector_options = collector_options

    async def run(self, emit: Emit) -> None:
        from autoglm_tui.sampler.collector import Collector
        from autoglm_tui.sampler.sysinfo import self_cost

        collector = Collector(interval_s=self.interval_s, in_process=True,  # type: ignore[arg-type]
                              **self.collector_options)
        try:
            emit(NodeJoined(self.clock(), self.node_id, source="local"))
            hello = await asyncio.to_thread(collector.hello, self.clock())
            emit(HelloReceived(self.clock(), self.node_id, hello))
            loop = asyncio.get_running_loop()
            next_at = loop.time()
            while True:
                sample = await asyncio.to_thread(collector.sample, self.clock())
                emit(SampleReceived(self.clock(), self.node_id, sample))
                emit(MonitorCost(self.clock(), *self_cost()))
                next_at += self.interval_s
                delay = next_at - loop.time()
                if delay < 0:  # fell behind (suspended laptop, overloaded box): do not burst
                    next_at = loop.time()
                    delay = 0
                await asyncio.sleep(delay)
        finally:
            collector.close()  # stops the service monitor's thread, releases NVML


class ScriptedSource:
    """Plays events in order, each after an optional delay; then idles until cancelled."""

    def __init__(self, steps: Iterable[tuple[float, Event]], hold: bool = True) -> None:
        self.steps = list(steps)
        self.hold = hold

    async def run(self, emit: Emit) -> None:
        for delay, event in self.steps:
            if delay > 0:
                await asyncio.sleep(delay)
            emit(event)
        if self.hold:
            await asyncio.Event().wait()
