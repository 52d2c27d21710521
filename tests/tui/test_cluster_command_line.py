"""Command-line parsing and completion, and the breadcrumb's narrow-terminal form (pure parts)."""

from __future__ import annotations

import pytest

from autoglm_tui.tui.screens.nav import COMMANDS
from autoglm_tui.tui.widgets.breadcrumb import render_trail, trail
from autoglm_tui.tui.widgets.command_line import (
    CommandError,
    common_prefix,
    complete,
    parse,
)


def values(command: str, index: int, args: list[str]) -> list[str]:
    if command == "node":
        return ["dgx-01", "dgx-02", "infer 7"]
    if command == "gpu":
        return ["dgx-01", "dgx-02"] if index == 0 else ["0", "1"]
    return []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [c.name for c in COMMANDS]),  # command names in the table's order
        (":g", ["gpus", "gpu", "group"]),
        ("no", ["nodes", "node"]),
        ("node ", ["node 'infer 7'", "node dgx-01", "node dgx-02"]),  # argument values sorted
        ("node d", ["node dgx-01", "node dgx-02"]),
        ("node i", ["node 'infer 7'"]),
        ("gpu dgx-02 ", ["gpu dgx-02 0", "gpu dgx-02 1"]),
        ("gpu dgx-02 1 ", []),  # no third argument
        ("nodes ", []),
        ("zzz ", []),
        ("node 'unclosed", []),
    ],
)
def test_complete(text: str, expected: list[str]) -> None:
    assert complete(text, COMMANDS, values) == expected


def test_parse_resolves_prefixes_and_aliases() -> None:
    assert parse(":gpus", COMMANDS)[0].name == "gpus"
    assert parse("al", COMMANDS)[0].name == "alerts"
    assert parse("q", COMMANDS)[0].name == "quit"
    cmd, args = parse("node 'infer 7'", COMMANDS)
    assert (cmd.name, args) == ("node", ["infer 7"])
    for bad, words in (("", "empty"), ("gp", "ambiguous"), ("x", "unknown command"),
                       ("node 'a", "cannot read")):
        with pytest.raises(CommandError, match=words):
            parse(bad, COMMANDS)


def test_common_prefix() -> None:
    assert common_prefix(["node dgx-01", "node dgx-02"]) == "node dgx-0"
    assert common_prefix([]) == ""


class _S:
    def __init__(self, crumb: object) -> None:
        self.crumb = crumb


def test_breadcrumb_drops_old_parts_when_narrow() -> None:
    parts = trail([_S("cluster"), _S(None), _S("node-07\x1b[2J"), _S("GPU 3"), _S("pid 4121")])
    assert parts == ["cluster", "node-07 [2J", "GPU 3", "pid 4121"]
    assert render_trail(parts, 80).plain == "cluster › node-07 [2J › GPU 3 › pid 4121"
    assert render_trail(parts, 24).plain == "… › GPU 3 › pid 4121"
    assert render_trail(parts, 5).plain == "… › pid 4121"
