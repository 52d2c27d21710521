"""The monitor core: fleet state plus what runs on each tick (alerting, diagnosis), with no UI
and no I/O of its own.

The UI owns one ``Monitor``: it calls ``apply`` for each event a source posts and ``tick`` on
its repaint timer, and reads ``state`` (and whatever the tick hooks expose) to draw. ``apply``
is the one place events enter: taps (the recorder, the flight recorder) see each event there.
Two control events steer it: ``ClockTick`` (a replay ticks at the recording's times) and
``StateReset`` (a replay seek starts over).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autoglm_tui.analysis.state import FleetState, StatusChange
from autoglm_tui.events import Checkpoint, ClockTick, Control, Event, Restore, StateReset

if TYPE_CHECKING:
    from autoglm_tui.alerting.pipeline import AlertPipeline
    from autoglm_tui.analysis.diagnosis.runner import DiagnosisRunner

TickHook = Callable[[FleetState, float, list[StatusChange]], None]
Tap = Callable[[Event], None]
# A hook's own state, for replay checkpoints: (take a copy, put a copy back).
Stateful = tuple[Callable[[], Any], Callable[[Any], None]]


class Monitor:
    def __init__(self, state: FleetState | None = None) -> None:
        self.state = state or FleetState()
        self.hooks: list[TickHook] = []
        self.status_log: deque[StatusChange] = deque(maxlen=1000)
        self._pending: list[StatusChange] = []
        self.alerts: AlertPipeline | None = None  # set by AlertPipeline.install (alerting on)
        self.diagnosis: DiagnosisRunner | None = None  # set by DiagnosisRunner.install
        self.taps: list[Tap] = []  # see every event before the state does (recorders)
        self.resetters: list[Callable[[], None]] = []  # run when a StateReset empties the state
        self.closers: list[Callable[[], object]] = []  # run by close() when the program ends
        self.clock_t: float | None = None  # the newest ClockTick's time (replay's clock)
        self.stateful: list[Stateful] = []  # hooks whose state a checkpoint must copy
        self.checkpoints: Any = None  # a replay's CheckpointStore (Checkpoint/Restore events)

    def apply(self, event: Event | Control) -> None:
        if isinstance(event, ClockTick):
            self.clock_t = event.t
            self.tick(event.t)
            return
        if isinstance(event, StateReset):
            self.reset(event.t)
            return
        if isinstance(event, Checkpoint):
            if self.checkpoints is not None:
                self.checkpoint(event.t)
            return
        if isinstance(event, Restore):
            self.restore(event.snapshot)  # type: ignore[arg-type]
            return
        for tap in self.taps:
            tap(event)
        self._pending.extend(self.state.apply(event))

    def reset(self, t: float) -> None:
        """Start over with an empty state of the same settings; hooks that keep their own
        state reset through `resetters`."""
        self.state = self.state.empty_like()
        self._pending = []
        self.status_log.clear()
        self.clock_t = t
        for reset in self.resetters:
            reset()

    def snapshot(self) -> tuple[FleetState, list[Any], float | None]:
        """A copy of the state and of every stateful hook's state (a replay checkpoint)."""
        return self.state.clone(), [take() for take, _ in self.stateful], self.clock_t

    def checkpoint(self, t: float) -> None:
        """Keep a snapshot in `checkpoints` as the state at `t`, with what it costs: a fixed
        part (the copied node objects, alerts, findings, and each node's newest sample, which
        the live state lets go of a second later) and the history per second, which copies
        share up to the time they were taken."""
        snap = self.snapshot()
        state = snap[0]
        history = sum(n.history.nbytes() for n in state.nodes.values())
        alerts = sum(self.alerts.counts().values()) if self.alerts is not None else 0
        fixed = 65536 + 512 * alerts + sum(_node_bytes(n) for n in state.nodes.values())
        self.checkpoints.put(t, snap, fixed, history / max(1.0, state.history_s),
                             state.history_s)

    def restore(self, snap: tuple[FleetState, list[Any], float | None]) -> None:
        """Go back to a snapshot; the snapshot itself stays intact for later restores."""
        state, parts, clock_t = snap
        version = self.state.version
        self.state = state.clone()
        self.state.version = version + 1
        self._pending = []
        self.clock_t = clock_t
        for (_, put), part in zip(self.stateful, parts, strict=True):
            put(part)

    def close(self) -> None:
        """Run the closers (flush recordings); errors are swallowed: leaving must not fail."""
        for close in self.closers:
            with contextlib.suppress(Exception):
                close()

    def tick(self, now: float) -> list[StatusChange]:
        """Age the state and run every hook with the status changes since the last tick."""
        changes = self._pending + self.state.tick(now)
        self._pending = []
        self.status_log.extend(changes)
        for hook in self.hooks:
            hook(self.state, now, changes)
        return changes


def _node_bytes(node: Any) -> int:
    """About what a checkpoint keeps of one node besides its history: the node object and its
    process maps, and its newest sample (measured with tracemalloc: ~42 KB for 8 GPUs and 25
    processes whose figures all change every second; less when parts are shared)."""
    sample = node.last_sample
    if sample is None:
        return 4096
    return 5500 + 2000 * len(sample.gpus) + 800 * len(sample.procs)
