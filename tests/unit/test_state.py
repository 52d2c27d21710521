import itertools

import pytest

from autoglm_tui import format as fmt
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import (
    HeartbeatLost,
    HelloReceived,
    NodeForgotten,
    NodeInvalid,
    NodeJoined,
    NodeLeft,
    NodeStatus,
    NodeUnreachable,
    RegistryChanged,
    SampleReceived,
    SamplerExited,
)
from autoglm_tui.monitor import Monitor

from .samples import hello, proc, sample


def _feed(state: FleetState, node: str = "n1") -> None:
    state.apply(NodeJoined(100.0, node, labels={"zone": "a"}, source="etcd"))
    state.apply(HelloReceived(100.5, node, hello(node)))


def test_join_hello_sample_makes_node_up_with_rates() -> None:
    st = FleetState()
    changes = st.apply(NodeJoined(100.0, "n1", labels={"zone": "a"}))
    assert [(c.old, c.new) for c in changes] == [(None, NodeStatus.CONNECTING)]
    st.apply(HelloReceived(100.5, "n1", hello()))
    st.apply(SampleReceived(101.0, "n1", sample(1001.0, 1, disk_read=1000, net_rx=0)))
    changes = st.apply(
        SampleReceived(102.0, "n1", sample(1003.0, 2, disk_read=5000, net_rx=250_000_000))
    )
    assert changes == []  # already UP
    node = st.nodes["n1"]
    assert node.status == NodeStatus.UP
    assert node.metric("disk.read_bps") == 2000.0
    assert node.metric("net.rx_bps") == 125_000_000.0
    assert node.metric("net.util_pct") == 100.0  # 1 Gb/s link saturated
    assert node.metric("gpu.util_pct", 1) == 50.0
    assert node.metric("gpu.mem_used_pct", 0) == 50.0
    assert node.metric("gpu.power_w", 0) is None  # unsupported stays unknown
    assert node.age(105.0) == 3.0


def test_first_sample_has_no_rates_and_counter_reset_is_unknown() -> None:
    st = FleetState()
    _feed(st)
    st.apply(SampleReceived(101.0, "n1", sample(1.0, 1, disk_read=10_000)))
    assert st.nodes["n1"].metric("disk.read_bps") is None
    st.apply(SampleReceived(102.0, "n1", sample(2.0, 2, disk_read=5)))  # reboot-like reset
    assert st.nodes["n1"].metric("disk.read_bps") is None
    st.apply(SampleReceived(103.0, "n1", sample(3.0, 3, disk_read=1005)))
    assert st.nodes["n1"].metric("disk.read_bps") == 1000.0


def test_disk_await_from_time_and_ops() -> None:
    st = FleetState()
    _feed(st)
    st.apply(SampleReceived(101.0, "n1", sample(1.0, 1, disk_ops=100, disk_time_ms=1000)))
    st.apply(SampleReceived(102.0, "n1", sample(2.0, 2, disk_ops=110, disk_time_ms=1500)))
    assert st.nodes["n1"].metric("disk.await_ms") == 50.0
    assert st.nodes["n1"].metric("disk.iops") == 10.0


def test_stale_after_three_intervals_then_up_again() -> None:
    st = FleetState()
    _feed(st)
    st.apply(SampleReceived(101.0, "n1", sample(1.0, 1)))
    assert st.tick(103.9) == []
    changes = st.tick(104.5)
    assert [(c.old, c.new) for c in changes] == [(NodeStatus.UP, NodeStatus.STALE)]
    # A clock time, not "for 3s": alert summaries and the log keep this reason for long
    assert st.nodes["n1"].reason == f"no sample since {fmt.clock_time(101.0)}"
    changes = st.apply(SampleReceived(105.0, "n1", sample(5.0, 2)))
    assert [(c.old, c.new) for c in changes] == [(NodeStatus.STALE, NodeStatus.UP)]


