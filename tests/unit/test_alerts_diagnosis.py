"""`kind = "diagnosis"` rules: an alert while a finding is shown, with plain findings."""

from __future__ import annotations

from dataclasses import replace

import pytest

from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.alerting.restore import event_from_record
from autoglm_tui.analysis.alerts import AlertEngine, AlertEvent, AlertState, Target, parse_rules
from autoglm_tui.analysis.diagnosis import (
    DiagnosisConfig,
    DiagnosisRunner,
    Evidence,
    Finding,
    Severity,
    Subject,
)
from autoglm_tui.analysis.diagnosis.registry import Analyzer, Context
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.state import FleetState, StatusChange
from autoglm_tui.events import HelloReceived, NodeJoined, NodeStatus, SampleReceived
from autoglm_tui.monitor import Monitor

from .alertseries import _Counters, build_sample
from .samples import hello

CPU = """
[[rule]]
name = "cpu_bound_alert"
finding = "cpu_bound"
for = "20s"
severity = "critical"
labels = { team = "serving" }
"""


def fleet(labels: dict[str, dict[str, str]] | None = None) -> FleetState:
    """Nodes n1 and n2, each with one sample and a service "chat" (model acme/llm-70b)."""
    state = FleetState()
    for node in ("n1", "n2"):
        state.apply(NodeJoined(0.0, node, labels=(labels or {}).get(node, {})))
        state.apply(HelloReceived(0.0, node, hello(node, gpus=0)))
        sample = build_sample(1.0, _Counters(), {("svc.latency_p95_s", "chat"): "1"}, 1.0,
                              {"chat": "acme/llm-70b"})
        state.apply(SampleReceived(1.0, node, sample))
    return state


def found(name: str = "cpu_bound", since: float = 100.0, **subject: object) -> Finding:
    sub = Subject(str(subject.pop("kind", "node")), **subject)  # type: ignore[arg-type]
    return Finding(
        name, Severity.WARNING, sub, f"{name}: GPU util 20% while CPU is at 97%",
        (Evidence("GPU util", 20.0, "pct", "GPU util 20% (mean of 2 min)"),
         Evidence("CPU util", 97.0, "pct", "CPU util 97% (mean of 2 min)")),
        (since - 120, since), ("add data-loader workers", "give the job more CPU cores"),
        since=since)


def run(engine: AlertEngine, state: FleetState, steps: dict[float, list[Finding] | None],
        changes: dict[float, list[StatusChange]] | None = None) -> list[AlertEvent]:
    out: list[AlertEvent] = []
    for t, findings in sorted(steps.items()):
        out += engine.evaluate(state, t, (changes or {}).get(t, []), findings)
    return out


def brief(events: list[AlertEvent]) -> list[tuple[float, str, str, str | None]]:
    return [(e.t, e.state.value, str(e.target), e.reason) for e in events]


def test_fires_while_shown_with_the_verdict_and_next_steps_and_ends_when_cleared() -> None:
    engine = AlertEngine(parse_rules(CPU)[0])
    f = found(node="n1")
    ev = run(engine, fleet(), {100.0: [f], 110.0: [f], 120.0: [f], 130.0: [], 140.0: []})
    assert brief(ev) == [(100.0, "pending", "n1", None), (120.0, "firing", "n1", None),
                         (130.0, "resolved", "n1", "finding cleared")]
    fired = ev[1]
    assert fired.target == Target("n1", finding="cpu_bound")
    assert fired.summary == "cpu_bound: GPU util 20% while CPU is at 97%"
    assert fired.severity == "critical" and fired.started_at == 100.0
    assert dict(fired.labels) == {"alertname": "cpu_bound_alert", "severity": "critical",
                                  "node": "n1", "finding": "cpu_bound", "team": "serving"}
    notes = dict(fired.annotations)
    assert notes["next_steps"] == "add data-loader workers | give the job more CPU cores"
    assert notes["evidence"].startswith("GPU util 20% (mean of 2 min); CPU util 97%")
    line = fired.to_dict()
    assert line["finding"] == "cpu_bound" and line["annotations"] == notes


