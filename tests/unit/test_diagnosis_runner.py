"""Findings appear and clear with hysteresis; the runner spreads the work over ticks."""

from __future__ import annotations

from autoglm_tui.analysis.diagnosis import DiagnosisRunner, Finding, Severity, Subject
from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.registry import Analyzer, Context
from autoglm_tui.analysis.diagnosis.tracker import FindingTracker
from autoglm_tui.analysis.node_state import NodeState
from tests.unit.diag_kit import T0, const, make_node


def finding(node: str = "n1", name: str = "cpu_bound", sev: Severity = Severity.WARNING,
            score: float = 1.0) -> Finding:
    return Finding(name, sev, Subject("node", node), "v", (), (0.0, 1.0), (), score)


def test_a_finding_shows_once_seen_again_and_clears_only_after_a_quiet_spell() -> None:
    tr = FindingTracker(clear_after_s=60.0)
    scope = ("a", "n1")
    tr.update(scope, [finding()], 100.0, appear_after=10.0)
    assert tr.active() == []
    tr.update(scope, [finding()], 110.0, appear_after=10.0)
    (f,) = tr.active()
    assert f.since == 110.0
    tr.update(scope, [], 130.0, appear_after=10.0)
    assert tr.active() and tr.clearing(130.0)  # still shown: only 20 s without it
    tr.update(scope, [], 175.0, appear_after=10.0)
    assert tr.active() == []
    changes = tr.drain()
    assert [(c.t, c.appeared) for c in changes] == [(110.0, True), (175.0, False)]


def test_a_one_off_does_not_show_and_other_scopes_are_left_alone() -> None:
    tr = FindingTracker()
    tr.update(("a", "n1"), [finding("n1")], 100.0, appear_after=10.0)
    tr.update(("a", "n2"), [finding("n2")], 100.0, appear_after=0.0)
    tr.update(("a", "n1"), [], 110.0, appear_after=10.0)
    assert [f.subject.node for f in tr.active()] == ["n2"]
    tr.update(("a", "n1"), [finding("n1")], 120.0, appear_after=10.0)
    assert [f.subject.node for f in tr.active()] == ["n2"]  # a gap restarts the count


def test_worst_first() -> None:
    tr = FindingTracker()
    fs = [finding("a", sev=Severity.INFO, score=9), finding("b", sev=Severity.CRITICAL),
          finding("c", score=2.0), finding("d", score=3.0)]
    tr.update("s", fs, 0.0)
    assert [f.subject.node for f in tr.active()] == ["b", "d", "c", "a"]


class Counting(Analyzer):
    name = "counting"
    finds = ("counted",)

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def period(self, config) -> float:
        return 10.0

    def run_node(self, ctx: Context, node: NodeState) -> list[Finding]:
        self.calls.append((ctx.now, node.node_id))
        return [finding(node.node_id, "counted")] if node.node_id == "n03" else []


def test_each_node_is_evaluated_once_per_period_spread_over_the_ticks() -> None:
    a = Counting()
    runner = DiagnosisRunner(analyzers=[a])
    nodes = {f"n{i:02d}": make_node({(M.CPU, None): const(1.0)}, 30, node_id=f"n{i:02d}")
             for i in range(40)}
    for k in range(60):  # 30 s of ticks at 2 Hz: three periods
        runner.step(nodes, T0 + k * 0.5)
    for start in (T0 + 5, T0 + 10, T0 + 17.5):  # each period: every node exactly once
        per_node = {n: sum(1 for t, m in a.calls if m == n and start <= t < start + 10)
                    for n in nodes}
        assert set(per_node.values()) == {1}
    per_tick: dict[float, int] = {}
    for t, _ in a.calls:
        per_tick[t] = per_tick.get(t, 0) + 1
    assert max(per_tick.values()) <= 3  # 40 nodes / 20 ticks a period, never all at once
    assert [f.subject.node for f in runner.findings] == ["n03"]
    assert runner.for_node("n03") and runner.counts() == {"n03": 1}


def test_a_removed_node_takes_its_findings_with_it() -> None:
    a = Counting()
    runner = DiagnosisRunner(analyzers=[a])
    nodes = {"n03": make_node({(M.CPU, None): const(1.0)}, 30, node_id="n03")}
    for k in range(3):
        runner.step(nodes, T0 + 10 * k)
    assert runner.findings
    runner.step({}, T0 + 11)
    assert runner.findings == []
    assert [c.appeared for c in runner.drain_changes()] == [True, False]
