"""Diagnosis (pure): the fleet's history and `now` in, findings out.

Each kind of finding is one module registered in ``registry.REGISTRY``; importing this package
registers them all (the import list below is the registration). ``diagnose()`` runs them once;
``DiagnosisRunner`` runs them on the monitor's tick with hysteresis and keeps ``findings`` for
the UI; ``scaling.advise()`` gives HPA's advice for every replica group.
"""

from __future__ import annotations

from autoglm_tui.analysis.diagnosis import (  # noqa: F401  (registration, in report order)
    host,
    io,
    latency,
    leaks,
    orphan,
    rise,
    scaling,
    serving,
    stragglers,
    throttle,
)
from autoglm_tui.analysis.diagnosis.config import DiagnosisConfig
from autoglm_tui.analysis.diagnosis.model import Evidence, Finding, Severity, Subject
from autoglm_tui.analysis.diagnosis.registry import REGISTRY, Analyzer, Context, register
from autoglm_tui.analysis.diagnosis.runner import DiagnosisRunner, diagnose
from autoglm_tui.analysis.diagnosis.scaling import Advice, advise

__all__ = [
    "REGISTRY",
    "Advice",
    "Analyzer",
    "Context",
    "DiagnosisConfig",
    "DiagnosisRunner",
    "Evidence",
    "Finding",
    "Severity",
    "Subject",
    "advise",
    "diagnose",
    "register",
]