def test_for_counts_from_when_the_finding_was_first_shown() -> None:
    engine = AlertEngine(parse_rules(CPU)[0])
    ev = run(engine, fleet(), {130.0: [found(node="n1", since=100.0)]})
    assert brief(ev) == [(130.0, "firing", "n1", None)]  # shown 30 s already: past `for`
    assert ev[0].started_at == 100.0


def test_no_diagnosis_is_no_data_and_keep_firing_for_holds() -> None:
    rules = CPU.replace('for = "20s"', 'keep_firing_for = "30s"')
    engine = AlertEngine(parse_rules(rules)[0])
    f = found(node="n1")
    ev = run(engine, fleet(), {100.0: [f], 110.0: None, 500.0: None, 510.0: [], 530.0: [],
                               545.0: []})
    assert brief(ev) == [(100.0, "firing", "n1", None),
                         (545.0, "resolved", "n1", "finding cleared")]


def test_a_group_finding_has_no_node() -> None:
    rules = '[[rule]]\nname = "scale"\nfinding = ["scale_out", "scale_in"]\n'
    engine = AlertEngine(parse_rules(rules)[0])
    f = found("scale_out", kind="group", group="service=llm-70b")
    ev = run(engine, fleet(), {100.0: [f], 110.0: []})
    assert brief(ev) == [(100.0, "firing", "group service=llm-70b", None),
                         (110.0, "resolved", "group service=llm-70b", "finding cleared")]
    t = ev[0].target
    assert t == Target("", group="service=llm-70b", finding="scale_out")
    assert "node" not in dict(ev[0].labels) and ("group", "service=llm-70b") in ev[0].labels
    back = event_from_record(ev[0].to_dict())
    assert back is not None and back.target == t


def test_each_listed_finding_on_a_subject_is_its_own_alert() -> None:
    rules = '[[rule]]\nname = "bottleneck"\nfinding = ["cpu_bound", "storage_bound"]\n'
    engine = AlertEngine(parse_rules(rules)[0])
    ev = run(engine, fleet(), {100.0: [found(node="n1"), found("storage_bound", node="n1"),
                                       found("orphan_gpu_memory", node="n1")]})
    assert sorted(e.target.finding or "" for e in ev) == ["cpu_bound", "storage_bound"]
    assert len({e.fingerprint for e in ev}) == 2


def test_match_reads_node_labels_the_service_and_the_group() -> None:
    state = fleet({"n1": {"pool": "a"}, "n2": {"pool": "b"}})
    rules = """
[[rule]]
name = "pool_a"
finding = "cpu_bound"
match = { pool = "a" }

[[rule]]
name = "big_model"
finding = "latency_factors"
match = { model = "acme/llm-70b" }

[[rule]]
name = "one_group"
finding = "scale_out"
match = { group = "service=llm-70b" }
"""
    engine = AlertEngine(parse_rules(rules)[0])
    findings = [found(node="n1"), found(node="n2"),
                found("latency_factors", kind="service", node="n2", service="chat"),
                found("latency_factors", kind="service", node="n2", service="other"),
                found("scale_out", kind="group", group="service=llm-70b"),
                found("scale_out", kind="group", group="service=llm-8b")]
    ev = run(engine, state, {100.0: findings})
    assert sorted((e.rule, str(e.target)) for e in ev) == [
        ("big_model", "n2 chat"), ("one_group", "group service=llm-70b"),
        ("pool_a", "n1")]


def test_a_removed_node_ends_its_alerts_and_a_missing_one_ends_nothing() -> None:
    engine = AlertEngine(parse_rules(CPU.replace('for = "20s"', ""))[0])
    state = fleet()
    f1, f2 = found(node="n1"), found(node="n2")
    run(engine, state, {100.0: [f1, f2]})
    del state.nodes["n2"]  # gone from the state without a removal: no verdict
    gone = StatusChange(110.0, "n1", NodeStatus.UP, None, "forgotten by operator")
    ev = run(engine, state, {110.0: []}, {110.0: [gone]})
    assert brief(ev) == [(110.0, "resolved", "n1", "forgotten by operator")]
    assert [str(a.target) for a in engine.active()] == ["n2"]


