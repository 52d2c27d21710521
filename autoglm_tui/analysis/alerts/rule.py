"""The alert rule model: one validated rule, the errors a rules file can have, a merged set.

A :class:`Rule` is plain data for every kind (the fields a kind does not use keep their
defaults); what differs between kinds (their own keys, their checks, how they describe
themselves and how they are evaluated) lives in the kind's module, found by name through
:mod:`autoglm_tui.analysis.alerts.kind`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from autoglm_tui import metrics
from autoglm_tui.analysis.alerts.kind import kind_of
from autoglm_tui.events import NodeStatus
from autoglm_tui.metrics import Scope

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
SEVERITIES = ("info", "warning", "critical")
AGGS = ("max", "min", "avg", "sum")
DIRECTIONS = ("both", "above", "below")
NOT_UP = tuple(s for s in NodeStatus if s != NodeStatus.UP)
# What a node rule watches unless it lists statuses: a node that is just CONNECTING is not one,
# and neither is one that left gracefully (LEFT ends its alerts instead).
NODE_RULE_DEFAULT = (NodeStatus.STALE, NodeStatus.UNREACHABLE, NodeStatus.INVALID,
                     NodeStatus.FAILED)
RESERVED_LABELS = frozenset({"alertname", "severity", "node", "gpu", "pid", "service", "group",
                             "finding"})
# `match` keys that a rule on a service metric (and a diagnosis rule on a service finding)
# matches against the service itself rather than its node's labels.
SERVICE_LABELS = ("service", "name", "model", "kind")


@dataclass(frozen=True, slots=True)
class Condition:
    """``metric op threshold``: one comparison."""

    metric: str
    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        return OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {format_number(self.threshold)}"


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
    # Service latency and error-rate figures resting on fewer requests are no data (None:
    # the service tracker's own minimum for quantiles and means, none for the error rate).
    min_requests: int | None = None
    min_r2: float | None = None  # trend rules: the line must explain this much (R², 0..1)
    findings: tuple[str, ...] = ()  # diagnosis rules: the finding names watched
    enabled: bool = True
    source: str = "<defaults>"
    line: int = 0

    @property
    def metric_scope(self) -> Scope:
        """The scope the rule's metric (or its conditions) is measured on: NODE when they are
        node metrics, or measured on two kinds of members (checked per node then)."""
        scopes = self.member_scopes()
        return scopes.pop() if len(scopes) == 1 else Scope.NODE

    def member_scopes(self) -> set[Scope]:
        """The scopes other than NODE that the rule's metrics are measured on."""
        return {metrics.scope_of(n) for n in self.metric_names() if n} - {Scope.NODE}

    def metric_names(self) -> list[str]:
        """Every metric the rule reads (none for a node-status rule)."""
        names = [c.metric for c in self.conditions]
        if self.metric:
            names.insert(0, self.metric)
        return names

    @property
    def aggregated(self) -> bool:
        """True when a per-GPU, per-process or per-service metric is reduced to one value per
        node."""
        return self.scope != self.metric_scope

    def describe(self, with_for: bool = True) -> str:
        """One line: what the rule checks (used by `rules list` and the alerts screen)."""
        hold = f" for {format_duration(self.for_s)}" if self.for_s and with_for else ""
        what = kind_of(self.kind).describe(self)
        if self.scope is Scope.SERVICE and self.metric_scope is Scope.SERVICE:
            what += " per service"
        if self.match:
            what += " where " + ", ".join(f"{k}={v}" for k, v in self.match)
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


def format_number(value: float | None) -> str:
    """A threshold as written: 85, 0.5, 1e+09; '?' when unknown."""
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def format_duration(seconds: float) -> str:
    """A rule duration as a user would write it: 45s, 3m, 2h, 1h30m."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        if minutes < 60:
            return f"{minutes}m"
        hours, rest = divmod(minutes, 60)
        return f"{hours}h{rest:02d}m" if rest else f"{hours}h"
    return f"{format_number(seconds)}s"
