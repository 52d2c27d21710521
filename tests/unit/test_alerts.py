"""The rule engine, tested like `promtool test rules`: series in, alerts expected at times."""

from __future__ import annotations

from dataclasses import replace

from autoglm_tui.alerting.rule_files import default_rules
from autoglm_tui.analysis.alerts import AlertEngine, AlertState, parse_rules
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import (
    HelloReceived,
    NodeJoined,
    NodeLeft,
    NodeUnreachable,
    SampleReceived,
)
from autoglm_tui.model import GpuSample, Sample

from .alertseries import _Counters, build_sample, play
from .samples import hello, sample

T0 = 1000.0

HOT = """
[[rule]]
name = "hot"
metric = "gpu.util_pct"
threshold = 85
for = "3s"
"""


def states(p, t: float) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return p.active[T0 + t]


def events(p) -> list[tuple[float, str, str, str]]:  # type: ignore[no-untyped-def]
    return [(e.t - T0, e.state.value, e.rule, str(e.target)) for e in p.all_events()]


def test_pending_then_firing_after_for_then_resolved() -> None:
    p = play(HOT, {("n1", "gpu.util_pct", 0): "50 90x5 40 40",
                   ("n1", "gpu.util_pct", 1): "50x8"})
    assert events(p) == [
        (1, "pending", "hot", "n1 gpu0"),
        (4, "firing", "hot", "n1 gpu0"),
        (6, "resolved", "hot", "n1 gpu0"),
    ]
    assert states(p, 3) == {("hot", "n1 gpu0", "pending")}
    assert states(p, 5) == {("hot", "n1 gpu0", "firing")}
    assert states(p, 7) == set()
    fired = p.all_events()[1]
    assert fired.value == 90.0 and fired.started_at == T0 + 1 and fired.fired_at == T0 + 4
    assert fired.summary == "gpu.util_pct on n1 gpu0 is 90.0% > 85.0%"
    resolved = p.all_events()[2]
    assert resolved.value == 40.0 and resolved.ended_at == T0 + 6
    assert resolved.reason == "condition cleared"
    assert resolved.summary == fired.summary  # says what it was about, not the new value
    assert p.engine.resolved[0].state == AlertState.RESOLVED


def test_pending_that_clears_goes_back_to_inactive() -> None:
    p = play(HOT, {("n1", "gpu.util_pct", 0): "90 90 50 50"})
    assert events(p) == [(0, "pending", "hot", "n1 gpu0"), (2, "inactive", "hot", "n1 gpu0")]
    assert not p.engine.resolved  # never fired, so not in "recently resolved"


def test_a_gap_neither_fires_nor_resolves() -> None:
    # pending at 0; gaps at 1..4 (past `for`); still pending until a real value holds at 5
    p = play(HOT, {("n1", "gpu.util_pct", 0): "90 _ _ _ _ 90 _ _ 50"})
    assert events(p) == [
        (0, "pending", "hot", "n1 gpu0"),
        (5, "firing", "hot", "n1 gpu0"),
        (8, "resolved", "hot", "n1 gpu0"),
    ]
    assert states(p, 7) == {("hot", "n1 gpu0", "firing")}  # gaps while firing: still firing


def test_stale_node_is_no_data_not_zero() -> None:
    p = play(HOT, {("n1", "gpu.util_pct", 0): "90 90 90 90 stale stale stale stale stale 90 50"})
    assert events(p) == [
        (0, "pending", "hot", "n1 gpu0"),
        (3, "firing", "hot", "n1 gpu0"),
        (10, "resolved", "hot", "n1 gpu0"),
    ]
    assert p.state.nodes["n1"].status.value == "UP"
    assert states(p, 8) == {("hot", "n1 gpu0", "firing")}


def test_stale_while_pending_does_not_fire() -> None:
    p = play(HOT, {("n1", "gpu.util_pct", 0): "90 stale stale stale stale stale stale 50"})
    assert events(p) == [(0, "pending", "hot", "n1 gpu0"), (7, "inactive", "hot", "n1 gpu0")]


