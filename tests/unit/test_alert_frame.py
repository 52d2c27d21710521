"""The per-tick columns the alert engine reads (analysis/alerts/frame.py), and its shortcuts:
each must give what reading node by node gives."""

from __future__ import annotations

import math
import operator
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from autoglm_tui.analysis.alerts import Rule
from autoglm_tui.analysis.alerts.frame import Frame, Layouts, hits
from autoglm_tui.analysis.alerts.kinds.peer import peer_may_fire, peer_screen
from autoglm_tui.analysis.derive import GPU_FIELDS, derive
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived
from autoglm_tui.model import GpuSample, NvLinkErrors, XidEvent

from .samples import hello, proc, sample

T0 = 1000.0


def fleet(gpus: dict[str, list[int]], t: float = T0) -> FleetState:
    """Nodes with the given GPU indices; GPU i of node k runs at 10 * k + i percent."""
    state = FleetState()
    for k, (name, indices) in enumerate(gpus.items()):
        state.apply(NodeJoined(t, name))
        state.apply(HelloReceived(t, name, hello(name, gpus=len(indices))))
        s = sample(t, 1, gpus=0, procs=tuple(proc(100 * k + j) for j in range(k + 1)))
        s = replace(s, gpus=tuple(
            GpuSample(index=i, uuid=f"G{i}", state="ok", util_pct=float(10 * k + i),
                      mem_used_bytes=(i + 1) << 30, mem_total_bytes=(80 << 30) if i else 0)
            for i in indices))
        state.apply(SampleReceived(t, name, s))
    return state


def frame_of(state: FleetState, layouts: Layouts | None = None,
             interned: dict | None = None) -> Frame:  # type: ignore[type-arg]
    nodes = list(state.nodes.values())
    return Frame([n.node_id for n in nodes], nodes, list(range(len(nodes))),
                 [T0] * len(nodes), {} if interned is None else interned,
                 layouts or Layouts(), "new")


def test_hits_are_the_known_values_that_hold() -> None:
    assert hits([1.0, 5.0, None, 7.0, 2.0], operator.gt, 4.0) == [1, 3]
    assert hits([1.0, 2.0], operator.gt, 4.0) == []
    assert hits([None, None], operator.lt, 4.0) == []
    assert hits([], operator.gt, 0.0) == []
    assert hits([4.0, 3.0, None], operator.ne, 4.0) == [1]
    assert hits([math.nan, 9.0], operator.gt, 4.0) == [1]  # NaN holds nothing, hides nothing
    # An int column against a whole float threshold: exact, also past 2**53 where a float
    # cannot tell neighbours apart.
    big = 2 ** 53
    assert hits([big - 1, big, big + 1], operator.gt, float(big)) == [2]
    assert hits([big + 1, 3], operator.ge, float(big)) == [0]
    assert hits([5, 6, 7], operator.gt, 5.5) == [1, 2]  # not whole: compared as it is
    assert hits([5, 6.5, None, 7], operator.ge, 6.0) == [1, 3]


def test_columns_are_the_derived_metrics_node_by_node() -> None:
    state = fleet({"a": [0, 1], "b": [], "c": [3, 1, 2]})
    f = frame_of(state)
    gpus = f.gpus
    assert gpus.off == [0, 2, 2, 5]
    for metric in ("gpu.util_pct", "gpu.mem_used_pct", "gpu.mem_used_bytes", "gpu.temp_c"):
        col = gpus.col(metric)
        assert gpus.col(metric) is col  # built once, shared
        expected = []
        for node in state.nodes.values():
            assert node.last_sample is not None
            d = derive(node.last_sample, None)
            expected += [d.get((metric, g.index)) for g in node.last_sample.gpus]
        assert col == expected, metric
    assert gpus.col("gpu.no_such_metric") == [None] * 5
    assert gpus.subjects() == [(0, 1), (), (3, 1, 2)]
    assert [gpus.subject(i) for i in range(3)] == [(0, 1), (), (3, 1, 2)]
    assert gpus.owners([4, 0, 1, 2]) == [0, 2]  # node b has no GPU: never an owner
    procs = f.procs
    assert procs.subjects() == [[0], [100, 101], [200, 201, 202]]
    assert procs.col("proc.cpu_pct") == [12.5] * 6
    assert f.node_col("cpu.util_pct") == [10.0, 10.0, 10.0]
    assert f.node_col("svc.latency_p95_s") == [None, None, None]  # no service: no data
    assert f.index == {"a": 0, "b": 1, "c": 2}


# GPUs whose health fields differ: none (an old sampler), all, and only fields that alone do
# not look like health to a quick glance (throttle shares, a replay counter, NVLink errors)
HEALTHY = dict(clock_reasons=0x8, xids=(XidEvent(990.0, 79), XidEvent(995.0, 13)),
               xid_total=2, remap_pending=1, retired_pages=0, retired_pending=0,
               pcie_width=8, pcie_width_max=16, pcie_replay=3, nvlink_links=4,
               nvlink_errors=(NvLinkErrors(0, crc_flit=2, replay=1),))
GPU_HEALTHS = [{}, HEALTHY, dict(throttle_power_pct=12.5), dict(pcie_replay=7),
               dict(nvlink_links=2, nvlink_errors=(NvLinkErrors(1, recovery=4),))]


