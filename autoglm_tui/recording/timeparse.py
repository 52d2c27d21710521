"""Times on a recording's timeline, as people type them (pure)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from autoglm_tui.format import parse_duration

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?(z|Z)?")


def parse_time(text: str, start: float, end: float) -> float:
    """A time for `--at`/`:goto`: unix seconds; ``+90s`` / ``+5m`` from the start, ``-2m``
    from the end; ``03:12:40`` (local time of day, ``Z`` for UTC) on the recording's first day
    (or the next, when that is earlier than the start); an ISO 8601 date and time.
    ValueError with the forms it accepts."""
    t = text.strip()
    if not t:
        raise ValueError("empty time")
    if t[0] in "+-" and not _is_number(t):
        offset = parse_duration(t[1:])
        return start + offset if t[0] == "+" else end - offset
    if _is_number(t):
        return float(t)
    m = _CLOCK.fullmatch(t)
    if m:
        h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        frac = float(m.group(4) or 0.0)
        if h > 23 or mi > 59 or s > 59:
            raise ValueError(f"bad time of day {text!r}")
        tz = timezone.utc if m.group(5) else None
        day = datetime.fromtimestamp(start, tz).astimezone(tz)
        at = day.replace(hour=h, minute=mi, second=s, microsecond=0)
        value = at.timestamp() + frac
        if value < start - 1:
            value = (at + timedelta(days=1)).timestamp() + frac
        return value
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"bad time {text!r}: use 03:12:40 (time of day), 2026-11-24T03:12:40, +5m (from "
            "the start), -2m (from the end) or unix seconds") from None
    return dt.timestamp()


def _is_number(t: str) -> bool:
    try:
        float(t)
        return True
    except ValueError:
        return False