def test_left_node_is_kept_greyed_then_removed() -> None:
    st = FleetState(left_linger_s=10)
    _feed(st)
    st.apply(SampleReceived(101.0, "n1", sample(1.0, 1)))
    changes = st.apply(NodeLeft(102.0, "n1", "lease revoked or expired"))
    assert [(c.old, c.new) for c in changes] == [(NodeStatus.UP, NodeStatus.LEFT)]
    # A late sample does not resurrect a node that left.
    st.apply(SampleReceived(102.5, "n1", sample(2.0, 2)))
    assert st.nodes["n1"].status == NodeStatus.LEFT
    assert st.tick(105.0) == []
    assert st.nodes["n1"].last_sample is not None  # last figures kept while it lingers
    changes = st.tick(113.0)
    assert [(c.old, c.new) for c in changes] == [(NodeStatus.LEFT, None)]
    assert "n1" not in st.nodes


def test_rejoin_after_leave() -> None:
    st = FleetState()
    _feed(st)
    st.apply(NodeLeft(102.0, "n1"))
    st.apply(NodeJoined(103.0, "n1", labels={"zone": "b"}))
    assert st.nodes["n1"].status == NodeStatus.CONNECTING
    assert st.nodes["n1"].labels == {"zone": "b"}


def test_unreachable_invalid_and_recovery() -> None:
    st = FleetState()
    _feed(st)
    st.apply(NodeUnreachable(101.0, "n1", "host key mismatch"))
    assert st.nodes["n1"].status == NodeStatus.UNREACHABLE
    assert st.nodes["n1"].reason == "host key mismatch"
    st.apply(HelloReceived(102.0, "n1", hello()))
    assert st.nodes["n1"].status == NodeStatus.CONNECTING
    st.apply(NodeInvalid(103.0, "bad", "address: not an IP or host name"))
    assert st.nodes["bad"].status == NodeStatus.INVALID
    assert st.nodes["n1"].status == NodeStatus.CONNECTING  # one bad node affects only itself


def test_duplicate_sample_ignored_and_counted() -> None:
    st = FleetState()
    _feed(st)
    st.apply(SampleReceived(101.0, "n1", sample(1.0, 1, cpu=10.0)))
    st.apply(SampleReceived(101.5, "n1", sample(1.0, 1, cpu=99.0)))
    assert st.nodes["n1"].metric("cpu.util_pct") == 10.0
    assert st.nodes["n1"].bad_lines == 1


def test_process_history_and_forgetting() -> None:
    st = FleetState(proc_forget_s=5)
    _feed(st)
    st.apply(SampleReceived(101.0, "n1", sample(1.0, 1, procs=(proc(10), proc(11)))))
    st.apply(SampleReceived(102.0, "n1", sample(2.0, 2, procs=(proc(10),))))
    node = st.nodes["n1"]
    assert node.history.points(("proc.cpu_pct", 11)) == [(101.0, 12.5), (102.0, None)]
    st.apply(SampleReceived(108.0, "n1", sample(8.0, 3, procs=(proc(10),))))
    assert 11 not in node.proc_info
    assert node.history.points(("proc.cpu_pct", 11)) == []


def test_registry_state_and_counts() -> None:
    st = FleetState()
    _feed(st, "a")
    _feed(st, "b")
    st.apply(RegistryChanged(1.0, ok=False, reason="etcd unreachable"))
    assert st.registry_ok is False
    assert st.counts()[NodeStatus.CONNECTING] == 2


def test_monitor_runs_hooks_with_status_changes() -> None:
    mon = Monitor()
    seen = []
    mon.hooks.append(lambda state, now, changes: seen.append((now, [c.new for c in changes])))
    mon.apply(NodeJoined(1.0, "n1"))
    mon.apply(HelloReceived(1.0, "n1", hello()))
    mon.apply(SampleReceived(2.0, "n1", sample(2.0, 1)))
    mon.tick(2.5)
    mon.tick(9.0)
    assert seen == [
        (2.5, [NodeStatus.CONNECTING, NodeStatus.UP]),
        (9.0, [NodeStatus.STALE]),
    ]
    assert len(mon.status_log) == 3