def test_keep_firing_for_stops_flapping() -> None:
    rules = HOT.replace('for = "3s"', 'for = "0s"\nkeep_firing_for = "3s"')
    p = play(rules, {("n1", "gpu.util_pct", 0): "90 50 90 50 50 50 50 50"})
    assert events(p) == [(0, "firing", "hot", "n1 gpu0"), (6, "resolved", "hot", "n1 gpu0")]


def test_for_zero_fires_at_once_error_rate_default() -> None:
    p = play("", {("n1", "svc.error_rate", None): "0 0 0.5 2 2 0 0"}, engine=AlertEngine(
        [r for r in default_rules() if r.name == "error_rate_high"]))
    assert events(p) == [(3, "firing", "error_rate_high", "n1 vllm:8000"),
                         (5, "resolved", "error_rate_high", "n1 vllm:8000")]
    assert p.all_events()[0].severity == "critical"
    assert "error rate of vllm service vllm:8000 (?) on n1 is 2.00%" in p.all_events()[0].summary


def test_default_gpu_util_rule_waits_three_minutes() -> None:
    engine = AlertEngine([r for r in default_rules() if r.name == "gpu_util_high"])
    p = play("", {("n1", "gpu.util_pct", 3): "90x200 10x40"}, engine=engine)
    ev = events(p)
    assert ev[0] == (0, "pending", "gpu_util_high", "n1 gpu3")
    assert ev[1] == (180, "firing", "gpu_util_high", "n1 gpu3")
    # keep_firing_for = 30s: resolves 30 s after the value dropped at 200
    assert ev[2] == (230, "resolved", "gpu_util_high", "n1 gpu3")
    assert p.all_events()[1].summary == "GPU 3 on n1 busy: 90% > 85% for 3m00s"


def test_default_memory_and_latency_rules() -> None:
    engine = AlertEngine([r for r in default_rules()
                          if r.name in ("gpu_mem_high", "latency_p95_high")])
    p = play("", {("n1", "gpu.mem_used_pct", 0): "50 95 95 50 50 50 50 50 50 50 50 50 50",
                  ("n1", "svc.latency_p95_s", None): "0.1 3x12"}, engine=engine)
    ev = events(p)
    assert (1, "firing", "gpu_mem_high", "n1 gpu0") in ev
    assert (3, "resolved", "gpu_mem_high", "n1 gpu0") in ev
    assert (1, "pending", "latency_p95_high", "n1 vllm:8000") in ev
    assert (11, "firing", "latency_p95_high", "n1 vllm:8000") in ev


def test_joint_io_rule_needs_both() -> None:
    engine = AlertEngine([r for r in default_rules()
                          if r.name == "HIGH_CONCURRENT_IO_PRESSURE"])
    p = play("", {("n1", "net.util_pct", None): "90 90 90 50 90 90 90",
                  ("n1", "disk.await_ms", None): "150 150 50 150 150 150 20",
                  ("n2", "net.util_pct", None): "95x7",
                  ("n2", "disk.await_ms", None): "5x7"}, engine=engine)
    ev = events(p)
    # step 0 has no rates yet (first sample): no data, nothing fires
    assert ev[0] == (1, "firing", "HIGH_CONCURRENT_IO_PRESSURE", "n1")
    assert all(e[3] == "n1" for e in ev)  # n2's disk is fast: never
    first = p.all_events()[0]
    assert "net.util_pct=90.0%" in first.summary and "disk.await_ms=150ms" in first.summary
    # keep_firing_for = 30s keeps it through the dips within this short series
    assert states(p, 6) == {("HIGH_CONCURRENT_IO_PRESSURE", "n1", "firing")}


