"""The alert pipeline: the rule engine plus its sinks, installed as a Monitor tick hook.

On every tick it evaluates the rules, writes each node status change and each alert state change
to the alert log, hands firing and resolved alerts to Alertmanager (unless silenced), re-sends
firing ones now and then, and keeps what the alerts pane shows: alerts with their ack and
silence marks, and the newest events. A failing sink never breaks the tick: its error is kept
for the status line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autoglm_tui.alerting.alert_log import AlertLog
from autoglm_tui.alerting.alertmanager import AlertmanagerClient
from autoglm_tui.alerting.silences import Silence, SilenceStore
from autoglm_tui.analysis.alerts import Alert, AlertEngine, AlertEvent, AlertState
from autoglm_tui.analysis.state import FleetState, StatusChange

if TYPE_CHECKING:
    from autoglm_tui.monitor import Monitor


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One line of the alerts pane."""

    alert: Alert
    acked: bool
    silence: Silence | None


class AlertPipeline:
    """Engine + sinks. ``install(monitor)`` hooks it into the monitor's tick."""

    def __init__(
        self,
        engine: AlertEngine,
        *,
        log: AlertLog | None = None,
        alertmanager: AlertmanagerClient | None = None,
        silences: SilenceStore | None = None,
        recent_max: int = 500,
        resend_check_s: float = 5.0,
    ) -> None:
        self.engine = engine
        self.log = log
        self.alertmanager = alertmanager
        self.silences = silences or SilenceStore(None)
        self.recent: deque[AlertEvent] = deque(maxlen=recent_max)
        self.resend_check_s = resend_check_s
        self.version = 0  # bumped when anything the pane shows changes
        self.now = 0.0  # time of the newest tick
        self._last_resend = float("-inf")
        self._withdrawn: set[str] = set()
        # Called when an alert fires; returned fields join its log line (the flight
        # recorder names its file so). A failing callback is skipped, never the tick.
        self.on_fire: list[Callable[[AlertEvent], dict[str, Any] | None]] = []

    def install(self, monitor: Monitor) -> AlertPipeline:
        monitor.hooks.append(self.hook)
        monitor.alerts = self
        return self

    # ------------------------------------------------------------------ the hook

    def hook(self, state: FleetState, now: float, changes: list[StatusChange]) -> None:
        """Evaluate and fan out; runs in the monitor's tick."""
        self.now = now
        events = self.engine.evaluate(state, now, changes)
        if self.log is not None:
            for change in changes:
                self.log.write_status(change)
        silences = self.silences
        ended: list[str] = []
        to_am: list[AlertEvent] = []
        for e in events:
            silenced = silences.silenced(e.rule, e.target, now)
            extra: dict[str, Any] = {"silenced": True} if silenced is not None else {}
            if e.state == AlertState.FIRING:
                for on_fire in self.on_fire:
                    with contextlib.suppress(Exception):
                        extra.update(on_fire(e) or {})
            if self.log is not None:
                self.log.write_event(e, **extra)
            if e.state in (AlertState.RESOLVED, AlertState.INACTIVE):
                ended.append(e.fingerprint)
                self._withdrawn.discard(e.fingerprint)
            if e.state == AlertState.RESOLVED or (e.state == AlertState.FIRING and not silenced):
                to_am.append(e)
        if ended:
            silences.forget(ended)
        if silences.silences:
            silences.expire(now)
        am = self.alertmanager
        if am is not None:
            am.submit(to_am, now)
            if now - self._last_resend >= self.resend_check_s:
                self._last_resend = now
                firing = self.engine.firing()
                quiet = {a.fingerprint for a in firing
                         if silences.silenced(a.rule.name, a.target, now) is not None}
                newly = quiet - self._withdrawn
                if newly:
                    am.withdraw(newly)
                self._withdrawn = (self._withdrawn & quiet) | newly
                am.resend([a for a in firing if a.fingerprint not in quiet], now)
        if events:
            self.recent.extend(events)
            self.version += 1

    # ------------------------------------------------------------------ what the UI reads

    def rows(self, include_silenced: bool = True) -> list[AlertRow]:
        """Firing, then pending, then recently resolved, each with its ack and silence."""
        out = []
        for a in self.engine.alerts():
            s = self.silences.silenced(a.rule.name, a.target, self.now)
            if s is not None and not include_silenced:
                continue
            out.append(AlertRow(a, self.silences.is_acked(a.fingerprint), s))
        return out

    def counts(self) -> dict[AlertState, int]:
        return self.engine.counts()

    def firing(self) -> list[Alert]:
        """Firing alerts (what the cluster table counts per node)."""
        return self.engine.firing()

    def status_line(self) -> str:
        """Sink health in a few words, for the pane's footer (plain text)."""
        parts = []
        if self.log is not None:
            parts.append(f"log {self.log.path.name}" + (
                f" ERROR {self.log.last_error}" if self.log.last_error else ""))
        am = self.alertmanager
        if am is not None:
            if am.last_error:
                parts.append(f"alertmanager: {am.last_error} ({am.queued} queued)")
            else:
                parts.append(f"alertmanager ok, {am.sent} sent" + (
                    f", {am.queued} queued" if am.queued else ""))
            if am.dropped:
                parts.append(f"{am.dropped} dropped (queue full)")
        for err in (self.silences.load_error, self.silences.save_error):
            if err:
                parts.append(err)
        return " | ".join(parts)

    # ------------------------------------------------------------------ intents from the UI

    def ack(self, alert: Alert) -> None:
        if self.silences.is_acked(alert.fingerprint):
            self.silences.unack(alert.fingerprint)
        else:
            self.silences.ack(alert.fingerprint, self.now)
        self.version += 1

    def silence(self, alert: Alert, duration_s: float, whole_rule: bool = False) -> Silence:
        s = self.silences.silence(alert.rule.name, None if whole_rule else alert.target,
                                  duration_s, self.now)
        self._last_resend = float("-inf")  # withdraw from Alertmanager on the next tick
        self.version += 1
        return s

    def unsilence(self, silence: Silence) -> None:
        self.silences.unsilence(silence.id)
        self._last_resend = float("-inf")
        self.version += 1

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Deliver to Alertmanager until cancelled (idles when there is none)."""
        if self.alertmanager is not None:
            await self.alertmanager.run()
        else:
            await asyncio.Event().wait()

    async def aclose(self, flush_s: float = 2.0) -> None:
        """Deliver what is queued (briefly) and close the log."""
        try:
            if self.alertmanager is not None and self.alertmanager.queued:
                await self.alertmanager.flush(flush_s)
        finally:
            if self.log is not None:
                self.log.close()


def build_pipeline(
    rules_paths: list[str],
    *,
    alert_log: str | None = None,
    alertmanager_url: str | None = None,
    silences_path: str | None = None,
    include_user_rules: bool = True,
    no_log: bool = False,
) -> AlertPipeline:
    """Make a pipeline from command-line options: rules files (the user's config dir rules
    first when it exists, then `rules_paths`), the log path (default under the data dir),
    Alertmanager, silences (default under the state dir).

    Raises RulesFileError for a bad rules file and ValueError for a bad URL; callers turn
    them into a clear message."""
    from pathlib import Path

    from autoglm_tui import paths
    from autoglm_tui.analysis.rules import load_rule_set

    files: list[str | Path] = []
    user = paths.user_rules_file()
    if include_user_rules and user.is_file():
        files.append(user)
    files.extend(rules_paths)
    rule_set = load_rule_set(files)
    engine = AlertEngine(rule_set.enabled)
    am = AlertmanagerClient(alertmanager_url) if alertmanager_url else None
    log = None if no_log else AlertLog(alert_log or paths.default_alert_log())
    store = SilenceStore(silences_path or paths.silences_file())
    return AlertPipeline(engine, log=log, alertmanager=am, silences=store)
