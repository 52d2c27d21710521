"""Scaling advice by Kubernetes' HPA rule: ceil(current x observed / target), tolerance,
limits and the scale-down stabilisation window."""

from __future__ import annotations

from autoglm_tui.analysis.diagnosis import DiagnosisConfig, advise
from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.config import ScalingConfig
from autoglm_tui.analysis.diagnosis.registry import Context
from autoglm_tui.analysis.diagnosis.scaling import hpa_desired
from autoglm_tui.events import NodeStatus
from tests.unit.diag_kit import const, make_node, run, step


def fleet(util, n: int = 4, label: str = "llm-70b", seconds: float = 420,
          extra: dict | None = None):
    return [make_node({**{(M.GPU_UTIL, g): util for g in range(4)}, **(extra or {})}, seconds,
                      node_id=f"{label}-{i}", labels={"service": label}) for i in range(n)]


def advice(nodes, config=None):
    now = max(n.last_sample_at for n in nodes)
    return advise(Context({n.node_id: n for n in nodes}, now, config))


def test_the_hpa_formula_and_its_tolerance() -> None:
    assert hpa_desired(4, 92.0, 70.0, 0.1) == 6  # ceil(4 x 1.314) = 6
    assert hpa_desired(4, 75.0, 70.0, 0.1) == 4  # 7% off: within tolerance
    assert hpa_desired(4, 30.0, 70.0, 0.1) == 2  # ceil(1.71)
    assert hpa_desired(3, 70.0 * 4 / 3, 70.0, 0.1) == 4  # exactly 4: no float drift to 5


def test_busy_group_scales_out_in_the_seed_example_words() -> None:
    nodes = fleet(const(92.0))
    found = [f for f in run(*nodes) if f.name.startswith("scale")]
    assert [f.verdict for f in found] == [
        "llm-70b: 4 -> 6 replicas (GPU util 92% vs target 70%)"]
    assert found[0].name == "scale_out" and found[0].subject.group == "service=llm-70b"
    assert found[0].data["current"] == 4 and found[0].data["desired"] == 6


def test_within_tolerance_nothing_changes_but_advise_still_reports_the_group() -> None:
    nodes = fleet(const(74.0))
    assert [f for f in run(*nodes) if f.name.startswith("scale")] == []
    (a,) = advice(nodes)
    assert (a.current, a.desired) == (4, 4)
    assert a.line() == "llm-70b: 4 -> 4 replicas (GPU util 74% vs target 70%)"


def test_quiet_group_scales_in_after_five_quiet_minutes() -> None:
    (a,) = advice(fleet(const(30.0)))
    assert (a.current, a.desired, a.stabilized) == (4, 2, False)


def test_a_recent_dip_is_held_by_the_stabilisation_window() -> None:
    # busy until 2 minutes ago, quiet since: HPA keeps the highest recent recommendation
    (a,) = advice(fleet(step(72.0, 30.0, 300)))
    assert a.recommended_now == 2
    assert a.desired == 4 and a.stabilized
    assert "stabilisation window" in a.line()


def test_queue_per_replica_and_the_largest_metric_wins() -> None:
    nodes = fleet(const(70.0), extra={(M.SVC_QUEUE, None): const(12.0)})
    (a,) = advice(nodes)
    assert a.driver is not None and a.driver.metric == "queue_per_replica"
    assert [m.desired for m in a.metrics] == [4, 12]  # GPU util on target; queue 12 vs 4
    assert a.desired == 8  # HPA's scale-up limit: at most double (or +4) at once


def test_limits_min_max_and_scale_up_rate() -> None:
    cfg = DiagnosisConfig(scaling=ScalingConfig(max_replicas=5, min_replicas=3))
    (a,) = advice(fleet(const(92.0)), cfg)
    assert a.desired == 5
    (a,) = advice(fleet(const(5.0)), cfg)
    assert a.desired == 3


def test_only_up_nodes_with_the_label_are_replicas() -> None:
    stale = make_node({(M.GPU_UTIL, 0): const(10.0)}, 420, node_id="s",
                      labels={"service": "llm-70b"}, status=NodeStatus.STALE)
    other = make_node({(M.GPU_UTIL, 0): const(10.0)}, 420, node_id="x")
    (a,) = advice([*fleet(const(92.0)), stale, other])
    assert a.current == 4 and "s" not in a.members and "x" not in a.members