def test_process_rule_names_pid_and_command_and_resolves_when_it_exits() -> None:
    rules = """
[[rule]]
name = "burner"
metric = "proc.cpu_pct"
op = ">"
threshold = 50
for = "3s"
summary = "pid {pid} ({command}) on {node} at {value:.0f}% CPU"
"""
    p = play(rules, {("n1", "proc.cpu_pct", 4242): "10 99 99 99 99 99 - -",
                     ("n1", "proc.cpu_pct", 7): "5x8"})
    assert events(p) == [
        (1, "pending", "burner", "n1 pid 4242"),
        (4, "firing", "burner", "n1 pid 4242"),
        (6, "resolved", "burner", "n1 pid 4242"),
    ]
    ev = p.all_events()
    assert ev[1].summary == "pid 4242 (python job4242.py) on n1 at 99% CPU"
    assert ev[1].command == "python job4242.py" and ev[1].target.pid == 4242
    assert ev[2].reason == "process exited"
    assert dict(ev[1].labels) == {"alertname": "burner", "severity": "warning", "node": "n1",
                                  "pid": "4242"}


def test_process_with_unknown_cpu_is_no_data() -> None:
    rules = '[[rule]]\nname = "b"\nmetric = "proc.cpu_pct"\nthreshold = 50\n'
    p = play(rules, {("n1", "proc.cpu_pct", 1): "99 _ _ 10"})
    assert events(p) == [(0, "firing", "b", "n1 pid 1"), (3, "resolved", "b", "n1 pid 1")]


def test_zscore_fires_on_a_spike_not_before_min_samples() -> None:
    rules = """
[[rule]]
name = "spike"
kind = "zscore"
metric = "gpu.util_pct"
window = "30s"
z = 3
min_samples = 20
"""
    base = " ".join(["50", "52", "48", "51", "49"] * 8)  # 40 steady samples
    p = play(rules, {("n1", "gpu.util_pct", 0): f"95 {base} 95 50 50"})
    ev = p.all_events()
    assert [(e.t - T0, e.state.value) for e in ev] == [(41, "firing"), (42, "resolved")]
    assert ev[0].value == 95.0
    z = p.engine.resolved[0].detail["z"]
    assert z > 10  # steady baseline with a std of about 1.4


def test_zscore_flat_baseline_needs_min_std() -> None:
    rules = """
[[rule]]
name = "spike"
kind = "zscore"
metric = "cpu.util_pct"
window = "30s"
min_samples = 5
"""
    p = play(rules, {("n1", "cpu.util_pct", None): "10x20 40"})
    assert events(p) == []  # no variation, no z-score
    p = play(rules.replace("min_samples = 5", "min_samples = 5\nmin_std = 2"),
             {("n1", "cpu.util_pct", None): "10x20 40"})
    assert events(p) == [(20, "firing", "spike", "n1")]


def test_peer_rule_flags_the_lagging_gpu_only() -> None:
    rules = """
[[rule]]
name = "straggler"
kind = "peer"
metric = "gpu.util_pct"
group = "node"
z = 3
min_std = 2
direction = "below"
"""
    series = {("n1", "gpu.util_pct", i): "90 91 90" for i in range(7)}
    series[("n1", "gpu.util_pct", 7)] = "90 40 89"
    p = play(rules, series)
    assert events(p) == [(1, "firing", "straggler", "n1 gpu7"),
                         (2, "resolved", "straggler", "n1 gpu7")]
    assert p.all_events()[0].summary.startswith("gpu.util_pct on n1 gpu7 is 40.0%, peers av")


def test_peer_rule_over_a_label_group() -> None:
    rules = """
[[rule]]
name = "slow_node"
kind = "peer"
metric = "cpu.util_pct"
group = "label:zone"
z = 3
min_std = 1
min_peers = 3
"""
    series = {(f"n{i}", "cpu.util_pct", None): "50 50" for i in range(5)}
    series[("n4", "cpu.util_pct", None)] = "50 99"
    series[("m1", "cpu.util_pct", None)] = "99 99"  # other zone: not a peer of n*
    labels = {f"n{i}": {"zone": "a"} for i in range(5)}
    labels["m1"] = {"zone": "b"}
    p = play(rules, series, labels=labels)
    assert events(p) == [(1, "firing", "slow_node", "n4")]


