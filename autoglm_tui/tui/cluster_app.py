"""Cluster mode: the monitor app with the cluster table first, and remote actions gated.

Everything else (sources feeding the monitor through messages, the repaint timer, help) is the
local app's. Signals to remote processes are off unless the user started with
``--allow-remote-actions``; then every one goes through a dialog that names the node, the pid
and the command, and the UI only hands an intent to the remote-action handler (it never talks
SSH itself).
"""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.message import Message
from textual.theme import Theme
from textual.widgets import Static

from autoglm_tui.actions import SignalResult
from autoglm_tui.cluster.remote_actions import SignalIntent
from autoglm_tui.events import Event, SampleReceived
from autoglm_tui.model import ProcSample
from autoglm_tui.monitor import Monitor
from autoglm_tui.text import clean
from autoglm_tui.tui.app import MonitorApp
from autoglm_tui.tui.screens.base import StateScreen
from autoglm_tui.tui.screens.cluster import ClusterScreen
from autoglm_tui.tui.screens.confirm import SignalDialog
from autoglm_tui.tui.screens.nav import ClusterOptions

if TYPE_CHECKING:
    from autoglm_tui.cluster.sources import Source

_HERE = Path(__file__).resolve().parent
RemoteSignaller = Callable[[SignalIntent], Awaitable[SignalResult]]

APPLY_BUDGET_S = 0.008  # events folded in per message before other messages get a turn

OFF_MESSAGE = (
    "actions on remote processes are off in cluster mode; "
    "restart with --allow-remote-actions to enable them"
)


class RemoteSignalDialog(SignalDialog):
    """The signal dialog, naming the node as well as the pid and the command."""

    def __init__(self, node_id: str, proc: ProcSample) -> None:
        super().__init__(proc)
        self.node_id = node_id

    def on_mount(self) -> None:
        node = clean(self.node_id, 64)
        title = Text(f"Send a signal to process {self.proc.pid} on node {node}?", style="bold")
        self.query_one("#dialog-title", Static).update(title)
        line = Text(f"node {node}  ·  pid {self.proc.pid}")
        self.query_one("#dialog").mount(Static(line, id="dialog-node"), before="#dialog-cmd")


GC_FULL_EVERY = 100  # middle collections between full ones (CPython's default is 10)


def tune_gc() -> None:
    """Keep full garbage collections rare, since each one stops the UI.

    A large fleet keeps hundreds of thousands of container objects alive (per-node metric dicts,
    process listings, render caches); with CPython's defaults a full collection runs every few
    seconds and takes 50-200 ms, which is a frozen key press. Objects alive at start-up are
    moved out of the collector's sight (gc.freeze) and full collections wait for 100 middle
    ones (about 40 s at 256 nodes). The monitor's data is freed by reference counting; only
    cyclic garbage waits, and Textual makes plenty (a Strip that caches itself, in every frame):
    at 1000 it piled up for minutes, 40 MB more RSS after 15 minutes at 256 nodes and full
    collections of 0.6-2.4 s; at 100 a full collection takes about 0.1 s.
    """
    gc.freeze()
    young, middle, _full = gc.get_threshold()
    gc.set_threshold(young, middle, GC_FULL_EVERY)


class SourceBatch(Message):
    """Events are waiting in the app's queue to be folded into the monitor."""


class ClusterApp(MonitorApp):
    """The monitor app in cluster mode.

    Events from the sources are queued and folded in by one message at a time, at most
    APPLY_BUDGET_S of work per message; the rest waits for the next one. A fleet's burst of
    samples (one per node each second) then never holds a key press for longer than that.
    """

    CSS_PATH = [_HERE / "app.tcss", _HERE / "cluster.tcss"]  # absolute: subclasses live elsewhere

    def __init__(
        self,
        monitor: Monitor,
        sources: Iterable[Source],
        *,
        options: ClusterOptions | None = None,
        refresh_hz: float = 2.0,
        theme: Theme | None = None,
        remote_signaller: RemoteSignaller | None = None,
        alert_engine: Any = None,
        clock: Callable[[], float] = time.time,
        gc_tuning: bool = True,
    ) -> None:
        super().__init__(
            monitor,
            sources,
            ClusterScreen,
            interval=1.0 / refresh_hz,
            theme=theme,
            signal_sender=None,
            clock=clock,
        )
        self.cluster_options = options or ClusterOptions()
        self.remote_signaller = remote_signaller
        self.alert_engine = alert_engine
        self.gc_tuning = gc_tuning  # off in tests: many apps share one process there
        self.sent: list[SignalIntent] = []  # intents handed over (shown in tests)
        self._queue: deque[Event] = deque()
        self._batch_posted = False

    def on_mount(self) -> None:
        if self.gc_tuning:  # the local app's on_mount runs as well (Textual calls each handler)
            tune_gc()

    def repaint(self, force: bool = False) -> None:
        """Age the state and run the alert rules now; redraw the screen in a separate turn of
        the event loop, so a key pressed meanwhile is handled between the two."""
        now = self.clock()
        self.monitor.tick(now)
        self.call_later(self._paint_screen, now, force)

    def _paint_screen(self, now: float, force: bool) -> None:
        screen = self.screen
        if isinstance(screen, StateScreen):
            screen.repaint(now, force=force)

    # ------------------------------------------------------------------ data in, in batches

    def _emit(self, event: object) -> None:
        self._queue.append(event)  # type: ignore[arg-type]
        if not self._batch_posted:
            self._batch_posted = True
            self.post_message(SourceBatch())

    def on_source_batch(self, message: SourceBatch) -> None:
        deadline = time.perf_counter() + APPLY_BUDGET_S
        queue = self._queue
        first_sample = False
        while queue:
            event = queue.popleft()
            self.monitor.apply(event)
            if not self._painted_data and isinstance(event, SampleReceived):
                self._painted_data = first_sample = True
            if time.perf_counter() >= deadline:
                break
        if queue:
            self.post_message(SourceBatch())  # after whatever the user did meanwhile
        else:
            self._batch_posted = False
        if first_sample:
            self.call_later(self.repaint)  # the first figures should not wait for the timer

    def confirm_signal(self, node_id: str, proc: ProcSample) -> None:
        """Off by default; when on, confirm naming node, pid and command, then hand it over."""
        if not self.cluster_options.allow_remote_actions:
            self.notify(OFF_MESSAGE, severity="warning", timeout=8)
            return
        if self.remote_signaller is None:
            self.notify("remote actions are not available with this data source",
                        severity="warning", timeout=8)
            return

        def chosen(sig: str | None) -> None:
            if sig is None:
                return
            intent = SignalIntent(node_id, proc.pid, proc.create_time, sig,
                                  clean(proc.cmdline, 200))
            self.sent.append(intent)
            self.run_worker(self._send(intent), group="remote-actions", exit_on_error=False)

        self.push_screen(RemoteSignalDialog(node_id, proc), chosen)

    async def _send(self, intent: SignalIntent) -> None:
        assert self.remote_signaller is not None
        try:
            result = await self.remote_signaller(intent)
        except Exception as exc:  # a failed action is a message, never a crash
            result = SignalResult(False, f"{type(exc).__name__}: {clean(str(exc), 200)}")
        where = clean(intent.node_id, 64)
        self.notify(f"{where}: {clean(result.message, 300)}",
                    severity="information" if result.ok else "error", timeout=8)
