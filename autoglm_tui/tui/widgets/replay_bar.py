"""The replay timeline: one line under every screen of `autoglm-tui replay`.

``▶ 4x 03:12:40 ━━━━━━━●─────!────── 5:40/9:55``: playing or paused, the speed, the replay's
time of day, a track with the position and where alerts fired (``!``: alerts the replay's
rules fired, and marks the recording carries, such as the alert that started a flight
recording), then the position from the start and the length. While a seek is being read and
applied it says so, with its progress. It reads the replay controller (recording/replay.py)
and the alert pipeline; it never touches the file.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from rich.text import Text
from textual.widget import Widget

from autoglm_tui import format as fmt
from autoglm_tui.tui.render import Palette

REFRESH_S = 0.25
BACKLOG_SHOWN = 1000  # events waiting to be applied: a seek's burst, not normal play


class Timeline(Protocol):
    """What the bar reads from recording/replay.py:ReplayController."""

    start: float
    end: float
    position: float
    target: float | None
    rebuilding: bool
    version: int

    @property
    def speed(self) -> float: ...

    @property
    def paused(self) -> bool: ...

    @property
    def at_end(self) -> bool: ...

    @property
    def marks(self) -> list[Any]: ...

    def seek_progress(self) -> float | None: ...


def span_text(seconds: float) -> str:
    """'5:40', '1:02:03' (for positions and lengths on the timeline)."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def speed_text(speed: float) -> str:
    return f"{speed:g}x"


def track(width: int, start: float, end: float, position: float, marks: list[float],
          p: Palette) -> Text:
    """The bar: played part, the position, the rest; a `!` where an alert fired."""
    out = Text(no_wrap=True)
    if width <= 0:
        return out
    span = end - start
    at = 0 if span <= 0 else min(width - 1, int((position - start) / span * width))
    fired = set()
    for t in marks:
        if span > 0 and start <= t <= end:
            fired.add(min(width - 1, int((t - start) / span * width)))
    for i in range(width):
        if i == at:
            out.append("●", style=f"bold {p.accent}")
        elif i in fired:
            out.append("!", style=f"bold {p.error}")
        elif i < at:
            out.append("━", style=p.accent)
        else:
            out.append("─", style=p.muted)
    return out


def timeline_text(c: Timeline, width: int, p: Palette, fired: list[float],
                  backlog: int = 0) -> Text:
    """The whole line for a width (pure: tests read it)."""
    seeking = c.rebuilding or c.target is not None
    shown = c.target if c.target is not None else c.position
    if c.at_end:
        state, style = "■ end", p.muted
    elif c.paused:
        state, style = "|| paused", f"bold {p.warning}"
    else:
        state, style = "▶", f"bold {p.success}"
    left = Text(no_wrap=True)
    left.append(state, style=style)
    left.append(f" {speed_text(c.speed)} ", style="bold")
    left.append(fmt.clock_time(shown), style="bold")
    left.append(" ")
    right = Text(no_wrap=True)
    right.append(" ")
    backlog = backlog if backlog >= BACKLOG_SHOWN else 0
    if seeking or backlog:
        progress = c.seek_progress() if c.rebuilding else None
        if progress is not None:
            right.append(f"seeking {100 * progress:.0f}%", style=f"bold {p.warning}")
        elif backlog:
            right.append(f"applying {backlog:,}", style=f"bold {p.warning}")
        else:
            right.append("seeking…", style=f"bold {p.warning}")
    else:
        right.append(f"{span_text(shown - c.start)}/{span_text(c.end - c.start)}")
    room = width - left.cell_len - right.cell_len
    marks = [*fired, *(m.t for m in c.marks)]
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append_text(left)
    out.append_text(track(room, c.start, c.end, shown, marks, p))
    out.append_text(right)
    return out


class ReplayBar(Widget):
    """The timeline of a replay (`app.replay`), redrawn a few times a second when it moved."""

    DEFAULT_CSS = """
    ReplayBar { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._seen: object = None
        self._fired: set[float] = set()
        self._alerts_version: int | None = None

    @property
    def controller(self) -> Timeline | None:
        return getattr(self.app, "replay", None)

    def on_mount(self) -> None:
        self.set_interval(REFRESH_S, self._tick, name="replay-bar")

    def _backlog(self) -> int:
        return int(getattr(self.app, "backlog", 0))

    def fired_times(self) -> list[float]:
        """When the replay's alert rules fired (kept across seeks: the data are the same)."""
        pipeline = getattr(getattr(self.app, "monitor", None), "alerts", None)
        if pipeline is not None and pipeline.version != self._alerts_version:
            self._alerts_version = pipeline.version
            for e in pipeline.recent:
                if e.state.value == "firing" and math.isfinite(e.t):
                    self._fired.add(round(e.t, 1))
        return sorted(self._fired)

    def _tick(self) -> None:
        c = self.controller
        if c is None:
            return
        stamp = (c.version, round(c.position, 1), c.rebuilding, c.target,
                 c.seek_progress() if c.rebuilding else None, self._backlog() // 500,
                 self.size.width)
        if stamp != self._seen:
            self._seen = stamp
            self.refresh()

    def render(self) -> Text:
        c = self.controller
        if c is None:
            return Text("")
        p = Palette.from_variables(self.app.theme_variables)
        return timeline_text(c, self.content_size.width, p, self.fired_times(), self._backlog())
