"""Cluster mode: the monitor app with the node table as its root, and remote actions gated.

Everything else (sources feeding the monitor in batches, the repaint timer, the navigator,
help) is the local app's; cluster mode turns on the navigation chrome (breadcrumb, `:` command
line, liveness banners). Signals to remote processes are off unless the user started with
``--allow-remote-actions``; then every one goes through a dialog that names the node, the pid
and the command, and the UI only hands an intent to the remote-action handler (it never talks
SSH itself). Forgetting a FAILED or LEFT node (`:forget NODE`, ctrl+d on its row) is confirmed
in a dialog with Cancel focused, then handed to the sources as ``requests.ForgetNode`` (the UI
never talks to etcd); the source's reply is a notification.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.theme import Theme
from textual.widgets import Static

from autoglm_tui.actions import SignalResult
from autoglm_tui.cluster.remote_actions import SignalIntent
from autoglm_tui.events import NodeStatus
from autoglm_tui.model import ProcSample
from autoglm_tui.monitor import Monitor
from autoglm_tui.requests import ForgetNode, send, takers
from autoglm_tui.text import clean
from autoglm_tui.tui.app import MonitorApp
from autoglm_tui.tui.intents import OpenNodes
from autoglm_tui.tui.messages import ForgetRequest
from autoglm_tui.tui.screens.confirm import SignalDialog
from autoglm_tui.tui.screens.forget_dialog import ForgetDialog

if TYPE_CHECKING:
    from autoglm_tui.cluster.sources import Source

RemoteSignaller = Callable[[SignalIntent], Awaitable[SignalResult]]

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


FORGETTABLE = (NodeStatus.FAILED, NodeStatus.LEFT)
NO_MEMBERSHIP = (
    "this data source keeps no membership to forget from (demo, Prometheus, replay); "
    "a node it stops reporting goes by itself"
)

GC_FULL_EVERY = 100  # middle collections between full ones (CPython's default is 10)
GC_YOUNG_EVERY = 100_000  # allocations between young collections (CPython's default is 700)


def tune_gc() -> None:
    """Keep full garbage collections rare, since each one stops the UI.

    A large fleet keeps hundreds of thousands of container objects alive (per-node metric dicts,
    process listings, render caches); with CPython's defaults a full collection runs every few
    seconds and takes 50-200 ms, which is a frozen key press. Objects alive at start-up are
    moved out of the collector's sight (gc.freeze) and full collections wait for 100 middle
    ones (about 40 s at 256 nodes). The monitor's data is freed by reference counting; only
    cyclic garbage waits, and Textual makes plenty (a Strip that caches itself, in every frame):
    at 1000 it piled up for minutes, 40 MB more RSS after 15 minutes at 256 nodes and full
    collections of 0.6-2.4 s; at 100 a full collection takes about 0.1 s. Young collections
    wait for 100,000 more allocations than deallocations instead of 700: a sample's objects
    live about a second, and with CPython's default each was scanned again and again and
    carried into the older generations (at 1,024 nodes 250 young and 22 middle collections a
    second, 10% of a core); now a young collection comes every few seconds at most.
    """
    gc.freeze()
    _young, middle, _full = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_EVERY, middle, GC_FULL_EVERY)


class ClusterApp(MonitorApp):
    """The monitor app in cluster mode."""

    cluster_mode = True

    def __init__(
        self,
        monitor: Monitor,
        sources: Iterable[Source],
        *,
        allow_remote_actions: bool = False,
        refresh_hz: float = 2.0,
        theme: Theme | None = None,
        remote_signaller: RemoteSignaller | None = None,
        clock: Callable[[], float] = time.time,
        gc_tuning: bool = True,
        tick_every_s: float = 0.0,
    ) -> None:
        super().__init__(
            monitor,
            sources,
            OpenNodes(),
            interval=1.0 / refresh_hz,
            theme=theme,
            signal_sender=None,
            clock=clock,
        )
        self.allow_remote_actions = allow_remote_actions
        self.remote_signaller = remote_signaller
        self.gc_tuning = gc_tuning  # off in tests: many apps share one process there
        self.tick_every_s = tick_every_s  # the sampling interval (`cluster`); 0: each repaint

    def on_mount(self) -> None:
        if self.gc_tuning:  # the local app's on_mount runs as well (Textual calls each handler)
            tune_gc()

    def confirm_signal(self, node_id: str, proc: ProcSample) -> None:
        """Off by default; when on, confirm naming node, pid and command, then hand it over."""
        if not self.allow_remote_actions:
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

    # ------------------------------------------------------------------ forgetting a node

    def on_forget_request(self, message: ForgetRequest) -> None:
        self.confirm_forget(message.node_id)

    def confirm_forget(self, node_id: str) -> None:
        """Ask first (Cancel focused); on Forget, hand a ForgetNode to the sources."""
        node = self.monitor.state.nodes.get(node_id)
        name = clean(node_id, 64)
        if node is None:
            self.notify(f"{name} is not in the table", severity="warning")
            return
        if node.status not in FORGETTABLE:
            self.notify(f"{name} is {node.status.value}: only a FAILED or LEFT node can be "
                        f"forgotten (a live node: stop its agent, or 'autoglm-tui members "
                        f"forget --force')", severity="warning", timeout=8)
            return
        request = ForgetNode(node_id, reply=self._forget_replied)
        if not takers(self.sources, request):
            self.notify(NO_MEMBERSHIP, severity="warning", timeout=8)
            return

        def chosen(yes: bool | None) -> None:
            if yes:
                send(self.sources, request)
                self.notify(f"forgetting {name}…", timeout=4)

        self.push_screen(ForgetDialog(node, self.clock()), chosen)

    def _forget_replied(self, done: bool, message: str) -> None:
        self.notify(clean(message, 300), severity="information" if done else "error",
                    timeout=8)
