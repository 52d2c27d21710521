"""The alert log on disks that refuse or stall, with the real monitor, pipeline and writer.

A full disk (a tiny loop-mounted ext4 filled up) and an immutable log (chattr +i) keep the
events queued, shown in `sink_health()`, and written in order, once each, when the disk takes
them again. A slow disk (a FUSE passthrough whose fsync blocks until the test releases it)
never holds up `monitor.tick`: later events wait in the queue while the fsync is held.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from autoglm_tui.alerting.alert_log import AlertLog, read_log
from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.analysis.alerts import AlertEngine, parse_rules
from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived
from autoglm_tui.monitor import Monitor
from tests.integration.disk_faults import fill, held_fuse, loop_ext4
from tests.unit.alertseries import _Counters, build_sample
from tests.unit.samples import hello

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0
GUARD_S = 60.0  # only reached when a tick blocks (then the test fails)
FLIP = '[[rule]]\nname = "flip"\nmetric = "cpu.util_pct"\nthreshold = 50\n'


class Rig:
    """A monitor whose one rule fires and resolves in turn: every tick is one alert line (the
    first tick also logs the node's CONNECTING and UP)."""

    def __init__(self, log_path: Path) -> None:
        self.log = AlertLog(log_path)
        self.pipeline = AlertPipeline(AlertEngine(parse_rules(FLIP)[0]), log=self.log)
        self.monitor = Monitor()
        self.pipeline.install(self.monitor)
        self.counters = _Counters()
        self.t = T0
        self.ticks = 0
        self.monitor.apply(NodeJoined(self.t, "n1"))
        self.monitor.apply(HelloReceived(self.t, "n1", hello("n1", gpus=0)))

    def tick(self) -> None:
        self.ticks += 1
        self.t += 1
        cpu = "99" if self.ticks % 2 else "10"
        sample = build_sample(self.t, self.counters, {("cpu.util_pct", None): cpu}, 1.0)
        self.monitor.apply(SampleReceived(self.t, "n1", sample))
        self.monitor.tick(self.t)

    def tick_until_refused(self, guard: int = 3000) -> None:
        """Tick until the writer reports an error (each tick adds one line to write)."""
        for _ in range(guard):
            self.tick()
            if not self.log.flush(timeout=0.5) and self.log.health().error:
                return
        raise AssertionError(f"the disk never refused a write: {self.log.health()}")

    def assert_all_written_once_in_order(self) -> None:
        records = list(read_log(self.log.path))
        alerts = [r for r in records if r["kind"] == "alert"]
        assert [r["t"] for r in alerts] == [T0 + i for i in range(1, self.ticks + 1)]
        assert [r["state"] for r in alerts[:2]] == ["firing", "resolved"]
        statuses = [r["new"] for r in records if r["kind"] == "node_status"]
        assert statuses == ["CONNECTING", "UP"]
        assert len(records) == self.ticks + 2
        raw = self.log.path.read_bytes()
        assert raw.endswith(b"\n") and raw.count(b"\n") == len(records)  # no torn line
        health = self.pipeline.sink_health()
        assert health.ok and health.message == "" and health.log_queued == 0


def test_a_full_disk_queues_events_and_writes_them_once_space_is_back(tmp_path: Path) -> None:
    with loop_ext4(tmp_path) as mnt:
        rig = Rig(mnt / "alerts.jsonl")
        try:
            for _ in range(5):
                rig.tick()
            assert rig.log.flush(timeout=30)
            filler = fill(mnt)
            rig.tick_until_refused()

            health = rig.pipeline.sink_health()
            assert not health.ok and health.log_error == "disk full"
            queued = health.log_queued
            assert queued >= 1
            assert health.message == f"alert log: disk full, {queued} event" + (
                "s" if queued != 1 else "") + " queued"
            for _ in range(20):  # the monitor goes on; each tick's line waits in the queue
                rig.tick()
            health = rig.pipeline.sink_health()
            assert health.log_queued == queued + 20 and health.log_dropped == 0
            assert "disk full, " + str(queued + 20) + " events queued" in health.message

            filler.unlink()
            rig.log.retry_now()
            assert rig.log.flush(timeout=60), rig.log.health()
            rig.assert_all_written_once_in_order()
        finally:
            rig.pipeline.close()


def test_an_immutable_log_queues_events_until_it_is_writable_again(tmp_path: Path) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed (e2fsprogs)")
    with loop_ext4(tmp_path) as mnt:
        rig = Rig(mnt / "alerts.jsonl")
        path = str(rig.log.path)
        try:
            for _ in range(3):
                rig.tick()
            assert rig.log.flush(timeout=30)
            subprocess.run(["chattr", "+i", path], check=True, timeout=30)
            try:
                rig.tick_until_refused()
                health = rig.pipeline.sink_health()
                assert not health.ok and "not permitted" in (health.log_error or "")
                before = health.log_queued
                for _ in range(10):
                    rig.tick()
                assert rig.pipeline.sink_health().log_queued == before + 10
            finally:
                subprocess.run(["chattr", "-i", path], check=True, timeout=30)
            rig.log.retry_now()
            assert rig.log.flush(timeout=60), rig.log.health()
            rig.assert_all_written_once_in_order()
        finally:
            rig.pipeline.close()


def test_a_held_fsync_never_holds_up_the_tick(tmp_path: Path) -> None:
    with held_fuse(tmp_path) as fuse:
        rig = Rig(fuse.mnt / "alerts.jsonl")
        try:
            # Ticks run on a helper thread so that a tick stuck in fsync fails the test instead
            # of hanging it: the guard is how long to wait for a call that should not block.
            ticker = threading.Thread(target=rig.tick)  # CONNECTING, UP, firing
            ticker.start()
            fuse.wait_held()  # the first line's fsync is waiting in the file system
            ticker.join(GUARD_S)
            blocked_first = ticker.is_alive()
            ticker = threading.Thread(target=lambda: [rig.tick() for _ in range(10)])
            ticker.start()
            ticker.join(GUARD_S)
            blocked = blocked_first or ticker.is_alive()
            if blocked:
                fuse.release()
            assert not blocked, "monitor.tick waited for the alert log's fsync"
            health = rig.log.health()
            assert health.written == 0 and health.queued == 3 + 10
            on_disk = (fuse.backing / "alerts.jsonl").read_bytes()
            assert on_disk.count(b"\n") == 1 and b"CONNECTING" in on_disk  # only the first

            fuse.release()
            assert rig.log.flush(timeout=60), rig.log.health()
            rig.assert_all_written_once_in_order()
            assert rig.log.health().written == 13
        finally:
            rig.pipeline.close()