def test_aggregated_scope_and_label_match() -> None:
    rules = """
[[rule]]
name = "hottest"
metric = "gpu.util_pct"
scope = "node"
agg = "max"
threshold = 85
match = { zone = "a" }
"""
    series = {("n1", "gpu.util_pct", 0): "10 90", ("n1", "gpu.util_pct", 1): "20 30",
              ("n2", "gpu.util_pct", 0): "99 99"}
    p = play(rules, series, labels={"n1": {"zone": "a"}, "n2": {"zone": "b"}})
    assert events(p) == [(1, "firing", "hottest", "n1")]


def test_node_up_metric_and_node_status_rule() -> None:
    rules = """
[[rule]]
name = "down"
kind = "node"
for = "30s"
severity = "critical"

[[rule]]
name = "up_metric"
metric = "node.up"
op = "<"
threshold = 1
"""
    parsed, errors, _ = parse_rules(rules)
    assert not errors
    engine = AlertEngine(parsed)
    state = FleetState(left_linger_s=60)
    c = _Counters()
    state.apply(NodeJoined(T0, "n1"))
    state.apply(HelloReceived(T0, "n1", hello("n1", gpus=0)))
    state.apply(SampleReceived(T0, "n1", build_sample(T0, c, {}, 1.0)))
    assert engine.evaluate(state, T0, state.tick(T0)) == []
    changes = state.apply(NodeUnreachable(T0 + 1, "n1", "connection refused", 2.0))
    ev = engine.evaluate(state, T0 + 1, changes + state.tick(T0 + 1))
    assert [(e.rule, e.state.value) for e in ev] == [("down", "pending"), ("up_metric", "firing")]
    assert engine.evaluate(state, T0 + 20, state.tick(T0 + 20)) == []
    ev = engine.evaluate(state, T0 + 31, state.tick(T0 + 31))
    assert [(e.rule, e.state.value) for e in ev] == [("down", "firing")]
    assert ev[0].summary == "node n1 is UNREACHABLE: connection refused"
    changes = state.apply(SampleReceived(T0 + 32, "n1", build_sample(T0 + 32, c, {}, 1.0)))
    ev = engine.evaluate(state, T0 + 32, changes + state.tick(T0 + 32))
    assert {(e.rule, e.state.value) for e in ev} == {("down", "resolved"),
                                                     ("up_metric", "resolved")}
    # a node that leaves gracefully: its alerts end at the leave, with that reason, and a LEFT
    # node pages nobody (neither the node rule nor node.up), then or when it is removed
    changes = state.apply(NodeUnreachable(T0 + 33, "n1", "connection refused", 2.0))
    ev = engine.evaluate(state, T0 + 33, changes)
    assert [(e.rule, e.state.value) for e in ev] == [("down", "pending"), ("up_metric", "firing")]
    changes = state.apply(NodeLeft(T0 + 40, "n1", "left gracefully"))
    ev = engine.evaluate(state, T0 + 40.5, changes)
    assert [(e.rule, e.state.value, e.reason, e.t) for e in ev] == [
        ("down", "inactive", "left gracefully", T0 + 40),
        ("up_metric", "resolved", "left gracefully", T0 + 40)]
    assert engine.evaluate(state, T0 + 71, state.tick(T0 + 71)) == []
    changes = state.tick(T0 + 101)
    assert "n1" not in state.nodes
    assert engine.evaluate(state, T0 + 101, changes) == []
    assert not engine.active()


def test_engine_started_late_uses_when_the_node_went_down() -> None:
    parsed, _, _ = parse_rules('[[rule]]\nname = "down"\nkind = "node"\nfor = "30s"\n')
    state = FleetState()
    state.apply(NodeJoined(T0, "n1"))
    state.apply(NodeUnreachable(T0, "n1", "no route to host"))
    ev = AlertEngine(parsed).evaluate(state, T0 + 100)
    assert [(e.state.value, e.started_at) for e in ev] == [("firing", T0)]


