"""Reading alert rules files: the built-in defaults (package data), the user's file and
``--rules FILE``s, merged by rule name. Parsing and validation are pure
(:mod:`autoglm_tui.analysis.alerts.parse`); this module does the reading."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from autoglm_tui.analysis.alerts.parse import parse_rules
from autoglm_tui.analysis.alerts.rule import Rule, RuleError, RuleSet, RulesFileError

DEFAULT_RULES_RESOURCE = "default_rules.toml"


def load_rules_file(path: str | Path) -> tuple[list[Rule], bool]:
    """Read and validate one file; RulesFileError (with every error) if anything is wrong."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesFileError([RuleError(str(p), 0, "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesFileError([RuleError(str(p), 0, f"cannot read: {exc}")]) from None
    rules, errors, use_defaults = parse_rules(text, str(p))
    if errors:
        raise RulesFileError(errors)
    return rules, use_defaults


def default_rules_text() -> str:
    """The built-in rules file shipped as package data."""
    return (resources.files("autoglm_tui") / "data" / DEFAULT_RULES_RESOURCE).read_text("utf-8")


def default_rules() -> list[Rule]:
    rules, errors, _ = parse_rules(default_rules_text(), "<defaults>")
    if errors:  # pragma: no cover - the shipped file is tested
        raise RulesFileError(errors)
    return rules


def load_rule_set(paths: Iterable[str | Path], include_defaults: bool = True) -> RuleSet:
    """Defaults, then each existing file in order; RulesFileError on the first bad file.

    Any file may say ``use_defaults = false`` to drop the built-in rules.
    """
    loaded: list[tuple[str, list[Rule]]] = []
    for path in paths:
        rules, use_defaults = load_rules_file(path)
        include_defaults = include_defaults and use_defaults
        loaded.append((str(path), rules))
    rs = RuleSet()
    if include_defaults:
        rs.merge(default_rules(), "<defaults>")
    for source, rules in loaded:
        rs.merge(rules, source)
    return rs
