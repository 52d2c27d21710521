"""Folding a sample the fast way (flat values, keys reused while a node's shape holds, the GPU
and process figures put into ``metrics`` on first read, processes tracked only when the list
of pids changes) must give what deriving a dict per sample and appending it gives: the same
metrics, the same history read back, the same processes known."""

from __future__ import annotations

import math
from dataclasses import replace

from autoglm_tui.analysis.derive import derive
from autoglm_tui.analysis.history import Key
from autoglm_tui.analysis.services import ServiceTracker
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.synthetic import SyntheticFleet
from autoglm_tui.events import SampleReceived
from autoglm_tui.model import ProcGpuUse, ProcSample, Sample

T0 = 1_000_000.0


def _changed(sample: Sample, k: int) -> Sample:
    """The synthetic sample with its shape changed now and then: processes come and go (one
    starts using a GPU), a GPU's util is unknown for a while, a GPU's fan is unknown until
    step 33, then a GPU starts to report health fields, and a GPU drops out of the sample."""
    procs = list(sample.procs)
    gpus = list(sample.gpus)
    if 10 <= k < 25 and procs:
        procs = procs[1:]  # the first process is not listed for a while
    if k >= 15:
        procs.append(ProcSample(90_000 + k // 7, 1, "u", "new", "new", 1.0 + k, 1 << 20, T0))
    if k >= 20:
        procs.append(ProcSample(80_000, 1, "u", "gpu", "gpu", 2.0, 2 << 20, T0,
                                gpus=(ProcGpuUse(0, 1 << 30, 40.0 + k),)))
    if 12 <= k < 18 and gpus:
        gpus[0] = replace(gpus[0], util_pct=None)
    if gpus:  # a figure unknown from the start (no series yet), then known from step 33
        gpus[-1] = replace(gpus[-1], fan_pct=30.0 + k if k >= 33 else None)
    if k >= 30 and len(gpus) > 1:
        gpus[1] = replace(gpus[1], clock_reasons=0, xid_total=k // 10)
    if k >= 40 and len(gpus) > 2:
        del gpus[2]
    return replace(sample, gpus=tuple(gpus), procs=tuple(procs))


def _run(steps: int = 60) -> tuple[FleetState, dict[str, dict[Key, float | None]],
                                   dict[str, object], dict[str, dict[int, float]]]:
    """A fleet state fed changing samples, and for each node what the dict way gives: its
    last metrics dict, its history, and when each pid was last listed."""
    fleet = SyntheticFleet(nodes=6, gpus=4, seed=5)
    state = FleetState(proc_forget_s=1e9, max_procs=1000)
    for e in fleet.join_events(T0):
        state.apply(e)
    ref_metrics: dict[str, dict[Key, float | None]] = {}
    ref_history: dict[str, object] = {}
    trackers: dict[str, ServiceTracker] = {}
    prev: dict[str, Sample] = {}
    listed: dict[str, dict[int, float]] = {}
    for k in range(steps):
        t = T0 + 1 + k
        for e in fleet.tick_events(t):
            sample = _changed(e.sample, k)
            state.apply(SampleReceived(t, e.node_id, sample))
            values = derive(sample, prev.get(e.node_id))
            tracker = trackers.setdefault(e.node_id, ServiceTracker())
            values.update(tracker.update(sample, t)[0])
            history = ref_history.setdefault(e.node_id, state._new_history())
            history.append(t, values)  # type: ignore[attr-defined]
            ref_metrics[e.node_id] = values
            prev[e.node_id] = sample
            listed.setdefault(e.node_id, {}).update((p.pid, t) for p in sample.procs)
    return state, ref_metrics, ref_history, listed


def _first_known(points: list[tuple[float, float | None]]) -> float | None:
    return next((t for t, v in points if v is not None and not math.isnan(v)), None)


def _same(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))


def test_metrics_read_after_the_fast_fold_are_the_derived_dict() -> None:
    state, ref_metrics, _, _ = _run()
    for node_id, node in state.nodes.items():
        assert node.metrics == ref_metrics[node_id]
        assert node.metric("gpu.util_pct", 0) == ref_metrics[node_id][("gpu.util_pct", 0)]


def test_the_node_level_figures_are_there_before_the_gpu_and_process_ones_are_read() -> None:
    state, ref_metrics, _, _ = _run(20)
    node = next(iter(state.nodes.values()))
    head = dict(node.node_metrics)
    assert ("cpu.util_pct", None) in head
    assert not any(isinstance(k[1], int) for k in head)  # no GPU or process key made yet
    assert all(head[k] == v for k, v in ref_metrics[node.node_id].items() if k in head)
    assert len(node.metrics) > len(head)  # read: now every figure is in


def test_history_of_the_fast_fold_reads_back_as_the_dict_way() -> None:
    state, _, ref_history, _ = _run()
    for node_id, node in state.nodes.items():
        ref = ref_history[node_id]
        keys = set(ref.keys())  # type: ignore[attr-defined]
        assert set(node.history.keys()) == keys
        fans = [k for k in keys if k[0] == "gpu.fan_pct"]
        assert fans and all(_first_known(node.history.points(k)) == T0 + 1 + 33 for k in fans)
        for key in keys:
            got = node.history.points(key)
            want = ref.points(key)  # type: ignore[attr-defined]
            assert [t for t, _ in got] == [t for t, _ in want], key
            assert all(_same(a, b) for (_, a), (_, b) in zip(got, want, strict=True)), key


def test_processes_known_are_those_listed_with_their_last_listing() -> None:
    state, _, _, listed = _run()
    for node_id, node in state.nodes.items():
        assert node.proc_seen == listed[node_id]
        assert set(node.proc_info) == set(listed[node_id])
        last = node.last_sample
        assert last is not None
        for p in last.procs:
            assert node.proc_info[p.pid] is p  # the newest listing of a listed process
    node = next(iter(state.nodes.values()))
    gone = 90_000 + 15 // 7  # listed from step 15 to 20, then replaced by the next pid
    assert node.proc_seen[gone] == T0 + 1 + 20
    assert node.proc_info[gone].cpu_pct == 1.0 + 20


def test_processes_unlisted_are_forgotten_after_proc_forget_s() -> None:
    fleet = SyntheticFleet(nodes=1, gpus=2, seed=2)
    state = FleetState(proc_forget_s=5.0)
    for e in fleet.join_events(T0):
        state.apply(e)
    for k in range(20):
        for e in fleet.tick_events(T0 + 1 + k):
            extra = (ProcSample(77_777, 1, "u", "short", "short", 1.0, 1, T0),) if k < 3 else ()
            state.apply(replace(e, sample=replace(e.sample, procs=e.sample.procs + extra)))
        node = next(iter(state.nodes.values()))
        if k < 3 + 5:  # last listed at step 2: known up to 5 s after that
            assert 77_777 in node.proc_seen, k
        else:
            assert 77_777 not in node.proc_seen and 77_777 not in node.proc_info, k
            assert ("proc.cpu_pct", 77_777) not in node.history
