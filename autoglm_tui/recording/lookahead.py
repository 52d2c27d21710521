"""The replay's lookahead: a monitor of its own, on a thread of its own, that plays the
recording ahead of the playhead and leaves checkpoints there, so a seek forward (``]`` 10 s,
``}`` a minute) restores one and plays a second or two instead of a minute of events.

It starts from the newest checkpoint at or before the playhead (the replay takes one at every
seek and every `spacing_s` while playing), applies the same events with the same clock ticks
as the replay would, and stops `ahead_s` ahead of the playhead; it starts again from there when
the playhead moves past it or jumps away. The checkpoints it leaves are the states the replay
would reach, so a restore gives what playing would have given. It uses at most `duty` of a core
(it sleeps in between), since the event loop shares the interpreter with it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from autoglm_tui.events import Checkpoint, ClockTick, Event
from autoglm_tui.recording.checkpoints import CheckpointStore
from autoglm_tui.recording.reader import Recording

if TYPE_CHECKING:
    from autoglm_tui.monitor import Monitor

AHEAD_S = 75.0
DUTY = 0.5


class Lookahead:
    def __init__(self, recording: Recording, make_monitor: Callable[[], Monitor],
                 store: CheckpointStore, *, tick_s: float = 1.0, ahead_s: float = AHEAD_S,
                 duty: float = DUTY, seeds: Callable[[object], dict] | None = None) -> None:
        self.recording = recording
        self.make_monitor = make_monitor
        self.store = store
        self.tick_s = tick_s
        self.ahead_s = ahead_s
        self.duty = min(1.0, max(0.05, duty))
        self.seeds = seeds
        self.frontier = -math.inf  # recording time the lookahead's monitor has reached
        self._base = math.inf  # the checkpoint this run started from
        self.rebases = 0
        self.ticks = 0  # seconds of recording played
        self.cpu_s = 0.0  # thread CPU spent playing
        self.error: str | None = None
        self._cond = threading.Condition()
        self._position: float | None = None
        self._stop = False
        self._thread: threading.Thread | None = None

    def follow(self, position: float) -> None:
        """The playhead is at `position` (cheap; called by the replay on every turn)."""
        with self._cond:
            if self._position == position:
                return
            self._position = position
            if self._thread is None and not self._stop:
                self._thread = threading.Thread(target=self._run, name="replay-lookahead",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def close(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def idle(self) -> bool:
        """Whether there is nothing to do now (it is far enough ahead, or at the end)."""
        with self._cond:
            return self._done(self._position)

    def _done(self, p: float | None) -> bool:
        """Nothing to do for a playhead at `p`: the run started at or before it and has reached
        `ahead_s` past it (or the end)."""
        return p is None or (self._base <= p
                             and self.frontier >= min(p + self.ahead_s, self.recording.end))

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # never take the replay down: seeks just play events
            self.error = f"{type(exc).__name__}: {exc}"

    def _loop(self) -> None:
        monitor: Monitor | None = None
        events: Iterator[Event] | None = None
        pending: Event | None = None
        next_tick = math.inf
        while True:
            with self._cond:
                while not self._stop and self._done(self._position):
                    self._cond.wait()
                if self._stop:
                    return
                p = self._position
            assert p is not None
            started = time.thread_time()
            cp = None
            if monitor is None or p < self._base or self.frontier < p:
                # start again from the newest checkpoint at or before the playhead, unless this
                # run is already past it (it is then still on the replay's way: go on)
                cp = self.store.best(p, -math.inf)
                if cp is None or (monitor is not None and self._base <= p
                                  and cp <= self.frontier):
                    cp = None
                if cp is None and (monitor is None or p < self._base):
                    with self._cond:
                        self._cond.wait(0.2)  # the replay takes one at the playhead soon
                    continue
            if cp is not None:
                if monitor is None:
                    monitor = self.make_monitor()
                    monitor.checkpoints = self.store
                snap = self.store.get(cp)
                monitor.restore(snap)  # type: ignore[arg-type]
                events = self.recording.events(
                    since=math.nextafter(cp, math.inf),
                    seeds=self.seeds(snap) if self.seeds else None, quiet=True)
                pending, self.frontier, self._base = None, cp, cp
                next_tick = math.floor(cp / self.tick_s) * self.tick_s + self.tick_s
                self.rebases += 1
            # one tick of recording time: its events, then the tick (as the replay plays it)
            while events is not None:
                ev = pending if pending is not None else next(events, None)
                pending = None
                if ev is None:
                    events = None
                elif ev.t > next_tick:
                    pending = ev
                    break
                else:
                    monitor.apply(ev)
            monitor.apply(ClockTick(next_tick))
            self.frontier = next_tick
            self.ticks += 1
            if events is None and next_tick >= self.recording.end:
                self.frontier = max(self.frontier, self.recording.end)
            elif self.store.due(next_tick):
                monitor.apply(Checkpoint(next_tick))
            next_tick += self.tick_s
            spent = time.thread_time() - started
            self.cpu_s += spent
            if spent > 0 and self.duty < 1.0:
                time.sleep(spent * (1.0 / self.duty - 1.0))
