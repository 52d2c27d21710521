"""The alert state survives a monitor killed with kill -9, and alerts end only for a reason.

Real parts: etcd, agents (processes), a monitor process (headless_monitor.py: the real
watcher, fleet state and the pipeline the command line builds, with a real alert log) and a real
Alertmanager whose notifications go to a webhook on loopback. Two agents are killed (FAILED,
``node_not_up`` fires); the monitor is killed with kill -9 and started again on the same log:
no resolve and no second firing in the log, one alert per node in Alertmanager throughout with
its startsAt unchanged, no resolved notification. Then one node is forgotten and the other
leaves gracefully: each alert ends with that reason, in the log and in Alertmanager's
notification.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from autoglm_tui.alerting.alert_log import read_log
from tests.integration.alertmanager_fixture import (
    AlertmanagerServer,
    WebhookSink,
    alertmanager_missing,
)
from tests.integration.discovery_helpers import REPO, AgentPool
from tests.integration.etcd_fixture import EtcdServer

pytestmark = pytest.mark.integration
LINGER_S = 2.0
RULES = """
[[rule]]
name = "node_not_up"
kind = "node"
for = "1s"
severity = "critical"
summary = "node {node} is {status}: {reason}"
"""


class MonitorProcess:
    """tests/integration/headless_monitor.py as a child process, stopped by PID."""

    def __init__(self, tmp: Path, name: str, *args: str) -> None:
        home = tmp / "home"  # never the user's own config, rules or silences
        env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(home),
               "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
               "XDG_STATE_HOME": str(home / "state")}
        self.out = tmp / f"{name}.out"
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.integration.headless_monitor", *args],
                cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            )

    def ready(self, timeout: float = 30.0) -> str:
        """The monitor's first line (``ready ...``), once it has read its log back."""
        assert until(lambda: b"\n" in self.out.read_bytes() or self.proc.poll() is not None,
                     timeout), self.output()
        line = self.out.read_text().splitlines()[0]
        assert line.startswith("ready"), self.output()
        return line

    def output(self) -> str:
        return self.out.read_text(errors="replace")[-3000:]

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def until(check: Callable[[], Any], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return bool(check())


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autoglm_tui", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def story(log: Path, node: str) -> list[tuple[str, str | None]]:
    """The node's node_not_up alert lines in the log: (state, reason)."""
    return [(r["state"], r.get("reason")) for r in read_log(log, include_rotated=True)
            if r.get("kind") == "alert" and r.get("node") == node]


def in_am(am: AlertmanagerServer) -> dict[str, list[dict[str, Any]]]:
    """Alertmanager's active node_not_up alerts by node."""
    out: dict[str, list[dict[str, Any]]] = {}
    for a in am.alerts():
        if a["labels"].get("alertname") == "node_not_up":
            out.setdefault(a["labels"]["node"], []).append(a)
    return out


def resolved_notes(sink: WebhookSink, node: str) -> list[dict[str, Any]]:
    return [a for a in sink.alerts() if a["status"] == "resolved"
            and a["labels"].get("node") == node]


def test_a_monitor_killed_with_kill_9_keeps_its_alerts_and_they_end_for_a_reason(
    etcd_server: EtcdServer, agents: AgentPool, tmp_path: Path
) -> None:
    why = alertmanager_missing()
    if why:
        pytest.skip(why)
    sink = WebhookSink()
    am = AlertmanagerServer(tmp_path / "am", webhook=sink)
    am.start()
    monitors: list[MonitorProcess] = []
    try:
        ep = etcd_server.endpoint
        doomed = agents.start(ep, "doomed", ttl=2)
        retired = agents.start(ep, "retired", ttl=2)
        agents.start(ep, "steady", ttl=2)
        rules = tmp_path / "rules.toml"
        rules.write_text(RULES)
        log = tmp_path / "alerts.jsonl"
        args = ("--etcd", ep, "--alert-log", str(log), "--alertmanager", am.url,
                "--rules", str(rules), "--left-linger", str(LINGER_S))

        monitors.append(MonitorProcess(tmp_path, "first", *args))
        assert monitors[0].ready() == "ready restored 0 firing, 0 pending"
        seen = lambda: {r.get("node") for r in read_log(log) if r.get("kind") == "node_status"}  # noqa: E731
        assert until(lambda: seen() >= {"doomed", "retired", "steady"}), monitors[0].output()
        for agent in (doomed, retired):
            agent.signal(signal.SIGKILL)
            agent.wait(5)
        # (no pending line: pending alerts are logged only with --log-pending)
        assert until(lambda: story(log, "doomed") == story(log, "retired") == [
            ("firing", None)]), (story(log, "doomed"), monitors[0].output())
        am.wait_alerts(lambda got: len([a for a in got
                                        if a["labels"].get("alertname") == "node_not_up"]) == 2)
        before = in_am(am)
        starts = {n: a[0]["startsAt"] for n, a in before.items()}
        updated = {n: a[0]["updatedAt"] for n, a in before.items()}

        monitors[0].kill9()  # mid-run: nothing is closed, nothing is sent
        with open(log, "ab") as f:  # and as if the kill had cut a line short
            f.write(b'{"t":1790000000.0,"kind":"alert","rule":"node_not_up","sta')
        seen_in_am: list[dict[str, list[dict[str, Any]]]] = [in_am(am)]
        time.sleep(1.0)
        seen_in_am.append(in_am(am))
        monitors.append(MonitorProcess(tmp_path, "second", *args))
        assert monitors[1].ready() == "ready restored 2 firing, 0 pending (1 unreadable line)"
        # Once the registry lists the nodes again (FAILED), both go to Alertmanager again as
        # firing, with their original start (the resend check runs every 5 s).
        def resent() -> bool:
            seen_in_am.append(in_am(am))
            return all(a[0]["updatedAt"] != updated[n] for n, a in seen_in_am[-1].items())

        assert until(resent, 20), (seen_in_am[-1], monitors[1].output())
        time.sleep(LINGER_S + 1.0)  # a FAILED node outlives the linger time, and so does its alert
        seen_in_am.append(in_am(am))
        for snapshot in seen_in_am:  # one alert a node throughout, its start unchanged
            assert {n: [a["startsAt"] for a in alerts] for n, alerts in snapshot.items()} == {
                n: [s] for n, s in starts.items()}
        for node in ("doomed", "retired"):
            assert story(log, node) == [("firing", None)]
            assert not resolved_notes(sink, node)
        restated = [r for r in read_log(log) if r.get("kind") == "alert_snapshot"]
        assert [(r["why"], r["count"], r["restored"], r["skipped"]) for r in restated] == [
            ("restored at start", 0, 0, 0), ("restored at start", 2, 2, 1)]

        # An operator forgets one: its alert ends with that reason, in the log and in
        # Alertmanager's notification.
        done = cli("members", "forget", "doomed", "--etcd", ep, "--yes")
        assert done.returncode == 0, done.stderr
        assert until(lambda: story(log, "doomed")[-1:] == [
            ("resolved", "forgotten by operator")]), (story(log, "doomed"), monitors[1].output())
        assert until(lambda: resolved_notes(sink, "doomed")), sink.alerts()
        (note,) = resolved_notes(sink, "doomed")[-1:]
        assert note["annotations"]["resolved_because"] == "forgotten by operator"
        # the same instant (Alertmanager's API and its webhook write trailing zeros differently)
        assert _instant(note["startsAt"]) == _instant(starts["doomed"])
        # The other leaves gracefully (agent --leave after its crash): ended, "left gracefully".
        left = cli("agent", "--etcd", ep, "--node-id", "retired", "--leave")
        assert left.returncode == 0, left.stderr
        assert until(lambda: story(log, "retired")[-1:] == [("resolved", "left gracefully")]), \
            (story(log, "retired"), monitors[1].output())
        assert until(lambda: resolved_notes(sink, "retired")), sink.alerts()
        assert resolved_notes(sink, "retired")[-1]["annotations"]["resolved_because"] == \
            "left gracefully"
        assert until(lambda: not in_am(am), 10), in_am(am)
        # The live node never paged; each alert fired once and ended once.
        assert story(log, "steady") == []
        assert story(log, "doomed") == [("firing", None), ("resolved", "forgotten by operator")]
        assert story(log, "retired") == [("firing", None), ("resolved", "left gracefully")]
    finally:
        for m in monitors:
            m.close()
        am.stop()
        sink.close()


def _instant(stamp: str) -> datetime:
    """An RFC 3339 time as an instant ('.36Z' and '.360Z' are the same)."""
    return datetime.fromisoformat(stamp)
