"""Alert rules: parsed from TOML and validated, with the line of every error (pure).

A rules file holds one ``[[rule]]`` table per rule::

    [[rule]]
    name = "gpu_util_high"
    metric = "gpu.util_pct"
    op = ">"
    threshold = 85
    for = "3m"
    severity = "warning"

Kinds: ``threshold`` (the default), ``zscore`` (the current value against a sliding window of
its own history), ``peer`` (the value against its peers: the GPUs of a node, or a label group),
``node`` (the node's status is not UP) and ``joint`` (several ``when`` conditions at once, such
as the seed's HIGH_CONCURRENT_IO_PRESSURE). Files load in order (built-in defaults, the user's
config dir, ``--rules``); a rule with the name of an earlier one replaces it, and
``enabled = false`` switches it off. tomllib reports no line for semantic errors, so each
``[[rule]]`` table's line is found by scanning the text.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
import string
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from autoglm_tui import metrics
from autoglm_tui.events import NodeStatus
from autoglm_tui.format import parse_duration
from autoglm_tui.metrics import Scope

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
SEVERITIES = ("info", "warning", "critical")
KINDS = ("threshold", "zscore", "peer", "node", "joint")
AGGS = ("max", "min", "avg", "sum")
DIRECTIONS = ("both", "above", "below")
NOT_UP = tuple(s for s in NodeStatus if s != NodeStatus.UP)
# What a node rule watches unless it lists statuses: a node that is just CONNECTING is not one.
NODE_RULE_DEFAULT = (NodeStatus.STALE, NodeStatus.UNREACHABLE, NodeStatus.LEFT,
                     NodeStatus.INVALID, NodeStatus.FAILED)
RESERVED_LABELS = frozenset({"alertname", "severity", "node", "gpu", "pid"})
# Fields a summary template may use, e.g. "GPU {gpu} on {node} at {value:.0f}%".
TEMPLATE_FIELDS = frozenset(
    {
        "rule", "node", "gpu", "pid", "command", "target", "metric", "value", "op",
        "threshold", "for", "severity", "z", "mean", "std", "status", "reason", "values",
    }
)

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_:.\-]*$")
_LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WHEN_RE = re.compile(r"^\s*([a-z0-9_.]+)\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$")
_TOML_POS_RE = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER_RE = re.compile(r"^\s*\[\[\s*rule\s*\]\]\s*(#.*)?$")
_ANY_HEADER_RE = re.compile(r"^\s*\[\[?\s*[A-Za-z0-9_\"'.\- ]+\]\]?\s*(#.*)?$")

_COMMON_KEYS = frozenset(
    {"name", "kind", "severity", "summary", "labels", "for", "keep_firing_for", "match",
     "enabled"}
)
_KIND_KEYS: dict[str, frozenset[str]] = {
    "threshold": frozenset({"metric", "op", "threshold", "scope", "agg"}),
    "zscore": frozenset(
        {"metric", "window", "z", "min_samples", "min_std", "direction", "scope", "agg"}
    ),
    "peer": frozenset({"metric", "z", "min_peers", "min_std", "direction", "group"}),
    "node": frozenset({"statuses"}),
    "joint": frozenset({"when", "scope", "agg"}),
}
_ALL_KEYS = _COMMON_KEYS.union(*_KIND_KEYS.values())
_TOP_KEYS = frozenset({"rule", "use_defaults"})

DEFAULT_RULES_RESOURCE = "default_rules.toml"


@dataclass(frozen=True, slots=True)
class Condition:
    """``metric op threshold``: one comparison."""

    metric: str
    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        return OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {_num(self.threshold)}"


@dataclass(frozen=True)
class Rule:
    """One validated alert rule."""

    name: str
    kind: str = "threshold"
    metric: str | None = None
    op: str = ">"
    threshold: float | None = None
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    severity: str = "warning"
    summary: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    match: tuple[tuple[str, str], ...] = ()
    scope: Scope = Scope.NODE
    agg: str = "max"
    window_s: float = 600.0
    z: float = 3.0
    min_samples: int = 10
    min_std: float = 0.0
    direction: str = "both"
    group: str = "node"
    statuses: tuple[NodeStatus, ...] = NODE_RULE_DEFAULT
    conditions: tuple[Condition, ...] = ()
    enabled: bool = True
    source: str = "<defaults>"
    line: int = 0

    @property
    def metric_scope(self) -> Scope:
        """The scope the rule's metric (or its conditions) is measured on."""
        if self.kind == "node":
            return Scope.NODE
        names = [c.metric for c in self.conditions] if self.kind == "joint" else [self.metric]
        scopes = {metrics.scope_of(n) for n in names if n}
        scopes.discard(Scope.NODE)
        return scopes.pop() if scopes else Scope.NODE

    @property
    def aggregated(self) -> bool:
        """True when a per-GPU or per-process metric is reduced to one value per node."""
        return self.scope != self.metric_scope

    def describe(self, with_for: bool = True) -> str:
        """One line: what the rule checks (used by `rules list` and the alerts screen)."""
        hold = f" for {_dur(self.for_s)}" if self.for_s and with_for else ""
        if self.kind == "threshold":
            what = f"{self.metric} {self.op} {_num(self.threshold)}"
            if self.aggregated:
                what = f"{self.agg}({what.split(' ', 1)[0]}) {what.split(' ', 1)[1]}"
        elif self.kind == "zscore":
            what = f"|z| of {self.metric} over {_dur(self.window_s)} > {_num(self.z)}"
            if self.direction != "both":
                what += f" ({self.direction})"
        elif self.kind == "peer":
            what = f"{self.metric} deviates from peers ({self.group}) by z > {_num(self.z)}"
        elif self.kind == "node":
            what = "node status in " + "/".join(s.value for s in self.statuses)
        else:
            what = " and ".join(str(c) for c in self.conditions)
        return what + hold


