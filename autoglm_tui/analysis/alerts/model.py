"""What an alert is: its states, its target, the events it makes and its live record (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from autoglm_tui.analysis.alerts.rule import Rule
from autoglm_tui.analysis.alerts.summary import render_summary


class AlertState(str, Enum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Target:
    """What an alert is about: a node, one of its GPUs, processes or inference services, or
    (diagnosis alerts) a group of replicas or the fleet, which have no node (``node == ""``).

    ``finding`` names the diagnosis finding of a ``kind = "diagnosis"`` alert: one rule may
    list several findings, and each one on a subject is an alert of its own."""

    node: str
    gpu: int | None = None
    pid: int | None = None
    service: str | None = None  # the service id on the node (its name, else KIND:PORT)
    group: str | None = None  # a replica group, "LABEL=VALUE" (group-level findings)
    finding: str | None = None  # the finding's name (diagnosis alerts)
    # Made once with the target (lists of thousands of alerts sort and count by them in C):
    # what it is ("group", "fleet", "gpu", "pid", "service" or "node"), and its place in a
    # list (node, then GPU, pid, service, group).
    kind: str = field(init=False, repr=False, compare=False)
    order: tuple[str, int, int, str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.group is not None:
            kind = "group"
        elif not self.node:
            kind = "fleet"
        elif self.gpu is not None:
            kind = "gpu"
        elif self.pid is not None:
            kind = "pid"
        else:
            kind = "service" if self.service is not None else "node"
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "order", (
            self.node, -1 if self.gpu is None else self.gpu, -1 if self.pid is None else self.pid,
            self.service or "", self.group or ""))

    @property
    def subject(self) -> int | str | None:
        """The GPU index, pid or service id the alert is about on its node (None: the node)."""
        if self.gpu is not None:
            return self.gpu
        return self.pid if self.pid is not None else self.service

    def __str__(self) -> str:
        if self.group is not None:
            return f"group {self.group}"
        if not self.node:
            return "fleet"
        if self.gpu is not None:
            return f"{self.node} gpu{self.gpu}"
        if self.pid is not None:
            return f"{self.node} pid {self.pid}"
        if self.service is not None:
            return f"{self.node} {self.service}"
        return self.node


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One state change of one alert: a line in the alert log, a push to Alertmanager."""

    t: float
    state: AlertState
    rule: str
    severity: str
    target: Target
    value: float | None
    summary: str
    started_at: float
    fired_at: float | None = None
    ended_at: float | None = None
    command: str | None = None
    # Why it ended (resolved or inactive events only): "condition cleared", "process exited",
    # "left gracefully", the removal's reason ("forgotten by operator", ...), ...
    reason: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    # What the alert says beside its summary: a service's model and kind; a finding's
    # evidence and next steps. They go to Alertmanager as annotations.
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.target)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the alert log's line); `service`, `group`, `finding` and
        `annotations` only where the alert has them."""
        out = {
            "t": round(self.t, 3),
            "kind": "alert",
            "rule": self.rule,
            "state": self.state.value,
            "severity": self.severity,
            "node": self.target.node,
            "gpu": self.target.gpu,
            "pid": self.target.pid,
            "command": self.command,
            "value": json_number(self.value),
            "summary": self.summary,
            "started_at": round(self.started_at, 3),
            "fired_at": None if self.fired_at is None else round(self.fired_at, 3),
            "ended_at": None if self.ended_at is None else round(self.ended_at, 3),
            "reason": self.reason,
            "labels": dict(self.labels),
            "id": self.fingerprint,
        }
        t = self.target
        for key in ("service", "group", "finding"):
            value = getattr(t, key)
            if value is not None:
                out[key] = value
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


def fingerprint(rule: str, target: Target) -> str:
    """A stable id for one rule on one target (used by silences and Alertmanager); the parts
    a node, GPU or process alert lacks add nothing, so their ids stay as they were."""
    out = f"{rule}|{target.node}|{'' if target.gpu is None else target.gpu}|" + (
        "" if target.pid is None else str(target.pid)
    )
    if target.service is not None:
        out += f"|service={target.service}"
    if target.group is not None:
        out += f"|group={target.group}"
    if target.finding is not None:
        out += f"|finding={target.finding}"
    return out


@dataclass(slots=True)
class Alert:
    """One rule on one target that is pending, firing, or recently resolved."""

    rule: Rule
    target: Target
    state: AlertState
    active_since: float
    last_true: float
    value: float | None = None  # the newest value seen
    held_value: float | None = None  # the newest value while the condition held
    fired_at: float | None = None
    resolved_at: float | None = None
    reason: str | None = None
    command: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    false_since: float | None = None  # first observation where the condition no longer held
    rule_index: int = -1  # the engine's index of the rule (internal)
    restored_at: float | None = None  # taken back from the alert log after a restart
    restored_summary: str | None = None  # the logged summary, until the alert is observed again
    annotations: dict[str, str] = field(default_factory=dict)  # a service's model and kind

    def __deepcopy__(self, memo: dict[int, Any]) -> Alert:
        """A copy that shares the rule, the target and `detail`: an alert changes only by
        assignment (replay checkpoints copy the whole engine every few seconds)."""
        new = Alert.__new__(Alert)
        for name in Alert.__slots__:  # type: ignore[attr-defined]
            setattr(new, name, getattr(self, name))
        return new

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule.name, self.target)

    @property
    def severity(self) -> str:
        return self.rule.severity

    def labels(self) -> tuple[tuple[str, str], ...]:
        """Alertmanager-style labels: alertname, severity, node, gpu/pid/service (group and
        finding for diagnosis alerts), plus the rule's own."""
        t = self.target
        out = {"alertname": self.rule.name, "severity": self.rule.severity}
        if t.node:
            out["node"] = t.node
        if t.gpu is not None:
            out["gpu"] = str(t.gpu)
        if t.pid is not None:
            out["pid"] = str(t.pid)
        if t.service is not None:
            out["service"] = t.service
        if t.group is not None:
            out["group"] = t.group
        if t.finding is not None:
            out["finding"] = t.finding
        for k, v in self.rule.labels:
            out.setdefault(k, v)
        return tuple(sorted(out.items()))

    def summary(self) -> str:
        """The rule's summary template filled in with the newest value that held (plain text;
        untrusted parts cleaned), so a resolved alert still says what it was about. An alert
        restored from the log says what the log said until it is observed again."""
        if self.restored_summary is not None:
            return self.restored_summary
        return render_summary(self)

    def all_annotations(self) -> dict[str, str]:
        """The alert's annotations: those it got at its start (a service's model and kind)
        and those its kind keeps with the newest observation (a finding's next steps)."""
        extra = self.detail.get("annotations")
        return {**self.annotations, **extra} if extra else self.annotations

    def event(self, t: float, state: AlertState) -> AlertEvent:
        return AlertEvent(
            t=t,
            state=state,
            rule=self.rule.name,
            severity=self.rule.severity,
            target=self.target,
            value=self.value,
            summary=self.summary(),
            started_at=self.active_since,
            fired_at=self.fired_at,
            ended_at=self.resolved_at if state in (AlertState.RESOLVED, AlertState.INACTIVE)
            else None,
            command=self.command,
            reason=self.reason if state in (AlertState.RESOLVED, AlertState.INACTIVE) else None,
            labels=self.labels(),
            annotations=tuple(sorted(self.all_annotations().items())),
        )


def json_number(v: float | None) -> float | None:
    """A value fit for JSON: rounded, and None when unknown or not finite."""
    if v is None or not math.isfinite(v):
        return None
    return round(v, 6)
