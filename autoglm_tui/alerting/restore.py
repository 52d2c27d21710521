"""The alert state taken back from the alert log after a restart (the reading is here; the
engine gets plain data).

A monitor that is killed (kill -9, a crash, a reboot) and started again must neither page again
for alerts that were already firing nor forget them, and must not tell Alertmanager that they
ended. The alert log already tells each alert's story in order, so on start :func:`read_active`
replays it and returns, for every alert whose last word was pending or firing, that last event
(an :class:`~autoglm_tui.analysis.alerts.AlertEvent`), which
:meth:`~autoglm_tui.analysis.alerts.AlertEngine.restore` takes back.

Rotation would cut the story, so the log restates the active alerts in a new file: after a
rotation (and after a restore) the pipeline writes a snapshot, a header line
``{"kind": "alert_snapshot", "count": N, "why": ...}`` followed by N lines
``{"kind": "alert_active", ...}``, each shaped like the alert's own lines. The reader starts at
the newest complete snapshot: in the current file when it has one, else in ``.1``, and so on;
with none, it reads every file there is, oldest first.

Untrusted as any file: a line that does not parse (cut short by kill -9 or a power loss) or
does not validate is skipped and counted; a ``log_gap`` line (records dropped while the disk
refused them) is counted, and the alerts are restored as far as the log tells (an ending lost
in a gap leaves its alert active until its node's state decides).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoglm_tui.alerting.alert_log import iso
from autoglm_tui.analysis.alerts import Alert, AlertEvent, AlertState, Target
from autoglm_tui.analysis.alerts.rule import SEVERITIES
from autoglm_tui.text import clean

SNAPSHOT = "alert_snapshot"
ACTIVE = "alert_active"
_MARK = f'"kind":"{SNAPSHOT}"'.encode()
_ALERT_KINDS = ("alert", ACTIVE)


@dataclass
class LogState:
    """What the log says was active when its writer stopped, and how sure it is."""

    active: list[AlertEvent] = field(default_factory=list)  # the last event of each, in order
    # Live alerts of other monitors that share the log (another scope), as their last lines:
    # restated untouched in each snapshot, so their own restart still finds them.
    foreign: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # the files read, oldest first
    from_snapshot: bool = False  # the replay started at a complete snapshot
    gaps: int = 0  # log_gap lines met: records were dropped there
    skipped: int = 0  # lines that did not parse or validate

    def describe(self) -> str:
        """A few words for a status line: "restored 2 firing, 1 pending (1 gap in the log)"."""
        firing = sum(1 for e in self.active if e.state == AlertState.FIRING)
        pending = len(self.active) - firing
        text = f"restored {firing} firing, {pending} pending"
        notes = []
        if self.gaps:
            notes.append(f"{self.gaps} gap{'s' if self.gaps != 1 else ''} in the log")
        if self.skipped:
            notes.append(f"{self.skipped} unreadable line{'s' if self.skipped != 1 else ''}")
        return text + (f" ({', '.join(notes)})" if notes else "")


def read_active(paths: Sequence[Path], scope: str | None = None) -> LogState:
    """Replay an alert log (`paths`: the current file, then ``.1``, ``.2``... newest first)
    from its newest complete snapshot; return the alerts still pending or firing.

    With `scope` (what this monitor watches), lines of another scope tell other monitors'
    stories: their live alerts are returned apart (``foreign``), never restored here. A line
    without a scope (written before scopes) belongs to every monitor."""
    out = LogState()
    chunks: list[list[dict[str, Any]]] = []
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        records, complete, bad = _file_records(raw)
        chunks.append(records)
        out.files.insert(0, path.name)
        out.skipped += bad
        if complete:
            out.from_snapshot = True
            break
    # The last line of each alert, by its target; only those still live become
    # events (validated then), so a long log costs a JSON parse a line and little more.
    # Keys start with the line's scope (None: ours, or a line from before scopes).
    last: dict[tuple[Any, ...], dict[str, Any]] = {}
    live = ("pending", "firing")
    for records in reversed(chunks):
        for rec in records:
            kind = rec.get("kind")
            whose = rec.get("scope")
            if whose == scope or not isinstance(whose, str):
                whose = None
            if kind in _ALERT_KINDS:
                try:
                    key = (whose, rec["rule"], rec["node"], rec.get("gpu"), rec.get("pid"),
                           rec.get("service"), rec.get("group"), rec.get("finding"))
                    hash(key)
                except (KeyError, TypeError):
                    out.skipped += 1
                    continue
                if rec.get("state") in live:
                    last[key] = rec
                else:
                    last.pop(key, None)
            elif kind == "node_status" and "new" in rec and rec["new"] is None:
                node = rec.get("node")  # removed: every alert of the node ended with it
                for key in [k for k in last if k[0] == whose and k[2] == node]:
                    del last[key]
            elif kind == "log_gap":
                out.gaps += 1
    for key, rec in last.items():
        event = event_from_record(rec)
        if event is None:
            out.skipped += 1
        elif key[0] is not None:
            out.foreign.append(rec)  # valid, kept as it was written
        else:
            out.active.append(event)
    return out


def snapshot_records(
    alerts: Iterable[Alert], now: float, why: str,
    foreign: Sequence[dict[str, Any]] = (), **extra: Any
) -> list[dict[str, Any]]:
    """The lines that restate the active alerts in the log: a header, then one per alert,
    then other scopes' live alerts as read (``LogState.foreign``, their lines kept)."""
    lines = []
    for a in alerts:
        rec = a.event(now, a.state).to_dict()
        rec["kind"] = ACTIVE
        rec["time"] = iso(now)
        lines.append(rec)
    lines.extend({**rec, "kind": ACTIVE} for rec in foreign)
    head = {"t": round(now, 3), "time": iso(now), "kind": SNAPSHOT, "why": why,
            "count": len(lines), **extra}
    return [head, *lines]


