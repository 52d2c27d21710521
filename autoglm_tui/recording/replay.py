"""Replay: a source that plays a recording's events at its own times, and the controller a
timeline widget drives (play, pause, seek, speed).

The source emits exactly what live sources emit (events.py), stamped with the recorded receive
times, plus ``ClockTick`` every `tick_s` of recording time so rules and diagnosis are evaluated
as time passed then; the app's clock is the newest tick the monitor applied
(``Monitor.clock_t``), so "now" on screen is the recording's time.

Seeking: the monitor keeps checkpoints (checkpoints.py: cheap copies of its state, one every
2 s near the playhead), and a lookahead (lookahead.py) plays ahead of the playhead on a thread
and leaves checkpoints there too. A seek restores the newest checkpoint at or before the target
(within `warmup_s`) and plays the second or two after it; forward by up to `warmup_s` with no
checkpoint nearer, it plays the events in between. Any other seek starts over:
``StateReset``, then the control lines before the window (each node's join, hello and status,
from the index), then the events of the `warmup_s` before the target with their ticks, decoded
in a worker thread and folded in by the app like any burst of events. History, alerts and
diagnosis then cover the warm-up window; findings that need a longer window (the latency
regression, leaks) appear as more is played.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from autoglm_tui.aio import within
from autoglm_tui.cluster.sources import Emit
from autoglm_tui.events import Checkpoint, ClockTick, Event, Restore, StateReset
from autoglm_tui.model import Sample
from autoglm_tui.recording.checkpoints import CheckpointStore
from autoglm_tui.recording.lookahead import Lookahead
from autoglm_tui.recording.reader import Mark, Recording

if TYPE_CHECKING:
    from autoglm_tui.monitor import Monitor

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
MIN_SPEED, MAX_SPEED = SPEEDS[0], SPEEDS[-1]
WARMUP_S = 60.0
MAX_SLEEP_S = 0.1  # the source wakes at least this often to follow pause, seek and speed


class ReplayController:
    """Where the replay is and how it moves. All methods are cheap and safe to call from the
    UI; the source does the work on its next turn.

    ``position`` is the recording time reached by the source (what has been emitted);
    ``start``/``end`` the extent; ``marks`` the alerts and notes to show on a timeline."""

    def __init__(self, recording: Recording, *, speed: float = 1.0, at: float | None = None,
                 paused: bool = False, warmup_s: float = WARMUP_S, tick_s: float = 1.0,
                 checkpoints: CheckpointStore | None = None,
                 lookahead: Callable[[], Monitor] | None = None) -> None:
        self.recording = recording
        self.checkpoints = checkpoints  # shared with Monitor.checkpoints when set
        # builds a monitor like the replay's (rules, diagnosis) for the lookahead's thread
        self.make_monitor = lookahead
        self.start = recording.start
        self.end = recording.end
        self.warmup_s = max(0.0, warmup_s)
        self.tick_s = tick_s
        self._speed = clamp_speed(speed)
        self._paused = paused
        self.position = self.start
        self.target: float | None = self._clamp(at) if at is not None else self.start
        self.rebuilding = False
        self.seek_span: tuple[float, float] | None = None  # what a seek reads, from..to
        self.seek_reached: float | None = None  # how far it has read (set by its thread)
        self.seeks = 0
        self.version = 0  # bumped on every change a timeline shows
        self._wake = asyncio.Event() if _has_loop() else None

    # ------------------------------------------------------------------ properties

    @property
    def extent(self) -> tuple[float, float]:
        return self.start, self.end

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def at_end(self) -> bool:
        return self.target is None and self.position >= self.end

    @property
    def marks(self) -> list[Mark]:
        return self.recording.marks

    @property
    def fraction(self) -> float:
        """Position as a share of the extent (0..1), for a progress bar."""
        return 0.0 if self.duration <= 0 else (self.position - self.start) / self.duration

    # ------------------------------------------------------------------ intents

    def play(self) -> None:
        if self.at_end:
            self.seek(self.start)
        self._paused = False
        self._changed()

    def pause(self) -> None:
        self._paused = True
        self._changed()

    def toggle(self) -> None:
        self.play() if self._paused else self.pause()

    def seek(self, t: float) -> None:
        """Go to recording time `t` (clamped to the extent)."""
        self.target = self._clamp(t)
        self.seeks += 1
        self._changed()

    def seek_by(self, dt: float) -> None:
        """Move by `dt` seconds (``[`` ``]`` are +-10 s, ``{`` ``}`` +-1 min)."""
        base = self.target if self.target is not None else self.position
        self.seek(base + dt)

    def set_speed(self, speed: float) -> None:
        self._speed = clamp_speed(speed)
        self._changed()

    def faster(self) -> None:
        self.set_speed(next((s for s in SPEEDS if s > self._speed), MAX_SPEED))

    def slower(self) -> None:
        self.set_speed(next((s for s in reversed(SPEEDS) if s < self._speed), MIN_SPEED))

    def seek_progress(self) -> float | None:
        """How much of a seek's data has been read (0..1), None when no seek is reading."""
        span, reached = self.seek_span, self.seek_reached
        if not self.rebuilding or span is None:
            return None
        begin, target = span
        if reached is None or target <= begin:
            return 0.0
        return min(1.0, max(0.0, (reached - begin) / (target - begin)))

    def _clamp(self, t: float) -> float:
        return min(self.end, max(self.start, t))

    def _changed(self) -> None:
        self.version += 1
        if self._wake is not None:
            self._wake.set()

    async def wait(self, timeout: float) -> None:
        """Sleep until an intent arrives or `timeout` passes (the source's idle wait)."""
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await within(self._wake.wait(), timeout)


