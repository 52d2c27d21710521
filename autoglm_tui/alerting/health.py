"""How the alert sinks are doing, as plain data the UI can draw (a banner, a status line)."""

from __future__ import annotations

from dataclasses import dataclass

from autoglm_tui.alerting.write_queue import QueueHealth


@dataclass(frozen=True, slots=True)
class SinkHealth:
    """The alert log's writer and the silences file, in a form a banner can show.

    ``ok`` is False while something cannot be written (it is retried) or was lost; then
    ``message`` says what, in one line, e.g. "alert log: disk full, 12 events queued".
    ``notice`` is worth showing but not a fault, e.g. that this monitor writes its own log
    because another one holds the default.
    """

    ok: bool
    message: str
    notice: str | None = None
    log_path: str | None = None  # None: no alert log
    log_queued: int = 0  # records waiting for the writer (the one being retried included)
    log_dropped: int = 0  # records lost because the queue was full (a log_gap line says so)
    log_written: int = 0
    log_error: str | None = None  # why the log cannot be written now ("disk full")
    log_error_since: float | None = None  # wall-clock time the current error began
    silences_error: str | None = None


def sink_health(
    log_path: str | None,
    log: QueueHealth | None,
    silences_error: str | None,
    notice: str | None = None,
) -> SinkHealth:
    """Put the writers' states together and word the banner."""
    problems: list[str] = []
    if log is not None:
        if log.error:
            n = log.queued
            problems.append(f"alert log: {log.error}, {n} event{'s' if n != 1 else ''} queued")
        if log.dropped:
            problems.append(f"alert log: {log.dropped} events dropped (queue full)")
    if silences_error:
        problems.append(silences_error)
    return SinkHealth(
        ok=not problems,
        message="; ".join(problems),
        notice=notice,
        log_path=log_path,
        log_queued=log.queued if log else 0,
        log_dropped=log.dropped if log else 0,
        log_written=log.written if log else 0,
        log_error=log.error if log else None,
        log_error_since=log.error_since if log else None,
        silences_error=silences_error,
    )
