"""An option a command does not have is refused by that command: its name, its usage (which
lists the options it does have) and, for a near miss, the option meant. argparse alone printed
the top-level usage ("autoglm-tui: error: unrecognized arguments"), which lists none of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = Path(sys.executable).with_name("autoglm-tui")


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=60,
                          env=env, check=False)


@pytest.mark.parametrize(("args", "usage", "error"), [
    (("exporter", "--port", "9411"), "usage: autoglm-tui exporter",
     "autoglm-tui exporter: error: unrecognized arguments: --port 9411"),
    (("local", "--intervall", "2"), "usage: autoglm-tui local",
     "autoglm-tui local: error: unrecognized arguments: --intervall 2 (did you mean "
     "--interval?)"),
    (("members", "list", "--etcd", "127.0.0.1:1", "--bogus"), "usage: autoglm-tui members list",
     "autoglm-tui members list: error: unrecognized arguments: --bogus"),
    (("members", "--etcd", "127.0.0.1:1", "--bogus"), "usage: autoglm-tui members list",
     "autoglm-tui members list: error: unrecognized arguments: --bogus"),
    (("cluster", "--demo", "4", "--node-labl", "zone"), "usage: autoglm-tui cluster",
     "autoglm-tui cluster: error: unrecognized arguments: --node-labl zone (did you mean "
     "--node-label?)"),
])
def test_an_unknown_option_is_refused_by_its_command(
        tmp_path: Path, args: tuple[str, ...], usage: str, error: str) -> None:
    done = run(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(usage), done.stderr
    assert lines[-1] == error, done.stderr
    assert "--" in done.stderr.split("error:")[0].split(usage, 1)[1]  # its options are listed


def test_a_far_miss_gets_no_guess(tmp_path: Path) -> None:
    done = run(tmp_path, "snapshot", "--zzz")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == \
        "autoglm-tui snapshot: error: unrecognized arguments: --zzz"
