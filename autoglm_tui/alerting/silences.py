"""Acknowledged and silenced alerts, persisted as JSON under the user's state directory.

Acknowledging marks an alert as seen by someone (it stays listed, marked, until it resolves).
A silence hides matching alerts from the alerts pane's main list and stops pushing them to
Alertmanager until it expires; the alert log still records every state change. Silences
match a rule on one target (node, GPU or process) or on every target. The file is rewritten
atomically (temporary file, fsync, rename) after every change, by a writer thread (the newest
state wins; a failed write is retried), so a slow disk never holds up the monitor's loop. A
store without a path (a demo) keeps everything in memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from autoglm_tui.alerting.write_queue import WriteQueue
from autoglm_tui.analysis.alerts import Target
from autoglm_tui.text import clean

SCHEMA = 1
# The live writer of each silences file in this process, so that a store opened later (a
# restart within one process, a test) first lets the earlier one finish saving.
_WRITERS: dict[str, weakref.WeakSet[WriteQueue]] = {}


@dataclass(frozen=True, slots=True)
class Silence:
    """Hide alerts of `rule` (on `node`/`gpu`/`pid`/`service`/`group`/`finding` when set)
    until `until` (unix seconds)."""

    id: str
    rule: str
    until: float
    created: float
    node: str | None = None
    gpu: int | None = None
    pid: int | None = None
    comment: str = ""
    service: str | None = None
    group: str | None = None
    finding: str | None = None

    def matches(self, rule: str, target: Target) -> bool:
        if rule != self.rule:
            return False
        if self.node is not None and target.node != self.node:
            return False
        return all(want is None or getattr(target, name) == want for name, want in (
            ("gpu", self.gpu), ("pid", self.pid), ("service", self.service),
            ("group", self.group), ("finding", self.finding)))

    def describe(self) -> str:
        if self.node is None:
            return f"{self.rule} on all targets"
        where = Target(self.node, self.gpu, self.pid, self.service, self.group, self.finding)
        return f"{self.rule} on {where}"


class SilenceStore:
    """Acks and silences in memory, saved to `path` (None: memory only)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.acks: dict[str, float] = {}  # alert fingerprint -> when acknowledged
        self.silences: list[Silence] = []
        self.load_error: str | None = None
        self.version = 0
        self._writer: WriteQueue | None = None
        if self.path is not None:
            writers = _WRITERS.setdefault(os.path.abspath(self.path), weakref.WeakSet())
            for earlier in list(writers):  # this process saved to it: read what it saved
                earlier.flush(5.0)
            self._writer = WriteQueue(self._write_file, name=f"silences {self.path.name}",
                                      coalesce=True)
            writers.add(self._writer)
            self._load()

    @property
    def save_error(self) -> str | None:
        """Why the newest state is not on disk yet (it is retried), None when it is."""
        if self._writer is None:
            return None
        err = self._writer.health().error
        return None if err is None else f"cannot save {self.path}: {err}"

    # ------------------------------------------------------------------ persistence

    def _load(self) -> None:
        assert self.path is not None
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            self.load_error = f"cannot read {self.path}: {exc}"
            return
        try:
            data = json.loads(raw)
            acks = data.get("acks", {})
            self.acks = {clean(k, 600): float(v) for k, v in acks.items()}
            self.silences = [_silence_from(x) for x in data.get("silences", [])]
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            # A damaged file must not stop the monitor: keep it aside and start afresh.
            self.load_error = f"ignored damaged {self.path.name}: {exc}"
            self.acks, self.silences = {}, []
            with contextlib.suppress(OSError):
                os.replace(self.path, self.path.with_name(self.path.name + ".bad"))

    def save(self) -> None:
        """Hand the current state to the writer thread (memory only without a path)."""
        self.version += 1
        if self._writer is None:
            return
        self._writer.put({
            "schema": SCHEMA,
            "acks": dict(self.acks),
            "silences": [asdict(s) for s in self.silences],
        })

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the newest state is on disk; False if `timeout` passed first."""
        return True if self._writer is None else self._writer.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Save what is pending (for at most `timeout` seconds) and stop the writer."""
        if self._writer is not None:
            self._writer.close(timeout)

    def _write_file(self, data: dict[str, Any]) -> None:
        """On the writer thread: write the state atomically (temporary file, fsync, rename)."""
        assert self.path is not None
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    # ------------------------------------------------------------------ acks

    def ack(self, fingerprint: str, now: float) -> None:
        self.acks[fingerprint] = now
        self.save()

    def unack(self, fingerprint: str) -> None:
        if self.acks.pop(fingerprint, None) is not None:
            self.save()

    def is_acked(self, fingerprint: str) -> bool:
        return fingerprint in self.acks

    def forget(self, fingerprints: list[str]) -> None:
        """Drop acks of alerts that ended (an ack covers one episode of an alert)."""
        gone = [f for f in fingerprints if f in self.acks]
        for f in gone:
            del self.acks[f]
        if gone:
            self.save()

    # ------------------------------------------------------------------ silences

    def silence(
        self,
        rule: str,
        target: Target | None,
        duration_s: float,
        now: float,
        comment: str = "",
    ) -> Silence:
        """Silence `rule` on `target` (None: on every target) for `duration_s` seconds."""
        if duration_s <= 0:
            raise ValueError("a silence needs a positive duration")
        s = Silence(
            id=secrets.token_hex(4),
            rule=rule,
            until=now + duration_s,
            created=now,
            node=None if target is None else target.node,
            gpu=None if target is None else target.gpu,
            pid=None if target is None else target.pid,
            service=None if target is None else target.service,
            group=None if target is None else target.group,
            finding=None if target is None else target.finding,
            comment=clean(comment, 200),
        )
        self.silences.append(s)
        self.save()
        return s

    def unsilence(self, silence_id: str) -> bool:
        before = len(self.silences)
        self.silences = [s for s in self.silences if s.id != silence_id]
        if len(self.silences) != before:
            self.save()
            return True
        return False

    def silenced(self, rule: str, target: Target, now: float) -> Silence | None:
        """The silence covering this alert now, if any (the longest one)."""
        best: Silence | None = None
        for s in self.silences:
            if s.until > now and s.matches(rule, target) and (best is None or s.until > best.until):
                best = s
        return best

    def expire(self, now: float) -> list[Silence]:
        """Drop silences that ran out; returns them."""
        gone = [s for s in self.silences if s.until <= now]
        if gone:
            self.silences = [s for s in self.silences if s.until > now]
            self.save()
        return gone


def _silence_from(raw: dict[str, Any]) -> Silence:
    def opt_int(v: object) -> int | None:
        return None if v is None else int(v)  # type: ignore[call-overload]

    return Silence(
        id=clean(str(raw["id"]), 40),
        rule=clean(str(raw["rule"]), 200),
        until=float(raw["until"]),
        created=float(raw.get("created", 0.0)),
        node=None if raw.get("node") is None else clean(str(raw["node"]), 200),
        gpu=opt_int(raw.get("gpu")),
        pid=opt_int(raw.get("pid")),
        comment=clean(str(raw.get("comment", "")), 200),
        service=opt_text(raw.get("service")),
        group=opt_text(raw.get("group")),
        finding=opt_text(raw.get("finding")),
    )


def opt_text(v: object) -> str | None:
    return None if v is None else clean(str(v), 200)
