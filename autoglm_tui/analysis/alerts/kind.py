"""What a rule kind is, and the registry that finds one by name.

A kind is one module (``kinds/threshold.py``, ``kinds/zscore.py``...) holding a
:class:`RuleKind` subclass: the keys its ``[[rule]]`` tables may use and how they are checked
(:meth:`RuleKind.parse`), how a rule of that kind reads in one line, its default summary, and
how the engine evaluates every rule of the kind at once (:meth:`RuleKind.evaluate`). The kinds
are registered, in evaluation order, by ``kinds/__init__.py``; adding a kind is one module plus
one line there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autoglm_tui import metrics
from autoglm_tui.metrics import Scope

if TYPE_CHECKING:
    from autoglm_tui.analysis.alerts.core import Compiled, EngineCore, Frames
    from autoglm_tui.analysis.alerts.model import Target
    from autoglm_tui.analysis.alerts.rule import Rule


class Checks:
    """Where a kind's parser reports problems: `bad(key, message)` for a key's value,
    `missing(message)` for something the table lacks (not an error in a table that only
    switches a rule off)."""

    def __init__(self, bad: Callable[[str, str], None], missing: Callable[[str], None]) -> None:
        self.bad = bad
        self.missing = missing


class RuleKind:
    """One kind of alert rule: its keys, their checks, its wording and its evaluation."""

    name: str = ""
    keys: frozenset[str] = frozenset()  # the kind's own keys, beside the common ones
    implied_by: str | None = None  # a key whose presence means this kind when `kind` is absent

    def parse(self, raw: dict[str, object], checks: Checks, kw: dict[str, Any]) -> None:
        """Check the kind's own keys of one table; put the Rule fields they give in `kw`."""

    def describe(self, rule: Rule) -> str:
        """What the rule checks, in one line (without its `for`)."""
        raise NotImplementedError

    def default_summary(self, rule: Rule) -> str:
        """The summary template used when the rule gives none."""
        raise NotImplementedError

    def prepare(self, compiled: Compiled) -> None:
        """Precompute what evaluation needs for one rule (optional)."""

    def value_unit(self, rule: Rule) -> str:
        """The unit of an alert's value (and of the threshold) in summaries: the metric's."""
        m = metrics.METRICS.get(rule.metric or "")
        return m.unit if m is not None else ""

    def subject_of(self, compiled: Compiled, target: Target) -> tuple[bool, Any]:
        """Whether the rule watches `target` (an alert restored after a restart), and the
        subject its alert is kept under on the target's node."""
        scope = Scope.NODE if compiled.aggregate else compiled.metric_scope
        want = {Scope.NODE: None, Scope.GPU: target.gpu, Scope.PROC: target.pid,
                Scope.SERVICE: target.service}[scope]
        others = (target.gpu, target.pid, target.service, target.group, target.finding)
        ok = bool(target.node) and sum(x is not None for x in others) == (want is not None)
        # (a service rule's node-level alert: a source that lists no services of its own)
        return ok and (scope in (Scope.NODE, Scope.SERVICE) or want is not None), want

    def evaluate(self, engine: EngineCore, rules: list[Compiled], frames: Frames) -> None:
        """Run every enabled rule of this kind once; state changes go through `engine.step`."""
        raise NotImplementedError


_REGISTRY: dict[str, RuleKind] = {}


def register(kind: RuleKind) -> RuleKind:
    """Make `kind` known by its name (kinds/__init__.py calls this once per kind)."""
    if not kind.name or kind.name in _REGISTRY:
        raise ValueError(f"rule kind {kind.name!r} is unnamed or registered twice")
    _REGISTRY[kind.name] = kind
    return kind


def kind_of(name: str) -> RuleKind:
    """The registered kind called `name` (KeyError if there is none)."""
    return _REGISTRY[name]


def kinds() -> tuple[RuleKind, ...]:
    """Every registered kind, in registration (and evaluation) order."""
    return tuple(_REGISTRY.values())