def test_fifteen_minutes_at_one_hz_keep_the_last_five_at_full_resolution() -> None:
    st = FleetState(history_s=900.0)  # defaults: 300 s fine, then 10 s buckets
    _feed(st)
    for k in range(1, 1001):  # 1,000 s of samples, one a second
        st.apply(SampleReceived(100.0 + k, "n1", sample(float(k), k, cpu=float(k % 10))))
    h = st.nodes["n1"].history
    now = 1100.0
    recent = h.points(("cpu.util_pct", None), since=now - 300.0)
    assert [t for t, _ in recent] == [now - 300.0 + s for s in range(301)]  # every second
    assert [v for _, v in recent[-3:]] == [8.0, 9.0, 0.0]  # raw values, not averages
    older = h.points(("cpu.util_pct", None), until=now - 301.0)
    assert {b - a for (a, _), (b, _) in itertools.pairwise(older)} == {10.0}  # one per 10 s
    assert {v for _, v in older} == {4.5}  # the mean of 0..9
    peaks = h.points(("cpu.util_pct", None), until=now - 301.0, peak=True)
    assert {v for _, v in peaks} == {9.0}
    assert now - older[0][0] >= 900.0  # the whole 15 minutes is still there
    one_tier = 900 * 8 + 900 * 4 * len(h.keys())  # 900 points of time and of every series
    assert h.nbytes() < 0.5 * one_tier


def test_short_history_is_one_tier_at_full_resolution() -> None:
    st = FleetState(history_s=60.0)
    _feed(st)
    for k in range(1, 101):
        st.apply(SampleReceived(100.0 + k, "n1", sample(float(k), k, cpu=float(k))))
    pts = st.nodes["n1"].history.points(("cpu.util_pct", None))
    assert [v for _, v in pts] == [float(k) for k in range(41, 101)]


def test_processes_beyond_the_cap_lose_the_oldest_listed_first() -> None:
    st = FleetState(max_procs=3)
    _feed(st)
    for k, pids in enumerate([(1, 2), (3,), (4,), (5, 6)], start=1):
        st.apply(SampleReceived(100.0 + k, "n1",
                                sample(float(k), k, procs=tuple(proc(p) for p in pids))))
    node = st.nodes["n1"]
    assert sorted(node.proc_info) == [4, 5, 6]  # pids 1, 2 (listed first) then 3 went
    assert sorted(node.proc_seen) == [4, 5, 6]
    keys = node.history.keys()
    assert {k[1] for k in keys if k[0].startswith("proc.")} == {4, 5, 6}
    assert node.history.points(("proc.cpu_pct", 4))[-1] == (104.0, None)  # kept, with its gap


def test_a_sample_listing_more_processes_than_the_cap_keeps_them_all() -> None:
    st = FleetState(max_procs=2)
    _feed(st)
    st.apply(SampleReceived(101.0, "n1", sample(1.0, 1, procs=(proc(9),))))
    st.apply(SampleReceived(102.0, "n1", sample(2.0, 2, procs=tuple(proc(p) for p in range(4)))))
    node = st.nodes["n1"]
    assert sorted(node.proc_info) == [0, 1, 2, 3]  # the one not listed now went
    assert node.history.latest(("proc.cpu_pct", 3)) == 12.5


# ---------------------------------------------------------------------- membership (FAILED)


def test_lost_heartbeat_without_samples_is_failed_and_never_ages_out() -> None:
    st = FleetState(left_linger_s=10, reap_after_s=3600)
    _feed(st)
    st.apply(SampleReceived(101.0, "n1", sample(1.0, 1)))
    st.tick(110.0)  # STALE: no sample for 3 intervals, heartbeat still fine
    assert st.nodes["n1"].status == NodeStatus.STALE
    changes = st.apply(HeartbeatLost(111.0, "n1", "lost heartbeat: lease expired"))
    assert [(c.old, c.new) for c in changes] == [(NodeStatus.STALE, NodeStatus.FAILED)]
    node = st.nodes["n1"]
    assert node.agent_lost and node.reason.startswith("lost heartbeat: lease expired")
    assert "no sample" in node.reason  # the data path's reason rides along
    assert node.last_sample is not None  # last figures kept
    # Far past the linger time it is still there: only LEFT nodes linger out.
    assert st.tick(111.0 + 600) == []
    assert st.nodes["n1"].status == NodeStatus.FAILED
    # An SSH failure does not hide that the heartbeat is gone.
    st.apply(NodeUnreachable(800.0, "n1", "connection refused"))
    assert st.nodes["n1"].status == NodeStatus.FAILED
    assert "connection refused" in (st.nodes["n1"].reason or "")


