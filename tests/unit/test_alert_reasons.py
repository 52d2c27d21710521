"""Alerts end only for a reason, and come back after a restart (the engine, with plain data).

Removals end a node's alerts with the removal's own reason; a graceful leave ends them at once;
a node merely missing from the state ends nothing; a FAILED node keeps ``node_not_up`` firing.
``AlertEngine.restore`` takes back what a previous run logged as pending or firing.
"""

from __future__ import annotations

from dataclasses import replace

from autoglm_tui.alerting.rule_files import default_rules
from autoglm_tui.analysis.alerts import AlertEngine, AlertEvent, AlertState, Target, parse_rules
from autoglm_tui.analysis.state import FleetState, StatusChange
from autoglm_tui.events import (
    Event,
    HeartbeatLost,
    HelloReceived,
    NodeForgotten,
    NodeJoined,
    NodeLeft,
    NodeStatus,
    NodeUnreachable,
    RegistryChanged,
    SampleReceived,
)

from .alertseries import _Counters, build_sample
from .samples import hello, sample

T0 = 10_000.0
NODE_NOT_UP = replace(next(r for r in default_rules() if r.name == "node_not_up"), for_s=10.0)
HOT = """
[[rule]]
name = "hot"
metric = "cpu.util_pct"
threshold = 80
"""


class Fleet:
    """A FleetState and an engine ticked together, recording every event."""

    def __init__(self, rules: list, **state_kw: float) -> None:  # type: ignore[type-arg]
        self.state = FleetState(**state_kw)
        self.engine = AlertEngine(rules)
        self.pending: list[StatusChange] = []
        self.counters: dict[str, _Counters] = {}
        self.log: list[AlertEvent] = []

    def apply(self, event: Event) -> None:
        self.pending += self.state.apply(event)

    def join(self, node: str, t: float) -> None:
        self.apply(NodeJoined(t, node))
        self.apply(HelloReceived(t, node, hello(node, gpus=0)))

    def sample(self, node: str, t: float, cpu: str = "10") -> None:
        c = self.counters.setdefault(node, _Counters())
        self.apply(SampleReceived(t, node, build_sample(t, c, {("cpu.util_pct", None): cpu}, 1)))

    def tick(self, now: float) -> list[tuple[str, str, str, str | None]]:
        changes, self.pending = self.pending + self.state.tick(now), []
        events = self.engine.evaluate(self.state, now, changes)
        self.log += events
        return [(e.rule, str(e.target), e.state.value, e.reason) for e in events]

    def active(self) -> set[tuple[str, str, str]]:
        return {(a.rule.name, str(a.target), a.state.value) for a in self.engine.active()}


def failed_node(f: Fleet, node: str = "n1") -> None:
    """`node` sampled, then its samples stop and its heartbeat lapses: FAILED, firing."""
    f.join(node, T0)
    f.sample(node, T0)
    assert f.tick(T0) == []
    f.apply(NodeUnreachable(T0 + 1, node, "connection refused"))
    f.apply(HeartbeatLost(T0 + 2, node, "lost heartbeat: lease expired without a leave"))
    assert f.state.nodes[node].status == NodeStatus.FAILED
    assert f.tick(T0 + 2) == [("node_not_up", node, "pending", None)]
    assert f.tick(T0 + 13) == [("node_not_up", node, "firing", None)]


def test_a_failed_node_keeps_firing_long_past_the_linger_time() -> None:
    f = Fleet([NODE_NOT_UP], left_linger_s=2.0)
    failed_node(f)
    for t in range(20, 3600, 60):
        assert f.tick(T0 + t) == []
    assert f.active() == {("node_not_up", "n1", "firing")}


def test_forget_ends_the_alert_with_the_operators_reason() -> None:
    f = Fleet([NODE_NOT_UP])
    failed_node(f)
    f.apply(NodeForgotten(T0 + 20, "n1", "forgotten by operator"))
    assert f.tick(T0 + 21) == [("node_not_up", "n1", "resolved", "forgotten by operator")]
    (ended,) = [e for e in f.log if e.state == AlertState.RESOLVED]
    assert ended.t == ended.ended_at == T0 + 20  # when the node was forgotten
    assert not f.active()


def test_reaping_ends_the_alert_with_its_reason() -> None:
    f = Fleet([NODE_NOT_UP], reap_after_s=7200.0)
    failed_node(f)
    assert f.tick(T0 + 3600) == []
    assert f.tick(T0 + 7203) == [("node_not_up", "n1", "resolved", "reaped: FAILED for 2h")]


