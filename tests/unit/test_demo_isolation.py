"""A demo touches no persistent state unless asked: no alert log, silences in memory; an
explicit --alert-log still works. The demo's fleet really raises alerts here, and a silence is
really made, so an empty home directory afterwards means something."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from autoglm_tui.alerting.alert_log import read_log
from autoglm_tui.alerting.cli import add_alert_args, close_pipeline, pipeline_from_args
from autoglm_tui.cluster.synthetic import SyntheticFleet
from autoglm_tui.monitor import Monitor


def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    return home


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_alert_args(parser)
    return parser.parse_args(list(argv))


def _run_demo(args: argparse.Namespace) -> tuple[int, int]:
    """A demo fleet through the alert pipeline for 200 s of its time; a silence is made on
    the first alert. Returns (alert events, silences made)."""
    pipeline = pipeline_from_args(args, ephemeral=True)
    assert pipeline is not None
    monitor = Monitor()
    pipeline.install(monitor)
    fleet = SyntheticFleet(nodes=8, gpus=4, interval_s=1.0)
    t = 1_700_000_000.0
    for event in fleet.join_events(t):
        monitor.apply(event)
    silenced = 0
    for _ in range(200):
        t += 1.0
        for event in fleet.tick_events(t):
            monitor.apply(event)
        monitor.tick(t)
        rows = pipeline.rows()
        if rows and not silenced:
            pipeline.silence(rows[0].alert, 3600)
            pipeline.ack(rows[0].alert)
            silenced = 1
    events = len(pipeline.recent)
    close_pipeline(pipeline)
    return events, silenced


def test_a_demo_writes_nothing_under_home(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    home = _home(tmp_path, monkeypatch)
    events, silenced = _run_demo(_args())
    assert events > 0 and silenced == 1
    assert [str(p) for p in home.rglob("*")] == []


def test_a_demo_still_logs_where_it_is_told(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    home = _home(tmp_path, monkeypatch)
    log = tmp_path / "demo-alerts.jsonl"
    events, _ = _run_demo(_args("--alert-log", str(log)))
    assert [str(p) for p in home.rglob("*")] == []
    records = [r for r in read_log(log) if r["kind"] == "alert"]
    assert records and len(records) <= events
    # every event but the pending<->inactive flips of alerts that never fired (--log-pending)
    assert all(r["state"] in ("firing", "resolved") or r["fired_at"] for r in records)


def test_a_real_monitor_still_uses_the_default_files(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    home = _home(tmp_path, monkeypatch)
    pipeline = pipeline_from_args(_args())
    assert pipeline is not None and pipeline.log is not None
    assert pipeline.log.path == home / "xdg_data_home" / "autoglm-tui" / "alerts.jsonl"
    assert pipeline.silences.path == home / "xdg_state_home" / "autoglm-tui" / "silences.json"
    close_pipeline(pipeline)
    assert os.path.exists(pipeline.log.path)
