"""The Done-when of live alerts, end to end: the real local view in tmux, a real CPU burner,
the alert log on disk, and a real Alertmanager queried back through its API.

A rules file says `proc.cpu_pct > 25 for 3s`; the test starts a process that spins, sees the
alert go pending then firing on screen, in the log and in Alertmanager, stops the process (by
PID) and sees it resolve in all three.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from autoglm_tui.alerting.alert_log import read_log
from tests.integration.alertmanager_fixture import AlertmanagerServer, alertmanager_missing

pytestmark = pytest.mark.e2e

CLI = Path(sys.executable).with_name("autoglm-tui")
RULES = """
[[rule]]
name = "cpu_burn"
metric = "proc.cpu_pct"
op = ">"
threshold = 25
for = "3s"
severity = "critical"
summary = "pid {pid} ({command}) burns {value:.0f}% CPU"
"""
BURN = "import sys\nwhile True:\n    pass\n"


class Tmux:
    """A private tmux server running one program in one pane."""

    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"autoglm-alert-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.env = env

    def run(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-u", "-L", self.socket, "-f", "/dev/null", *args],
                             capture_output=True, text=True, env=self.env, timeout=20)
        if out.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {out.stderr.strip()}")
        return out.stdout

    def start(self, width: int, height: int, command: list[str]) -> None:
        wrapper = ["sh", "-c", '"$@"; echo "autoglm-exit=$?"; sleep 30', "sh", *command]
        self.run("new-session", "-d", "-x", str(width), "-y", str(height), "-s", "main", "--",
                 *wrapper)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "main")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "main", *keys)

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; the screen was:\n{text}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=10)


def _log(path: Path) -> list[dict[str, Any]]:
    return list(read_log(path))  # whole lines only; a missing file reads as empty


def _wait(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Tmux, AlertmanagerServer, Path]]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/test.sh installs it)")
    if not CLI.exists():
        pytest.skip(f"{CLI} is missing: install the package into this venv (pip install -e .)")
    why = alertmanager_missing()
    if why:
        pytest.skip(why)
    am = AlertmanagerServer(tmp_path / "am")
    am.start()
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": str(home),
           "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
           "XDG_STATE_HOME": str(home / "state")}
    tmux = Tmux(env)
    try:
        yield tmux, am, tmp_path
    finally:
        tmux.kill()
        am.stop()


def test_cpu_burner_pending_firing_alertmanager_resolved(
    setup: tuple[Tmux, AlertmanagerServer, Path],
) -> None:
    tmux, am, tmp = setup
    rules = tmp / "rules.toml"
    rules.write_text(RULES)
    log = tmp / "alerts.jsonl"
    tmux.start(140, 45, [str(CLI), "local", "--rules", str(rules), "--alert-log", str(log),
                         "--alertmanager", am.url, "--interval", "0.5"])
    tmux.wait_for(lambda s: "Processes" in s and "PID" in s, "the local view")

    burner = subprocess.Popen([sys.executable, "-c", BURN, "autoglm-e2e-burner"])
    try:
        pid = burner.pid

        def ours() -> list[dict[str, Any]]:
            return [r for r in _log(log) if r.get("kind") == "alert"
                    and r.get("rule") == "cpu_burn" and r.get("pid") == pid]

        firing = _wait(lambda: [r for r in ours() if r["state"] == "firing"],
                       "the firing line in the alert log")
        lines = ours()
        states = [r["state"] for r in lines]
        at = states.index("firing")
        # On a loaded machine the burner may dip under the threshold before it holds long
        # enough (pending -> inactive -> pending); the firing line always follows a pending one.
        assert at >= 1 and states[at - 1] == "pending", states
        assert set(states[:at]) <= {"pending", "inactive"}, states
        pending, fired = lines[at - 1], firing[0]
        assert fired["t"] - pending["t"] >= 3.0  # `for = "3s"` held in between
        assert fired["value"] > 25 and fired["node"] and fired["severity"] == "critical"
        assert "autoglm-e2e-burner" in fired["command"]
        assert f"pid {pid}" in fired["summary"]

        screen = tmux.wait_for(lambda s: "FIRING" in s and "cpu_burn" in s and str(pid) in s,
                               "the firing alert on screen")
        assert "Traceback" not in screen

        got = am.wait_alerts(lambda a: any(x["labels"].get("pid") == str(pid) for x in a))
        alert = next(x for x in got if x["labels"].get("pid") == str(pid))
        assert alert["labels"]["alertname"] == "cpu_burn"
        assert alert["labels"]["severity"] == "critical"
        assert alert["status"]["state"] == "active"
        assert f"pid {pid}" in alert["annotations"]["summary"]
    finally:
        os.kill(burner.pid, signal.SIGTERM)
        burner.wait(timeout=10)

    resolved = _wait(lambda: [r for r in ours() if r["state"] == "resolved"],
                     "the resolved line in the alert log")
    assert resolved[0]["reason"] == "process exited"
    after = [r["state"] for r in ours()]
    after = after[after.index("firing"):]
    assert after[:2] == ["firing", "resolved"]
    am.wait_alerts(lambda a: not any(x["labels"].get("pid") == str(pid) for x in a))
    tmux.wait_for(lambda s: "resolved" in s and "cpu_burn" in s, "the resolved alert on screen")

    tmux.keys("q")
    screen = tmux.wait_for(lambda s: "autoglm-exit=" in s, "the program to exit", timeout=15)
    assert "autoglm-exit=0" in screen


def test_broken_rules_file_is_a_clear_error_at_start(tmp_path: Path) -> None:
    if not CLI.exists():
        pytest.skip(f"{CLI} is missing: install the package into this venv (pip install -e .)")
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "x"\nmetric = "gpu.utl"\nthreshold = 1\n')
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "c")}
    out = subprocess.run([str(CLI), "local", "--rules", str(rules), "--alert-log",
                          str(tmp_path / "a.jsonl")], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"{rules}:3: rule 'x': unknown metric 'gpu.utl'" in out.stderr
    assert "did you mean 'gpu.util_pct'" in out.stderr
    check = subprocess.run([str(CLI), "rules", "check", str(rules)], capture_output=True,
                           text=True, timeout=60, env=env)
    assert check.returncode == 1
    assert "3 | metric = \"gpu.utl\"" in check.stdout
