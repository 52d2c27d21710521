"""The rule kinds, registered in evaluation order: one module each, one line each here.

Adding a kind: write ``kinds/NAME.py`` with a :class:`~autoglm_tui.analysis.alerts.kind.RuleKind`
subclass (its keys and their checks, ``describe``, ``default_summary``, ``evaluate``), then add
its line below. The parser, ``rules list`` and the engine find it through the registry.
"""

from __future__ import annotations

from autoglm_tui.analysis.alerts.kind import register
from autoglm_tui.analysis.alerts.kinds.diagnosis import DiagnosisKind
from autoglm_tui.analysis.alerts.kinds.joint import JointKind
from autoglm_tui.analysis.alerts.kinds.node import NodeStatusKind
from autoglm_tui.analysis.alerts.kinds.peer import PeerKind
from autoglm_tui.analysis.alerts.kinds.threshold import ThresholdKind
from autoglm_tui.analysis.alerts.kinds.trend import TrendKind
from autoglm_tui.analysis.alerts.kinds.zscore import ZscoreKind

KINDS = (
    register(ThresholdKind()),
    register(ZscoreKind()),
    register(PeerKind()),
    register(JointKind()),
    register(TrendKind()),
    register(NodeStatusKind()),
    register(DiagnosisKind()),
)
