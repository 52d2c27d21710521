"""Command-line options for alerting, shared by the local and cluster views.

``add_alert_args(parser)`` adds --rules, --alert-log, --alertmanager, --log-pending,
--no-alerts;
``pipeline_from_args(args)`` builds the pipeline or raises AlertSetupError with a message fit
for the terminal (a bad rules file lists each error with its line, never a traceback);
``close_pipeline(pipeline)`` delivers what is queued and closes the log after the UI exits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import TYPE_CHECKING

from autoglm_tui.text import clean

if TYPE_CHECKING:
    from autoglm_tui.alerting.pipeline import AlertPipeline


class AlertSetupError(Exception):
    """Alerting cannot start as asked; the message says why."""


def add_alert_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "alerts",
        "Rules: built-in defaults, then ~/.config/autoglm-tui/rules.toml, then each --rules "
        "FILE (same name replaces). Check a file with 'autoglm-tui rules check FILE'.",
    )
    g.add_argument("--rules", action="append", default=[], metavar="FILE",
                   help="alert rules file (TOML, one [[rule]] table per rule; repeatable)")
    g.add_argument("--alert-log", metavar="PATH",
                   help="append-only JSON-lines alert log (default "
                   "~/.local/share/autoglm-tui/alerts.jsonl)")
    g.add_argument("--alertmanager", metavar="URL",
                   help="push firing and resolved alerts to this Alertmanager "
                   "(e.g. http://127.0.0.1:9093)")
    g.add_argument("--log-pending", action="store_true",
                   help="also log alerts that go pending and end without firing (off by "
                   "default: on a busy fleet they flip hundreds of times a minute)")
    g.add_argument("--no-alerts", action="store_true",
                   help="do not evaluate alert rules (no log, no Alertmanager)")


def scope_of(args: argparse.Namespace) -> str:
    """What a monitor started with `args` watches, as its alert log lines name it: "local"
    (this host), else its sources ("etcd HOST:PORT /prefix/", "hosts a,b", "hosts-file PATH",
    "prometheus URL"). A restart restores only the alerts of the same scope, so the local view
    and each cluster can share the default log without taking over each other's alerts."""
    parts = []
    if getattr(args, "etcd", None):
        parts.append(f"etcd {args.etcd} {getattr(args, 'prefix', '')}".rstrip())
    if getattr(args, "hosts", None):
        hosts = sorted({h.strip() for h in str(args.hosts).split(",") if h.strip()})
        parts.append(f"hosts {','.join(hosts)}")  # in any order, the same hosts
    if getattr(args, "hosts_file", None):
        parts.append(f"hosts-file {os.path.abspath(args.hosts_file)}")
    if getattr(args, "prometheus", None):
        parts.append(f"prometheus {args.prometheus}")
    return clean(" + ".join(parts), 500) if parts else "local"


def pipeline_from_args(
    args: argparse.Namespace, ephemeral: bool = False
) -> AlertPipeline | None:
    """The pipeline the options ask for (None with --no-alerts). `ephemeral` (a demo) writes
    no alert log unless --alert-log names one and keeps silences in memory."""
    if getattr(args, "no_alerts", False):
        return None
    from autoglm_tui.alerting.alert_log import LogInUse
    from autoglm_tui.alerting.pipeline import build_pipeline
    from autoglm_tui.analysis.alerts import RulesFileError

    try:
        return build_pipeline(
            list(getattr(args, "rules", []) or []),
            alert_log=getattr(args, "alert_log", None),
            alertmanager_url=getattr(args, "alertmanager", None),
            ephemeral=ephemeral,
            log_pending=bool(getattr(args, "log_pending", False)),
            scope=scope_of(args),
        )
    except RulesFileError as exc:
        n = len(exc.errors)
        raise AlertSetupError(
            f"the alert rules do not load ({n} error{'s' if n != 1 else ''}):\n{exc}\n"
            "Fix the file, check it with 'autoglm-tui rules check FILE', or start with "
            "--no-alerts."
        ) from None
    except LogInUse as exc:
        raise AlertSetupError(
            f"the alert log {exc.path} is in use by "
            f"{f'pid {exc.holder}' if exc.holder else 'another autoglm-tui'} (one writer per "
            "log). Give this monitor its own --alert-log PATH, or start it with --no-alerts."
        ) from None
    except ValueError as exc:
        raise AlertSetupError(f"--alertmanager: {exc}") from None
    except OSError as exc:
        raise AlertSetupError(f"cannot open the alert log: {exc}") from None


def close_pipeline(pipeline: AlertPipeline | None, flush_s: float = 2.0) -> None:
    """After the UI has exited: deliver queued alerts briefly, write what the log holds (and
    say on stderr what could not be written: a full disk at exit loses those lines)."""
    if pipeline is None:
        return
    try:
        asyncio.run(pipeline.aclose(flush_s))
    except Exception:  # leaving must not fail because a sink misbehaves
        pipeline.close(flush_s)
    log = pipeline.log
    if log is not None:
        health = log.health()
        if health.queued:
            print(f"autoglm-tui: {health.queued} alert log record(s) could not be written to "
                  f"{log.path} ({health.error or 'still queued'})", file=sys.stderr)