def test_views_order_firing_then_pending_then_resolved() -> None:
    rules = HOT + '\n[[rule]]\nname = "crit"\nmetric = "gpu.util_pct"\nthreshold = 95\n' \
        'severity = "critical"\n'
    p = play(rules, {("n1", "gpu.util_pct", 0): "90 90 90 90 90 90",
                     ("n1", "gpu.util_pct", 1): "99 99 99 50 50 50",
                     ("n1", "gpu.util_pct", 2): "10 10 10 10 10 90"})
    names = [(a.rule.name, str(a.target), a.state.value) for a in p.engine.alerts()]
    assert names == [
        ("hot", "n1 gpu0", "firing"),
        ("hot", "n1 gpu2", "pending"),
        ("crit", "n1 gpu1", "resolved"),
    ]
    counts = p.engine.counts()
    assert counts[AlertState.FIRING] == 1 and counts[AlertState.PENDING] == 1
    assert counts[AlertState.RESOLVED] == 1
    assert [a.rule.name for a in p.engine.for_node("n1")] == ["hot", "hot"]


def test_untrusted_strings_in_summaries_are_cleaned() -> None:
    rules = '[[rule]]\nname = "b"\nmetric = "proc.cpu_pct"\nthreshold = 50\n'
    engine = AlertEngine(parse_rules(rules)[0])
    state = FleetState()
    c = _Counters()
    node = "evil\x1b[31m\x9b"
    state.apply(NodeJoined(T0, node))
    sample = build_sample(T0, c, {("proc.cpu_pct", 9): "99"}, 1.0)
    proc = sample.procs[0]
    from dataclasses import replace

    sample = replace(sample, procs=(replace(proc, cmdline="x\x1b]0;pwned\x07 [red]y"),))
    state.apply(SampleReceived(T0, node, sample))
    ev = engine.evaluate(state, T0, state.tick(T0))
    assert ev and "\x1b" not in ev[0].summary and "\x9b" not in ev[0].summary
    assert "\x07" not in (ev[0].command or "") and "[red]" in (ev[0].command or "")


def test_fast_sample_readers_agree_with_derive() -> None:
    """The engine reads GPU and process values off the sample; they must be derive()'s."""
    from autoglm_tui.analysis.derive import GPU_FIELDS, PROC_FIELDS, derive
    from autoglm_tui.metrics import METRICS, Scope
    from autoglm_tui.tui.demo import demo_sample

    sample = demo_sample(7, T0)
    derived = derive(sample, None)
    for name, m in METRICS.items():
        if m.scope == Scope.GPU:
            assert [GPU_FIELDS[name](g) for g in sample.gpus] == \
                [derived.get((name, g.index)) for g in sample.gpus], name
        elif m.scope == Scope.PROC:
            assert [PROC_FIELDS[name](p) for p in sample.procs] == \
                [derived.get((name, p.pid)) for p in sample.procs], name


def test_events_of_one_evaluation_keep_the_fleet_order() -> None:
    """Rules run a whole column at a time, yet the events come out in the order the log has
    always had: by 16 nodes at a time, then by rule, then by node."""
    rules = """
[[rule]]
name = "cpu"
metric = "cpu.util_pct"
threshold = 50

[[rule]]
name = "gpu"
metric = "gpu.util_pct"
threshold = 50
"""
    names = [f"n{i:02d}" for i in range(20)]
    series: dict = {}  # type: ignore[type-arg]
    for n in names:
        series[(n, "cpu.util_pct", None)] = "60 10"
        series[(n, "gpu.util_pct", 0)] = "60 10"
    p = play(rules, series)
    fired = [(e.rule, str(e.target)) for e in p.events[T0]]
    resolved = [(e.rule, str(e.target)) for e in p.events[T0 + 1]]
    expected = ([("cpu", n) for n in names[:16]] + [("gpu", f"{n} gpu0") for n in names[:16]]
                + [("cpu", n) for n in names[16:]] + [("gpu", f"{n} gpu0") for n in names[16:]])
    assert fired == expected
    assert resolved == expected
    assert [a.target.node for a in p.engine.resolved] == [t.split()[0] for _, t in expected]


