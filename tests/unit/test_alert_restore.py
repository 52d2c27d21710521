"""Reading the alert state back from a real alert log file (alerting/restore.py) and the
pipeline's restart: no second page, no forgotten alert, rotation and damaged logs."""

from __future__ import annotations

import json
from pathlib import Path

from autoglm_tui.alerting.alert_log import AlertLog, gap_record, read_log
from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.alerting.restore import event_from_record, read_active
from autoglm_tui.analysis.alerts import AlertEngine, AlertEvent, AlertState, Target, parse_rules
from autoglm_tui.analysis.state import StatusChange
from autoglm_tui.events import HelloReceived, NodeJoined, NodeStatus, SampleReceived
from autoglm_tui.monitor import Monitor

from .alertseries import _Counters, build_sample
from .samples import hello

RULES = """
[[rule]]
name = "hot"
metric = "gpu.util_pct"
threshold = 85
for = "2s"
"""


def event(state: str, node: str = "n1", gpu: int | None = 0, t: float = 1000.0,
          rule: str = "hot") -> AlertEvent:
    ended = t if state in ("resolved", "inactive") else None
    return AlertEvent(t=t, state=AlertState(state), rule=rule, severity="warning",
                      target=Target(node, gpu=gpu), value=90.0, summary=f"{node} is hot",
                      started_at=990.0, fired_at=995.0 if state != "pending" else None,
                      ended_at=ended, reason="condition cleared" if ended else None,
                      labels=(("alertname", rule),))


def test_a_log_line_reads_back_as_the_event_it_was() -> None:
    for e in (event("firing"), event("pending", gpu=None), event("resolved", gpu=7)):
        line = json.loads(json.dumps(e.to_dict()))
        assert event_from_record(line) == e


def test_bad_lines_are_refused() -> None:
    good = event("firing").to_dict()
    for bad in ({**good, "gpu": True}, {**good, "t": float("nan")}, {**good, "state": "on"},
                {**good, "node": 7}, {**good, "started_at": "yesterday"}, {**good, "rule": ""},
                {**good, "pid": 12}, {k: v for k, v in good.items() if k != "rule"}):
        assert event_from_record(bad) is None
    odd = event_from_record({**good, "labels": ["x"], "severity": "loud", "node": "n\x1b[31m1"})
    assert odd is not None
    assert (odd.labels, odd.severity) == ((), "warning")
    assert "\x1b" not in odd.target.node and odd.target.node.endswith("[31m1")


