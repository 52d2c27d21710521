"""Diagnosis rules: an alert while a diagnosis finding is shown (``finding = "cpu_bound"`` or a
list of names), so findings reach the alert log and Alertmanager like any alert.

The findings are the diagnosis runner's (``monitor.diagnosis.findings``: shown after their
analyzer saw them twice, cleared a minute after they were last seen), handed to the engine by
the alert pipeline after the runner's own tick. One alert per finding and subject (a node, GPU,
process, service, or a group of replicas, which has no node); its summary is the finding's
verdict, its annotations the evidence and the next steps; it ends with "finding cleared" when
the finding is no longer shown. ``for`` counts from when the finding was first shown.

``match`` reads the node's labels, except ``group`` (the finding's replica group, such as
"service=llm-70b") and the service keys (``service``, ``name``, ``model``, ``kind``), which
read the service a service finding is about.
"""

from __future__ import annotations

from typing import Any

from autoglm_tui.analysis.alerts import fields
from autoglm_tui.analysis.alerts.core import CHUNK_BITS, LAST, Compiled, EngineCore, Frames
from autoglm_tui.analysis.alerts.frame import service_labels
from autoglm_tui.analysis.alerts.kind import Checks, RuleKind
from autoglm_tui.analysis.alerts.model import Target
from autoglm_tui.analysis.alerts.rule import SERVICE_LABELS, Rule
from autoglm_tui.analysis.diagnosis import REGISTRY
from autoglm_tui.analysis.diagnosis.model import Finding
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.text import clean

CLEARED = "finding cleared"


def finding_names() -> list[str]:
    """Every finding the registered analyzers can make, sorted."""
    return sorted({name for a in REGISTRY.values() for name in a.finds})


class DiagnosisKind(RuleKind):
    name = "diagnosis"
    keys = frozenset({"finding"})
    implied_by = "finding"

    def parse(self, raw: dict[str, object], checks: Checks, kw: dict[str, Any]) -> None:
        value = raw.get("finding")
        if value is None:
            checks.missing("missing 'finding' (a finding name such as \"cpu_bound\", or a list)")
            return
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(
                isinstance(x, str) for x in names):
            checks.bad("finding", "'finding' must be a finding name or a non-empty list of them")
            return
        known = finding_names()
        for n in names:
            if n not in known:
                checks.bad("finding", f"unknown finding {n!r}" + fields.suggest(n, known)
                           + "; one of " + ", ".join(known))
        kw["findings"] = tuple(dict.fromkeys(names))

    def describe(self, rule: Rule) -> str:
        if not rule.findings:
            return "(no finding: switched off)"
        return "diagnosis finds " + " or ".join(rule.findings)

    def default_summary(self, rule: Rule) -> str:
        return "{verdict}"

    def prepare(self, compiled: Compiled) -> None:
        compiled.clear_reason = CLEARED

    def subject_of(self, compiled: Compiled, target: Target) -> tuple[bool, Any]:
        if target.finding not in compiled.rule.findings:
            return False, None
        return True, target_key(target)

    def evaluate(self, engine: EngineCore, rules: list[Compiled], frames: Frames) -> None:
        findings = frames.findings
        if findings is None:
            return  # no diagnosis runs: no data
        now = frames.now
        where: dict[str, tuple[int, NodeState]] = {
            n.node_id: (p, n) for p, n in enumerate(frames.everyone)}
        awaiting: dict[str, float] = getattr(engine, "awaiting", {})
        grace: float = getattr(engine, "restore_grace_s", 300.0)
        for c in rules:
            names = c.rule.findings
            shown: set[tuple[Any, ...]] = set()
            for f in findings:
                if f.name not in names:
                    continue
                sub = f.subject
                entry = where.get(sub.node) if sub.node else None
                if sub.node and entry is None:
                    continue  # its node is not in the state (any more): no verdict
                node = entry[1] if entry is not None else None
                if c.match and not finding_matches(c.match, f, node):
                    continue
                target = target_of(f)
                key = target_key(target)
                shown.add(key)
                engine.key = LAST if entry is None else (entry[0] >> CHUNK_BITS, c.idx, entry[0])
                engine.step(c, node, key, now, (True, None, detail_of(f)),
                            start=min(now, f.since) if f.since is not None else None,
                            target=target)
            for nid, act in list(c.active.items()):
                if nid and (nid in awaiting or nid not in where):
                    continue  # a node not (yet) in the state: no verdict
                for key, alert in list(act.items()):
                    if key in shown:
                        continue
                    if alert.restored_at is not None and now - alert.restored_at < grace:
                        continue  # after a restart the diagnosis needs time to see it again
                    entry = where.get(nid)
                    engine.key = LAST if entry is None else (entry[0] >> CHUNK_BITS, c.idx,
                                                             entry[0])
                    engine.step(c, None, key, now, (False, None, None), target=alert.target)


def target_of(f: Finding) -> Target:
    s = f.subject
    return Target(s.node or "", gpu=s.gpu, pid=s.pid, service=s.service, group=s.group,
                  finding=f.name)


def target_key(t: Target) -> tuple[Any, ...]:
    """The key a diagnosis alert is kept under on its node (one per finding and subject)."""
    return (t.finding, t.gpu, t.pid, t.service, t.group)


def detail_of(f: Finding) -> dict[str, Any]:
    """The verdict (the summary) and the annotations (evidence, next steps) of a finding."""
    notes = {"finding": f.name}
    if f.evidence:
        notes["evidence"] = clean("; ".join(e.text for e in f.evidence), 1000)
    if f.next_steps:
        notes["next_steps"] = clean(" | ".join(f.next_steps), 1000)
    return {"verdict": clean(f.verdict, 300), "annotations": notes}


def finding_matches(match: dict[str, str], f: Finding, node: NodeState | None) -> bool:
    sub = f.subject
    svc = None
    if sub.service is not None and node is not None:
        view = node.services.get(sub.service)
        svc = service_labels(sub.service, view) if view is not None else {
            "service": sub.service}
    for k, v in match.items():
        if k == "group":
            if sub.group != v:
                return False
        elif k in SERVICE_LABELS:
            if svc is None or svc.get(k) != v:
                return False
        elif node is None or node.labels.get(k) != v:
            return False
    return True
