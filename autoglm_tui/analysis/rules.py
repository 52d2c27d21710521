"""Alert rules: the model and the TOML parser, from :mod:`autoglm_tui.analysis.alerts`.

Kept as an import path for older code; new code imports from ``autoglm_tui.analysis.alerts``.
Loading rules files (the built-in defaults, the user's, ``--rules``) is I/O:
``autoglm_tui/alerting/rule_files.py``.
"""

from __future__ import annotations

from autoglm_tui.analysis.alerts.parse import KIND_NAMES as KINDS
from autoglm_tui.analysis.alerts.parse import parse_rules
from autoglm_tui.analysis.alerts.rule import (
    OPS,
    SEVERITIES,
    Condition,
    Rule,
    RuleError,
    RuleSet,
    RulesFileError,
)

__all__ = ["KINDS", "OPS", "SEVERITIES", "Condition", "Rule", "RuleError", "RuleSet",
           "RulesFileError", "parse_rules"]