def clamp_speed(speed: float) -> float:
    if not math.isfinite(speed):
        return 1.0
    return min(MAX_SPEED, max(MIN_SPEED, float(speed)))


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


class ReplaySource:
    """Plays a recording through `emit`, driven by a :class:`ReplayController`."""

    def __init__(self, controller: ReplayController,
                 wall: Callable[[], float] = time.monotonic,
                 max_sleep_s: float = MAX_SLEEP_S) -> None:
        self.controller = controller
        self.max_sleep_s = max_sleep_s
        self.recording = controller.recording
        self.wall = wall
        self._events: Iterator[Event] | None = None
        self._next: Event | None = None
        self._next_tick = math.inf
        self._last_checkpoint = -math.inf
        self.restores = 0  # seeks served from a checkpoint
        self.rebuilds = 0  # seeks that started over from the warm-up window
        self.forwards = 0  # seeks that played the events in between
        c = controller
        self.lookahead: Lookahead | None = None
        if c.checkpoints is not None and c.make_monitor is not None:
            self.lookahead = Lookahead(self.recording, c.make_monitor, c.checkpoints,
                                       tick_s=c.tick_s, seeds=seeds)

    async def run(self, emit: Emit) -> None:
        try:
            await self._run(emit)
        finally:
            if self.lookahead is not None:
                await asyncio.to_thread(self.lookahead.close)

    def _follow(self) -> None:
        """Tell the checkpoints and the lookahead where the playhead is."""
        c = self.controller
        if c.checkpoints is not None:
            c.checkpoints.focus = c.position
        if self.lookahead is not None and not c.rebuilding:
            self.lookahead.follow(c.position)

    async def _run(self, emit: Emit) -> None:
        c = self.controller
        last = self.wall()
        while True:
            self._follow()
            if c.target is not None:
                target, c.target = c.target, None
                await self._seek(emit, target)
                last = self.wall()
                c._changed()
                continue
            if c.paused or c.position >= c.end:
                await c.wait(10 * self.max_sleep_s)
                last = self.wall()
                continue
            now = self.wall()
            until = min(c.end, c.position + (now - last) * c.speed)
            last = now
            self._play_until(emit, until)
            c.position = until
            if c.position >= c.end:
                emit(ClockTick(c.end))
                c.pause()
                continue
            gap = self.max_sleep_s
            if self._next is not None:
                gap = min(gap, max(0.0, (self._next.t - c.position) / c.speed))
            await c.wait(max(self.max_sleep_s / 20, gap))

    # ------------------------------------------------------------------ playing

    def _play_until(self, emit: Emit, until: float) -> None:
        """Emit the events up to `until`, with a ClockTick at every tick_s crossed; a tick at
        `t` follows every event at `t` (a tick at `t` means: everything up to `t` is in)."""
        tick = self.controller.tick_s
        while True:
            ev = self._peek()
            if ev is not None and ev.t <= until:
                while self._next_tick < ev.t:
                    emit(ClockTick(self._next_tick))
                    self._checkpoint(emit, self._next_tick)
                    self._next_tick += tick
                self._next = None
                emit(ev)
                continue
            while self._next_tick <= until:
                emit(ClockTick(self._next_tick))
                self._checkpoint(emit, self._next_tick)
                self._next_tick += tick
            return

    def _peek(self) -> Event | None:
        if self._next is None and self._events is not None:
            self._next = next(self._events, None)
            if self._next is None:
                self._events = None
        return self._next

    def _checkpoint(self, emit: Emit, t: float) -> None:
        store = self.controller.checkpoints
        if store is not None and t - self._last_checkpoint >= store.spacing_s and store.due(t):
            self._last_checkpoint = t
            emit(Checkpoint(t))

    def _open_at(self, t: float, seeds: dict[str, Sample | None] | None = None) -> None:
        self._events = self.recording.events(since=t, seeds=seeds)
        self._next = None

    async def _seek(self, emit: Emit, target: float) -> None:
        """Forward a little: play the events in between. Back (or far): restore the latest
        checkpoint within the warm-up window and play from it, else start over from the
        warm-up window."""
        c = self.controller
        store = c.checkpoints
        cp = store.best(target, target - c.warmup_s) if store is not None else None
        c.rebuilding = True
        c.seek_reached = None
        c.seek_span = (c.position, target)
        try:
            near = self._events is not None and 0 <= target - c.position <= c.warmup_s
            if near and (cp is None or cp <= c.position):
                self.forwards += 1
                events = await asyncio.to_thread(self._take_until, target)  # fast-forward
                self._emit_with_ticks(emit, events, target)
            elif cp is not None and store is not None:
                self.restores += 1
                c.seek_span = (cp, target)
                events = await asyncio.to_thread(self._from, cp, target, store.get(cp))
                emit(Restore(cp, store.get(cp)))
                self._next_tick = cp + c.tick_s
                self._emit_with_ticks(emit, events, target)
            else:
                self.rebuilds += 1
                begin = max(c.start, target - c.warmup_s)
                c.seek_span = (begin, target)
                pre, events = await asyncio.to_thread(self._rebuild, begin, target)
                emit(StateReset(begin))
                for ev in pre:
                    emit(ev)
                self._next_tick = math.floor(begin / c.tick_s) * c.tick_s + c.tick_s
                self._emit_with_ticks(emit, events, target)
            c.position = target
            emit(ClockTick(target))
            self._last_checkpoint = -math.inf
            self._checkpoint(emit, target)
            self._next_tick = math.floor(target / c.tick_s) * c.tick_s + c.tick_s
        finally:
            c.rebuilding = False
            c.seek_span = None

    def _from(self, t: float, target: float, snapshot: Any) -> list[Event]:
        """The events after a checkpoint at `t` (which holds every event up to `t`, and each
        node's newest sample, which the deltas after it build on)."""
        self._open_at(math.nextafter(t, math.inf), seeds(snapshot))
        return self._take_until(target)

    def _rebuild(self, begin: float, target: float) -> tuple[list[Event], list[Event]]:
        pre = self.recording.preamble(begin)
        self._open_at(begin)
        return pre, self._take_until(target)

    def _take_until(self, target: float) -> list[Event]:
        out: list[Event] = []
        while True:
            ev = self._peek()
            if ev is None or ev.t > target:
                return out
            self._next = None
            out.append(ev)
            if len(out) % 256 == 0:
                self.controller.seek_reached = ev.t  # the timeline's progress (a float: atomic)

    def _emit_with_ticks(self, emit: Emit, events: list[Event], target: float) -> None:
        tick = self.controller.tick_s
        for ev in events:
            while self._next_tick < ev.t:
                emit(ClockTick(self._next_tick))
                self._next_tick += tick
            emit(ev)
        while self._next_tick <= target:
            emit(ClockTick(self._next_tick))
            self._next_tick += tick


def seeds(snapshot: Any) -> dict[str, Sample | None]:
    """Each node's newest sample in a checkpoint (``Monitor.snapshot``): what a read of the
    recording after it decodes deltas against."""
    return {n: node.last_sample for n, node in snapshot[0].nodes.items()}


def summary(recording: Recording) -> dict[str, Any]:
    """What a recording holds, for `replay --info` and errors."""
    return {"path": str(recording.path), "source": recording.header.get("source"),
            "created": recording.header.get("created"), "start": recording.start,
            "end": recording.end, "seconds": round(recording.end - recording.start, 3),
            "nodes": recording.nodes, "lines": recording.lines_total,
            "blocks": len(recording.blocks), "index": recording.index_source,
            "marks": [{"t": m.t, "kind": m.kind, "text": m.text} for m in recording.marks]}
