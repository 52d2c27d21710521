"""Helpers for the cluster-mode Pilot tests: a scripted fleet on a hand-driven clock."""

from __future__ import annotations

import re
from typing import Any

from textual.pilot import Pilot

from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.sources import ScriptedSource
from autoglm_tui.cluster.synthetic import SyntheticFleet
from autoglm_tui.events import Event
from autoglm_tui.monitor import Monitor
from autoglm_tui.tui.cluster_app import ClusterApp

from .terminal import screen_text

__all__ = ["screen_text"]  # re-exported for the tests

T0 = 1_763_980_000.0
SIZE = (160, 44)


class Clock:
    """Monitor time, moved by the test."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def fleet_events(fleet: SyntheticFleet, t0: float, ticks: int = 3) -> list[Event]:
    out: list[Event] = list(fleet.join_events(t0))
    for k in range(ticks):
        out.extend(fleet.tick_events(t0 + 1 + k))
    return out


def make_app(
    nodes: int = 6,
    gpus: int = 4,
    *,
    extra: list[Event] | None = None,
    allow_remote_actions: bool = False,
    left_linger_s: float = 120.0,
    remote_signaller: Any = None,
) -> tuple[ClusterApp, SyntheticFleet, Clock]:
    clock = Clock()
    fleet = SyntheticFleet(nodes=nodes, gpus=gpus, seed=7, clock=clock)
    events = fleet_events(fleet, T0 - 3) + list(extra or [])
    state = FleetState(left_linger_s=left_linger_s)
    app = ClusterApp(
        Monitor(state),
        [ScriptedSource([(0.0, e) for e in events])],
        allow_remote_actions=allow_remote_actions,
        clock=clock,
        remote_signaller=remote_signaller,
        gc_tuning=False,
    )
    return app, fleet, clock


async def settle(pilot: Pilot[Any], app: ClusterApp) -> None:
    """Let posted events land, then repaint now (instead of waiting for the timer)."""
    await pilot.pause()
    app.repaint(force=True)
    await pilot.pause()


async def feed(pilot: Pilot[Any], app: ClusterApp, events: list[Event]) -> None:
    for e in events:
        app.emit(e)  # the door every source uses
    await settle(pilot, app)


STATUSES = ("UP", "STALE", "UNREACHABLE", "FAILED", "LEFT", "INVALID", "CONNECTING")


def shown_nodes(app: ClusterApp) -> list[str]:
    """The node ids of the table's node rows, top to bottom, as the screen shows them."""
    out = []
    for line in screen_text(app).splitlines():
        words = [w for w in line.split() if w != "⚠agent"]  # the agent-lost mark beside UP
        if len(words) > 1 and words[0] in STATUSES:
            out.append(words[1])
    return out


def crumbs(app: ClusterApp) -> str:
    """The breadcrumb line (without a scrollbar that may end it on a small terminal)."""
    return re.split(r"\s{2,}", screen_text(app).splitlines()[0].strip())[0]


def record_notifications(app: ClusterApp) -> list[str]:
    """Every notification the app shows from now on (App.notify is the public way in)."""
    shown: list[str] = []
    notify = app.notify

    def recording(message: str, *args: Any, **kwargs: Any) -> None:
        shown.append(str(message))
        notify(message, *args, **kwargs)

    app.notify = recording  # type: ignore[method-assign]
    return shown


async def start(pilot: Pilot[Any], app: ClusterApp) -> None:
    """Wait for the scripted fleet to be applied and drawn."""
    for _ in range(50):
        await pilot.pause(0.02)
        if app.monitor.state.nodes and any(
            n.last_sample is not None for n in app.monitor.state.nodes.values()
        ):
            break
    await settle(pilot, app)
