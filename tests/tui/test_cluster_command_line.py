"""Command-line parsing and completion, and the breadcrumb's narrow-terminal form (pure parts)."""

from __future__ import annotations

import pytest

from autoglm_tui.tui.intents import (
    OpenAlerts,
    OpenDiagnosis,
    OpenGpu,
    OpenNode,
    OpenNodes,
    OpenProcess,
    OpenService,
    trail,
)
from autoglm_tui.tui.screens.commands import COMMANDS
from autoglm_tui.tui.widgets.breadcrumb import render_trail
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


def test_breadcrumb_drops_old_parts_when_narrow() -> None:
    evil = "node-07\x1b[2J"
    parts = trail([OpenNodes(), OpenNode(evil), OpenGpu(evil, 3), OpenProcess(evil, 4121)])
    assert parts == ["cluster", "node-07 [2J", "GPU 3", "pid 4121"]
    assert render_trail(parts, 80).plain == "cluster › node-07 [2J › GPU 3 › pid 4121"
    assert render_trail(parts, 24).plain == "… › GPU 3 › pid 4121"
    assert render_trail(parts, 5).plain == "… › pid 4121"


def test_a_place_reached_by_a_jump_names_its_node() -> None:
    parts = trail([OpenNodes(), OpenAlerts(), OpenGpu("dgx-01", 3), OpenProcess("dgx-01", 7)])
    assert parts == ["cluster", "alerts", "dgx-01 GPU 3", "pid 7"]


def test_the_places_declared_for_the_next_screens() -> None:
    parts = trail([OpenNodes(), OpenNode("dgx-01"), OpenService("dgx-01", "vllm:8000"),
                   OpenDiagnosis("dgx-01")])
    assert parts == ["cluster", "dgx-01", "vllm:8000", "diagnosis"]
    assert trail([OpenNodes(), OpenAlerts(), OpenService("dgx-01")]) == [
        "cluster", "alerts", "dgx-01 services"]
    assert OpenService("n", "s").parent().place == OpenNode("n").place  # type: ignore[union-attr]
    assert OpenDiagnosis().parent() is None  # the fleet's diagnosis hangs off the root
