"""The alert pipeline: the rule engine plus its sinks, installed as a Monitor tick hook.

On every tick it evaluates the rules, writes each node status change, node note and alert state
change to the alert log, hands firing and resolved alerts to Alertmanager (unless silenced),
re-sends firing ones now and then, and keeps what the alerts pane shows: alerts with their ack
and silence marks, and the newest events. A failing sink never breaks the tick: its error is
kept for the status line and :meth:`AlertPipeline.sink_health`. Nothing here writes to disk on
the caller's thread: the log and the silences file have writer threads of their own.

Before the first tick, :meth:`AlertPipeline.restore` takes back from the log the alerts the
previous run left pending or firing (alerting/restore.py); after that, and after each rotation
of the log, the active alerts are restated in the log so that its newest file tells the story.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from autoglm_tui.alerting.alert_log import AlertLog, LogInUse
from autoglm_tui.alerting.alertmanager import AlertmanagerClient
from autoglm_tui.alerting.health import SinkHealth, sink_health
from autoglm_tui.alerting.restore import LogState, read_active, snapshot_records
from autoglm_tui.alerting.silences import Silence, SilenceStore
from autoglm_tui.analysis.alerts import Alert, AlertEngine, AlertEvent, AlertState
from autoglm_tui.analysis.state import FleetState, StatusChange

if TYPE_CHECKING:
    from autoglm_tui.monitor import Monitor

# After a rotation the active alerts are restated in the new file, at most this often (a
# restatement larger than the file's size limit must not rotate the log in a loop).
RESTATE_MIN_S = 60.0
FOREIGN_KEEP_S = 7 * 86400.0  # another scope's alert not heard of for this long is dropped
FIRE_NOTES_MAX = 1000  # alerts whose on_fire notes are kept before the forgotten are pruned


class AlertRow(NamedTuple):
    """One line of the alerts pane (a tuple: a large fleet makes thousands a second)."""

    alert: Alert
    acked: bool
    silence: Silence | None
    flight_recording: str | None = None  # the file the flight recorder wrote when it fired


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
        log_notice: str | None = None,
        log_pending: bool = False,
    ) -> None:
        self.engine = engine
        self.log = log
        # Pending alerts that end without firing are noise in the log (a busy fleet flips
        # hundreds a minute); they are logged only when asked (--log-pending).
        self.log_pending = log_pending
        self._pending_in_log: set[str] = set()  # pending alerts the log knows (snapshots)
        self.log_notice = log_notice  # e.g. "the default log is taken: writing alerts-2.jsonl"
        self.alertmanager = alertmanager
        self.silences = silences or SilenceStore(None)
        self.recent: deque[AlertEvent] = deque(maxlen=recent_max)
        self.resend_check_s = resend_check_s
        self.version = 0  # bumped when anything the pane shows changes
        self.now = 0.0  # time of the newest tick
        self._last_resend = float("-inf")
        self._withdrawn: set[str] = set()
        self._notes_seen = 0  # node notes of the state already logged
        self._rotations_seen = 0 if log is None else log.rotations
        self._restated_at = float("-inf")
        self.restored: LogState | None = None  # what restore() took back from the log
        self._foreign: list[dict[str, Any]] = []  # other scopes' live alerts, restated as read
        # Called when an alert fires; returned fields join its log line (the flight
        # recorder names its file so). A failing callback is skipped, never the tick.
        self.on_fire: list[Callable[[AlertEvent], dict[str, Any] | None]] = []
        # What the callbacks returned, per alert, while the engine knows the alert (the
        # alerts screen names the flight recording's file).
        self.fire_notes: dict[str, dict[str, Any]] = {}
        # The monitor it is installed in: its diagnosis runner's findings feed the
        # `kind = "diagnosis"` rules (the runner's hook runs before this one).
        self.monitor: Monitor | None = None

    def install(self, monitor: Monitor) -> AlertPipeline:
        monitor.hooks.append(self.hook)
        monitor.alerts = self
        self.monitor = monitor
        return self

    # ------------------------------------------------------------------ the hook

    def hook(self, state: FleetState, now: float, changes: list[StatusChange]) -> None:
        """Evaluate and fan out; runs in the monitor's tick."""
        self.now = now
        runner = self.monitor.diagnosis if self.monitor is not None else None
        events = self.engine.evaluate(state, now, changes,
                                      runner.findings if runner is not None else None)
        log = self.log
        if log is not None:
            for change in changes:
                log.submit_status(change)
            if state.notes_total != self._notes_seen:
                notes, self._notes_seen = state.notes_after(self._notes_seen)
                for note in notes:
                    log.submit_note(note)
        self._dispatch(events, now)
        if log is not None and log.rotations != self._rotations_seen:
            self._restate(now, "log rotated")
        self._resend(now)

    def _dispatch(self, events: list[AlertEvent], now: float) -> None:
        """Alert events to the log, Alertmanager (unless silenced) and the pane."""
        silences = self.silences
        ended: list[str] = []
        to_am: list[AlertEvent] = []
        for e in events:
            silenced = silences.silenced(e.rule, e.target, now)
            extra: dict[str, Any] = {"silenced": True} if silenced is not None else {}
            if e.state == AlertState.FIRING:
                notes: dict[str, Any] = {}
                for on_fire in self.on_fire:
                    with contextlib.suppress(Exception):
                        notes.update(on_fire(e) or {})
                if notes:
                    extra.update(notes)
                    self.fire_notes[e.fingerprint] = notes
            if self.log is not None and self._logs(e):
                self.log.submit_event(e, **extra)
            if e.state in (AlertState.RESOLVED, AlertState.INACTIVE):
                ended.append(e.fingerprint)
                self._withdrawn.discard(e.fingerprint)
            if e.state == AlertState.RESOLVED or (e.state == AlertState.FIRING and not silenced):
                to_am.append(e)
        if ended:
            silences.forget(ended)
        if len(self.fire_notes) > FIRE_NOTES_MAX:  # forget alerts the engine let go of
            known = {a.fingerprint for a in self.engine.alerts()}
            self.fire_notes = {fp: n for fp, n in self.fire_notes.items() if fp in known}
        if silences.silences:
            silences.expire(now)
        if self.alertmanager is not None and to_am:
            self.alertmanager.submit(to_am, now)
        if events:
            self.recent.extend(events)
            self.version += 1

    def _logs(self, e: AlertEvent) -> bool:
        """Whether event `e` goes to the log: everything with --log-pending; else not the
        pending<->inactive flips of alerts that never fired, except the end of one the log
        holds as pending (a snapshot restated it), so a restart does not take it back."""
        if self.log_pending:
            return True
        if e.state == AlertState.PENDING:
            return False
        if (e.state == AlertState.INACTIVE and e.fired_at is None
                and e.fingerprint not in self._pending_in_log):
            return False
        self._pending_in_log.discard(e.fingerprint)
        return True

    def _resend(self, now: float) -> None:
        """Now and then: firing alerts to Alertmanager again, silenced ones withdrawn. Alerts
        restored for a node not seen since the restart wait until it shows up."""
        am = self.alertmanager
        if am is None or now - self._last_resend < self.resend_check_s:
            return
        self._last_resend = now
        silences = self.silences
        firing = self.engine.deliverable()
        quiet = {a.fingerprint for a in firing
                 if silences.silenced(a.rule.name, a.target, now) is not None}
        newly = quiet - self._withdrawn
        if newly:
            am.withdraw(newly)
        self._withdrawn = (self._withdrawn & quiet) | newly
        am.resend([a for a in firing if a.fingerprint not in quiet], now)

    def _restate(self, now: float, why: str, **extra: object) -> None:
        """Write the active alerts to the log (a snapshot the restore can start from)."""
        log = self.log
        if log is None or now - self._restated_at < RESTATE_MIN_S:
            return
        self._rotations_seen = log.rotations
        self._restated_at = now
        active = self.engine.active()
        self._pending_in_log = {a.fingerprint for a in active if a.state == AlertState.PENDING}
        for rec in snapshot_records(active, now, why, self._foreign, **extra):
            log.submit(rec)

    # ------------------------------------------------------------------ restart

    def restore(self, now: float) -> LogState | None:
        """Take back from the log the alerts the previous run left pending or firing, with
        their start and fire times (call it before the first tick). Firing ones go to
        Alertmanager again with their original start once their node shows up; alerts that
        cannot come back (their rule is gone) end, with that reason, in the log and in
        Alertmanager. Returns what the log said (None without a log)."""
        log = self.log
        if log is None:
            return None
        found = read_active(log.paths(), log.scope)
        # Another monitor's alerts are kept for its next start, for a week at most.
        self._foreign = [r for r in found.foreign if now - r["t"] < FOREIGN_KEEP_S]
        ended = self.engine.restore(found.active, now)
        self._dispatch(ended, now)
        # Always (also with nothing active): the next start reads the log from here on.
        self._restate(now, "restored at start", restored=len(found.active), ended=len(ended),
                      gaps=found.gaps, skipped=found.skipped, files=found.files)
        self.restored = found
        return found

    # ------------------------------------------------------------------ what the UI reads

    def rows(self, include_silenced: bool = True) -> list[AlertRow]:
        """Firing, then pending, then recently resolved, each with its ack and silence."""
        out = []
        store, now = self.silences, self.now
        # A large fleet has thousands of alerts and usually no silence, ack or note: look
        # those up only when there are some.
        silencing = any(s.until > now for s in store.silences)
        keyed = bool(store.acks or self.fire_notes)
        if not silencing and not keyed:
            # made in C (tuple.__new__ of the class over zip's tuples): half the time of
            # calling AlertRow, whose __new__ is Python, thousands of times a second
            return list(map(tuple.__new__, repeat(AlertRow), zip(
                self.engine.alerts(), repeat(False), repeat(None), repeat(None))))
        for a in self.engine.alerts():
            s = store.silenced(a.rule.name, a.target, now) if silencing else None
            if s is not None and not include_silenced:
                continue
            fp = a.fingerprint if keyed else None
            flight = self.fire_notes.get(fp, {}).get("flight_recording") if fp else None
            out.append(AlertRow(a, bool(fp) and store.is_acked(fp), s,
                                str(flight) if flight is not None else None))
        return out

    def counts(self) -> dict[AlertState, int]:
        return self.engine.counts()

    def firing(self) -> list[Alert]:
        """Firing alerts (what the cluster table counts per node)."""
        return self.engine.firing()

    def sink_health(self) -> SinkHealth:
        """The alert log's and the silences file's writers, as plain data for a banner."""
        log = self.log
        return sink_health(None if log is None else str(log.path),
                           None if log is None else log.health(),
                           self.silences.save_error, self.log_notice)

    def status_line(self) -> str:
        """Sink health in a few words, for the pane's footer (plain text)."""
        parts = []
        if self.log is not None:
            h = self.log.health()
            part = f"log {self.log.path.name}"
            if h.error:
                part += f" ERROR {h.error}, {h.queued} queued"
            if h.dropped:
                part += f", {h.dropped} dropped"
            parts.append(part)
        am = self.alertmanager
        if am is not None:
            if am.last_error:
                parts.append(f"alertmanager: {am.last_error} ({am.queued} queued)")
            else:
                parts.append(f"alertmanager ok, {am.sent} sent" + (
                    f", {am.queued} queued" if am.queued else ""))
            if am.dropped:
                parts.append(f"{am.dropped} dropped (queue full)")
        if self.log_notice:
            parts.append(self.log_notice)
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
        """Deliver what is queued (briefly), then write what the log and silences hold."""
        try:
            if self.alertmanager is not None and self.alertmanager.queued:
                await self.alertmanager.flush(flush_s)
        finally:
            self.close(flush_s)

    def close(self, timeout: float = 5.0) -> int:
        """Write what is queued for the log and the silences file (for at most `timeout`
        seconds each) and close them; returns how many log records could not be written."""
        left = 0
        if self.log is not None:
            left = self.log.close(timeout)
        self.silences.close(timeout)
        return left


