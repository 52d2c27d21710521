"""Rules files: TOML text in, validated rules out, every error with its line (pure).

A rules file holds one ``[[rule]]`` table per rule::

    [[rule]]
    name = "gpu_util_high"
    metric = "gpu.util_pct"
    op = ">"
    threshold = 85
    for = "3m"
    severity = "warning"

This module checks the keys every kind shares (name, kind, severity, for, labels...); each
kind's module checks its own. A table that says ``enabled = false`` only switches a rule off
(usually a built-in one of the same name), so it needs nothing else: the keys it does write
are still checked. tomllib reports no line for semantic errors, so each ``[[rule]]`` table's
line, and each key's, is found by scanning the text. Reading files is not done here (see
``autoglm_tui/alerting/rule_files.py``).
"""

from __future__ import annotations

import re
import sys
from typing import Any

from autoglm_tui import metrics
from autoglm_tui.analysis.alerts.fields import (
    LABEL_RE,
    duration,
    is_int,
    string_table,
    suggest,
)
from autoglm_tui.analysis.alerts.kind import Checks, RuleKind
from autoglm_tui.analysis.alerts.kinds import KINDS
from autoglm_tui.analysis.alerts.rule import AGGS, RESERVED_LABELS, SEVERITIES, Rule, RuleError
from autoglm_tui.analysis.alerts.summary import check_template
from autoglm_tui.analysis.services import COUNT_OF, NODE_AGG
from autoglm_tui.metrics import Scope

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

KIND_NAMES = tuple(k.name for k in KINDS)
_BY_NAME: dict[str, RuleKind] = {k.name: k for k in KINDS}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_:.\-]*$")
_TOML_POS_RE = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER_RE = re.compile(r"^\s*\[\[\s*rule\s*\]\]\s*(#.*)?$")
_ANY_HEADER_RE = re.compile(r"^\s*\[\[?\s*[A-Za-z0-9_\"'.\- ]+\]\]?\s*(#.*)?$")

COMMON_KEYS = frozenset(
    {"name", "kind", "severity", "summary", "labels", "for", "keep_firing_for", "match",
     "enabled"}
)
_ALL_KEYS = COMMON_KEYS.union(*(k.keys for k in KINDS))
_TOP_KEYS = frozenset({"rule", "use_defaults"})