def test_the_last_word_of_each_alert_wins(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    with AlertLog(path) as log:
        log.write_event(event("pending", "a", t=990.0))
        log.write_event(event("firing", "a", t=995.0))
        log.write_event(event("firing", "b"))
        log.write_event(event("resolved", "b", t=1001.0))
        log.write_event(event("pending", "c"))
        log.write_event(event("inactive", "c", t=1002.0))
        log.write_event(event("firing", "d"))
        log.write_status(StatusChange(1003.0, "d", NodeStatus.FAILED, None, "forgotten"))
        log.write_event(event("firing", "e", gpu=1))
    found = read_active([path])
    assert [(e.target.node, e.state.value) for e in found.active] == [("a", "firing"),
                                                                       ("e", "firing")]
    assert (found.gaps, found.skipped, found.from_snapshot) == (0, 0, False)


def test_a_gap_and_a_line_cut_by_kill_9_lose_only_themselves(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    with AlertLog(path) as log:
        log.write_event(event("firing", "a"))
        log.write(gap_record(12, 1000.5))
        log.write_event(event("firing", "b"))
    whole = json.dumps(event("resolved", "a", t=1004.0).to_dict()).encode()
    with open(path, "ab") as f:
        f.write(b"not json at all\n" + whole[: len(whole) // 2])  # the last line cut short
    found = read_active([path])
    assert [e.target.node for e in found.active] == ["a", "b"]
    assert (found.gaps, found.skipped) == (1, 2)
    assert found.describe() == "restored 2 firing, 0 pending (1 gap in the log, " \
        "2 unreadable lines)"


class Rig:
    """A monitor whose pipeline logs to a real file, fed GPU utilisation by hand."""

    def __init__(self, path: Path, t: float = 1000.0, scope: str | None = None,
                 **log_kw: int) -> None:
        self.log = AlertLog(path, **log_kw)
        self.log.scope = scope
        self.pipeline = AlertPipeline(AlertEngine(parse_rules(RULES)[0]), log=self.log)
        self.t = t

    def start(self, nodes: tuple[str, ...] = ("n1",)) -> None:
        self.monitor = Monitor()
        self.pipeline.install(self.monitor)
        self.c = {n: _Counters() for n in nodes}
        for n in nodes:
            self.monitor.apply(NodeJoined(self.t, n))
            self.monitor.apply(HelloReceived(self.t, n, hello(n, gpus=0)))

    def step(self, util: str, nodes: tuple[str, ...] = ("n1",)) -> None:
        self.t += 1
        for n in nodes:
            sample = build_sample(self.t, self.c[n], {("gpu.util_pct", 0): util}, 1)
            self.monitor.apply(SampleReceived(self.t, n, sample))
        self.monitor.tick(self.t)

    def stop(self) -> None:
        """Everything written, lock dropped, nothing ended: what a kill -9 leaves behind."""
        assert self.log.flush(5)
        self.log.close()


def _alert_lines(path: Path) -> list[tuple[str, str, str]]:
    return [(r["node"], r["state"], r.get("reason") or "") for r in read_log(path, True)
            if r.get("kind") == "alert"]


def test_a_restart_neither_pages_again_nor_forgets(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    first = Rig(path)
    first.start()
    for u in ("90", "90", "90", "90"):
        first.step(u)
    started = first.pipeline.firing()[0].active_since
    first.stop()

    second = Rig(path, t=first.t + 30)
    found = second.pipeline.restore(second.t)
    assert found is not None and found.describe() == "restored 1 firing, 0 pending"
    (a,) = second.pipeline.firing()
    assert (a.active_since, a.restored_at) == (started, second.t)
    second.start()
    second.step("95")
    second.step("95")
    # (a pending start is not a line of its own without --log-pending; the firing line
    # carries started_at)
    assert _alert_lines(path) == [("n1", "firing", "")]
    second.step("20")
    second.stop()
    assert _alert_lines(path) == [("n1", "firing", ""), ("n1", "resolved", "condition cleared")]
    (ended,) = [r for r in read_log(path) if r.get("state") == "resolved"]
    assert ended["started_at"] == round(started, 3)
    # A third start: nothing is active, nothing comes back.
    third = Rig(path, t=second.t + 5)
    assert third.pipeline.restore(third.t).active == []  # type: ignore[union-attr]
    third.stop()


def test_rotation_restates_the_active_alerts_so_old_files_are_not_needed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alerts.jsonl"
    rig = Rig(path, max_bytes=8192, backups=3)
    nodes = ("hot-1", "hot-2", "flappy")
    rig.start(nodes)
    for u in ("90", "90", "90"):
        rig.step(u, nodes[:2])
    assert {a.target.node for a in rig.pipeline.firing()} == {"hot-1", "hot-2"}
    for _ in range(200):  # a flapping node fills the log and rotates it many times
        rig.t += 61  # past RESTATE_MIN_S each step
        rig.step("90", nodes[:2])
        for util in ("99", "10"):
            c = rig.c["flappy"]
            s = build_sample(rig.t, c, {("gpu.util_pct", 0): util}, 1)
            rig.monitor.apply(SampleReceived(rig.t, "flappy", s))
            rig.monitor.tick(rig.t)
            rig.t += 0.001
        assert rig.log.flush(5)  # keep the writer in step, as a 1 Hz monitor's is
    rig.stop()
    assert rig.log.rotations > 5
    for old in tmp_path.glob("alerts.jsonl.[2-9]"):
        old.unlink()  # rotated away: the firing lines of hot-1 and hot-2 are long gone
    found = read_active([path, path.with_name("alerts.jsonl.1")])
    assert found.from_snapshot
    assert sorted((e.target.node, e.state.value, e.started_at) for e in found.active) == [
        ("hot-1", "firing", 1001.0), ("hot-2", "firing", 1001.0)]
    assert not any(r.get("state") == "firing" and r["node"].startswith("hot")
                   for r in read_log(path, True) if r.get("kind") == "alert")


def test_node_notes_are_logged(tmp_path: Path) -> None:
    from autoglm_tui.events import HeartbeatLost, NodeJoined, SamplerExited

    path = tmp_path / "alerts.jsonl"
    rig = Rig(path)
    rig.start()
    rig.step("10")
    rig.monitor.apply(HeartbeatLost(rig.t, "n1", "lost heartbeat: lease expired"))
    rig.monitor.apply(SamplerExited(rig.t, "n1", "sampler stopped (killed by signal KILL)"))
    rig.step("10")  # samples still flow: UP, with the agent lost
    rig.monitor.apply(NodeJoined(rig.t, "n1"))
    rig.step("10")
    rig.stop()
    notes = [(r["node"], r["event"], r["reason"]) for r in read_log(path)
             if r.get("kind") == "node_event"]
    assert notes == [("n1", "agent_lost", "lost heartbeat: lease expired"),
                     ("n1", "sampler_exited", "sampler stopped (killed by signal KILL)"),
                     ("n1", "agent_back", "heartbeat back")]
    assert rig.monitor.state.nodes["n1"].sampler_restarts == 1


def test_pending_flips_stay_out_of_the_log_unless_asked(tmp_path: Path) -> None:
    """Issue 15 item 8: a GPU that goes above the threshold and back, again and again, without
    ever holding for `for`, is no line in the log; with --log-pending it is every flip."""
    quiet = Rig(tmp_path / "quiet.jsonl")
    loud = Rig(tmp_path / "loud.jsonl")
    loud.pipeline.log_pending = True
    for rig in (quiet, loud):
        rig.start()
        for util in ("90", "20", "90", "20", "90", "20"):
            rig.step(util)
        rig.stop()
    assert _alert_lines(tmp_path / "quiet.jsonl") == []
    assert _alert_lines(tmp_path / "loud.jsonl") == [("n1", "pending", ""),
                                                     ("n1", "inactive", "condition cleared")] * 3


def test_a_pending_alert_the_log_restated_ends_in_the_log(tmp_path: Path) -> None:
    """A pending alert written into a snapshot (after a rotation, or at start) has its end
    logged, so the next start does not take back an alert that is over."""
    path = tmp_path / "alerts.jsonl"
    first = Rig(path)
    first.start()
    first.step("90")  # pending
    first.pipeline._restate(first.t, "log rotated")  # what a rotation does
    first.stop()
    second = Rig(path, t=first.t + 5)
    found = second.pipeline.restore(second.t)  # restated again at start
    assert found is not None and found.describe() == "restored 0 firing, 1 pending"
    second.start()
    second.step("20")
    second.stop()
    assert _alert_lines(path)[-1] == ("n1", "inactive", "condition cleared")
    third = Rig(path, t=second.t + 5)
    assert third.pipeline.restore(third.t).describe() == "restored 0 firing, 0 pending"
    third.stop()


def test_monitors_of_other_scopes_share_a_log_without_taking_each_others_alerts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alerts.jsonl"
    cluster = Rig(path, scope="etcd 10.0.0.1:2379 /autoglm/nodes/")
    cluster.start()
    for u in ("90", "90", "90", "90"):
        cluster.step(u)
    (fired,) = cluster.pipeline.firing()
    cluster.stop()

    # The local view, later, on the same (default) log: the cluster's alert is not its own.
    local = Rig(path, t=cluster.t + 30, scope="local")
    found = local.pipeline.restore(local.t)
    assert found is not None and found.active == []
    assert [(r["node"], r["state"]) for r in found.foreign] == [("n1", "firing")]
    local.start(("vm",))
    for _ in range(3):
        local.t += 400  # past the restore grace: a restored alert of an unseen node would end
        local.step("10", ("vm",))
    assert local.pipeline.firing() == []
    local.stop()
    assert _alert_lines(path) == [("n1", "firing", "")]  # nothing ended it
    restated = [r for r in read_log(path, True) if r.get("kind") == "alert_active"]
    assert [(r["node"], r["scope"]) for r in restated] == \
        [("n1", "etcd 10.0.0.1:2379 /autoglm/nodes/")]  # the local view's snapshot kept it

    # The cluster's monitor again: its alert comes back, with its start, and pages no more.
    again = Rig(path, t=local.t + 30, scope="etcd 10.0.0.1:2379 /autoglm/nodes/")
    found = again.pipeline.restore(again.t)
    assert found is not None and found.foreign == []
    (a,) = again.pipeline.firing()
    assert (a.target.node, a.active_since) == ("n1", fired.active_since)
    again.stop()
    assert [r["scope"] for r in read_log(path, True) if r.get("kind") == "alert"] == \
        ["etcd 10.0.0.1:2379 /autoglm/nodes/"]


def test_another_scopes_alert_is_restated_for_a_week_at_most(tmp_path: Path) -> None:
    week = 7 * 86400
    for name, start, kept in (("young", 1000.0 + week - 60, ["gpu1"]),
                              ("old", 1000.0 + week + 60, [])):
        path = tmp_path / f"{name}.jsonl"
        with AlertLog(path) as log:
            log.scope = "hosts gpu1"
            log.write_event(event("firing", "gpu1", t=1000.0))
            log.write(event("firing", "gpu2", t=1000.0).to_dict() | {"t": "soon"})
        rig = Rig(path, t=start, scope="local")
        found = rig.pipeline.restore(rig.t)
        # the line that does not validate is dropped and counted, the other is read ...
        assert found is not None and found.skipped == 1
        assert [r["node"] for r in found.foreign] == ["gpu1"]
        rig.stop()
        # ... and restated in the local view's snapshot while younger than a week
        head = [r for r in read_log(path, True) if r.get("kind") == "alert_snapshot"][-1]
        restated = [r["node"] for r in read_log(path, True) if r.get("kind") == "alert_active"]
        assert (head["count"], restated) == (len(kept), kept), name


def test_lines_from_before_scopes_are_restored_by_any_monitor(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    with AlertLog(path) as log:  # no scope: what earlier versions wrote
        log.write_event(event("firing", "a"))
    found = read_active([path], scope="local")
    assert [e.target.node for e in found.active] == ["a"] and found.foreign == []


def test_the_scope_names_what_the_monitor_watches(tmp_path: Path) -> None:
    from autoglm_tui.alerting.cli import scope_of
    from autoglm_tui.cli import build_parser

    parse = build_parser().parse_args
    assert scope_of(parse(["local"])) == "local"
    assert scope_of(parse(["cluster", "--etcd", "10.0.0.1:2379"])) == \
        "etcd 10.0.0.1:2379 /autoglm/nodes/"
    assert scope_of(parse(["cluster", "--hosts", "gpu1,gpu2"])) == "hosts gpu1,gpu2"
    assert scope_of(parse(["cluster", "--hosts", "gpu2, gpu1"])) == "hosts gpu1,gpu2"
    hosts = tmp_path / "hosts"
    assert scope_of(parse(["cluster", "--hosts-file", str(hosts)])) == f"hosts-file {hosts}"
    assert scope_of(parse(["cluster", "--prometheus", "http://p:9090"])) == \
        "prometheus http://p:9090"