def _gpu_sample(t: float, seq: int, utils: dict[int, float | None]) -> Sample:
    """A sample whose GPUs are `utils` (index -> utilisation)."""
    return replace(sample(t, seq, gpus=0), gpus=tuple(
        GpuSample(index=i, uuid=f"GPU-{i}", state="ok", util_pct=u) for i, u in utils.items()))


def test_a_node_whose_gpus_change_is_read_by_its_new_gpus() -> None:
    rules = parse_rules(HOT.replace('for = "3s"', 'for = "0s"') + """
[[rule]]
name = "spread"
kind = "peer"
metric = "gpu.util_pct"
min_peers = 2
min_std = 1
""")[0]
    engine = AlertEngine(rules)
    state = FleetState()
    state.apply(NodeJoined(T0, "n1"))
    state.apply(HelloReceived(T0, "n1", hello("n1", gpus=0)))

    def step(t: float, utils: dict[int, float | None]) -> list[tuple[str, str, str]]:
        changes = state.apply(SampleReceived(T0 + t, "n1", _gpu_sample(T0 + t, int(t) + 1,
                                                                          utils)))
        ev = engine.evaluate(state, T0 + t, changes + state.tick(T0 + t))
        return [(e.state.value, e.rule, str(e.target)) for e in ev]

    assert step(0, {0: 50.0, 1: 90.0}) == [("firing", "hot", "n1 gpu1")]
    # GPU 1 drops out and GPU 3 appears: the same number of GPUs, other indices.
    assert step(1, {0: 50.0, 3: 95.0}) == [("firing", "hot", "n1 gpu3")]
    assert {str(a.target) for a in engine.active()} == {"n1 gpu1", "n1 gpu3"}  # gpu1: no data
    assert step(2, {0: 45.0, 1: 44.0, 3: 46.0}) == [("resolved", "hot", "n1 gpu1"),
                                                     ("resolved", "hot", "n1 gpu3")]
    # Four GPUs, one far from the other three: the peer rule names it by its own index.
    assert step(3, {0: 50.0, 1: 50.0, 2: 50.0, 5: 10.0}) == [("firing", "spread", "n1 gpu5")]


def test_a_node_that_leaves_takes_its_alerts_and_windows_with_it() -> None:
    rules = parse_rules(HOT.replace('for = "3s"', 'for = "1s"') + """
[[rule]]
name = "spike"
kind = "zscore"
metric = "gpu.util_pct"
window = "60s"
min_samples = 5
min_std = 1
""")[0]
    engine = AlertEngine(rules)
    state = FleetState(left_linger_s=0)
    for n in ("a", "b", "c"):
        state.apply(NodeJoined(T0, n))
        state.apply(HelloReceived(T0, n, hello(n, gpus=0)))

    def step(t: float, utils: dict[str, dict[int, float | None]]) -> list[tuple[str, str]]:
        changes = []
        for n, u in utils.items():
            changes += state.apply(SampleReceived(T0 + t, n, _gpu_sample(T0 + t, int(t) + 1, u)))
        ev = engine.evaluate(state, T0 + t, changes + state.tick(T0 + t))
        return [(e.state.value, str(e.target)) for e in ev]

    calm = {0: 50.0, 1: 50.0}
    for t in range(8):  # a baseline for the z-score windows
        assert step(t, {"a": calm, "b": calm, "c": calm}) == []
    assert step(8, {"a": calm, "b": {0: 90.0, 1: 50.0}, "c": {0: 50.0, 1: 90.0}}) == [
        ("pending", "b gpu0"), ("pending", "c gpu1"), ("firing", "b gpu0"), ("firing", "c gpu1")]
    state.apply(NodeLeft(T0 + 9, "b", "lease revoked"))
    changes = state.tick(T0 + 9.5)  # gone at once (no linger)
    assert "b" not in state.nodes
    ev = engine.evaluate(state, T0 + 9.5, changes)
    assert sorted((e.rule, e.state.value, str(e.target), e.reason) for e in ev) == [
        ("hot", "inactive", "b gpu0", "removed 0s after it left"),
        ("spike", "resolved", "b gpu0", "removed 0s after it left")]
    # c, now next to a, keeps its own values, alerts and window (where 90 is now the past).
    assert step(10, {"a": calm, "c": {0: 50.0, 1: 91.0}}) == [("firing", "c gpu1"),
                                                              ("resolved", "c gpu1")]
    assert step(11, {"a": calm, "c": calm}) == [("resolved", "c gpu1")]
    # b comes back: a new node to the engine, whose z-score window starts empty.
    state.apply(NodeJoined(T0 + 12, "b"))
    state.apply(HelloReceived(T0 + 12, "b", hello("b", gpus=0)))
    for t in range(12, 16):
        assert step(t, {"a": calm, "b": {0: 90.0 if t == 15 else 50.0, 1: 50.0}}) == (
            [("pending", "b gpu0")] if t == 15 else [])


