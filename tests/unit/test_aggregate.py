"""Label groups with sum and mean per metric, the cluster summary and the sampler's own cost."""

from __future__ import annotations

import pytest

from autoglm_tui.analysis.aggregate import (
    DEFAULT_METRICS,
    MEAN,
    SUM,
    WORST,
    aggregate,
    cluster_summary,
    combine,
    group_by_label,
    label_keys,
)
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import (
    HelloReceived,
    NodeJoined,
    NodeStatus,
    NodeUnreachable,
    RegistryChanged,
    SampleReceived,
)
from autoglm_tui.model import SelfSample

from .samples import hello, replace, sample


def _fleet() -> FleetState:
    st = FleetState()
    specs = [("a1", "a", 90.0, 20.0), ("a2", "a", 70.0, 40.0), ("b1", "b", 10.0, 60.0)]
    for nid, zone, util, cpu in specs:
        st.apply(NodeJoined(1.0, nid, labels={"zone": zone}))
        st.apply(HelloReceived(1.0, nid, hello(nid)))
        st.apply(SampleReceived(2.0, nid, sample(2.0, 1, gpu_util=util, cpu=cpu)))
    st.apply(NodeJoined(1.0, "x", labels={}))  # no sample yet, no zone label
    return st


def test_group_by_label_sums_and_means_per_metric() -> None:
    groups = group_by_label(_fleet().nodes.values(), "zone")
    assert [(g.title, g.node_ids) for g in groups] == [
        ("a", ("a1", "a2")), ("b", ("b1",)), ("(none)", ("x",))
    ]
    a = groups[0].agg
    assert (a.nodes, a.live, a.gpus) == (2, 2, 4)
    assert a.mean("gpu.util_pct") == 80.0  # (90+90+70+70)/4 GPUs
    assert a.sum("gpu.mem_used_bytes") == 4 * (40 << 30)
    assert a.sum("gpu.mem_total_bytes") == 4 * (80 << 30)
    assert a.mean("cpu.util_pct") == 30.0
    assert a.sum("cpu.util_pct") == 60.0
    assert a.mean("svc.tokens_per_s") is None  # no service anywhere: unknown, not 0
    none = groups[2].agg
    assert (none.nodes, none.live, none.gpus, none.mean("gpu.util_pct")) == (1, 0, 0, None)


def test_a_group_shows_means_and_max_of_levels_sums_of_amounts_worst_latency() -> None:
    """Issue 15 item 9: no sums of percentages; the group P95 is the worst member's."""
    assert [combine(m) for m in ("gpu.util_pct", "mem.used_pct", "gpu.temp_c",
                                 "gpu.mem_used_bytes", "net.rx_bps", "gpu.power_w",
                                 "svc.tokens_per_s", "svc.latency_p95_s")] == [
        MEAN, MEAN, MEAN, SUM, SUM, SUM, SUM, WORST]
    st = FleetState()
    for nid, util, p95 in (("n1", 90.0, 0.4), ("n2", 50.0, 2.5), ("n3", 70.0, None)):
        st.apply(NodeJoined(1.0, nid, labels={"zone": "a"}))
        st.apply(HelloReceived(1.0, nid, hello(nid)))
        st.apply(SampleReceived(2.0, nid, sample(2.0, 1, gpu_util=util, cpu=util / 2)))
        if p95 is not None:
            st.nodes[nid].metrics[("svc.latency_p95_s", None)] = p95
    (g,) = group_by_label(st.nodes.values(), "zone")
    agg = g.agg
    assert agg.figure("gpu.util_pct") == 70.0 and agg.max("gpu.util_pct") == 90.0
    assert agg.figure("cpu.util_pct") == 35.0 and agg.max("cpu.util_pct") == 45.0
    assert agg.figure("gpu.mem_used_bytes") == agg.sum("gpu.mem_used_bytes") == 6 * (40 << 30)
    assert agg.figure("svc.latency_p95_s") == 2.5  # the worst, not the mean 1.45
    assert aggregate([]).max("gpu.util_pct") is None


def test_only_up_nodes_count_in_live_figures() -> None:
    st = _fleet()
    st.apply(NodeUnreachable(3.0, "a1", "connection refused"))
    agg = aggregate(st.nodes.values())
    assert (agg.nodes, agg.live, agg.gpus) == (4, 2, 4)
    assert agg.mean("gpu.util_pct") == 40.0  # a2 and b1 only


def test_cluster_summary() -> None:
    st = _fleet()
    s = cluster_summary(st, alerts_firing=2)
    assert (s.nodes_up, s.nodes_total, s.gpus) == (3, 4, 6)
    assert s.gpu_mem_used == 6 * (40 << 30) and s.gpu_mem_total == 6 * (80 << 30)
    assert s.gpu_util_mean == pytest.approx((90 + 70 + 10) / 3)
    assert s.cpu_mean == pytest.approx(40.0)
    assert s.alerts_firing == 2
    assert s.registry == "none"
    st.apply(RegistryChanged(3.0, False, "etcd unreachable"))
    s = cluster_summary(st)
    assert (s.registry, s.registry_reason) == ("degraded", "etcd unreachable")
    st.apply(RegistryChanged(4.0, True))
    assert cluster_summary(st).registry == "ok"


def test_empty_fleet_summary_is_unknown_not_zero() -> None:
    s = cluster_summary(FleetState())
    assert (s.nodes_total, s.gpus, s.gpu_util_mean, s.gpu_mem_total) == (0, 0, None, None)


def test_label_keys() -> None:
    st = _fleet()
    st.apply(NodeJoined(1.0, "y", labels={"rack": "r1"}))
    assert label_keys(st.nodes.values()) == ["rack", "zone"]


