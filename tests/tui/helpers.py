"""Helpers for the Pilot tests: an app over scripted events, and what the screen shows."""

from __future__ import annotations

import time
from collections.abc import Sequence

from textual.pilot import Pilot

from autoglm_tui.cluster.sources import ScriptedSource, Source
from autoglm_tui.events import Event
from autoglm_tui.monitor import Monitor
from autoglm_tui.tui.app import MonitorApp, SignalSender
from autoglm_tui.tui.demo import demo_end
from autoglm_tui.tui.intents import OpenNode
from autoglm_tui.tui.themes import resolve_theme
from autoglm_tui.tui.widgets.process_table import ProcessTable

from .terminal import screen_text as terminal_text

NODE = "gpu-node-01"


def make_app(
    events: Sequence[Event] = (),
    *,
    node_id: str = NODE,
    sources: Sequence[Source] | None = None,
    now: float | None = None,
    signal_sender: SignalSender | None = None,
    theme: str = "dark",
    top: int = 100,
) -> MonitorApp:
    """A MonitorApp on the node screen of `node_id`, fed `events` at once with the clock stopped
    at `now` (default: just after the demo recording), or fed by real `sources` in real time."""
    srcs = list(sources) if sources is not None else [ScriptedSource([(0, e) for e in events])]
    clock_value = demo_end() if now is None else now
    return MonitorApp(
        Monitor(),
        srcs,
        OpenNode(node_id),
        theme=resolve_theme(theme),
        signal_sender=signal_sender,
        clock=(lambda: clock_value) if sources is None else time.time,
        top=top,
    )


async def settle(pilot: Pilot) -> None:
    """Let queued events reach the monitor, then repaint and let the screen draw."""
    await pilot.pause()
    await pilot.pause()
    pilot.app.repaint(force=True)  # type: ignore[attr-defined]
    await pilot.pause()


def screen_text(pilot: Pilot) -> str:
    """The characters on the terminal, line by line, as a person would read them."""
    return terminal_text(pilot.app)


def table_rows(pilot: Pilot) -> list[list[str]]:
    """The process table's cells in display order, as plain text."""
    table = pilot.app.screen.query_one(ProcessTable)
    return [
        [cell.plain.strip() for cell in table.get_row_at(i)] for i in range(table.row_count)
    ]


def table_pids(pilot: Pilot) -> list[int]:
    return [int(row[0]) for row in table_rows(pilot)]