def test_engines_for_two_rule_sets_keep_their_own_state() -> None:
    """A reloaded rule set is a new engine: it reads every node afresh, and neither engine
    sees the other's alerts or windows."""
    state = FleetState()
    state.apply(NodeJoined(T0, "n1"))
    state.apply(HelloReceived(T0, "n1", hello("n1", gpus=0)))
    changes = state.apply(SampleReceived(T0, "n1", _gpu_sample(T0, 1, {0: 90.0, 1: 97.0})))
    old = AlertEngine(parse_rules(HOT.replace('for = "3s"', 'for = "0s"'))[0])
    assert [str(e.target) for e in old.evaluate(state, T0, changes)] == ["n1 gpu0", "n1 gpu1"]
    assert old.evaluate(state, T0 + 0.5) == []  # nothing new
    reloaded = AlertEngine(parse_rules(HOT.replace('for = "3s"', 'for = "0s"')
                                       .replace("85", "95"))[0])
    ev = reloaded.evaluate(state, T0 + 0.5)  # the same sample is new to this engine
    assert [(e.state.value, str(e.target)) for e in ev] == [("firing", "n1 gpu1")]
    changes = state.apply(SampleReceived(T0 + 1, "n1", _gpu_sample(T0 + 1, 2, {0: 90.0,
                                                                               1: 50.0})))
    assert [(e.state.value, str(e.target)) for e in old.evaluate(state, T0 + 1, changes)] == [
        ("resolved", "n1 gpu1")]
    assert [(e.state.value, str(e.target)) for e in reloaded.evaluate(state, T0 + 1)] == [
        ("resolved", "n1 gpu1")]
    assert [str(a.target) for a in old.active()] == ["n1 gpu0"]
    assert reloaded.active() == []


def test_evaluations_between_samples_change_nothing() -> None:
    """The monitor may tick faster than nodes sample: a node whose sample is not new is
    skipped, and its windows are fed once per sample, so the alerts are the same."""
    rules = HOT + """
[[rule]]
name = "spike"
kind = "zscore"
metric = "gpu.util_pct"
window = "20s"
min_samples = 8

[[rule]]
name = "spread"
kind = "peer"
metric = "gpu.util_pct"
min_peers = 2
min_std = 1

[[rule]]
name = "zone"
kind = "peer"
metric = "cpu.util_pct"
group = "fleet"
min_peers = 2
"""
    base = " ".join(["50", "52", "48", "51", "49"] * 4)
    series = {("n1", "gpu.util_pct", 0): f"{base} 95 95 95 95 50 50",
              ("n1", "gpu.util_pct", 1): "50x26", ("n1", "gpu.util_pct", 2): "51x26",
              ("n1", "cpu.util_pct", None): "10x20 90x6", ("n2", "cpu.util_pct", None): "10x26",
              ("n3", "cpu.util_pct", None): "11x26"}
    once = play(rules, series)
    thrice = play(rules, series, extra_evals=[T0 + i + d for i in range(26) for d in (0.3, 0.6)])
    assert events(once) == events(thrice)
    assert {e[2] for e in events(once)} == {"hot", "spike", "spread", "zone"}