def parse_rules(text: str, source: str = "<rules>") -> tuple[list[Rule], list[RuleError], bool]:
    """Parse and validate a rules file's text.

    Returns (rules, errors in line order, use_defaults). Rules with errors are left out; the
    caller decides whether any error is fatal (start-up treats every error as fatal).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_POS_RE.search(msg)
        line = int(m.group(1)) if m else 0
        msg = _TOML_POS_RE.sub("", msg).strip()
        return [], [RuleError(source, line, f"TOML syntax error: {msg}")], True
    lines = text.splitlines()
    errors: list[RuleError] = []
    use_defaults = True
    for key in data:
        if key not in _TOP_KEYS:
            errors.append(
                RuleError(source, _top_key_line(lines, key), f"unknown top-level key {key!r}"
                          + suggest(key, _TOP_KEYS) + "; rules go in [[rule]] tables")
            )
    if "use_defaults" in data:
        if isinstance(data["use_defaults"], bool):
            use_defaults = data["use_defaults"]
        else:
            errors.append(RuleError(source, _top_key_line(lines, "use_defaults"),
                                    "use_defaults must be true or false"))
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        errors.append(RuleError(source, _top_key_line(lines, "rule"),
                                "'rule' must be written as [[rule]] tables"))
        return [], _in_line_order(errors), use_defaults
    spans = _rule_spans(lines, len(raw_rules))
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules):
        start, end = spans[i]
        rule_errors: list[str] = []
        key_errors: list[tuple[str, str]] = []
        rule = build_rule(raw, source, start, rule_errors, key_errors)
        name = raw.get("name") if isinstance(raw.get("name"), str) else None
        if name is not None and name in seen:
            key_errors.insert(0, ("name", "duplicate rule name (first defined at "
                                          f"line {seen[name]})"))
            rule = None
        elif name is not None:
            seen[name] = start
        for key, msg in key_errors:
            errors.append(RuleError(source, _key_line(lines, key, start, end) or start, msg, name))
        for msg in rule_errors:
            errors.append(RuleError(source, start, msg, name))
        if rule is not None:
            rules.append(rule)
    return rules, _in_line_order(errors), use_defaults


def build_rule(
    raw: dict[str, object],
    source: str,
    line: int,
    errors: list[str],
    key_errors: list[tuple[str, str]],
) -> Rule | None:
    """Validate one [[rule]] table; problems go to `errors` / `key_errors` (key, message)."""

    def bad(key: str, msg: str) -> None:
        key_errors.append((key, msg))

    switch_off = raw.get("enabled") is False

    def missing(msg: str) -> None:
        if not switch_off:  # a table that only switches a rule off needs nothing more
            errors.append(msg)

    name = raw.get("name")
    if not isinstance(name, str) or not name:
        errors.append("missing 'name' (every rule needs a unique name)")
        name = None
    elif not _NAME_RE.match(name):
        bad("name", f"bad name {name!r}: use letters, digits, '_', ':', '.', '-'")
        name = None

    kind_name = raw.get("kind")
    if kind_name is None:
        implied = [k.name for k in KINDS if k.implied_by and k.implied_by in raw]
        kind_name = implied[0] if implied else "threshold"
    kind = _BY_NAME.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        bad("kind", f"unknown kind {kind_name!r}; one of {', '.join(KIND_NAMES)}")
        return None

    allowed = COMMON_KEYS | kind.keys
    for key in raw:
        if key not in allowed:
            hint = suggest(key, allowed)
            if not hint and key in _ALL_KEYS:
                hint = f" (not used by kind {kind.name!r})"
            bad(key, f"unknown key {key!r}{hint}")

    kw: dict[str, Any] = {"kind": kind.name, "source": source, "line": line}
    n_errors = len(errors) + len(key_errors)
    _common(raw, bad, kw)
    kind.parse(raw, Checks(bad, missing), kw)
    _scope(raw, bad, kw)
    if "summary" in raw:
        problem = check_template(raw["summary"])
        if problem:
            bad("summary", f"'summary': {problem}")
        else:
            kw["summary"] = raw["summary"]

    if name is None or len(errors) + len(key_errors) > n_errors:
        return None
    try:
        return Rule(name=name, **kw)
    except (TypeError, ValueError) as exc:  # pragma: no cover - guarded above
        errors.append(str(exc))
        return None


def _common(raw: dict[str, object], bad: Any, kw: dict[str, Any]) -> None:
    """severity, for, keep_firing_for, enabled, labels, match."""
    severity = raw.get("severity", "warning")
    if severity not in SEVERITIES:
        bad("severity", f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    kw["severity"] = severity

    for key, attr in (("for", "for_s"), ("keep_firing_for", "keep_firing_for_s")):
        if key in raw:
            d = duration(raw[key])
            if isinstance(d, str):
                bad(key, f"'{key}': {d}")
            else:
                kw[attr] = d

    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        bad("enabled", "'enabled' must be true or false")
    kw["enabled"] = enabled is not False

    for key in ("labels", "match"):
        if key in raw:
            pairs = string_table(raw[key])
            if isinstance(pairs, str):
                bad(key, f"'{key}': {pairs}")
                continue
            for k, _ in pairs:
                if not LABEL_RE.match(k):
                    bad(key, f"'{key}': bad label name {k!r} (letters, digits and '_')")
                elif key == "labels" and k in RESERVED_LABELS:
                    bad(key, f"'labels': {k!r} is set by the engine; pick another name")
            kw[key] = pairs


def _scope(raw: dict[str, object], bad: Any, kw: dict[str, Any]) -> None:
    """Where the alert attaches (`scope`, default the metric's own), `agg` over it, and
    `min_requests` for service figures."""
    metric = kw.get("metric")
    names = [metric] if metric else [c.metric for c in kw.get("conditions", ())]
    scopes = {metrics.scope_of(n) for n in names} - {Scope.NODE}
    mixed = len(scopes) > 1  # a joint rule over two kinds of members: checked per node
    metric_scope = scopes.pop() if len(scopes) == 1 else Scope.NODE
    scope = metric_scope
    if "scope" in raw:
        try:
            scope = Scope(raw["scope"])
        except ValueError:
            bad("scope", "'scope' must be \"node\", \"gpu\", \"proc\" or \"service\"")
        else:
            if scope != metric_scope and scope != Scope.NODE:
                bad("scope", f"a {metric_scope.value} metric can be checked per "
                    f"{metric_scope.value} or per node, not per {scope.value}")
                scope = metric_scope
    kw["scope"] = scope
    if "agg" in raw:
        if raw["agg"] not in AGGS:
            bad("agg", f"'agg' must be one of {', '.join(AGGS)}")
        elif scope == metric_scope and not mixed:
            bad("agg", "'agg' needs scope = \"node\" on a GPU, process or service metric")
        else:
            kw["agg"] = raw["agg"]
    elif scope != metric_scope and metric in NODE_AGG:
        # A service metric per node, with no agg: as the node-level value is made (summed
        # rates and counts, the worst latency, error rate and KV cache, the lowest svc.up).
        kw["agg"] = NODE_AGG[metric]
    if "min_requests" in raw:
        n = raw["min_requests"]
        if not is_int(n) or n < 0:  # type: ignore[operator]
            bad("min_requests", "'min_requests' must be a whole number, 0 or more")
        elif not names or any(name not in COUNT_OF for name in names):
            bad("min_requests", "'min_requests' applies to service latency and error-rate "
                "metrics (svc.latency_*, svc.ttft_*, svc.itl_*, svc.queue_time_*, "
                "svc.error_rate)")
        else:
            kw["min_requests"] = n


# ---------------------------------------------------------------------------- line lookup


def _in_line_order(errors: list[RuleError]) -> list[RuleError]:
    """Errors by line (those that cannot be placed first); stable within a line."""
    return sorted(errors, key=lambda e: e.line)


def _rule_spans(lines: list[str], count: int) -> list[tuple[int, int]]:
    """(header line, line after the table) of each [[rule]] table, 1-based; (0, 0) if unknown."""
    starts = [i + 1 for i, text in enumerate(lines) if _HEADER_RE.match(text)]
    if len(starts) != count:
        return [(0, 0)] * count
    spans = []
    for start in starts:
        end = len(lines) + 1
        for j in range(start, len(lines)):  # lines[j] is line j + 1
            if _ANY_HEADER_RE.match(lines[j]):
                end = j + 1
                break
        spans.append((start, end))
    return spans


def _key_line(lines: list[str], key: str, start: int, end: int) -> int:
    """The 1-based line where `key = ...` is written inside a table, 0 if not found."""
    if not start:
        return 0
    k = re.escape(key)
    pat = re.compile(rf"^\s*(?:{k}|\"{k}\"|'{k}')\s*[=.]")
    for n in range(start + 1, min(end, len(lines) + 1)):
        if pat.match(lines[n - 1]):
            return n
    return 0


def _top_key_line(lines: list[str], key: str) -> int:
    pat = re.compile(rf"^\s*(?:\[+\s*)?{re.escape(key)}\s*[=\]]")
    for i, text in enumerate(lines):
        if pat.match(text):
            return i + 1
    return 0
