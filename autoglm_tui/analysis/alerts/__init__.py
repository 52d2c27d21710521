"""Alerts (pure): rules parsed from TOML, evaluated over the fleet state, into alert events.

- ``rule.py``: the rule model (:class:`Rule`, :class:`RuleSet`, :class:`RuleError`).
- ``parse.py``: TOML text to validated rules, each error with its line.
- ``kind.py`` + ``kinds/``: one module per rule kind (threshold, zscore, peer, joint, node),
  each with its keys, checks, wording and evaluation; ``kinds/__init__.py`` registers them.
- ``model.py``: :class:`Alert`, :class:`AlertEvent`, :class:`AlertState`, :class:`Target`.
- ``summary.py``: summary templates. ``core.py``: compiled rules and the state machine.
- ``engine.py``: :class:`AlertEngine`. ``frame.py``: the per-tick columns all rules share.
  ``windows.py``: z-score windows.

Reading rules files is I/O and lives in ``autoglm_tui/alerting/rule_files.py``.
"""

from __future__ import annotations

from autoglm_tui.analysis.alerts.engine import AlertEngine
from autoglm_tui.analysis.alerts.model import (
    SEVERITY_RANK,
    Alert,
    AlertEvent,
    AlertState,
    Target,
    fingerprint,
)
from autoglm_tui.analysis.alerts.parse import parse_rules
from autoglm_tui.analysis.alerts.rule import (
    Condition,
    Rule,
    RuleError,
    RuleSet,
    RulesFileError,
)
from autoglm_tui.analysis.alerts.summary import render_summary

__all__ = [
    "SEVERITY_RANK",
    "Alert",
    "AlertEngine",
    "AlertEvent",
    "AlertState",
    "Condition",
    "Rule",
    "RuleError",
    "RuleSet",
    "RulesFileError",
    "Target",
    "fingerprint",
    "parse_rules",
    "render_summary",
]