def test_a_graceful_leave_ends_alerts_at_once_and_pages_nobody() -> None:
    rules = [NODE_NOT_UP, *parse_rules(HOT)[0]]
    f = Fleet(rules, left_linger_s=120.0)
    f.join("n1", T0)
    f.sample("n1", T0, "95")
    assert f.tick(T0) == [("hot", "n1", "firing", None)]
    f.apply(NodeUnreachable(T0 + 1, "n1", "connection refused"))
    assert f.tick(T0 + 1) == [("node_not_up", "n1", "pending", None)]
    f.apply(NodeLeft(T0 + 5, "n1", "left gracefully"))
    assert f.tick(T0 + 5.5) == [("node_not_up", "n1", "inactive", "left gracefully"),
                                ("hot", "n1", "resolved", "left gracefully")]
    for t in (30, 60, 119):
        assert f.tick(T0 + 5 + t) == []
    assert f.tick(T0 + 130) == []  # removed after the linger: nothing left to end
    assert "n1" not in f.state.nodes


def test_a_leave_for_another_reason_says_so() -> None:
    f = Fleet(parse_rules(HOT)[0])
    f.join("h1", T0)
    f.sample("h1", T0, "95")
    f.tick(T0)
    f.apply(NodeLeft(T0 + 1, "h1", "removed from the hosts file"))
    assert f.tick(T0 + 1) == [("hot", "h1", "resolved", "left: removed from the hosts file")]


def test_a_rule_that_lists_left_keeps_its_alert_until_the_node_is_removed() -> None:
    rules = parse_rules('[[rule]]\nname = "gone"\nkind = "node"\nstatuses = ["LEFT", "STALE"]\n')[0]
    f = Fleet(rules, left_linger_s=60.0)
    f.join("n1", T0)
    f.sample("n1", T0)
    f.tick(T0)
    f.apply(NodeLeft(T0 + 1, "n1", "left gracefully"))
    assert f.tick(T0 + 1) == [("gone", "n1", "firing", None)]
    assert f.tick(T0 + 30) == []
    assert f.tick(T0 + 62) == [("gone", "n1", "resolved", "removed 60s after it left")]


def test_a_node_missing_from_the_state_ends_nothing() -> None:
    f = Fleet([NODE_NOT_UP])
    failed_node(f)
    del f.state.nodes["n1"]  # gone without a removal (no StatusChange): not a reason
    assert f.tick(T0 + 30) == []
    assert f.active() == {("node_not_up", "n1", "firing")}


def test_connecting_is_no_verdict_for_a_node_rule() -> None:
    f = Fleet([NODE_NOT_UP])
    f.join("n1", T0)
    f.apply(NodeUnreachable(T0, "n1", "no route to host"))
    f.tick(T0)
    assert f.tick(T0 + 11) == [("node_not_up", "n1", "firing", None)]
    f.apply(HelloReceived(T0 + 12, "n1", hello("n1", gpus=0)))  # reconnected, no sample yet
    assert f.state.nodes["n1"].status == NodeStatus.CONNECTING
    assert f.tick(T0 + 12) == []
    f.sample("n1", T0 + 13)
    assert f.tick(T0 + 13) == [("node_not_up", "n1", "resolved", "condition cleared")]


# ---------------------------------------------------------------------- restore


def logged(rule: str, node: str, state: str, started: float, fired: float | None = None,
           value: float | None = None, gpu: int | None = None, summary: str = "s"
           ) -> AlertEvent:
    """The last event a previous run logged for one alert."""
    return AlertEvent(t=fired or started, state=AlertState(state), rule=rule, severity="critical",
                      target=Target(node, gpu=gpu), value=value, summary=summary,
                      started_at=started, fired_at=fired)


def test_a_restored_alert_waits_for_its_node_and_a_failed_node_keeps_it_firing() -> None:
    f = Fleet([NODE_NOT_UP])
    was = logged("node_not_up", "n1", "firing", T0 - 500, T0 - 480,
                 summary="node n1 is FAILED: lost heartbeat")
    assert f.engine.restore([was], T0) == []
    assert f.active() == {("node_not_up", "n1", "firing")}
    (a,) = f.engine.active()
    assert (a.active_since, a.fired_at, a.summary()) == (
        T0 - 500, T0 - 480, "node n1 is FAILED: lost heartbeat")
    assert f.engine.deliverable() == []  # not vouched for until the node shows up
    assert f.tick(T0 + 1) == []
    # The registry lists it: a member whose heartbeat is gone.
    f.apply(NodeJoined(T0 + 2, "n1", source="etcd"))
    f.apply(HeartbeatLost(T0 + 2, "n1", "lost heartbeat: lease expired without a leave"))
    assert f.tick(T0 + 2) == []  # no second pending, no second firing
    assert f.tick(T0 + 60) == []
    (a,) = f.engine.deliverable()
    assert (a.state, a.active_since, a.fired_at) == (AlertState.FIRING, T0 - 500, T0 - 480)
    assert a.summary().startswith("node n1 is FAILED: lost heartbeat")


