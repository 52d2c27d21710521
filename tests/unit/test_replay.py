"""Replay: the same events at the recorded times, clock ticks, pause, speed and seeks that
rebuild the state from the window before the target."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from autoglm_tui.events import ClockTick, SampleReceived, StateReset
from autoglm_tui.monitor import Monitor
from autoglm_tui.recording.reader import Recording
from autoglm_tui.recording.replay import ReplayController, ReplaySource, clamp_speed
from tests.unit.test_recording import T0, fleet_events, same, write


class Driver:
    """Runs a ReplaySource against a fake wall clock and a real Monitor."""

    def __init__(self, path: Path, monitor: Monitor | None = None, **kw) -> None:
        self.rec = Recording.open(path)
        self.c = ReplayController(self.rec, **kw)
        self.wall = 0.0
        self.src = ReplaySource(self.c, wall=lambda: self.wall, max_sleep_s=0.001)
        self.monitor = monitor or Monitor()
        self.monitor.checkpoints = self.c.checkpoints
        self.emitted: list = []
        self.task: asyncio.Future | None = None

    def start(self) -> asyncio.Future:
        self.task = asyncio.ensure_future(self.src.run(self.emit))
        return self.task

    def emit(self, ev) -> None:
        self.emitted.append(ev)
        self.monitor.apply(ev)

    async def advance(self, seconds: float, step: float = 1.0) -> None:
        for _ in range(int(seconds / step)):
            self.wall += step
            await asyncio.sleep(0.002)

    async def settle(self) -> None:
        for _ in range(50):
            await asyncio.sleep(0.002)
            if self.task is not None and self.task.done():
                self.task.result()  # a source that died says why
            if self.c.target is None and not self.c.rebuilding:
                return


@pytest.fixture
def recording(tmp_path: Path) -> tuple[Path, list]:
    events = fleet_events(nodes=2, seconds=60)
    path = tmp_path / "r.jsonl.zst"
    write(path, events, block_s=5.0)
    return path, events


async def test_playing_emits_the_recorded_events_with_ticks_at_recording_time(recording) -> None:
    path, events = recording
    d = Driver(path, speed=4.0)
    task = d.start()
    try:
        await d.settle()
        await d.advance(20, 0.5)
        assert d.c.at_end and d.c.paused
    finally:
        task.cancel()
    data = [e for e in d.emitted if not isinstance(e, (ClockTick, StateReset))]
    assert len(data) == len(events) and all(same(a, b) for a, b in zip(events, data, strict=True))
    ticks = [e.t for e in d.emitted if isinstance(e, ClockTick)]
    assert ticks == sorted(ticks) and ticks[-1] == d.c.end
    # every event is emitted after the tick before it and before the tick after it
    last_tick = -1.0
    for e in d.emitted:
        if isinstance(e, ClockTick):
            last_tick = e.t
        elif isinstance(e, SampleReceived):
            assert e.t >= last_tick
    assert d.monitor.clock_t == d.c.end
    direct = Monitor()
    for e in events:
        direct.apply(e)
    for node_id, node in direct.state.nodes.items():
        replayed = d.monitor.state.nodes[node_id]
        assert replayed.last_sample == node.last_sample
        key = ("gpu.util_pct", 0)
        assert replayed.history.points(key) == node.history.points(key)


async def test_pause_holds_the_position_and_speed_scales_it(recording) -> None:
    path, _ = recording
    d = Driver(path, speed=2.0)
    task = d.start()
    try:
        await d.settle()
        await d.advance(5)
        pos = d.c.position
        assert pos == pytest.approx(d.c.start + 10.0, abs=2.5)
        d.c.pause()
        await d.advance(5)
        assert d.c.position == pos
        d.c.set_speed(0.25)
        d.c.play()
        await d.advance(4)
        assert d.c.position == pytest.approx(pos + 1.0, abs=0.6)
    finally:
        task.cancel()


async def test_seeking_back_rebuilds_from_the_warm_up_window(recording) -> None:
    path, _ = recording
    d = Driver(path, speed=16.0, warmup_s=10.0)
    task = d.start()
    try:
        await d.settle()
        await d.advance(10, 0.5)
        assert d.c.at_end
        d.emitted.clear()
        target = d.c.start + 30.0
        d.c.seek(target)
        await d.settle()
        assert d.c.position == target and d.monitor.clock_t == target
        assert isinstance(d.emitted[0], StateReset) and d.emitted[0].t == target - 10.0
        samples = [e for e in d.emitted if isinstance(e, SampleReceived)]
        assert {e.t for e in samples} == {T0 + k for k in range(21, 32)}
        for node in d.monitor.state.nodes.values():
            assert node.last_sample_at == target
            assert node.hello is not None  # from the preamble
            times = [t for t, _ in node.history.points(("cpu.util_pct", None))]
            assert times[0] >= target - 10.0
        # forward within the warm-up window: the events in between, no reset
        d.emitted.clear()
        d.c.seek_by(5.0)
        await d.settle()
        assert not any(isinstance(e, StateReset) for e in d.emitted)
        assert d.c.position == target + 5.0
        assert {e.t for e in d.emitted if isinstance(e, SampleReceived)} == \
            {T0 + k for k in range(32, 37)}
    finally:
        task.cancel()


async def test_starting_at_a_time_rebuilds_before_playing(recording) -> None:
    path, _ = recording
    d = Driver(path, at=T0 + 45.0, paused=True, warmup_s=5.0)
    task = d.start()
    try:
        await d.settle()
        assert d.c.position == T0 + 45.0
        assert {e.t for e in d.emitted if isinstance(e, SampleReceived)} == \
            {T0 + k for k in range(40, 46)}
    finally:
        task.cancel()


def test_speed_steps_and_limits(tmp_path: Path) -> None:
    write(tmp_path / "r.jsonl", fleet_events(nodes=1, seconds=3))
    c = ReplayController(Recording.open(tmp_path / "r.jsonl"))
    assert clamp_speed(100) == 16 and clamp_speed(0.01) == 0.25 and clamp_speed(float("nan")) == 1
    c.faster()
    c.faster()
    assert c.speed == 4.0
    for _ in range(10):
        c.slower()
    assert c.speed == 0.25
    c.seek(-1e12)
    assert c.target == c.start
    c.seek_by(1e9)
    assert c.target == c.end


async def test_seeking_back_restores_a_checkpoint_and_matches_a_full_replay(recording) -> None:
    from autoglm_tui.recording.checkpoints import CheckpointStore
    from autoglm_tui.recording.feed import feed

    path, _ = recording
    d = Driver(path, speed=16.0, warmup_s=30.0, checkpoints=CheckpointStore(spacing_s=10.0))
    task = d.start()
    try:
        await d.settle()
        await d.advance(10, 0.5)
        assert d.c.at_end and len(d.c.checkpoints) >= 4
        target = d.c.end - 13.0
        d.emitted.clear()
        d.c.seek(target)
        await d.settle()
    finally:
        task.cancel()
    assert d.src.restores == 1 and d.src.rebuilds == 1  # the first start, then a restore
    restored = [e for e in d.emitted if type(e).__name__ == "Restore"]
    assert len(restored) == 1 and target - 10.0 <= restored[0].t <= target
    samples = [e for e in d.emitted if isinstance(e, SampleReceived)]
    assert all(restored[0].t < e.t <= target for e in samples)
    full = Monitor()
    feed(d.rec, full, d.rec.start, target)
    assert d.monitor.clock_t == target == full.clock_t
    for node_id, node in full.state.nodes.items():
        mine = d.monitor.state.nodes[node_id]
        assert mine.last_sample == node.last_sample and mine.metrics == node.metrics
        for key in node.history.keys():  # noqa: SIM118  (NodeHistory is not a dict)
            assert mine.history.points(key) == node.history.points(key)


def replay_monitors():
    """What `replay` builds monitors with: the default alert rules and the diagnosis."""
    import argparse

    from autoglm_tui.commands.replay import monitor_factory

    return monitor_factory(argparse.Namespace(no_alerts=False, rules=[]))


def same_monitor(a: Monitor, b: Monitor) -> None:
    """The same figures, history, alerts and findings."""
    assert a.clock_t == b.clock_t
    assert set(a.state.nodes) == set(b.state.nodes)
    for node_id, node in b.state.nodes.items():
        mine = a.state.nodes[node_id]
        assert mine.last_sample == node.last_sample and mine.metrics == node.metrics
        assert mine.status == node.status
        for key in node.history.keys():  # noqa: SIM118  (NodeHistory is not a dict)
            assert mine.history.points(key) == node.history.points(key)
            assert mine.history.points(key, peak=True) == node.history.points(key, peak=True)

    def alerts(m: Monitor) -> list:
        assert m.alerts is not None
        return [(x.rule.name, x.target, x.state, x.active_since, x.fired_at)
                for x in m.alerts.engine.alerts()]

    assert alerts(a) == alerts(b)
    assert a.diagnosis is not None and b.diagnosis is not None
    assert [(f.key, f.since) for f in a.diagnosis.findings] == \
        [(f.key, f.since) for f in b.diagnosis.findings]


async def test_a_seek_forward_restores_a_lookahead_checkpoint_and_equals_playing_there(
        recording) -> None:
    from autoglm_tui.recording.checkpoints import CheckpointStore

    path, _ = recording
    make = replay_monitors()
    store = CheckpointStore()
    d = Driver(path, make(), paused=True, warmup_s=30.0, checkpoints=store, lookahead=make)
    task = d.start()
    try:
        await d.settle()
        look = d.src.lookahead
        assert look is not None
        for _ in range(500):  # the lookahead plays ahead of the paused playhead, on its thread
            if look.idle():
                break
            await asyncio.sleep(0.01)
        assert look.error is None and look.frontier >= d.c.start + 50.0
        target = d.c.start + 41.5  # + 41.5 s: beyond the warm-up, so no playing through
        d.emitted.clear()
        d.c.seek(target)
        await d.settle()
    finally:
        task.cancel()
        await asyncio.sleep(0.05)
    restored = [e for e in d.emitted if type(e).__name__ == "Restore"]
    assert d.src.restores == 1 and len(restored) == 1
    assert target - store.spacing_s <= restored[0].t <= target  # one from the lookahead
    samples = [e for e in d.emitted if isinstance(e, SampleReceived)]
    assert len(samples) <= 2 * 3  # two nodes, at most the seconds since that checkpoint
    # the same as playing there: start, play to the target, tick at it
    played = Driver(path, make(), paused=True, warmup_s=30.0)
    task = played.start()
    try:
        await played.settle()
        played.src._play_until(played.emit, target)
        played.emit(ClockTick(target))
    finally:
        task.cancel()
    same_monitor(d.monitor, played.monitor)


def test_checkpoints_are_dense_near_the_playhead_sparse_away_and_within_budget() -> None:
    from autoglm_tui.recording.checkpoints import CheckpointStore

    store = CheckpointStore(budget_bytes=10_000_000, spacing_s=2.0, near_s=20.0,
                            far_spacing_s=10.0)
    store.focus = 0.0
    for t in range(0, 200, 2):
        store.focus = float(t)
        assert store.due(float(t))
        store.put(float(t), f"snap{t}", fixed_bytes=10_000, bytes_per_s=1_000)
        assert not store.due(t + 1.0)
    times = store.times()
    near = [t for t in times if t >= 198 - 20]
    far = [t for t in times if t < 198 - 20]
    assert near == [float(t) for t in range(178, 200, 2)]  # every 2 s near the playhead
    assert all(b - a >= 10.0 for a, b in itertools.pairwise(far))  # every 10 s away
    assert store.best(101.0, 0.0) in far and store.get(store.best(101.0, 0.0)).startswith("snap")
    # a budget smaller than that: the checkpoints farthest from the playhead go first (the
    # oldest one kept holds a whole history, 900 s x 1 KB/s; the others what came after it)
    small = CheckpointStore(budget_bytes=1_100_000, spacing_s=2.0, near_s=20.0)
    for t in range(0, 200, 2):
        small.focus = float(t)
        small.put(float(t), t, fixed_bytes=10_000, bytes_per_s=1_000)
    assert small.estimate() <= 1_100_000 and small.dropped > 0
    assert min(small.times()) > 100.0 and max(small.times()) == 198.0
    assert [float(t) for t in range(178, 200, 2)] == small.times()[-11:]
