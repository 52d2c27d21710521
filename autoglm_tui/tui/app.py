"""The Textual app: sources feed the monitor in batches; a timer repaints the screen.

Data flows one way, through one door in both local and cluster mode. Each source runs in a
worker and calls :meth:`MonitorApp.emit` per event; events wait in a queue and are folded into
the ``Monitor`` by ``SourceBatch`` messages, at most ``APPLY_BUDGET_S`` of work each, so a burst
of samples never holds a key press for long. A repaint timer (at most 2 Hz) calls
``monitor.tick`` (status ageing, alert rules; at most every ``tick_every_s``) and, in a
separate turn of the event loop, asks the visible screen to redraw if the state moved. Screens
read the state; they never call psutil, NVML, etcd or SSH, and they say where to go with
intents, which the navigator carries out.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.theme import Theme

from autoglm_tui.actions import SignalResult
from autoglm_tui.events import Event, SampleReceived
from autoglm_tui.model import ProcSample
from autoglm_tui.monitor import Monitor
from autoglm_tui.text import clean
from autoglm_tui.tui.intents import Intent, OpenNode
from autoglm_tui.tui.messages import SignalRequest, SourceFailed
from autoglm_tui.tui.navigator import Navigator
from autoglm_tui.tui.screens.base import StateScreen
from autoglm_tui.tui.screens.confirm import SignalDialog
from autoglm_tui.tui.screens.help import HelpScreen, help_entries

if TYPE_CHECKING:
    from autoglm_tui.cluster.sources import Source

# (node_id, process as shown, signal name) -> what happened
SignalSender = Callable[[str, ProcSample, str], SignalResult]

MAX_REPAINT_HZ = 2.0
ALL_PROCESSES = 1_000_000  # the collector's top_n that means "every process"
APPLY_BUDGET_S = 0.008  # events folded in per message before other messages get a turn


class SourceBatch(Message):
    """Events are waiting in the app's queue to be folded into the monitor."""


