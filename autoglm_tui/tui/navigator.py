"""The navigator: which screen each intent opens, and the stack of places the user went through.

Screens post intents (tui/intents.py) and never import each other; the app hands every intent
to its :class:`Navigator`, which maps the intent's class to a screen through :data:`SCREENS`
and keeps the screen stack, which the breadcrumb draws.

- an intent opens its screen on top of the current one, so Esc (``Back``) returns where the user
  came from (a jump from the alerts screen to a GPU goes back to the alerts screen);
- ``reset=True`` (the `:` command line) makes the stack the place's path from the root, keeping
  the screens it shares with the current one;
- a place already open in the stack is not opened twice: going there pops back to it;
- the root screen is never popped.

The navigator also tells the sources what is on screen (autoglm_tui/requests.py): after every
move, ``NodesInView`` with the nodes whose screens are in the stack (node, GPU, process), when
that set changed (over SSH they sample at --interval and the rest at --background-interval; the
Prometheus source fetches their details), and ``HistoryWanted`` for a node whose screen just
opened (a source that can backfill history does).

Adding a screen: its module under ``tui/screens/`` (a ``StateScreen`` subclass) and its intent
in ``tui/intents.py`` (or in that module), then one line in :data:`SCREENS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.screen import Screen

from autoglm_tui.requests import HistoryWanted, NodesInView, send
from autoglm_tui.tui.intents import (
    Back,
    Intent,
    OpenAlerts,
    OpenDiagnosis,
    OpenGpu,
    OpenGpus,
    OpenNode,
    OpenNodes,
    OpenProcess,
    OpenService,
    OpenServices,
)
from autoglm_tui.tui.screens.alerts import AlertsScreen
from autoglm_tui.tui.screens.cluster import ClusterScreen
from autoglm_tui.tui.screens.diagnosis import DiagnosisScreen
from autoglm_tui.tui.screens.gpu import GpuScreen
from autoglm_tui.tui.screens.gpus import GpusScreen
from autoglm_tui.tui.screens.node import NodeScreen
from autoglm_tui.tui.screens.process import ProcessScreen
from autoglm_tui.tui.screens.service import ServiceScreen
from autoglm_tui.tui.screens.services import ServicesScreen

ScreenFactory = Callable[[Any], Screen[Any]]

SCREENS: dict[type[Intent], ScreenFactory] = {
    OpenNodes: lambda i: ClusterScreen(),
    OpenGpus: lambda i: GpusScreen(),
    OpenAlerts: lambda i: AlertsScreen(),
    OpenDiagnosis: lambda i: DiagnosisScreen(i.node_id),
    OpenNode: lambda i: NodeScreen(i.node_id),
    OpenGpu: lambda i: GpuScreen(i.node_id, i.index),
    OpenProcess: lambda i: ProcessScreen(i.node_id, i.pid, i.create_time),
    OpenService: lambda i: (ServiceScreen(i.node_id, i.service_id) if i.service_id is not None
                            else ServicesScreen(i.node_id)),
    OpenServices: lambda i: ServicesScreen(),
}


class Navigator:
    """Owned by the app: opens the screen of each intent and keeps the stack of places."""

    def __init__(
        self, app: App[Any], root: Intent, screens: dict[type[Intent], ScreenFactory] = SCREENS
    ) -> None:
        self.app = app
        self.root = root
        self.screens = screens
        self.in_view: frozenset[str] = frozenset()  # nodes last sent as NodesInView

    def start(self) -> None:
        """Open the root screen."""
        self._push(self.root)
        self._tell_sources()

    # ------------------------------------------------------------------ where we are

    def managed(self) -> list[Screen[Any]]:
        """The screens this navigator opened, bottom first (dialogs and help are not)."""
        return [s for s in self.app.screen_stack if getattr(s, "place", None) is not None]

    def places(self) -> list[Intent]:
        """The places in the stack, root first."""
        return [s.place for s in self.managed()]  # type: ignore[attr-defined]

    def path_to(self, intent: Intent) -> list[Intent]:
        """The places from the root down to `intent`, through its parents."""
        chain = [*ancestors(intent), intent]
        above_root = {p.place for p in ancestors(self.root)}
        chain = [p for p in chain if p.place not in above_root and type(p) in self.screens]
        if not chain or chain[0].place != self.root.place:
            chain.insert(0, self.root)
        return chain

    # ------------------------------------------------------------------ going

    def go(self, intent: Intent) -> None:
        """Take the user where `intent` says."""
        if isinstance(intent, Back):
            self.back()
            return
        if type(intent) not in self.screens:
            self.app.notify(f"{type(intent).__name__} has no screen here", severity="warning")
            return
        current = self.places()
        if intent.reset:
            target = self.path_to(intent)
        else:
            places = [p.place for p in current]
            here = places.index(intent.place) if intent.place in places else None
            target = current[: here + 1] if here is not None else [*current, intent]
        keep = 0
        while (keep < min(len(current), len(target))
               and current[keep].place == target[keep].place):
            keep += 1
        self._pop_to(max(1, keep))
        for place in target[max(1, keep):]:
            self._push(place)
        self._tell_sources()

    def back(self) -> None:
        """Close the top screen, unless it is the root."""
        managed = self.managed()
        if len(managed) > 1:
            self._pop_to(len(managed) - 1)
        self._tell_sources()

    def _tell_sources(self) -> None:
        """Send the sources the nodes on screen when they changed, and a history request for
        each node that just came into view (requests.send returns at once)."""
        nodes = frozenset(n for place in self.places()
                          if isinstance(n := getattr(place, "node_id", None), str))
        if nodes == self.in_view:
            return
        new = nodes - self.in_view
        self.in_view = nodes
        sources = getattr(self.app, "sources", ())
        send(sources, NodesInView(nodes))
        monitor = getattr(self.app, "monitor", None)
        seconds = monitor.state.history_s if monitor is not None else 900.0
        for node_id in sorted(new):
            send(sources, HistoryWanted(node_id, seconds))

    def _pop_to(self, count: int) -> None:
        """Pop screens until `count` managed screens are left (dialogs above go too)."""
        managed = self.managed()
        if len(managed) <= count:
            return
        keep = managed[count - 1]
        while self.app.screen is not keep and len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def _push(self, intent: Intent) -> None:
        screen = self.screens[type(intent)](intent)
        screen.place = intent  # type: ignore[attr-defined]
        self.app.push_screen(screen)


def ancestors(intent: Intent) -> list[Intent]:
    """The places above `intent`, top first."""
    chain: list[Intent] = []
    parent = intent.parent()
    while parent is not None:
        chain.append(parent)
        parent = parent.parent()
    return chain[::-1]
