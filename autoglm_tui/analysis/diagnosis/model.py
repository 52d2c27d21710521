"""What a diagnosis says: a finding about a subject, with its evidence and what to do next."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Severity(str, Enum):
    """How urgent a finding is (the alert severities)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


@dataclass(frozen=True, slots=True)
class Subject:
    """What a finding is about: the fleet, a group of replicas, a node, a GPU, a process or a
    service (kind says which; the fields that locate it are set)."""

    kind: str  # "fleet", "group", "node", "gpu", "process", "service"
    node: str | None = None
    gpu: int | None = None
    pid: int | None = None
    service: str | None = None
    group: str | None = None  # "service=llm-70b"

    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.node, self.gpu, self.pid, self.service, self.group)

    def __str__(self) -> str:
        if self.kind == "fleet":
            return "fleet"
        if self.kind == "group":
            return f"group {self.group}"
        parts = [self.node or "?"]
        if self.gpu is not None:
            parts.append(f"GPU {self.gpu}")
        if self.pid is not None:
            parts.append(f"pid {self.pid}")
        if self.service is not None:
            parts.append(f"service {self.service}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for name in ("node", "gpu", "pid", "service", "group"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class Evidence:
    """One number behind a verdict, with its unit and how it reads in words."""

    label: str  # "GPU util (mean)"
    value: float | None
    unit: str  # metrics.py units: "pct", "bytes", "bytes/s", "ms", "s", "1/s", "count", ""
    text: str  # "GPU util 23% (mean of 2 min)"

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "value": _num(self.value), "unit": self.unit,
                "text": self.text}


@dataclass(frozen=True, slots=True)
class Finding:
    """A diagnosis: `name` is the stable id (what rules and scripts match on)."""

    name: str
    severity: Severity
    subject: Subject
    verdict: str  # one line
    evidence: tuple[Evidence, ...]
    window: tuple[float, float]  # the data the evidence comes from (monitor time)
    next_steps: tuple[str, ...]
    score: float = 0.0  # orders findings of one severity (higher is worse)
    data: dict[str, Any] = field(default_factory=dict)  # structured figures for --json
    since: float | None = None  # when it appeared (set by the tracker)

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.name, *self.subject.key())

    def sort_key(self) -> tuple[float, float, str, str]:
        """Worst first: severity, then score, then a stable order."""
        return (-self.severity.rank, -self.score, self.name, str(self.subject))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "severity": self.severity.value,
            "subject": self.subject.to_dict(),
            "verdict": self.verdict,
            "evidence": [e.to_dict() for e in self.evidence],
            "window": {"since": round(self.window[0], 3), "until": round(self.window[1], 3),
                       "seconds": round(self.window[1] - self.window[0], 1)},
            "next": list(self.next_steps),
            "score": round(self.score, 4),
            "since": None if self.since is None else round(self.since, 3),
            "data": self.data,
        }


def worst_first(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=Finding.sort_key)


def _num(v: float | None) -> float | None:
    if v is None or v != v or v in (float("inf"), float("-inf")):
        return None
    return round(float(v), 6)
