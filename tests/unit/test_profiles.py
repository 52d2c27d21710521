"""Config profiles over the real command-line parser: precedence, lists, switches, errors with
their line, secrets refused, and an option added to a command works with no extra code."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from autoglm_tui import cli, profiles


def run_with(tmp_path: Path, text: str, argv: list[str], monkeypatch: pytest.MonkeyPatch
             ) -> argparse.Namespace:
    path = tmp_path / "config.toml"
    path.write_text(text)
    monkeypatch.setenv(profiles.CONFIG_ENV, str(path))
    parser = cli.build_parser()
    args = parser.parse_args(argv)
    return profiles.resolve(parser, argv[0], argv[1:], args).args


PROD = """\
default = "prod"

[profile.prod]
prometheus = "http://prom:9090"
job = ["gpu", "dgx"]
theme = "light"
ssh-key = ["~/.ssh/id_ed25519"]
interval = 2
no_mouse = true
push-sampler = true

[profile.prod.agent]
interval = 10

[profile.lab]
etcd = "10.0.0.5:2379"
"""


def test_default_profile_fills_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    args = run_with(tmp_path, PROD, ["cluster"], monkeypatch)
    assert args.prometheus == "http://prom:9090"
    assert args.job == ["gpu", "dgx"]
    assert args.theme == "light"
    assert args.interval == 2.0  # through the option's own type
    assert args.no_mouse is True
    assert args.push == "always"
    assert args.ssh_key == [str(tmp_path / ".ssh/id_ed25519")]  # ~ expanded for a FILE
    assert args.etcd is None  # another profile's value stays out


def test_command_line_wins_and_replaces_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    args = run_with(tmp_path, PROD, ["cluster", "--theme", "dark", "--job", "solo",
                                     "--no-push-sampler", "--interval", "5"], monkeypatch)
    assert args.theme == "dark" and args.job == ["solo"]
    assert args.push == "never" and args.interval == 5.0


def test_named_profile_and_command_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    args = run_with(tmp_path, PROD, ["cluster", "--profile", "lab"], monkeypatch)
    assert args.etcd == "10.0.0.5:2379" and args.prometheus is None
    agent = run_with(tmp_path, PROD, ["agent"], monkeypatch)
    assert agent.interval == 10.0  # [profile.prod.agent] beats [profile.prod]


def test_origins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    path.write_text(PROD)
    monkeypatch.setenv(profiles.CONFIG_ENV, str(path))
    parser = cli.build_parser()
    argv = ["cluster", "--theme", "dark"]
    got = profiles.resolve(parser, "cluster", argv[1:], parser.parse_args(argv))
    assert str(got.origins["theme"]) == "command line"
    assert str(got.origins["prometheus"]) == f"profile prod ({path}:4)"
    assert str(got.origins["refresh"]) == "default"


@pytest.mark.parametrize(("text", "line", "message"), [
    ('[profile.p]\netc = "x"\n', 2, "unknown option 'etc' (did you mean 'etcd'?)"),
    ('[profile.p]\ninterval = "fast"\n', 2, "interval: not a number"),
    ('[profile.p]\ntheme = ["a", "b"]\n', 2, "theme takes one value"),
    ('[profile.p]\nno-mouse = "yes"\n', 2, "no-mouse is a switch"),
    ('\n[profile.p]\nalertmanager-password = "hunter2"\n', 3, "secrets are never kept"),
    ('default = "nope"\n[profile.p]\n', 1, "default profile 'nope' is not defined"),
    ('[profile.p\nx = 1\n', 1, "not valid TOML"),
    ('[profile.p.clusterr]\ntheme = "x"\n', 1, "no command called 'clusterr'"),
])
def test_bad_files_name_their_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
                                   line: int, message: str) -> None:
    with pytest.raises(profiles.ProfileError) as err:
        run_with(tmp_path, text, ["cluster", "--profile", "p"], monkeypatch)
    assert f"config.toml:{line}:" in str(err.value)
    assert message in str(err.value)


def test_missing_profile_and_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    with pytest.raises(profiles.ProfileError,
                       match=r"no such profile in .*\(profiles: lab, prod\)"):
        run_with(tmp_path, PROD, ["cluster", "--profile", "staging"], monkeypatch)
    monkeypatch.setenv(profiles.CONFIG_ENV, str(tmp_path / "absent.toml"))
    parser = cli.build_parser()
    with pytest.raises(profiles.ProfileError, match="there is no config file"):
        profiles.resolve(parser, "cluster", ["--profile", "x"],
                         parser.parse_args(["cluster", "--profile", "x"]))
    args = profiles.resolve(parser, "cluster", [], parser.parse_args(["cluster"])).args
    assert args.theme == "dark"  # no file, no profile: the defaults


def test_a_new_option_works_with_no_extra_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[profile.p]\nbrand-new = 7\nflags = ["a", "b"]\n')
    monkeypatch.setenv(profiles.CONFIG_ENV, str(path))
    parser = cli.build_parser()
    cluster = profiles.subparsers(parser)["cluster"]
    cluster.add_argument("--brand-new", type=int, choices=range(10))
    cluster.add_argument("--flags", action="append", default=[])
    argv = ["cluster", "--profile", "p"]
    args = profiles.resolve(parser, "cluster", argv[1:], parser.parse_args(argv)).args
    assert args.brand_new == 7 and args.flags == ["a", "b"]
    path.write_text('[profile.p]\nbrand-new = 12\n')
    with pytest.raises(profiles.ProfileError, match=r"config.toml:2: brand-new: .*invalid choice"):
        profiles.resolve(parser, "cluster", argv[1:], parser.parse_args(argv))


def test_sampler_ignores_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text("this is not toml [[[")
    monkeypatch.setenv(profiles.CONFIG_ENV, str(tmp_path / "config.toml"))
    parser = cli.build_parser()
    args = parser.parse_args(["sample", "--once"])
    assert profiles.apply_to_command_line(parser, ["sample", "--once"], args) is args


def test_config_show_prints_origins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(PROD)
    monkeypatch.setenv(profiles.CONFIG_ENV, str(path))
    assert cli.main(["config", "show", "--profile", "prod", "cluster", "--theme", "dark"]) == 0
    out = capsys.readouterr().out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("  --")}
    assert "dark" in lines["--theme"] and lines["--theme"].endswith("command line")
    assert "http://prom:9090" in lines["--prometheus"]
    assert lines["--prometheus"].endswith(f"profile prod ({path}:4)")
    assert lines["--refresh"].endswith("default")
    assert "profile:     prod (--profile)" in out