def event_from_record(rec: dict[str, Any]) -> AlertEvent | None:
    """An alert line of the log (``AlertEvent.to_dict``'s shape) back as an event; None when it
    does not validate."""
    try:
        state = AlertState(rec["state"])
        rule = _text(rec["rule"], 200)
        node = _text(rec["node"], 200)
        gpu, pid = _index(rec.get("gpu")), _index(rec.get("pid"))
        service = _opt_text(rec.get("service"), 200)
        group = _opt_text(rec.get("group"), 200)
        finding = _opt_text(rec.get("finding"), 100)
        t, started = _time(rec["t"]), _time(rec["started_at"])
        fired, ended = _opt_time(rec.get("fired_at")), _opt_time(rec.get("ended_at"))
        value = _opt_number(rec.get("value"))
    except (KeyError, TypeError, ValueError):
        return None
    if not rule or sum(x is not None for x in (gpu, pid, service)) > 1:
        return None
    if not node and finding is None:  # only a diagnosis alert (a group's, the fleet's) has none
        return None
    severity = rec.get("severity")
    labels = rec.get("labels")
    notes = rec.get("annotations")
    return AlertEvent(
        t=t, state=state, rule=rule, severity=severity if severity in SEVERITIES else "warning",
        target=Target(node, gpu=gpu, pid=pid, service=service, group=group, finding=finding),
        value=value,
        summary=_opt_text(rec.get("summary"), 2000) or "", started_at=started, fired_at=fired,
        ended_at=ended, command=_opt_text(rec.get("command"), 500),
        reason=_opt_text(rec.get("reason"), 400),
        labels=tuple(sorted(
            (clean(k, 100), clean(v, 1000)) for k, v in labels.items()
            if isinstance(k, str) and isinstance(v, str)
        )) if isinstance(labels, dict) else (),
        annotations=tuple(sorted(
            (clean(k, 100), clean(v, 1000)) for k, v in notes.items()
            if isinstance(k, str) and isinstance(v, str)
        )) if isinstance(notes, dict) else (),
    )


# ---------------------------------------------------------------------- reading a file


def _file_records(raw: bytes) -> tuple[list[dict[str, Any]], bool, int]:
    """A file's records from its newest complete snapshot (True), else all of them (False),
    and how many lines did not parse."""
    lines = raw.split(b"\n")
    for i in range(len(lines) - 1, -1, -1):
        if _MARK in lines[i] and _complete_at(lines, i):
            records, bad = _parse(lines[i:])
            return records, True, bad
    records, bad = _parse(lines)
    return records, False, bad


def _complete_at(lines: list[bytes], i: int) -> bool:
    """Whether line `i` is a snapshot header followed by all the lines it announces."""
    head = _load(lines[i])
    count = head.get("count") if head is not None else None
    if head is None or head.get("kind") != SNAPSHOT or not isinstance(count, int):
        return False
    body = lines[i + 1:i + 1 + count]
    if count < 0 or len(body) < count:
        return False
    for line in body:
        rec = _load(line)
        if rec is None or rec.get("kind") != ACTIVE:
            return False
    return True


def _parse(lines: list[bytes]) -> tuple[list[dict[str, Any]], int]:
    out, bad = [], 0
    for line in lines:
        if not line.strip():
            continue
        rec = _load(line)
        if rec is None:
            bad += 1
        else:
            out.append(rec)
    return out, bad


def _load(line: bytes) -> dict[str, Any] | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


# ---------------------------------------------------------------------- field checks


def _text(v: object, limit: int) -> str:
    if not isinstance(v, str):
        raise TypeError("not a string")
    return clean(v, limit)


def _opt_text(v: object, limit: int) -> str | None:
    return clean(v, limit) if isinstance(v, str) else None


def _index(v: object) -> int | None:
    """A GPU index or pid: None or an integer (not a boolean) in range."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << 32:
        raise ValueError("bad index")
    return v


def _time(v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ValueError("bad time")
    return float(v)


def _opt_time(v: object) -> float | None:
    return None if v is None else _time(v)


def _opt_number(v: object) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError("bad number")
    return float(v)
