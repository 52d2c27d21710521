"""The apps of `autoglm-tui replay`: the local or cluster app plus the timeline's keys.

``app.replay`` is the recording/replay.py ``ReplayController``; the keys only call its cheap
methods (the replay source does the reading, in a worker thread, and posts the events through
the app's one door), so nothing here waits on the disk. Every screen shows the timeline bar
(tui/widgets/replay_bar.py) and, in both modes, the `:` command line for ``:goto TIME``.

Keys: space pause/play, ``[`` ``]`` 10 s back/forward, ``{`` ``}`` 1 minute, ``-`` ``+``
slower/faster (0.25x to 16x), ``:goto 03:12:40``. ``<`` ``>`` stay the screens' sort keys.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from textual.app import App
from textual.binding import Binding

from autoglm_tui import format as fmt
from autoglm_tui.recording.timeparse import parse_time
from autoglm_tui.text import clean
from autoglm_tui.tui.app import MonitorApp
from autoglm_tui.tui.cluster_app import ClusterApp
from autoglm_tui.tui.messages import ReplayGoto
from autoglm_tui.tui.widgets.replay_bar import span_text

if TYPE_CHECKING:
    from autoglm_tui.model import ProcSample
    from autoglm_tui.recording.replay import ReplayController

WARMUP_SLACK_S = 5.0  # data missing from the start of a replay that is not worth a hint
SEEK_SHORT_S = 10.0
SEEK_LONG_S = 60.0
NOT_LIVE = "this is a recording: its processes are not live and cannot be signalled"


class ReplayControls(App):  # type: ignore[type-arg]
    """The timeline's keys, mixed into the local and the cluster app."""

    BINDINGS = [
        Binding("space", "replay_toggle", "Pause/play", key_display="space"),
        Binding("left_square_bracket", "replay_seek(-10)", "Back 10 s", key_display="[",
                show=False),
        Binding("right_square_bracket", "replay_seek(10)", "Forward 10 s", key_display="]",
                show=False),
        Binding("left_curly_bracket", "replay_seek(-60)", "Back 1 min", key_display="{",
                show=False),
        Binding("right_curly_bracket", "replay_seek(60)", "Forward 1 min", key_display="}",
                show=False),
        Binding("minus", "replay_speed(-1)", "Slower (down to 0.25x)", key_display="-",
                show=False),
        Binding("plus,equals_sign", "replay_speed(1)", "Faster (up to 16x)", key_display="+",
                show=False),
    ]

    replay: ReplayController | None = None

    def data_hint(self, data_s: float) -> str | None:
        """A replay that began at --at read only --warmup before it: when the recording holds
        more before this point, say how to have all of it (up to --warmup's hour)."""
        c = self.replay
        held = c.position - c.start if c is not None else 0.0  # the recording, up to here
        if held <= data_s + WARMUP_SLACK_S:
            return None
        return (f"This replay read {fmt.duration(data_s)} of data before this point and the "
                f"recording holds {fmt.duration(held)}: replay with --warmup "
                f"{math.ceil(min(held, 3600.0) / 60.0):d}m to give the diagnosis all of it.")

    def confirm_signal(self, node_id: str, proc: ProcSample) -> None:
        """`k` on a recorded process: nothing to signal (whatever a live view would offer)."""
        self.notify(NOT_LIVE, severity="warning", timeout=6)

    def action_replay_toggle(self) -> None:
        c = self.replay
        if c is not None:
            c.toggle()

    def action_replay_seek(self, seconds: float) -> None:
        c = self.replay
        if c is not None:
            c.seek_by(float(seconds))

    def action_replay_speed(self, step: int) -> None:
        c = self.replay
        if c is None:
            return
        c.faster() if step > 0 else c.slower()

    def on_replay_goto(self, message: ReplayGoto) -> None:
        c = self.replay
        if c is None:
            return
        try:
            t = parse_time(message.text, c.start, c.end)
        except ValueError as exc:
            self.notify(clean(str(exc), 200), severity="error", timeout=6)
            return
        if not c.start <= t <= c.end:
            self.notify(f"{clean(message.text, 40)} is outside the recording "
                        f"({span_text(c.end - c.start)} long); going to the nearest end",
                        severity="warning", timeout=6)
        c.seek(t)


class ReplayMonitorApp(ReplayControls, MonitorApp):
    """The local view (one node) of a replay."""


class ReplayClusterApp(ReplayControls, ClusterApp):
    """The cluster view of a replay."""