def test_a_firing_gpu_alert_follows_each_sample_and_keeps_its_worst_while_it_dips() -> None:
    """What the alerts pane shows of a firing alert: its newest value, the value it last held
    at (the group's worst member), when it last held, and since when it dipped."""
    rules = parse_rules(HOT.replace('for = "3s"', 'for = "0s"\nkeep_firing_for = "30s"'))[0]
    engine = AlertEngine(rules)
    state = FleetState()
    state.apply(NodeJoined(T0, "n1"))
    state.apply(HelloReceived(T0, "n1", hello("n1", gpus=0)))

    def step(t: float, util: float) -> None:
        changes = state.apply(SampleReceived(T0 + t, "n1", _gpu_sample(T0 + t, int(t) + 1,
                                                                          {0: util, 1: 10.0})))
        engine.evaluate(state, T0 + t, changes + state.tick(T0 + t))

    for t, util in enumerate([90.0, 97.0, 93.0]):
        step(float(t), util)
        (a,) = engine.active()
        assert (a.state, a.value, a.held_value, a.last_true, a.false_since) == (
            AlertState.FIRING, util, util, T0 + t, None)
    step(3.0, 60.0)  # dips: still firing (keep_firing_for), the held value stays
    (a,) = engine.active()
    assert (a.state, a.value, a.held_value, a.last_true, a.false_since) == (
        AlertState.FIRING, 60.0, 93.0, T0 + 2, T0 + 3)
    step(4.0, 91.0)  # holds again: the dip is forgotten
    (a,) = engine.active()
    assert (a.value, a.held_value, a.last_true, a.false_since) == (91.0, 91.0, T0 + 4, None)


def test_active_alerts_list_firing_then_pending_each_most_severe_then_oldest_first() -> None:
    """What the alerts pane lists first: firing before pending; within each, critical before
    warning before info; then the alert that started first."""
    rules = (
        '[[rule]]\nname = "warn"\nmetric = "gpu.util_pct"\nthreshold = 85\nfor = "2s"\n'
        '[[rule]]\nname = "crit"\nmetric = "gpu.util_pct"\nthreshold = 95\nfor = "2s"\n'
        'severity = "critical"\n'
        '[[rule]]\nname = "note"\nmetric = "gpu.temp_c"\nthreshold = 60\nfor = "2s"\n'
        'severity = "info"\n'
    )
    p = play(rules, {("n1", "gpu.util_pct", 0): "90 90 90 90 90 90",  # warn, firing from 2 s
                     ("n1", "gpu.util_pct", 1): "10 10 10 99 99 99",  # warn + crit, from 3 s
                     ("n1", "gpu.util_pct", 2): "10 10 10 10 99 99",  # warn + crit, pending
                     ("n1", "gpu.temp_c", 0): "70 70 70 70 70 70",  # note, firing from 2 s
                     ("n1", "gpu.temp_c", 1): "10 10 10 10 70 70"})  # note, pending
    got = [(a.state.value, a.rule.name, str(a.target)) for a in p.engine.active()]
    assert got == [
        ("firing", "crit", "n1 gpu1"),
        ("firing", "warn", "n1 gpu0"),
        ("firing", "warn", "n1 gpu1"),
        ("firing", "note", "n1 gpu0"),
        ("pending", "crit", "n1 gpu2"),
        ("pending", "warn", "n1 gpu2"),
        ("pending", "note", "n1 gpu1"),
    ]
