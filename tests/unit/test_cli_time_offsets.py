"""`--at -2m` (a time counted back from the end) is a value, not an unknown option."""

from __future__ import annotations

import pytest

from autoglm_tui.cli import build_parser, joined_offsets, parse


@pytest.mark.parametrize("command", [["replay", "fleet.jsonl"], ["diagnose", "fleet.jsonl"],
                                     ["advise", "--replay", "fleet.jsonl"]])
@pytest.mark.parametrize("offset", ["-2m", "-90", "-1h30m", "-0.5"])
def test_at_takes_a_time_before_the_end(command: list[str], offset: str) -> None:
    args = parse(build_parser(), [*command, "--at", offset])
    assert args.at == offset


def test_only_at_and_only_offsets_are_joined() -> None:
    assert joined_offsets(["replay", "f", "--at", "-2m", "--speed", "2"]) == [
        "replay", "f", "--at=-2m", "--speed", "2"]
    assert joined_offsets(["replay", "f", "--at", "--paused"]) == ["replay", "f", "--at",
                                                                    "--paused"]
    assert joined_offsets(["replay", "f", "--at", "+5m"]) == ["replay", "f", "--at", "+5m"]
    assert joined_offsets(["replay", "--", "--at", "-2m"]) == ["replay", "--", "--at", "-2m"]


def test_at_without_a_value_is_still_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(build_parser(), ["replay", "f.jsonl", "--at", "--paused"])
    assert exc.value.code == 2
    assert "argument --at: expected one argument" in capsys.readouterr().err
