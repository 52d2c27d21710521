"""The cluster's node table as values: row order, sort keys, label groups (pure)."""

from __future__ import annotations

from autoglm_tui.analysis.node_table import (
    TableFacts,
    gpu_mean,
    gpu_sum,
    natural_key,
    order_rows,
    sort_items,
)
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived

from .samples import hello, sample


def _fleet() -> FleetState:
    st = FleetState()
    specs = [("n10", "a", 90.0, 20.0), ("n9", "a", 70.0, 40.0), ("n2", "b", 10.0, 60.0)]
    for nid, zone, util, cpu in specs:
        st.apply(NodeJoined(1.0, nid, labels={"zone": zone}))
        st.apply(HelloReceived(1.0, nid, hello(nid)))
        st.apply(SampleReceived(2.0, nid, sample(2.0, 1, gpu_util=util, cpu=cpu)))
    st.apply(NodeJoined(1.0, "x", labels={}))  # no sample: unknown figures, no zone
    return st


def _facts(alerts: dict[str, int] | None = None) -> TableFacts:
    return TableFacts(3.0, alerts or {})


def test_natural_order_and_unknown_values_last() -> None:
    assert sorted(["node-10", "node-9", "node-100"], key=natural_key) == [
        "node-9", "node-10", "node-100"]
    pairs = [(None, "a"), (2.0, "b"), (1.0, "c"), (None, "d")]
    assert sort_items(pairs, reverse=False) == ["c", "b", "a", "d"]
    assert sort_items(pairs, reverse=True) == ["b", "c", "a", "d"]  # unknown last both ways


def test_rows_sorted_by_a_column() -> None:
    nodes = list(_fleet().nodes.values())
    by_name = order_rows(nodes, _facts(), "node", reverse=False)
    assert by_name == [("node", "n2"), ("node", "n9"), ("node", "n10"), ("node", "x")]
    busiest = order_rows(nodes, _facts(), "cpu", reverse=True)
    assert [nid for _, nid in busiest] == ["n2", "n9", "n10", "x"]  # x has no CPU figure
    alerts = order_rows(nodes, _facts({"n9": 3}), "alerts", reverse=True)
    assert alerts[0] == ("node", "n9")


def test_name_order_is_the_sort_of_every_other_column_and_follows_the_nodes() -> None:
    """The name order is kept between repaints while the same nodes are shown: it is what
    sorting by the name as a column value gives (ties in their given order, both ways), and a
    node added or filtered out is in (or out of) the next one at once."""
    st = FleetState()
    names = ["node-10", "Node-2", "node-2", "gpu-a", "node-9", "node-100", "a1b2", "a1b10"]
    for nid in names:
        st.apply(NodeJoined(1.0, nid, labels={}))
    nodes = list(st.nodes.values())
    for reverse in (False, True):
        want = sort_items(((natural_key(n.node_id), n.node_id) for n in nodes), reverse)
        assert [nid for _, nid in order_rows(nodes, _facts(), "node", reverse)] == want
        assert order_rows(nodes, _facts(), "node", reverse) == \
            order_rows(nodes, _facts(), "node", reverse)
    rows = order_rows(nodes, _facts(), "node", False)
    assert rows[:2] == [("node", "a1b2"), ("node", "a1b10")]
    assert rows.index(("node", "Node-2")) + 1 == rows.index(("node", "node-2"))  # given order
    st.apply(NodeJoined(1.0, "node-3", labels={}))
    rows = order_rows(list(st.nodes.values()), _facts(), "node", False)
    assert rows.index(("node", "node-3")) == rows.index(("node", "node-2")) + 1
    shown = [n for n in st.nodes.values() if n.node_id != "node-9"]  # a filter
    assert ("node", "node-9") not in order_rows(shown, _facts(), "node", False)
    rows.clear()  # a caller may change its list: the next repaint's is whole
    assert len(order_rows(list(st.nodes.values()), _facts(), "node", False)) == 9


def test_groups_with_their_figures_and_open_groups_list_members() -> None:
    nodes = list(_fleet().nodes.values())
    facts = _facts({"n10": 1, "n9": 2})
    rows = order_rows(nodes, facts, "node", reverse=False, group_key="zone")
    # by title: "(none)" (the unlabelled, value "") sorts before letters
    assert rows == [("group", ""), ("group", "a"), ("group", "b")]
    a = facts.groups["a"]
    assert (a.title, a.alerts, a.members, a.agg.gpus) == ("a", 3, ("n10", "n9"), 4)
    facts = _facts()
    rows = order_rows(nodes, facts, "cpu", reverse=True, group_key="zone", open_groups={"a"})
    assert rows[:3] == [("group", "b"), ("group", "a"), ("node", "n9")]  # b's CPU mean: 60
    assert rows[3] == ("node", "n10")


def test_gpu_sums_and_means_over_the_gpus_that_report() -> None:
    node = _fleet().nodes["n10"]
    assert gpu_mean(node, "gpu.util_pct") == 90.0
    assert gpu_sum(node, "gpu.mem_used_bytes") == 2 * (40 << 30)
    assert gpu_sum(node, "gpu.power_w") is None  # unsupported everywhere: unknown, not 0
