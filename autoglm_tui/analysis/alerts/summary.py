"""Alert summaries: a rule's template filled in with what the alert saw (plain text).

A template is a ``str.format`` string over :data:`TEMPLATE_FIELDS`, e.g.
``"GPU {gpu} on {node} at {value:.0f}%"``. A number without a format spec prints in its
metric's unit (``{value}`` of a byte metric reads "49.4 MiB"); an unknown number prints "N/A"
whatever the spec. Untrusted parts (node names, command lines, reasons) are cleaned.
"""

from __future__ import annotations

import math
import string
from typing import TYPE_CHECKING

from autoglm_tui import format as fmt
from autoglm_tui import metrics
from autoglm_tui.analysis.alerts.fields import suggest
from autoglm_tui.analysis.alerts.kind import kind_of
from autoglm_tui.analysis.alerts.rule import format_duration
from autoglm_tui.format import duration as fmt_duration
from autoglm_tui.metrics import Scope
from autoglm_tui.text import clean

if TYPE_CHECKING:
    from autoglm_tui.analysis.alerts.model import Alert

SERVICE_UP = "svc.up"  # the one service figure whose {reason} says why it is down

# Fields a summary template may use, e.g. "GPU {gpu} on {node} at {value:.0f}%".
TEMPLATE_FIELDS = frozenset(
    {
        "rule", "node", "gpu", "pid", "command", "target", "metric", "value", "op",
        "threshold", "for", "severity", "z", "mean", "std", "status", "reason", "values",
        "service", "model", "kind", "window", "verdict", "finding", "group",
    }
)


class UnitValue(float):
    """A float that formats itself with its metric's unit when the template gives no spec."""

    unit: str = ""

    def __format__(self, spec: str) -> str:
        if spec:
            return float.__format__(self, spec)
        return in_unit(float(self), self.unit)


class Missing:
    """Stands in for an unknown number in a template, whatever the format spec."""

    def __format__(self, spec: str) -> str:
        return "N/A"

    def __str__(self) -> str:
        return "N/A"


def in_unit(v: float, unit: str) -> str:
    """A value in its metric's unit: 97.0%, 49.4M, 5.2M/s, 250ms; a rate of change (unit
    "UNIT/min") as "+1.5%/min" (format.in_unit; never in exponent form)."""
    return fmt.in_unit(v, unit)


def _field(v: float | None, unit: str = "") -> object:
    if v is None or not math.isfinite(v):
        return Missing()
    out = UnitValue(v)
    out.unit = unit
    return out


def render_summary(alert: Alert) -> str:
    """The rule's template (or its kind's default) filled in with the newest value that held,
    so a resolved alert still says what it was about."""
    rule = alert.rule
    kind = kind_of(rule.kind)
    unit = kind.value_unit(rule)
    d = alert.detail
    t = alert.target
    notes = alert.annotations
    fields: dict[str, object] = {
        "rule": rule.name,
        "node": clean(alert.target.node, 120),
        "gpu": "-" if alert.target.gpu is None else alert.target.gpu,
        "pid": "-" if alert.target.pid is None else alert.target.pid,
        "command": clean(alert.command or "?", 80),
        "target": clean(str(alert.target), 140),
        "metric": rule.metric or rule.kind,
        "value": _field(alert.held_value if alert.held_value is not None else alert.value, unit),
        "op": rule.op,
        "threshold": _field(rule.threshold, unit),
        "for": fmt_duration(rule.for_s) if rule.for_s else "0s",
        "severity": rule.severity,
        "z": _field(d.get("z")),
        "mean": _field(d.get("mean"), unit),
        "std": _field(d.get("std"), unit),
        "status": clean(d.get("status", "?"), 40),
        "reason": clean(d.get("reason") or notes.get("service_error") or "-", 200),
        "values": ", ".join(
            f"{k}={in_unit(v, metrics.METRICS[k].unit) if v is not None else 'N/A'}"
            for k, v in d.get("values", {}).items()
        ),
        "service": clean(t.service or "-", 120),
        "model": clean(notes.get("model") or "?", 200),
        "kind": clean(notes.get("service_kind") or "?", 40),
        "window": format_duration(rule.window_s),
        "verdict": clean(d.get("verdict") or "?", 300),
        "finding": clean(t.finding or "-", 60),
        "group": clean(t.group or "-", 120),
    }
    if t.service is None and rule.scope is Scope.SERVICE:
        # a node whose source gives only node-level service figures (the Prometheus source)
        fields["service"], fields["kind"] = "(all)", "inference"
        if rule.metric == SERVICE_UP and fields["reason"] == "-":
            fields["reason"] = "reported down, no reason given by the source"  # not why
    default = kind.default_summary(rule)
    try:
        return clean((rule.summary or default).format_map(fields), 400)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return clean(default.format_map(fields), 400)


def check_template(template: object) -> str | None:
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
            return (f"unknown field {{{field_name}}}" + suggest(field_name, TEMPLATE_FIELDS)
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
