"""Feeding a recording into a monitor synchronously (for `diagnose --replay`, tests and
benchmarks): the same order and ticks a replay emits, as fast as the machine goes."""

from __future__ import annotations

import math
from collections.abc import Iterator

from autoglm_tui.events import ClockTick, Control, Event
from autoglm_tui.monitor import Monitor
from autoglm_tui.recording.reader import Recording


def timeline(rec: Recording, begin: float, until: float, tick_s: float = 1.0, *,
             preamble: bool = True) -> Iterator[Event | Control]:
    """Control lines before `begin` (unless `preamble` is False: a monitor that already has
    them), then the events of [begin, until] with a ClockTick at every `tick_s` of recording
    time, and one at `until`."""
    if preamble:
        yield from rec.preamble(begin)
    next_tick = math.floor(begin / tick_s) * tick_s + tick_s
    for ev in rec.events(since=begin, until=until):
        while next_tick < ev.t:  # a tick at t follows the events at t
            yield ClockTick(next_tick)
            next_tick += tick_s
        yield ev
    while next_tick < until:
        yield ClockTick(next_tick)
        next_tick += tick_s
    yield ClockTick(until)


def feed(rec: Recording, monitor: Monitor, begin: float, until: float,
         tick_s: float = 1.0) -> int:
    """Apply the timeline to `monitor`; how many events (ticks included) were applied."""
    n = 0
    for ev in timeline(rec, begin, until, tick_s):
        monitor.apply(ev)
        n += 1
    return n
