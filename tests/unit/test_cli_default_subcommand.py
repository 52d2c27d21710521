"""`members --etcd X` and `rules --rules F` mean their `list` subcommand; alone (or with -h)
they print their help, as before."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from autoglm_tui.cli import with_default_subcommand

CLI = Path(sys.executable).with_name("autoglm-tui")


def test_an_option_where_the_subcommand_goes_means_list() -> None:
    assert with_default_subcommand(["members", "--etcd", "h:1"]) == \
        ["members", "list", "--etcd", "h:1"]
    assert with_default_subcommand(["members", "--profile", "prod", "--etcd", "h:1"]) == \
        ["members", "--profile", "prod", "list", "--etcd", "h:1"]
    assert with_default_subcommand(["rules", "--profile=a", "--all"]) == \
        ["rules", "--profile=a", "list", "--all"]
    for unchanged in (["members"], ["members", "-h"], ["members", "--help"],
                      ["members", "forget", "n1", "--etcd", "h:1"], ["rules", "check", "f"],
                      ["cluster", "--etcd", "h:1"], ["members", "--profile", "prod"]):
        assert with_default_subcommand(unchanged) == unchanged


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_rules_with_options_lists_the_rules(tmp_path: Path) -> None:
    extra = tmp_path / "extra.toml"
    extra.write_text('[[rule]]\nname = "hot"\nkind = "threshold"\nmetric = "gpu.temp_c"\n'
                     'op = ">"\nthreshold = 80\n')
    listed = run(tmp_path, "rules", "list", "--rules", str(extra))
    bare = run(tmp_path, "rules", "--rules", str(extra))
    assert listed.returncode == 0, listed.stderr
    assert bare.returncode == 0, bare.stderr
    assert bare.stdout == listed.stdout and "hot" in bare.stdout
    alone = run(tmp_path, "rules")
    assert alone.returncode == 2 and "SUBCOMMAND" in alone.stdout