def test_heartbeat_lost_while_samples_flow_is_up_with_agent_lost() -> None:
    st = FleetState()
    _feed(st)
    st.apply(SampleReceived(101.0, "n1", sample(1.0, 1)))
    assert st.apply(HeartbeatLost(101.5, "n1")) == []  # still UP: samples are fresh
    node = st.nodes["n1"]
    assert node.status == NodeStatus.UP and node.agent_lost
    assert [n.node_id for n in st.agent_lost()] == ["n1"]
    st.apply(SampleReceived(102.0, "n1", sample(2.0, 2)))
    assert node.status == NodeStatus.UP
    # Samples stop too: FAILED, not STALE.
    changes = st.tick(106.0)
    assert [(c.old, c.new) for c in changes] == [(NodeStatus.UP, NodeStatus.FAILED)]
    # Samples resume: UP again, agent still lost.
    st.apply(SampleReceived(107.0, "n1", sample(7.0, 3)))
    assert node.status == NodeStatus.UP and node.agent_lost
    # The heartbeat is back: the flag clears.
    st.apply(NodeJoined(108.0, "n1", labels={"zone": "a"}, source="etcd"))
    assert node.status == NodeStatus.UP and not node.agent_lost


def test_failed_node_returns_when_its_heartbeat_does() -> None:
    st = FleetState()
    _feed(st)
    st.apply(NodeUnreachable(101.0, "n1", "no route to host"))
    st.apply(HeartbeatLost(102.0, "n1"))
    assert st.nodes["n1"].status == NodeStatus.FAILED
    changes = st.apply(NodeJoined(103.0, "n1", source="etcd"))
    # Back to what the data path says (still unreachable, with its reason), not CONNECTING.
    assert [(c.old, c.new) for c in changes] == [(NodeStatus.FAILED, NodeStatus.UNREACHABLE)]
    assert st.nodes["n1"].reason == "no route to host"


def test_forget_removes_at_once_with_the_reason_and_reap_after_its_time() -> None:
    st = FleetState(reap_after_s=100)
    _feed(st)
    _feed(st, "n2")
    st.apply(HeartbeatLost(101.0, "n1"))
    st.apply(HeartbeatLost(101.0, "n2"))
    changes = st.apply(NodeForgotten(102.0, "n1", "forgotten by operator"))
    assert [(c.node_id, c.old, c.new, c.reason) for c in changes] == [
        ("n1", NodeStatus.FAILED, None, "forgotten by operator")
    ]
    assert "n1" not in st.nodes
    assert st.tick(200.0) == []
    changes = st.tick(202.0)
    assert [(c.node_id, c.old, c.new) for c in changes] == [("n2", NodeStatus.FAILED, None)]
    assert "reaped" in (changes[0].reason or "")


def test_leave_after_heartbeat_loss_is_left_and_lingers_out() -> None:
    st = FleetState(left_linger_s=10)
    _feed(st)
    st.apply(HeartbeatLost(101.0, "n1"))
    changes = st.apply(NodeLeft(102.0, "n1", "member record deleted"))
    assert [(c.old, c.new) for c in changes] == [(NodeStatus.FAILED, NodeStatus.LEFT)]
    changes = st.tick(113.0)
    assert [(c.old, c.new, c.reason) for c in changes] == [
        (NodeStatus.LEFT, None, "removed 10s after it left")
    ]
    # A heartbeat loss reported for a node that left changes nothing.
    _feed(st, "n2")
    st.apply(NodeLeft(120.0, "n2", "left gracefully"))
    assert st.apply(HeartbeatLost(121.0, "n2")) == []
    assert st.nodes["n2"].status == NodeStatus.LEFT


def test_sampler_exits_are_counted_on_the_node() -> None:
    st = FleetState()
    _feed(st)
    st.apply(SamplerExited(101.0, "n1", "killed by SIGKILL"))
    st.apply(SamplerExited(105.0, "n1", "exit status 1"))
    node = st.nodes["n1"]
    assert (node.sampler_restarts, node.sampler_exit, node.sampler_exit_at) == (
        2, "exit status 1", 105.0
    )