@dataclass(frozen=True, slots=True)
class RuleError:
    """A problem found in a rules file; `line` is 1-based (0 when it cannot be placed)."""

    source: str
    line: int
    message: str
    rule: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        who = f" rule {self.rule!r}:" if self.rule else ""
        return f"{where}:{who} {self.message}"


class RulesFileError(Exception):
    """A rules file that does not load; carries every error found."""

    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass
class RuleSet:
    """The rules in force after merging files, plus where each came from."""

    rules: list[Rule] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def enabled(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]

    def merge(self, rules: Iterable[Rule], source: str) -> None:
        """Add `rules`; a rule with an existing name replaces the earlier one in place."""
        index = {r.name: i for i, r in enumerate(self.rules)}
        for rule in rules:
            if rule.name in index:
                self.rules[index[rule.name]] = rule
            else:
                index[rule.name] = len(self.rules)
                self.rules.append(rule)
        self.sources.append(source)


# ---------------------------------------------------------------------------- parsing


def parse_rules(text: str, source: str = "<rules>") -> tuple[list[Rule], list[RuleError], bool]:
    """Parse and validate a rules file's text.

    Returns (rules, errors, use_defaults). Rules with errors are left out; the caller decides
    whether any error is fatal (start-up treats every error as fatal).
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
                          + _suggest(key, _TOP_KEYS) + "; rules go in [[rule]] tables")
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
        return [], errors, use_defaults
    spans = _rule_spans(lines, len(raw_rules))
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules):
        start, end = spans[i]
        rule_errors: list[str] = []
        key_errors: list[tuple[str, str]] = []
        rule = _build_rule(raw, source, start, rule_errors, key_errors)
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
    return rules, errors, use_defaults


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
    from importlib import resources

    return (resources.files("autoglm_tui") / "data" / DEFAULT_RULES_RESOURCE).read_text("utf-8")


def default_rules() -> list[Rule]:
    rules, errors, _ = parse_rules(default_rules_text(), "<defaults>")
    if errors:  # pragma: no cover - the shipped file is tested
        raise RulesFileError(errors)
    return rules


def load_rule_set(
    paths: Iterable[str | Path], include_defaults: bool = True
) -> RuleSet:
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


# ---------------------------------------------------------------------------- building


def _build_rule(
    raw: dict[str, object],
    source: str,
    line: int,
    errors: list[str],
    key_errors: list[tuple[str, str]],
) -> Rule | None:
    """Validate one [[rule]] table; problems go to `errors` / `key_errors` (key, message)."""

    def bad(key: str, msg: str) -> None:
        key_errors.append((key, msg))

    name = raw.get("name")
    if not isinstance(name, str) or not name:
        errors.append("missing 'name' (every rule needs a unique name)")
        name = None
    elif not _NAME_RE.match(name):
        bad("name", f"bad name {name!r}: use letters, digits, '_', ':', '.', '-'")
        name = None

    kind = raw.get("kind")
    if kind is None:
        kind = "joint" if "when" in raw else "node" if "statuses" in raw else "threshold"
    if not isinstance(kind, str) or kind not in KINDS:
        bad("kind", f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
        return None

    allowed = _COMMON_KEYS | _KIND_KEYS[kind]
    for key in raw:
        if key not in allowed:
            hint = _suggest(key, allowed)
            if not hint and key in _ALL_KEYS:
                hint = f" (not used by kind {kind!r})"
            bad(key, f"unknown key {key!r}{hint}")

    kw: dict[str, object] = {"kind": kind, "source": source, "line": line}
    n_errors = len(errors) + len(key_errors)

    severity = raw.get("severity", "warning")
    if severity not in SEVERITIES:
        bad("severity", f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    kw["severity"] = severity

    for key, attr in (("for", "for_s"), ("keep_firing_for", "keep_firing_for_s")):
        if key in raw:
            d = _duration(raw[key])
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
            pairs = _string_table(raw[key])
            if isinstance(pairs, str):
                bad(key, f"'{key}': {pairs}")
                continue
            for k, _ in pairs:
                if not _LABEL_RE.match(k):
                    bad(key, f"'{key}': bad label name {k!r} (letters, digits and '_')")
                elif key == "labels" and k in RESERVED_LABELS:
                    bad(key, f"'labels': {k!r} is set by the engine; pick another name")
            kw[key] = pairs

    metric = None
    if kind in ("threshold", "zscore", "peer"):
        metric = _metric(raw, bad, errors)
        kw["metric"] = metric

    if kind == "threshold":
        op = raw.get("op", ">")
        if op not in OPS:
            bad("op", f"bad op {op!r}; one of {' '.join(OPS)}")
        kw["op"] = op
        if "threshold" not in raw:
            errors.append("missing 'threshold' (a number)")
        else:
            th = _number(raw["threshold"])
            if th is None:
                bad("threshold", f"'threshold' must be a number, not {raw['threshold']!r}")
            kw["threshold"] = th

    if kind in ("zscore", "peer"):
        z = _number(raw.get("z", 3.0))
        if z is None or z <= 0:
            bad("z", "'z' must be a number above 0")
        kw["z"] = z
        min_std = _number(raw.get("min_std", 0.0))
        if min_std is None or min_std < 0:
            bad("min_std", "'min_std' must be a number, 0 or more")
        kw["min_std"] = min_std
        direction = raw.get("direction", "both")
        if direction not in DIRECTIONS:
            bad("direction", f"'direction' must be one of {', '.join(DIRECTIONS)}")
        kw["direction"] = direction

    if kind == "zscore":
        if "window" in raw:
            w = _duration(raw["window"])
            if isinstance(w, str) or w <= 0:
                bad("window", f"'window': {w if isinstance(w, str) else 'must be above 0'}")
            else:
                kw["window_s"] = w
        ms = raw.get("min_samples", 10)
        if not _is_int(ms) or ms < 2:  # type: ignore[operator]
            bad("min_samples", "'min_samples' must be a whole number, 2 or more")
        kw["min_samples"] = ms

    if kind == "peer":
        mp = raw.get("min_peers", 3)
        if not _is_int(mp) or mp < 2:  # type: ignore[operator]
            bad("min_peers", "'min_peers' must be a whole number, 2 or more")
        kw["min_samples"] = mp
        group = raw.get("group", "node")
        if not isinstance(group, str) or not (
            group in ("node", "fleet")
            or (group.startswith("label:") and _LABEL_RE.match(group[6:]))
        ):
            bad("group", "'group' must be \"node\", \"fleet\" or \"label:NAME\"")
        elif group == "node" and metric and metrics.scope_of(metric) == Scope.NODE:
            bad("group", "group \"node\" compares the GPUs or processes of one node; "
                "a node metric needs \"fleet\" or \"label:NAME\"")
        kw["group"] = group

    if kind == "node":
        raw_st = raw.get("statuses", [s.value for s in NODE_RULE_DEFAULT])
        st: list[NodeStatus] = []
        if not isinstance(raw_st, list) or not raw_st:
            bad("statuses", "'statuses' must be a list such as [\"STALE\", \"UNREACHABLE\"]")
        else:
            for s in raw_st:
                try:
                    status = NodeStatus(str(s).upper())
                except ValueError:
                    status = None
                if status is None or status == NodeStatus.UP:
                    bad("statuses", f"bad status {s!r}; use "
                        + ", ".join(x.value for x in NOT_UP))
                else:
                    st.append(status)
        kw["statuses"] = tuple(st)

    if kind == "joint":
        conds = _conditions(raw.get("when"), bad, errors)
        kw["conditions"] = conds
        scopes = {metrics.scope_of(c.metric) for c in conds} - {Scope.NODE}
        if len(scopes) > 1:
            bad("when", "conditions may mix node metrics with one of GPU or process "
                "metrics, not both")

    # Scope: where the alert attaches. Defaults to the metric's own scope.
    metric_scope = Scope.NODE
    if metric:
        metric_scope = metrics.scope_of(metric)
    elif kind == "joint" and kw.get("conditions"):
        scopes = {metrics.scope_of(c.metric) for c in kw["conditions"]} - {Scope.NODE}  # type: ignore[union-attr]
        metric_scope = scopes.pop() if len(scopes) == 1 else Scope.NODE
    scope = metric_scope
    if "scope" in raw:
        try:
            scope = Scope(raw["scope"])
        except ValueError:
            bad("scope", "'scope' must be \"node\", \"gpu\" or \"proc\"")
        else:
            if scope != metric_scope and scope != Scope.NODE:
                bad("scope", f"a {metric_scope.value} metric can be checked per "
                    f"{metric_scope.value} or per node, not per {scope.value}")
                scope = metric_scope
    kw["scope"] = scope
    if "agg" in raw:
        if raw["agg"] not in AGGS:
            bad("agg", f"'agg' must be one of {', '.join(AGGS)}")
        elif scope == metric_scope:
            bad("agg", "'agg' needs scope = \"node\" on a GPU or process metric")
        else:
            kw["agg"] = raw["agg"]

    if "summary" in raw:
        summary = raw["summary"]
        problem = _check_template(summary)
        if problem:
            bad("summary", f"'summary': {problem}")
        else:
            kw["summary"] = summary

    if name is None or len(errors) + len(key_errors) > n_errors:
        return None
    try:
        return Rule(name=name, **kw)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:  # pragma: no cover - guarded above
        errors.append(str(exc))
        return None


def _metric(
    raw: dict[str, object], bad: Callable[[str, str], None], errors: list[str]
) -> str | None:
    metric = raw.get("metric")
    if metric is None:
        errors.append("missing 'metric' (e.g. \"gpu.util_pct\")")
        return None
    if not isinstance(metric, str) or metric not in metrics.METRICS:
        bad("metric", f"unknown metric {metric!r}" + _suggest(str(metric), metrics.METRICS))
        return None
    return metric


def _conditions(
    raw: object, bad: Callable[[str, str], None], errors: list[str]
) -> tuple[Condition, ...]:
    if raw is None:
        errors.append("missing 'when' (a list such as [\"net.util_pct > 80\", ...])")
        return ()
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        bad("when", "'when' must be a non-empty list of strings like \"net.util_pct > 80\"")
        return ()
    out: list[Condition] = []
    for text in raw:
        m = _WHEN_RE.match(text)
        if not m:
            bad("when", f"cannot read condition {text!r}; write METRIC OP NUMBER")
            continue
        name, op, num = m.groups()
        if name not in metrics.METRICS:
            bad("when", f"unknown metric {name!r}" + _suggest(name, metrics.METRICS))
            continue
        try:
            value = float(num)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            bad("when", f"{text!r}: {num!r} is not a number")
            continue
        out.append(Condition(name, op, value))
    return tuple(out)


def _check_template(template: object) -> str | None:
    """None if `template` is a usable summary template, else what is wrong."""
    if not isinstance(template, str):
        return "must be a string"
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"bad template: {exc} (write {{{{ and }}}} for literal braces)"
    sample: dict[str, object] = {}
    for _, field_name, spec, conversion in parts:
        if field_name is None:
            continue
        if field_name not in TEMPLATE_FIELDS:
            return (f"unknown field {{{field_name}}}" + _suggest(field_name, TEMPLATE_FIELDS)
                    + "; fields: " + ", ".join(sorted(TEMPLATE_FIELDS)))
        if conversion not in (None, "s", "r"):
            return f"bad conversion !{conversion}"
        if spec and ("{" in spec):
            return "nested fields in a format spec are not allowed"
        sample[field_name] = 1.5
    try:
        template.format_map(sample)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        return f"bad format: {exc}"
    return None


# ---------------------------------------------------------------------------- helpers


def _duration(value: object) -> float | str:
    """Seconds, or the reason the value is not a duration."""
    if isinstance(value, bool):
        return "must be a duration such as \"30s\" or \"3m\""
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            return str(exc)
    else:
        return "must be a duration such as \"30s\" or \"3m\""
    if not math.isfinite(seconds) or seconds < 0:
        return "must be 0 or more"
    return seconds


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string_table(value: object) -> tuple[tuple[str, str], ...] | str:
    if not isinstance(value, dict):
        return "must be a table such as { team = \"infra\" }"
    out = []
    for k, v in value.items():
        if not isinstance(v, str):
            return f"value of {k!r} must be a string"
        out.append((k, v))
    return tuple(sorted(out))


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _dur(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        m = int(seconds // 60)
        return f"{m // 60}h{m % 60:02d}m" if m >= 60 and m % 60 else (
            f"{m // 60}h" if m >= 60 else f"{m}m")
    return f"{_num(seconds)}s"