def test_a_restored_alert_waits_for_the_diagnosis_before_it_clears() -> None:
    engine = AlertEngine(parse_rules(CPU)[0])
    first = run(engine, fleet(), {100.0: [found(node="n1")], 130.0: [found(node="n1")]})
    group_rules = '[[rule]]\nname = "scale"\nfinding = "scale_out"\n'
    group = run(AlertEngine(parse_rules(group_rules)[0]), fleet(),
                {100.0: [found("scale_out", kind="group", group="g=1")]})
    # a restart: the log's lines are taken back
    fresh = AlertEngine(parse_rules(CPU)[0] + parse_rules(group_rules)[0])
    lines = [event_from_record(first[-1].to_dict()), event_from_record(group[-1].to_dict())]
    assert fresh.restore([e for e in lines if e is not None], 1000.0) == []
    assert set(fresh.awaiting) == {"n1"}  # the group's alert waits for no node
    state = fleet()
    assert run(fresh, state, {1010.0: [], 1200.0: []}) == []  # the diagnosis needs time
    ev = run(fresh, state, {1300.0: []})
    assert sorted(brief(ev)) == [(1300.0, "resolved", "group g=1", "finding cleared"),
                                 (1300.0, "resolved", "n1", "finding cleared")]


@pytest.mark.parametrize(("text", "line", "message"), [
    ('[[rule]]\nname = "a"\nfinding = "cpu_bond"\n', 3,
     "unknown finding 'cpu_bond' (did you mean 'cpu_bound'?); one of "),
    ('[[rule]]\nname = "a"\nkind = "diagnosis"\n', 1, "missing 'finding'"),
    ('[[rule]]\nname = "a"\nfinding = []\n', 3, "'finding' must be a finding name"),
    ('[[rule]]\nname = "a"\nfinding = "cpu_bound"\nmetric = "cpu.util_pct"\n', 4,
     "unknown key 'metric' (not used by kind 'diagnosis')"),
])
def test_rule_errors_point_at_their_line(text: str, line: int, message: str) -> None:
    _, errors, _ = parse_rules(text, "f.toml")
    assert errors and errors[0].line == line and message in errors[0].message, errors


def test_the_rule_reads_as_it_is_written() -> None:
    (rule,) = parse_rules('[[rule]]\nname = "a"\nfinding = ["cpu_bound", "storage_bound"]\n'
                          'match = { pool = "a" }\nfor = "1m"\n')[0]
    assert rule.kind == "diagnosis"
    assert rule.describe() == "diagnosis finds cpu_bound or storage_bound where pool=a for 1m"


class Always(Analyzer):
    """Finds cpu_bound on every node it runs on."""

    name = "always"
    finds = ("cpu_bound",)

    def period(self, config: DiagnosisConfig) -> float:
        return 1.0

    def appear_after(self, config: DiagnosisConfig) -> float:
        return 0.0

    def run_node(self, ctx: Context, node: NodeState) -> list[Finding]:
        return [replace(found(node=node.node_id), since=None)]


def test_the_diagnosis_runs_before_the_alerts_in_the_same_tick() -> None:
    """Installed after the alert pipeline (as the live views do), the runner's hook still runs
    first, so a finding shown on a tick raises its alert on that same tick."""
    monitor = Monitor()
    pipeline = AlertPipeline(AlertEngine(parse_rules(CPU.replace('for = "20s"', ""))[0]))
    pipeline.install(monitor)
    runner = DiagnosisRunner(analyzers=[Always()]).install(monitor)
    assert monitor.hooks[0] == runner.hook and monitor.hooks[1] == pipeline.hook
    monitor.apply(NodeJoined(0.0, "n1"))
    monitor.apply(HelloReceived(0.0, "n1", hello("n1", gpus=0)))
    monitor.apply(SampleReceived(1.0, "n1", build_sample(1.0, _Counters(), {}, 1.0)))
    monitor.tick(2.0)
    assert runner.findings and runner.findings[0].since == 2.0
    (event,) = pipeline.recent
    assert event.state is AlertState.FIRING and event.t == 2.0
    assert event.summary == "cpu_bound: GPU util 20% while CPU is at 97%"