def test_node_not_up_fires_for_failed_and_keeps_firing_past_the_linger() -> None:
    from autoglm_tui.alerting.rule_files import default_rules
    from autoglm_tui.analysis.alerts import AlertEngine, AlertState

    st = FleetState(left_linger_s=5)
    mon = Monitor(st)
    engine = AlertEngine([r for r in default_rules() if r.name == "node_not_up"])
    events = []
    mon.hooks.append(lambda s, now, ch: events.extend(engine.evaluate(s, now, ch)))
    mon.apply(NodeJoined(100.0, "n1", source="etcd"))
    mon.apply(HelloReceived(100.0, "n1", hello("n1")))
    mon.apply(SampleReceived(100.5, "n1", sample(0.5, 1)))
    mon.tick(101.0)
    mon.apply(HeartbeatLost(102.0, "n1"))
    for t in range(103, 400, 7):
        mon.tick(float(t))
    assert [(e.state, e.target.node) for e in events] == [
        (AlertState.PENDING, "n1"), (AlertState.FIRING, "n1")
    ]
    assert [a.state for a in engine.active()] == [AlertState.FIRING]
    assert st.nodes["n1"].status == NodeStatus.FAILED


def test_processes_keep_a_shorter_fine_tier_and_constants_keep_no_history() -> None:
    st = FleetState(history_s=900.0, proc_fine_s=60.0)  # node metrics: 300 s fine
    _feed(st)
    for k in range(1, 401):
        st.apply(SampleReceived(100.0 + k, "n1",
                                sample(float(k), k, cpu=float(k % 10), procs=(proc(7),))))
    node = st.nodes["n1"]
    now = 500.0
    fine_cpu = node.history.points(("cpu.util_pct", None), since=now - 300.0)
    assert len(fine_cpu) == 301  # one a second for five minutes
    proc_points = node.history.points(("proc.cpu_pct", 7))
    recent = [t for t, _ in proc_points if t > now - 60.0]
    assert recent == [now - 59.0 + s for s in range(60)]  # the last minute at full rate
    older = [t for t, _ in proc_points if t <= now - 80.0]
    # then 20 s buckets (the first stands at its first sample, 101 s)
    assert older[:2] == [101.0, 120.0]
    assert {b - a for a, b in itertools.pairwise(older[1:])} == {20.0}
    assert proc_points[0][0] <= now - 390.0  # all of it still there, coarser
    # a device's constants: newest value only
    total = node.metric("gpu.mem_total_bytes", 0)
    assert total
    for name in ("gpu.mem_total_bytes", "gpu.power_limit_w", "gpu.mem_used_pct"):
        assert node.history.points((name, 0)) == []
    used = node.history.points(("gpu.mem_used_bytes", 0))  # the rest keeps its history
    assert used
    # the percentage used is read off the bytes' history (the diagnosis reads it so)
    times, (pct, raw) = node.window([("gpu.mem_used_pct", 0), ("gpu.mem_used_bytes", 0)],
                                    since=0.0)
    assert times == [t for t, _ in used] and raw is not None and pct is not None
    assert pct == pytest.approx([100.0 * v / total for v in raw])
    assert pct[-1] == pytest.approx(node.metric("gpu.mem_used_pct", 0), rel=1e-6)


def test_gpu_indices_come_from_the_newest_sample_else_the_hello() -> None:
    st = FleetState()
    _feed(st)
    node = st.nodes["n1"]
    assert node.gpu_indices() == tuple(g.index for g in node.hello.static.gpus)  # type: ignore[union-attr]
    st.apply(SampleReceived(101.0, "n1", sample(1.0, 1)))
    assert node.gpu_indices() == tuple(g.index for g in node.last_sample.gpus)  # type: ignore[union-attr]
    first = node.gpu_indices()[0]
    assert node.gpu(first) is not None and node.gpu(99) is None
    assert node.gpu_info(first) is not None and node.gpu_info(99) is None