def build_pipeline(
    rules_paths: list[str],
    *,
    alert_log: str | None = None,
    alertmanager_url: str | None = None,
    silences_path: str | None = None,
    include_user_rules: bool = True,
    no_log: bool = False,
    ephemeral: bool = False,
    restore: bool = True,
    log_pending: bool = False,
    scope: str | None = None,
) -> AlertPipeline:
    """Make a pipeline from command-line options: rules files (the user's config dir rules
    first when it exists, then `rules_paths`), the log path (default under the data dir),
    Alertmanager, silences (default under the state dir).

    `ephemeral` (demos, synthetic data) writes no state it was not asked for: no log unless
    `alert_log` names one, silences kept in memory unless `silences_path` names a file.
    With `restore` (the default) the alerts the log says were active are taken back
    (:meth:`AlertPipeline.restore`). `log_pending` logs pending alerts that end without
    firing too (off by default: they are noise).
    `scope` says what this monitor watches (``scope_of``): the log's lines carry it and a
    restart restores only the alerts of its own scope.

    When the default log is in use by another monitor, this one writes the first free
    ``alerts-N.jsonl`` beside it and says so (:attr:`AlertPipeline.log_notice`); an explicit
    `alert_log` in use raises LogInUse. Raises RulesFileError for a bad rules file and
    ValueError for a bad URL; callers turn them into a clear message."""
    from autoglm_tui import paths
    from autoglm_tui.alerting.rule_files import load_rule_set

    files: list[str | Path] = []
    user = paths.user_rules_file()
    if include_user_rules and user.is_file():
        files.append(user)
    files.extend(rules_paths)
    rule_set = load_rule_set(files)
    engine = AlertEngine(rule_set.enabled)
    am = AlertmanagerClient(alertmanager_url) if alertmanager_url else None
    log, notice = None, None
    if alert_log is not None and not no_log:
        log = AlertLog(alert_log)
    elif not no_log and not ephemeral:
        log, notice = open_default_log(paths.default_alert_log())
    if log is not None:
        log.scope = scope
    if silences_path is not None:
        store = SilenceStore(silences_path)
    else:
        store = SilenceStore(None if ephemeral else paths.silences_file())
    pipeline = AlertPipeline(engine, log=log, alertmanager=am, silences=store,
                             log_notice=notice, log_pending=log_pending)
    if restore:
        pipeline.restore(time.time())
    return pipeline


def open_default_log(
    path: Path, tries: int = 16, **options: int
) -> tuple[AlertLog, str | None]:
    """The default log, or, when another monitor holds it, this instance's own
    ``alerts-2.jsonl`` (the first free one) beside it, with a note saying so. `options` go to
    :class:`AlertLog` (max_bytes, backups)."""
    try:
        return AlertLog(path, **options), None
    except LogInUse as taken:
        who = f"pid {taken.holder}" if taken.holder else "another autoglm-tui"
        for n in range(2, tries + 1):
            mine = path.with_name(f"{path.stem}-{n}{path.suffix}")
            try:
                log = AlertLog(mine, **options)
            except LogInUse:
                continue
            return log, f"{path.name} is in use by {who}: this monitor logs to {mine.name}"
        raise
