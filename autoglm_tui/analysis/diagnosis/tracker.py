"""Hysteresis for findings, like alerts: a finding shows once it was seen again after
`appear_after` seconds, and stays (marked clearing) until it was not seen for `clear_after`."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, replace

from autoglm_tui.analysis.diagnosis.model import Finding, worst_first


@dataclass
class _Entry:
    finding: Finding
    scope: Hashable
    first_seen: float
    last_seen: float
    active_since: float | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """A finding that appeared or cleared (what a `kind = "diagnosis"` alert rule would read)."""

    t: float
    appeared: bool
    finding: Finding


class FindingTracker:
    def __init__(self, clear_after_s: float = 60.0) -> None:
        self.clear_after_s = clear_after_s
        self._entries: dict[tuple, _Entry] = {}
        self.changes: list[Change] = []  # since the last drain()
        self.version = 0

    def update(self, scope: Hashable, found: list[Finding], now: float,
               appear_after: float = 0.0) -> None:
        """Fold in what one evaluation of `scope` (an analyzer and a node, or an analyzer for
        the fleet) found at `now`; findings of that scope not in `found` were not seen."""
        seen = set()
        for f in found:
            key = f.key
            seen.add(key)
            e = self._entries.get(key)
            if e is None:
                e = self._entries[key] = _Entry(f, scope, now, now)
            e.finding, e.last_seen = f, now
            if e.active_since is None and now - e.first_seen >= appear_after:
                e.active_since = now
                self.changes.append(Change(now, True, self._shown(e)))
                self.version += 1
            elif e.active_since is not None:
                self.version += 1  # figures moved
        for key, e in list(self._entries.items()):
            if e.scope != scope or key in seen:
                continue
            if e.active_since is None:
                del self._entries[key]  # seen once, gone: never shown
            elif now - e.last_seen >= self.clear_after_s:
                del self._entries[key]
                self.changes.append(Change(now, False, self._shown(e)))
                self.version += 1

    def drop_scope(self, scope: Hashable, now: float) -> None:
        """Forget a scope at once (its node was removed from the state)."""
        for key, e in list(self._entries.items()):
            if e.scope == scope:
                del self._entries[key]
                if e.active_since is not None:
                    self.changes.append(Change(now, False, self._shown(e)))
                    self.version += 1

    def copy(self) -> FindingTracker:
        """An independent copy (findings are immutable and shared): a replay checkpoint."""
        new = FindingTracker(self.clear_after_s)
        new._entries = {k: _Entry(e.finding, e.scope, e.first_seen, e.last_seen, e.active_since)
                        for k, e in self._entries.items()}
        new.changes = list(self.changes)
        new.version = self.version
        return new

    def scopes(self) -> set[Hashable]:
        return {e.scope for e in self._entries.values()}

    @staticmethod
    def _shown(e: _Entry) -> Finding:
        return replace(e.finding, since=e.active_since)

    def active(self) -> list[Finding]:
        """Findings that show, worst first."""
        return worst_first([self._shown(e) for e in self._entries.values()
                            if e.active_since is not None])

    def clearing(self, now: float) -> set[tuple]:
        """Keys of shown findings that were not seen at their scope's last evaluation."""
        return {k for k, e in self._entries.items()
                if e.active_since is not None and e.last_seen < now}

    def drain(self) -> list[Change]:
        out, self.changes = self.changes, []
        return out
