"""Alerts grouped by rule and state (alerting/groups.py), with plain data (issue 15, item 8)."""

from __future__ import annotations

from autoglm_tui.alerting.groups import group_alerts, is_open, visible
from autoglm_tui.alerting.pipeline import AlertRow
from autoglm_tui.analysis.alerts import Alert, AlertState, Target, parse_rules

RULES = parse_rules("""
[[rule]]
name = "gpu_util_high"
metric = "gpu.util_pct"
threshold = 85
for = "3m"

[[rule]]
name = "gpu_util_low"
metric = "gpu.util_pct"
op = "<"
threshold = 40
severity = "critical"

[[rule]]
name = "disk_busy"
metric = "disk.read_bps"
threshold = 1e6
""")[0]
RULE = {r.name: r for r in RULES}
NOW = 10_000.0


def row(rule: str, node: str, gpu: int | None, value: float | None, state: AlertState,
        since: float = NOW - 60, acked: bool = False) -> AlertRow:
    a = Alert(RULE[rule], Target(node, gpu=gpu), state, active_since=since, last_true=NOW,
              value=value, held_value=value)
    if state == AlertState.FIRING:
        a.fired_at = since + 1
    if state == AlertState.RESOLVED:
        a.resolved_at = NOW - 5
    return AlertRow(a, acked, None)


def fleet_rows() -> list[AlertRow]:
    """341 pending GPUs on 43 nodes (node-017 gpu3 the hottest), 2 firing, 1 resolved."""
    rows = []
    n = 0
    for node in range(43):
        for gpu in range(8):
            if n == 341:
                break
            value = 97.0 if (node, gpu) == (17, 3) else 86.0 + (n % 10) / 2
            rows.append(row("gpu_util_high", f"node-{node:03d}", gpu, value, AlertState.PENDING,
                            since=NOW - 100 + n % 7))
            n += 1
    rows.append(row("gpu_util_low", "node-040", 2, 12.0, AlertState.FIRING))
    rows.append(row("gpu_util_low", "node-041", 5, 3.0, AlertState.FIRING, acked=True))
    rows.append(row("disk_busy", "node-002", None, 51_790_000.0, AlertState.RESOLVED))
    return rows


def test_one_group_per_rule_and_state_firing_first() -> None:
    groups = group_alerts(fleet_rows(), NOW)
    assert [(g.state, g.rule, g.size) for g in groups] == [
        (AlertState.FIRING, "gpu_util_low", 2),
        (AlertState.PENDING, "gpu_util_high", 341),
        (AlertState.RESOLVED, "disk_busy", 1),
    ]
    pending = groups[1]
    assert pending.headline() == "gpu_util_high · 341 GPUs on 43 nodes · worst node-017 gpu3 97.0%"
    assert pending.nodes == 43 and pending.subject == "gpu"
    assert pending.since == NOW - 100 and pending.age_s == 100
    # for `<` the lowest value is the worst; counts of acks
    low = groups[0]
    assert low.worst.alert.target == Target("node-041", gpu=5) and low.acked == 1
    # members keep target order (an open group does not reshuffle as values move)
    assert [r.alert.target for r in low.rows] == [Target("node-040", gpu=2),
                                                  Target("node-041", gpu=5)]
    assert low.headline() == "gpu_util_low · 2 GPUs on 2 nodes · worst node-041 gpu5 3.0%"
    # a group of one names its alert; values in their unit
    assert groups[2].headline() == "disk_busy · 1 node · node-002 49.4M/s"
    # the view of one node drops the node names
    assert pending.what(with_nodes=False) == "341 GPUs"
    assert pending.worst_text(with_node=False) == "gpu3 97.0%"


def test_severity_orders_groups_of_one_state_then_size() -> None:
    rows = [row("gpu_util_high", "a", g, 90.0, AlertState.FIRING) for g in range(5)]
    rows += [row("gpu_util_low", "b", 0, 10.0, AlertState.FIRING)]
    assert [g.rule for g in group_alerts(rows, NOW)] == ["gpu_util_low", "gpu_util_high"]


def test_pending_groups_are_closed_firing_open_until_toggled() -> None:
    groups = group_alerts(fleet_rows(), NOW)
    firing, pending, _ = groups
    assert is_open(firing, set()) and not is_open(pending, set())
    lines = visible(groups, set())
    # firing header + its 2 alerts, the pending header only, the resolved alert (one: no header)
    assert [(ln.group.rule, ln.is_header) for ln in lines] == [
        ("gpu_util_low", True), ("gpu_util_low", False), ("gpu_util_low", False),
        ("gpu_util_high", True), ("disk_busy", False)]
    opened = visible(groups, {pending.key})
    assert len(opened) == len(lines) + 341
    closed = visible(groups, {firing.key})
    assert [ln.is_header for ln in closed[:2]] == [True, True]


def test_a_large_firing_group_is_closed_by_default() -> None:
    rows = [row("gpu_util_high", f"n{i}", 0, 90.0, AlertState.FIRING) for i in range(11)]
    (g,) = group_alerts(rows, NOW)
    assert not is_open(g, set()) and is_open(g, {g.key})
    assert is_open(group_alerts(rows[:10], NOW)[0], set())


def test_unknown_values_come_last_and_empty_input() -> None:
    rows = [row("gpu_util_high", "a", 0, None, AlertState.PENDING),
            row("gpu_util_high", "a", 1, 88.0, AlertState.PENDING)]
    (g,) = group_alerts(rows, NOW)
    assert g.worst.alert.target.gpu == 1
    assert group_alerts([], NOW) == []


def test_the_worst_member_is_the_furthest_past_the_threshold_unknown_values_last() -> None:
    """The group line names the member furthest in the rule's direction (the first in target
    order on a tie); a member with no value (None or NaN) is never worse than one with a
    value, and a group with no value at all names its first member."""
    nan = float("nan")
    high = [row("gpu_util_high", "node-001", 0, 90.0, AlertState.PENDING),
            row("gpu_util_high", "node-001", 1, None, AlertState.PENDING),
            row("gpu_util_high", "node-001", 2, nan, AlertState.PENDING),
            row("gpu_util_high", "node-002", 0, 97.0, AlertState.PENDING),
            row("gpu_util_high", "node-003", 0, 97.0, AlertState.PENDING)]
    (group,) = group_alerts(high[::-1], NOW)  # any order in: target order out
    assert group.worst_text() == "node-002 gpu0 97.0%"
    low = [row("gpu_util_low", "node-001", 0, 12.0, AlertState.FIRING),
           row("gpu_util_low", "node-001", 1, 3.0, AlertState.FIRING),
           row("gpu_util_low", "node-002", 0, 3.0, AlertState.FIRING)]
    (group,) = group_alerts(low, NOW)
    assert group.worst_text() == "node-001 gpu1 3.0%"
    unknown = [row("gpu_util_high", f"node-00{n}", 0, v, AlertState.PENDING)
               for n, v in ((2, nan), (1, None))]
    (group,) = group_alerts(unknown, NOW)
    assert group.worst is group.rows[0] and str(group.worst.alert.target) == "node-001 gpu0"
    assert (group.nodes, group.subject, group.acked, group.silenced) == (2, "gpu", 0, 0)
