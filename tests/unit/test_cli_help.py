"""Every `--help` page is complete and fits an 80-column terminal (issue 15, item 18)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from autoglm_tui.cli import build_parser
from autoglm_tui.helpformat import fill_text, subcommands

WIDTH = 80


def all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    out: list[tuple[str, argparse.ArgumentParser]] = []
    todo = [build_parser()]
    while todo:
        parser = todo.pop()
        out.append((parser.prog, parser))
        todo.extend(sub for _, sub in subcommands(parser))
    return sorted(out, key=lambda item: item[0])


PARSERS = all_parsers()


def help_text(parser: argparse.ArgumentParser, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    return parser.format_help()


def test_every_command_is_reached() -> None:
    progs = {prog for prog, _ in PARSERS}
    for name in ("autoglm-tui cluster", "autoglm-tui rules check", "autoglm-tui rules list",
                 "autoglm-tui members forget", "autoglm-tui config show"):
        assert name in progs


@pytest.mark.parametrize("prog,parser", PARSERS, ids=[p for p, _ in PARSERS])
def test_help_is_complete_and_fits_80_columns(
    prog: str, parser: argparse.ArgumentParser, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = help_text(parser, monkeypatch)
    long = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not long, f"{prog} --help has lines over {WIDTH} columns: {long}"
    # argparse expands %% in an option's help, not in a description or epilog
    assert "%%" not in text, f"{prog} --help prints a doubled percent sign"
    assert parser.description, f"{prog} --help does not say what the command does"
    # the description is printed, wrapped, under the usage
    first_words = " ".join(parser.description.split()[:4])
    assert first_words in " ".join(text.split()), prog
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        name = "/".join(action.option_strings) or action.metavar or action.dest
        assert action.help, f"{prog}: {name} has no help text"


def test_cluster_description_is_wrapped_as_a_user_sees_it() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    out = subprocess.run([sys.executable, "-m", "autoglm_tui", "cluster", "--help"],
                         capture_output=True, text=True, env=env, timeout=60, check=True).stdout
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Multi-node view"))
    assert len(lines[start]) <= 80 and lines[start + 1].strip(), "description in one line"
    assert max(len(line) for line in lines) <= 80


def test_rules_subcommands_say_what_they_do() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    for sub, words in (("check", "print every error with its file and line"),
                       ("list", "the alert rules a monitor would use")):
        out = subprocess.run([sys.executable, "-m", "autoglm_tui", "rules", sub, "--help"],
                             capture_output=True, text=True, env=env, timeout=60,
                             check=True).stdout
        assert words in " ".join(out.split())
    assert "a rules file to check" in out or sub == "list"


def test_fill_text_refills_prose_and_keeps_tables() -> None:
    text = ("A long sentence that goes on and on past the edge of a narrow terminal window "
            "for sure.\nkeys:\n  q        quit\n  Enter    open the node, GPU or process under "
            "the cursor, wherever it is\n\nexamples:\n  autoglm-tui cluster --demo 64x8")
    out = fill_text(text, 40).splitlines()
    assert all(len(line) <= 40 for line in out)
    assert out[0].startswith("A long sentence") and "keys:" in out
    assert "  q        quit" in out  # a table line that fits keeps its spacing
    assert "  autoglm-tui cluster --demo 64x8" in out
    enter = out.index(next(line for line in out if line.startswith("  Enter")))
    assert out[enter + 1].startswith("    ")  # the rest of a long table line is indented
    assert "" in out  # the blank line between paragraphs stays
