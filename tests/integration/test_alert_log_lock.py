"""Several monitors and the default alert log: one writer per file (flock), the second one
writes its own alerts-2.jsonl and says why, and rotation never sends a writer into another's
file. Real processes, a real file system; an explicit --alert-log that is taken is a clear
error from the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from autoglm_tui import paths
from autoglm_tui.alerting.alert_log import read_log

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# A writer: opens the default log as the monitor does (small files, so it rotates), says which
# file it got, then appends "write N" records tagged with its name on command.
WRITER = textwrap.dedent(
    """
    import json, sys
    from autoglm_tui import paths
    from autoglm_tui.alerting.pipeline import open_default_log

    name = sys.argv[1]
    log, notice = open_default_log(paths.default_alert_log(), max_bytes=4096, backups=100)
    print(json.dumps({"path": str(log.path), "notice": notice}), flush=True)
    n = 0
    for line in sys.stdin:
        for _ in range(int(line.split()[1])):
            n += 1
            log.submit({"kind": "alert", "node": name, "n": n, "pad": "x" * 60})
        log.flush()
        print("ok", flush=True)
    log.close()
    """
)


class Writer:
    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, name], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert first, self.proc.stderr.read() if self.proc.stderr else ""
        info = json.loads(first)
        self.path = Path(info["path"])
        self.notice: str | None = info["notice"]

    def write(self, n: int) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"write {n}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO))
    return env


def test_a_second_monitor_writes_its_own_log_and_rotation_stays_apart(tmp_path: Path) -> None:
    env = _env(tmp_path)
    default = paths.default_alert_log(env)
    first = Writer("a", env)
    second = None
    try:
        assert first.path == default and first.notice is None
        second = Writer("b", env)
        assert second.path == default.with_name("alerts-2.jsonl")
        assert second.notice == (f"alerts.jsonl is in use by pid {first.proc.pid}: "
                                 "this monitor logs to alerts-2.jsonl")
        for _ in range(10):  # interleaved; each writer rotates several times
            first.write(40)
            second.write(40)
    finally:
        first.stop()
        if second is not None:
            second.stop()
    for path, name in ((default, "a"), (second.path, "b")):
        records = list(read_log(path, include_rotated=True))
        assert Counter(r["node"] for r in records) == {name: 400}  # none strayed, none lost
        assert [r["n"] for r in records] == list(range(1, 401))
        rotated = list(path.parent.glob(path.name + ".*"))
        assert len(rotated) >= 3
        assert all(f.stat().st_size <= 4096 for f in [path, *rotated])

    # once the first monitor is gone, the default is free again
    third = Writer("c", env)
    try:
        assert third.path == default and third.notice is None
    finally:
        third.stop()


def test_an_explicit_log_in_use_is_a_clear_error(tmp_path: Path) -> None:
    env = _env(tmp_path)
    holder = Writer("a", env)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "autoglm_tui", "local", "--alert-log", str(holder.path)],
            capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        holder.stop()
    assert out.returncode == 2
    assert (f"the alert log {holder.path} is in use by pid {holder.proc.pid} (one writer per "
            "log). Give this monitor its own --alert-log PATH, or start it with --no-alerts."
            ) in out.stderr
