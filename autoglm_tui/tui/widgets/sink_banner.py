"""A one-line banner while the alert log or the silences file cannot be written.

The writers retry on their own threads (alerting/write_queue.py) and keep what waits in memory;
this banner says what is failing, where, what is kept and what to do, and goes away by itself
once the disk takes the writes again. It reads ``monitor.alerts.sink_health()`` (plain data, no
I/O) at every repaint.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from autoglm_tui.alerting.health import SinkHealth
from autoglm_tui.text import clean
from autoglm_tui.tui.render import Palette

# What to do about a writer's error, by the words write_queue.plain_error gives.
ADVICE = (
    ("disk full", "free space on that disk"),
    ("quota", "free space or raise the quota"),
    ("read-only", "remount it read-write, or restart with --alert-log on a writable disk"),
    ("not permitted", "check the file's attributes (lsattr; chattr -i)"),
    ("permission denied", "check the file's owner and mode"),
    ("I/O error", "check the disk (dmesg)"),
)


def advice(error: str) -> str:
    for words, todo in ADVICE:
        if words in error:
            return todo
    return "check the path and the disk"


def sink_banner_text(health: SinkHealth | None, p: Palette) -> Text | None:
    """The banner's line, or None while every sink writes (and nothing was dropped)."""
    if health is None or health.ok:
        return None
    out = Text(no_wrap=True, overflow="ellipsis")
    parts = 0
    if health.log_error:
        where = f" ({clean(health.log_path, 120)})" if health.log_path else ""
        n = health.log_queued
        out.append(f"alert log: {clean(health.log_error, 80)}", style=f"bold {p.error}")
        out.append(f" — {n} event{'s' if n != 1 else ''} kept in memory, retrying; "
                   f"{advice(health.log_error)}{where}", style=p.error)
        parts += 1
    if health.log_dropped:
        out.append("  ·  " if parts else "", style=p.muted)
        out.append(f"alert log: {health.log_dropped} events dropped (queue full; a log_gap "
                   f"line marks the place)", style=f"bold {p.error}")
        parts += 1
    if health.silences_error:
        out.append("  ·  " if parts else "", style=p.muted)
        err = clean(health.silences_error, 200)
        out.append(f"silences: {err}", style=f"bold {p.error}")
        out.append(f" — kept in memory, retrying; {advice(err)}", style=p.error)
        parts += 1
    if not parts:  # a fault the fields above do not name: say what the sinks say
        out.append(clean(health.message, 300), style=f"bold {p.error}")
    return out


class SinkBanner(Static):
    """One line on every screen, shown only while an alert sink cannot write."""

    def show(self, health: SinkHealth | None) -> None:
        p = Palette.from_variables(self.app.theme_variables)
        text = sink_banner_text(health, p)
        shown = text is not None
        if self.display != shown:
            self.display = shown  # re-lays out the screen, only when it appears or goes
        if text is not None and text.plain != getattr(self, "_plain", None):
            self._plain = text.plain
            self.update(text, layout=False)  # one fixed line
