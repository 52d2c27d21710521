"""Straggler detection: a GPU far from its peers (robust z-score over the median deviation)."""

from __future__ import annotations

import math

from autoglm_tui.analysis.peers import gpu_stragglers, outliers
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import NodeJoined, NodeUnreachable, SampleReceived

from .samples import replace, sample


def test_one_gpu_lagging_an_otherwise_identical_group_is_marked() -> None:
    values = {i: 95.0 for i in range(8)} | {3: 20.0}
    out = outliers(values, min_gap=20.0, metric="gpu.util_pct", group="n1")
    assert list(out) == [3]
    dev = out[3]
    assert dev.low and dev.median == 95.0 and dev.z == -math.inf
    assert "below" in dev.describe()


def test_jitter_in_a_tight_group_is_not_marked() -> None:
    values = {0: 90.0, 1: 91.0, 2: 89.0, 3: 95.0, 4: 90.5, 5: 90.0, 6: 89.5, 7: 90.2}
    assert outliers(values, min_gap=20.0) == {}  # 95 is many MADs away but only 5 points


def test_a_spread_out_group_marks_only_the_far_member() -> None:
    values = {0: 40.0, 1: 55.0, 2: 70.0, 3: 60.0, 4: 50.0, 5: 45.0, 6: 65.0, 7: 100.0}
    assert outliers(values, min_gap=20.0) == {}  # 100 is 2.9 robust sigmas off: not marked
    assert outliers(values, min_gap=20.0, z_threshold=2.5).keys() == {7}


def test_a_group_split_in_two_camps_marks_nobody() -> None:
    values = {0: 95.0, 1: 96.0, 2: 94.0, 3: 10.0, 4: 12.0, 5: 11.0, 6: 9.0, 7: 30.0}
    assert outliers(values, min_gap=20.0) == {}  # 3 of 8 "off" is not a straggler


def test_small_groups_and_unknown_values_are_skipped() -> None:
    assert outliers({0: 90.0, 1: 5.0}, min_gap=10.0) == {}
    assert outliers({0: 90.0, 1: None, 2: 5.0, 3: float("nan")}, min_gap=10.0) == {}


def _node(st: FleetState, nid: str, utils: list[float], zone: str) -> None:
    s = sample(2.0, 1, gpus=len(utils))
    gpus = tuple(replace(g, util_pct=u) for g, u in zip(s.gpus, utils, strict=True))
    st.apply(NodeJoined(1.0, nid, labels={"zone": zone}))
    st.apply(SampleReceived(2.0, nid, replace(s, gpus=gpus)))


def test_gpu_stragglers_per_node_and_per_label_group() -> None:
    st = FleetState()
    _node(st, "n1", [95, 96, 94, 30], "a")
    _node(st, "n2", [10, 12, 11, 9], "a")  # idle node: its own GPUs agree
    per_node = gpu_stragglers(st.nodes.values())
    assert set(per_node) == {("n1", 3)}
    assert per_node[("n1", 3)][0].metric == "gpu.util_pct"
    assert per_node[("n1", 3)][0].group == "n1"
    # As one zone-wide group of 8 GPUs, 3 busy and 5 idle: two camps, not a straggler.
    assert gpu_stragglers(st.nodes.values(), label="zone") == {}


def test_nodes_that_are_not_up_are_left_out() -> None:
    st = FleetState()
    _node(st, "n1", [95, 96, 94, 30], "a")
    st.apply(NodeUnreachable(3.0, "n1", "down"))
    assert gpu_stragglers(st.nodes.values()) == {}