class MonitorApp(App[int]):
    """A monitor UI over any sources, opening on any place (the root of the navigation)."""

    # Absolute paths: subclasses live elsewhere. services.tcss: the inference services' parts.
    CSS_PATH = [Path(__file__).resolve().parent / name for name in ("app.tcss", "services.tcss")]
    TITLE = "autoglm-tui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]
    cluster_mode = False  # cluster mode adds the breadcrumb and the `:` command line

    def __init__(
        self,
        monitor: Monitor,
        sources: Iterable[Source],
        root: Intent,
        *,
        interval: float = 1.0,
        theme: Theme | None = None,
        signal_sender: SignalSender | None = None,
        clock: Callable[[], float] = time.time,
        top: int = 100,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.sources = list(sources)
        self.navigator = Navigator(self, root)
        self.repaint_interval = max(1.0 / MAX_REPAINT_HZ, interval)
        self.theme_spec = theme
        self.signal_sender = signal_sender
        self.clock = clock
        self.process_top = top  # GPU processes plus the top N others (process table)
        self.source_errors: list[str] = []
        self._queue: deque[Event] = deque()
        self._batch_posted = False
        self._painted_data = False
        # The monitor's tick (status ageing, alert rules) at most this often (0: every
        # repaint); a fleet sampled each second gains nothing from rules run twice a second.
        self.tick_every_s = 0.0
        self._ticked_at = float("-inf")

    # ------------------------------------------------------------------ life cycle

    def on_mount(self) -> None:
        if self.theme_spec is not None:
            self.register_theme(self.theme_spec)
            self.theme = self.theme_spec.name
        self.navigator.start()
        for source in self.sources:
            self.run_worker(
                self._run_source(source),
                name=type(source).__name__,
                group="sources",
                exit_on_error=False,
            )
        self.set_interval(self.repaint_interval, self.repaint, name="repaint")
        if self.monitor.alerts is not None:  # Alertmanager delivery (alerting/pipeline.py)
            self.run_worker(self.monitor.alerts.run(), name="alerts", group="alerts",
                            exit_on_error=False)

    async def _run_source(self, source: Source) -> None:
        try:
            await source.run(self.emit)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a source that gives up must not take the UI down
            self.post_message(SourceFailed(type(source).__name__, f"{type(exc).__name__}: {exc}"))

    # ------------------------------------------------------------------ data in, in batches

    def emit(self, event: Event) -> None:
        """Take one source event: the one way data enters the UI (sources and tests call it)."""
        self._queue.append(event)
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

    @property
    def backlog(self) -> int:
        """Source events waiting to be folded in (a replay's seek shows it as progress)."""
        return len(self._queue)

    def on_source_failed(self, message: SourceFailed) -> None:
        text = f"{message.source} stopped: {clean(message.reason, 300)}"
        self.source_errors.append(text)
        self.notify(text, severity="error", timeout=10)
        self.repaint(force=True)

    def error_text(self) -> str | None:
        """The newest source failure, for the header line."""
        return self.source_errors[-1] if self.source_errors else None

    def data_hint(self, data_s: float) -> str | None:
        """Where the state holds `data_s` seconds of data but more exists, what gives more (a
        replay's --warmup); None live, where the state holds all there is."""
        return None

    # ------------------------------------------------------------------ drawing

    def repaint(self, force: bool = False) -> None:
        """Age the state and run the alert rules now (at most every `tick_every_s`, unless
        forced); redraw the screen in a separate turn of the event loop, so a key pressed
        meanwhile is handled between the two."""
        now = self.clock()
        last, every = self._ticked_at, self.tick_every_s
        due = now < last or now >= last + 0.9 * every  # (the clock went back: tick)
        if force or due:
            self._ticked_at = now
            self.monitor.tick(now)
        self.call_later(self._paint_screen, now, force)

    def _paint_screen(self, now: float, force: bool) -> None:
        screen = self.screen
        if isinstance(screen, StateScreen):
            screen.repaint(now, force=force)

    # ------------------------------------------------------------------ intents

    @on(Intent)
    def _navigate(self, intent: Intent) -> None:
        self.navigator.go(intent)

    def on_signal_request(self, message: SignalRequest) -> None:
        self.confirm_signal(message.node_id, message.proc)

    def action_help(self) -> None:
        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        entries = help_entries(self, screen.active_bindings.items(), screen)
        name = getattr(screen, "HELP_TITLE", None) or type(screen).__name__.removesuffix("Screen")
        title = f"{name or 'Main'} screen"
        self.push_screen(HelpScreen(title, entries, getattr(screen, "help_notes", "")))

    def confirm_signal(self, node_id: str, proc: ProcSample) -> None:
        """Ask which signal to send to `proc`, then hand the intent to the signal sender."""
        if self.signal_sender is None:
            self.notify("signals can only be sent in the local view", severity="warning")
            return

        def chosen(sig: str | None) -> None:
            if sig is None or self.signal_sender is None:
                return
            result = self.signal_sender(node_id, proc, sig)
            self.notify(result.message, severity="information" if result.ok else "error")

        self.push_screen(SignalDialog(proc), chosen)


def local_signal_sender(local_node_id: str) -> SignalSender:
    """Signals go only to processes of this machine, through autoglm_tui.actions."""

    def send(node_id: str, proc: ProcSample, sig: str) -> SignalResult:
        from autoglm_tui.actions import send_signal

        if node_id != local_node_id:
            return SignalResult(False, "signals can only be sent to processes of this machine")
        return send_signal(proc.pid, sig, proc.create_time)

    return send


def run_local(args: argparse.Namespace) -> int:
    """`autoglm-tui` / `autoglm-tui local`: this machine in one screen."""
    from autoglm_tui.alerting.cli import AlertSetupError, close_pipeline, pipeline_from_args
    from autoglm_tui.cluster.sources import LocalSource
    from autoglm_tui.tui.themes import ThemeError, resolve_theme

    try:
        theme = resolve_theme(args.theme)
    except ThemeError as exc:
        print(f"autoglm-tui: {exc}", file=sys.stderr)
        return 2
    try:
        pipeline = pipeline_from_args(args)
    except AlertSetupError as exc:
        print(f"autoglm-tui: {exc}", file=sys.stderr)
        return 2
    monitor = Monitor()
    if pipeline is not None:
        pipeline.install(monitor)
    from autoglm_tui.recording.cli import RecordingSetupError, install_monitor_extras

    try:
        install_monitor_extras(args, monitor, source="local")
    except RecordingSetupError as exc:
        print(f"autoglm-tui: {exc}", file=sys.stderr)
        close_pipeline(pipeline)
        return 2
    # The sampler lists every GPU process plus the top N by CPU; --top 0 asks for all.
    from autoglm_tui.sampler.services.monitor import monitor_options

    source = LocalSource(interval_s=args.interval, top_n=args.top or ALL_PROCESSES,
                         **monitor_options(args))
    app = MonitorApp(
        monitor,
        [source],
        OpenNode(source.node_id),
        interval=args.interval,
        theme=theme,
        signal_sender=local_signal_sender(source.node_id),
        top=args.top,
    )
    try:
        app.run(mouse=not args.no_mouse)
    finally:
        monitor.close()
        close_pipeline(pipeline)
    return app.return_code or 0