def test_sampler_cost_is_cpu_time_over_sample_time() -> None:
    st = FleetState()
    st.apply(SampleReceived(1.0, "n", replace(sample(10.0, 1), self_cost=SelfSample(1.0, 1))))
    assert st.nodes["n"].sampler_cpu_pct is None  # one sample: no rate yet
    st.apply(SampleReceived(3.0, "n", replace(sample(12.0, 2), self_cost=SelfSample(1.1, 1))))
    assert st.nodes["n"].sampler_cpu_pct == pytest.approx(5.0)  # 0.1 s CPU over 2 s
    st.apply(SampleReceived(3.5, "n", replace(sample(12.0, 2), self_cost=SelfSample(1.1, 1))))
    assert st.nodes["n"].sampler_cpu_pct == pytest.approx(5.0)  # same sample again: unchanged
    st.apply(SampleReceived(4.0, "n", replace(sample(13.0, 3), self_cost=SelfSample(0.01, 1))))
    assert st.nodes["n"].sampler_cpu_pct is None  # the sampler restarted: its CPU time went back


def test_process_cost_from_cumulative_cpu_time() -> None:
    from autoglm_tui.analysis.process_cost import ProcessCost
    from autoglm_tui.events import MonitorCost

    cost = ProcessCost().after(10.0, 2.0, 50 << 20)
    assert cost.cpu_pct is None and cost.rss_bytes == 50 << 20  # one reading: no rate yet
    cost = cost.after(12.0, 2.5, 51 << 20)
    assert cost.cpu_pct == 25.0
    assert cost.after(13.0, 1.0, 1).cpu_pct is None  # CPU time went back: a new process
    st = FleetState()
    st.apply(MonitorCost(1.0, 1.0, 10))
    st.apply(MonitorCost(3.0, 1.1, 20))
    assert st.monitor_cost.cpu_pct == pytest.approx(5.0) and st.monitor_cost.rss_bytes == 20
    assert st.clone().monitor_cost == st.monitor_cost


def test_sums_made_when_samples_come_equal_the_sums_of_the_newest_values() -> None:
    """The fleet summary's GPU sums are made as each sample is folded in (a rollup per
    node); they must be what summing every GPU's newest value gives, with GPUs whose value
    is unknown left out, and a node whose rollup is not of its newest sample is summed
    afresh."""
    from autoglm_tui.cluster.synthetic import SyntheticFleet

    fleet = SyntheticFleet(nodes=12, gpus=4, seed=3)
    st = FleetState()
    for e in fleet.join_events(100.0):
        st.apply(e)
    for k in range(3):
        for e in fleet.tick_events(101.0 + k):
            st.apply(e)
    some = next(iter(st.nodes.values()))
    last = some.last_sample
    assert last is not None
    unknown = replace(last, seq=last.seq + 1, t=last.t + 1.0,  # one GPU's util not known
                      gpus=(replace(last.gpus[0], util_pct=None), *last.gpus[1:]))
    st.apply(SampleReceived(104.0, some.node_id, unknown))
    assert some.metrics[("gpu.util_pct", some.gpu_indices()[0])] is None
    other = list(st.nodes.values())[1]
    assert other.rollups is not None
    other.rollups = (last, other.rollups[1])  # a rollup not of its newest sample: not used
    metrics = ("gpu.util_pct", "gpu.mem_used_bytes", "gpu.mem_total_bytes", "gpu.temp_c")
    rolled = aggregate(st.nodes.values(), metrics)
    for node in st.nodes.values():
        node.rollups = None
    fresh = aggregate(st.nodes.values(), metrics)
    for m in metrics:
        assert rolled.stats[m].count == fresh.stats[m].count
        assert rolled.stats[m].sum == pytest.approx(fresh.stats[m].sum, rel=1e-12)
        assert rolled.max(m) == fresh.max(m)
    assert rolled.stats["gpu.util_pct"].count == 12 * 4 - 1
    by_hand = [v for n in st.nodes.values() for i in n.gpu_indices()
               if (v := n.metrics.get(("gpu.util_pct", i))) is not None]
    assert rolled.mean("gpu.util_pct") == pytest.approx(sum(by_hand) / len(by_hand))


def test_node_figures_are_summed_over_the_up_nodes_that_know_them() -> None:
    """Each node-level and service figure: the sum, count and maximum of the UP nodes' known
    values (an unknown one left out, a node not UP left out), as summing by hand gives."""
    from autoglm_tui.cluster.synthetic import SyntheticFleet

    fleet = SyntheticFleet(nodes=16, gpus=2, seed=5)
    st = FleetState()
    for e in fleet.join_events(100.0):
        st.apply(e)
    for k in range(8):  # two service scrapes: service rates are known on the serving nodes
        for e in fleet.tick_events(101.0 + k):
            st.apply(e)
    gone = list(st.nodes)[3]
    st.apply(NodeUnreachable(110.0, gone, "test"))
    agg = aggregate(st.nodes.values())
    up = [n for n in st.nodes.values() if n.status is NodeStatus.UP]
    assert agg.live == len(up) == 15
    checked = 0
    for m in DEFAULT_METRICS:
        if not m.startswith(("cpu.", "mem.", "net.", "disk.", "svc.")):
            continue
        known = [v for n in up if (v := n.metrics.get((m, None))) is not None]
        assert agg.stats[m].count == len(known), m
        assert agg.stats[m].total == sum(known), m
        assert agg.max(m) == (max(known) if known else None), m
        checked += bool(known)
    assert checked >= 6  # CPU, memory, net, disk and the services' figures were there