def test_gpu_columns_are_each_gpus_own_figures_whatever_its_health() -> None:
    """The columns are picked out of the figures the fold read (NodeState.figures): for GPUs
    with and without health, nodes mixing both, nodes all alike (read all at once) and a node
    whose newest sample the fold has not read, each value is the GpuSample's own."""
    state = FleetState()
    layouts: list[list[dict[str, object]]] = [
        [HEALTHY, HEALTHY], [HEALTHY, HEALTHY], [{}, HEALTHY, GPU_HEALTHS[2]],
        [GPU_HEALTHS[3], GPU_HEALTHS[4]], [{}, {}], []]
    for k, healths in enumerate(layouts):
        name = f"n{k}"
        state.apply(NodeJoined(T0, name))
        state.apply(HelloReceived(T0, name, hello(name, gpus=len(healths))))
        s = replace(sample(T0, 1, gpus=0), gpus=tuple(
            GpuSample(index=i, uuid=f"{name}-{i}", state="ok", util_pct=float(10 * k + i),
                      mem_used_bytes=(i + 1) << 30, mem_total_bytes=80 << 30, **h)  # type: ignore[arg-type]
            for i, h in enumerate(healths)))
        state.apply(SampleReceived(T0, name, s))
    # A sample the fold never read (set by hand): read off the sample itself.
    late = state.nodes["n4"]
    assert late.last_sample is not None
    late.last_sample = replace(late.last_sample, gpus=tuple(
        replace(g, util_pct=99.0, clock_reasons=0x20) for g in late.last_sample.gpus))

    def by_hand(f: Frame, metric: str) -> list[object]:
        return [GPU_FIELDS[metric](g) for s in f.samples for g in s.gpus]

    f = frame_of(state)
    for metric in GPU_FIELDS:
        assert f.gpus.col(metric) == by_hand(f, metric), metric
    assert f.gpus.col("gpu.util_pct")[-2:] == [99.0, 99.0]
    assert f.gpus.col("gpu.xid_critical")[:2] == [1, 1]  # Xid 79 is critical, 13 is not
    # Nodes that all share one shape: every column read at once, the same values.
    for keep in (["n0", "n1"], ["n4"], ["n2"]):
        nodes = [state.nodes[n] for n in keep]
        g = Frame(keep, nodes, list(range(len(nodes))), [T0] * len(nodes), {}, Layouts(), "new")
        for metric in GPU_FIELDS:
            assert g.gpus.col(metric) == by_hand(g, metric), (keep, metric)


def test_equal_gpu_sets_share_one_tuple() -> None:
    interned: dict = {}  # type: ignore[type-arg]
    f = frame_of(fleet({"a": [0, 1], "b": [0, 1], "c": [1, 0]}), interned=interned)
    subs = f.gpus.subjects()
    assert subs[0] is subs[1] and subs[0] is not subs[2]
    g = frame_of(fleet({"x": [0, 1]}), interned=interned)
    assert g.gpus.subject(0) is subs[0]  # across frames and ticks too


def test_layout_cache_is_used_only_while_it_matches() -> None:
    layouts = Layouts()
    first = frame_of(fleet({"a": [0, 1], "b": [0, 1]}), layouts)
    subs, slices = first.gpus.subjects(), first.gpus.slices()
    same = frame_of(fleet({"a": [0, 1], "b": [0, 1]}, t=T0 + 1), layouts)
    assert same.gpus.subjects() is subs and same.gpus.slices() is slices
    # Same offsets, other GPUs (one dropped out, another came back): new subjects.
    moved = frame_of(fleet({"a": [0, 1], "b": [0, 3]}, t=T0 + 2), layouts)
    assert moved.gpus.slices() is slices
    assert moved.gpus.subjects() == [(0, 1), (0, 3)]
    # A node left: new offsets, new slices, and the right values for the one that stays.
    left = frame_of(fleet({"b": [0, 3]}, t=T0 + 3), layouts)
    assert left.gpus.slices() == [slice(0, 2)]
    assert left.gpus.subjects() == [(0, 3)]
    assert left.gpus.col("gpu.util_pct") == [0.0, 3.0]


rows = st.lists(
    st.lists(st.one_of(st.none(), st.floats(-1e12, 1e12), st.integers(0, 1 << 40)),
             min_size=0, max_size=9),
    min_size=1, max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(rows, st.floats(0.1, 6), st.floats(0, 1e6), st.sampled_from(["both", "above", "below"]),
       st.integers(2, 5), st.floats(1e-6, 1e6))
def test_peer_screen_keeps_every_node_that_may_fire(
    values: list[list[float | None]], z: float, min_std: float, direction: str,
    min_peers: int, scale: float,
) -> None:
    values = [[None if v is None else v * scale for v in row] for row in values]
    rule = Rule(name="p", kind="peer", metric="gpu.util_pct", z=z, min_std=min_std,
                direction=direction, min_samples=min_peers)
    col = [v for row in values for v in row]
    off = 0
    slices = []
    for row in values:
        slices.append(slice(off, off + len(row)))
        off += len(row)
    kept = set(peer_screen(col, slices, z * min_std))
    for i, row in enumerate(values):
        if peer_may_fire(rule, row):
            assert i in kept, (row, z, min_std)


def test_peer_screen_drops_tight_nodes() -> None:
    col = [50.0, 51.0, 52.0, 50.5, 10.0, 90.0, 50.0, 50.0]
    assert peer_screen(col, [slice(0, 4), slice(4, 8)], 3 * 5.0) == [1]
    assert peer_screen([50.0, None, 99.0], [slice(0, 3)], 15.0) == [0]
    assert peer_screen([50.0, None, 51.0], [slice(0, 3)], 15.0) == []