def test_a_restored_alert_clears_through_its_condition() -> None:
    f = Fleet(parse_rules(HOT)[0])
    f.engine.restore([logged("hot", "n1", "firing", T0 - 100, T0 - 100, 95.0)], T0)
    f.join("n1", T0 + 1)
    assert f.tick(T0 + 1) == []  # CONNECTING: no data
    f.sample("n1", T0 + 2, "97")
    assert f.tick(T0 + 2) == []  # still hot: still the same firing alert
    f.sample("n1", T0 + 3, "10")
    assert f.tick(T0 + 3) == [("hot", "n1", "resolved", "condition cleared")]
    (e,) = [e for e in f.log if e.state == AlertState.RESOLVED]
    assert (e.started_at, e.fired_at) == (T0 - 100, T0 - 100)


def test_a_restored_pending_alert_keeps_its_start() -> None:
    rules = parse_rules(HOT + 'for = "60s"\n')[0]
    f = Fleet(rules)
    f.engine.restore([logged("hot", "n1", "pending", T0 - 50)], T0)
    f.join("n1", T0)
    f.sample("n1", T0 + 5, "90")
    assert f.tick(T0 + 5) == []  # held 55 s so far
    f.sample("n1", T0 + 11, "90")
    assert f.tick(T0 + 11) == [("hot", "n1", "firing", None)]
    assert f.log[-1].started_at == T0 - 50


def test_restored_alerts_whose_rule_is_gone_or_changed_end_with_that_reason() -> None:
    f = Fleet(parse_rules(HOT)[0])
    ended = f.engine.restore([
        logged("retired", "n1", "firing", T0 - 9, T0 - 9),
        logged("hot", "n1", "firing", T0 - 9, T0 - 9, gpu=3),  # hot is per node now
        logged("retired", "n2", "pending", T0 - 9),
    ], T0)
    assert [(e.rule, str(e.target), e.state.value, e.reason, e.ended_at) for e in ended] == [
        ("retired", "n1", "resolved", "rule no longer loaded", T0),
        ("hot", "n1 gpu3", "resolved", "rule changed: it no longer watches this target", T0),
        ("retired", "n2", "inactive", "rule no longer loaded", T0)]
    assert not f.engine.active()


def test_a_node_never_seen_after_the_restart_ends_after_the_grace_unless_etcd_is_down() -> None:
    f = Fleet([NODE_NOT_UP])
    f.engine.restore_grace_s = 300.0
    f.engine.restore([logged("node_not_up", "ghost", "firing", T0 - 9, T0 - 9)], T0)
    f.apply(RegistryChanged(T0, False, "etcd unreachable"))
    assert f.tick(T0 + 400) == []  # nobody can say it is gone
    f.apply(RegistryChanged(T0 + 401, True))
    assert f.tick(T0 + 401) == [("node_not_up", "ghost", "resolved",
                                 "not seen in 5m after the monitor restarted")]


def test_a_restored_zscore_alert_waits_for_a_baseline() -> None:
    rules = parse_rules('[[rule]]\nname = "spike"\nkind = "zscore"\nmetric = "gpu.util_pct"\n'
                        'window = "60s"\nmin_samples = 5\n')[0]
    f = Fleet(rules)
    f.engine.restore([logged("spike", "n1", "firing", T0 - 9, T0 - 9, 99.0, gpu=0)], T0)
    state, engine = f.state, f.engine
    state.apply(NodeJoined(T0, "n1"))
    state.apply(HelloReceived(T0, "n1", hello("n1", gpus=1)))
    for i in range(3):  # fewer samples than min_samples: no baseline, no verdict
        changes = state.apply(SampleReceived(T0 + i, "n1", sample(T0 + i, i + 1, gpus=1)))
        assert engine.evaluate(state, T0 + i, changes) == []
    assert {a.rule.name for a in engine.active()} == {"spike"}
    ended = []
    for i in range(3, 30):  # a baseline of steady values: 50% is no anomaly, so it clears
        changes = state.apply(SampleReceived(T0 + i, "n1", sample(T0 + i, i + 1, gpus=1)))
        ended += engine.evaluate(state, T0 + i, changes)
    assert [(e.state.value, e.reason) for e in ended] == [("resolved", "condition cleared")]
