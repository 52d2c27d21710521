"""The benchmark/demo fleet: deterministic for a seed, plausible, and a valid event stream."""

from __future__ import annotations

import asyncio

from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.synthetic import SyntheticFleet
from autoglm_tui.events import HelloReceived, NodeJoined, NodeStatus, SampleReceived


def _clock() -> float:
    return 5000.0


def test_same_seed_same_events_other_seed_other_figures() -> None:
    a = SyntheticFleet(nodes=4, gpus=2, seed=3, clock=_clock)
    b = SyntheticFleet(nodes=4, gpus=2, seed=3, clock=_clock)
    c = SyntheticFleet(nodes=4, gpus=2, seed=4, clock=_clock)
    assert a.join_events(1.0) == b.join_events(1.0)
    for t in (2.0, 3.0):
        ea, eb, ec = a.tick_events(t), b.tick_events(t), c.tick_events(t)
        assert ea == eb
        assert ea != ec


def test_events_fold_into_a_live_fleet_with_rates_and_services() -> None:
    fleet = SyntheticFleet(nodes=8, gpus=8, seed=0, clock=_clock)
    joins = fleet.join_events(100.0)
    assert [type(e) for e in joins[:2]] == [NodeJoined, HelloReceived]
    st = FleetState()
    for e in joins:
        st.apply(e)
    for batch in fleet.history(101.0, 12.0):  # services are scraped every 5 s
        assert len(batch) == 8 and all(isinstance(e, SampleReceived) for e in batch)
        for e in batch:
            st.apply(e)
    assert st.counts()[NodeStatus.UP] == 8
    node = st.nodes["node-000"]
    assert node.labels == {"zone": "a", "role": "train", "rack": "r00"}
    assert len(node.last_sample.gpus) == 8 and len(node.last_sample.procs) == 25  # as --top 25
    assert sum(1 for p in node.last_sample.procs if p.gpus) == 8
    assert node.metric("net.rx_bps") > 0 and node.metric("disk.read_bps") > 0
    for i in range(8):
        assert 0 <= node.metric("gpu.util_pct", i) <= 100
        assert node.metric("gpu.mem_used_bytes", i) <= node.metric("gpu.mem_total_bytes", i)
        assert node.metric("gpu.fan_pct", i) is None  # unsupported stays unknown
    infer = st.nodes["node-003"]
    assert infer.labels["role"] == "infer"
    assert infer.metric("svc.tokens_per_s") > 0 and infer.metric("svc.latency_p95_s") > 0
    view = infer.services["vllm:8000"]
    assert view.up and view.gpus == tuple(range(8)) and view.e2e is not None
    assert view.e2e.p50.value < view.e2e.p95.value < view.e2e.p99.value
    assert infer.metric("svc.tokens_per_s", "vllm:8000") == infer.metric("svc.tokens_per_s")
    assert node.metric("svc.tokens_per_s") is None and node.services == {}
    straggler = fleet.nodes[5].straggler
    assert straggler is not None
    lag = st.nodes["node-005"].metric("gpu.util_pct", straggler)
    peers = [st.nodes["node-005"].metric("gpu.util_pct", i) for i in range(8) if i != straggler]
    assert lag < min(peers) - 20


async def test_run_emits_joins_then_a_sample_per_node_per_interval() -> None:
    fleet = SyntheticFleet(nodes=3, gpus=1, interval_s=0.01, seed=0)
    events: list[object] = []
    task = asyncio.ensure_future(fleet.run(events.append))
    await asyncio.sleep(0.035)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len([e for e in events if isinstance(e, NodeJoined)]) == 3
    samples = [e for e in events if isinstance(e, SampleReceived)]
    assert len(samples) >= 6 and len(samples) % 3 == 0
    assert [e.sample.seq for e in samples if e.node_id == "node-000"][:2] == [1, 2]


def test_bad_sizes_are_refused() -> None:
    import pytest

    with pytest.raises(ValueError):
        SyntheticFleet(nodes=-1)
    with pytest.raises(ValueError):
        SyntheticFleet(interval_s=0)


def test_busy_training_gpus_fire_the_default_rule_instead_of_flipping_pending() -> None:
    """Issue 15 item 8: the demo's training GPUs are busy above gpu_util_high's 85% long
    enough for its 3 minutes, so it fires; a checkpoint (every 10 minutes) is the only dip,
    so pending alerts are not reset every few seconds."""
    from autoglm_tui.alerting.pipeline import AlertPipeline
    from autoglm_tui.alerting.rule_files import default_rules
    from autoglm_tui.analysis.alerts import AlertEngine, AlertState
    from autoglm_tui.monitor import Monitor

    (rule,) = [r for r in default_rules() if r.name == "gpu_util_high"]
    assert rule.for_s == 180 and rule.threshold == 85
    pipeline = AlertPipeline(AlertEngine([rule]))
    monitor = Monitor()
    pipeline.install(monitor)
    fleet = SyntheticFleet(nodes=16, gpus=8, seed=0, clock=_clock)
    t = 1_700_000_000.0
    for e in fleet.join_events(t):
        monitor.apply(e)
    for _ in range(240):
        t += 1.0
        for e in fleet.tick_events(t):
            monitor.apply(e)
        monitor.tick(t)
    train = [n for n in fleet.nodes if n.role == "train"]
    busy_gpus = sum(len(n.hello.static.gpus) - (n.straggler is not None) for n in train)
    firing = pipeline.firing()
    assert len(firing) >= busy_gpus * 0.6, (len(firing), busy_gpus)
    flips = [e for e in pipeline.recent if e.state == AlertState.INACTIVE]
    assert len(flips) <= busy_gpus * 0.5  # a checkpoint now and then, not every 20 s
