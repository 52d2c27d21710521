"""Recordings of streams on the compact wire: the deltas are kept as the sampler sent them
(format version 2), and what is replayed from them equals what the monitor saw live, from the
start, from any time in the middle, from a rotated file and from a flight recording."""

from __future__ import annotations

import json
from pathlib import Path

from autoglm_tui import wire
from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.analysis.alerts import AlertEngine, parse_rules
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.stream import SamplerStream
from autoglm_tui.cluster.synthetic import SyntheticFleet
from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived
from autoglm_tui.monitor import Monitor
from autoglm_tui.recording import codec as codecs
from autoglm_tui.recording.feed import feed
from autoglm_tui.recording.flight import FlightRecorder
from autoglm_tui.recording.reader import Recording
from autoglm_tui.recording.recorder import Recorder
from autoglm_tui.recording.writer import RecordingWriter
from autoglm_tui.wire_delta import DeltaEncoder

T0 = 1_700_000_000.0


def live_events(nodes: int = 3, seconds: int = 90, full_every: float = 20.0) -> list:
    """What an SSH source delivers from samplers on the compact wire: each sample decoded
    from its line by the node's SamplerStream, carrying that line (a delta, or a full line
    every `full_every` seconds)."""
    fleet = SyntheticFleet(nodes=nodes, gpus=2, clock=lambda: T0, top=5)
    streams = {n.node_id: SamplerStream(n.node_id) for n in fleet.nodes}
    encoders = {n.node_id: DeltaEncoder(full_every) for n in fleet.nodes}
    out: list = []
    for e in fleet.join_events(T0):
        if isinstance(e, HelloReceived):
            e = streams[e.node_id].feed(wire.encode(e.hello).encode(), e.t)
        out.append(e)
    for k in range(1, seconds + 1):
        for e in fleet.tick_events(T0 + k + 0.25):
            line = encoders[e.node_id].encode(e.sample).encode()
            got = streams[e.node_id].feed(line, e.t)
            assert isinstance(got, SampleReceived) and got.line == line
            out.append(got)
    return out


def live_monitor(events: list, *extras) -> Monitor:
    monitor = Monitor(FleetState(history_s=900.0))
    for extra in extras:
        extra.install(monitor)
    last = T0
    for e in events:
        while last + 1 <= e.t:
            last += 1
            monitor.tick(last)
        monitor.apply(e)
    return monitor


def assert_same_figures(replayed: Monitor, live: Monitor, since: float = -1.0) -> None:
    assert set(replayed.state.nodes) == set(live.state.nodes)
    for node_id, node in live.state.nodes.items():
        mine = replayed.state.nodes[node_id]
        assert mine.last_sample == node.last_sample and mine.metrics == node.metrics
        assert mine.last_sample_at == node.last_sample_at
        for key in node.history.keys():  # noqa: SIM118  (NodeHistory is not a dict)
            want = [p for p in node.history.points(key) if p[0] >= since]
            assert [p for p in mine.history.points(key) if p[0] >= since] == want


def wire_kinds(path: Path) -> list[str]:
    codec = codecs.sniff(path.read_bytes()[:4])
    text = codec.decompress(path.read_bytes())
    return [json.loads(x).get("type") for x in text.splitlines()[1:]]


def test_deltas_are_kept_as_sent_and_replay_to_the_live_figures(tmp_path: Path) -> None:
    events = live_events()
    path = tmp_path / "r.jsonl.zst"
    live = live_monitor(events, Recorder(path, clock=lambda: T0))
    live.close()
    kinds = wire_kinds(path)
    assert kinds.count("delta") > 3 * kinds.count("sample") > 0  # not encoded again
    with open(path, "rb") as f:  # the sampler's own bytes, under "w"
        text = codecs.sniff(f.read(4)).decompress(path.read_bytes())
    first_delta = next(e for e in events if isinstance(e, SampleReceived)
                       and e.line.startswith(b'{"type":"delta"'))
    assert b'"w":' + first_delta.line + b"}" in text
    rec = Recording.open(path)
    assert rec.header["version"] == 2 and rec.has_deltas
    replayed = Monitor(FleetState(history_s=900.0))
    feed(rec, replayed, rec.start, events[-1].t)
    assert_same_figures(replayed, live)
    assert rec.bad_lines == {} and rec.skipped == 0


def test_reading_from_the_middle_starts_at_the_full_lines_the_deltas_build_on(
        tmp_path: Path) -> None:
    events = live_events(seconds=70)
    path = tmp_path / "r.jsonl"
    w = RecordingWriter(path, source="test", t=T0, block_s=5.0)
    for e in events:
        w.add_event(e)
    w.close()
    rec = Recording.open(path)
    everything = [e for e in rec.events() if isinstance(e, SampleReceived)]
    assert len(everything) == sum(isinstance(e, SampleReceived) for e in events)
    for since in (T0 + 7.1, T0 + 33.0, T0 + 61.5):
        assert rec.chain_start(since) < since
        part = [e for e in rec.events(since=since) if isinstance(e, SampleReceived)]
        assert part == [e for e in everything if e.t >= since]
        # or from the samples before `since`, as a replay checkpoint keeps them
        seeds = {}
        for e in everything:
            if e.t < since:
                seeds[e.node_id] = e.sample
        assert [e for e in rec.events(since=since, seeds=seeds)
                if isinstance(e, SampleReceived)] == part
    assert rec.skipped == 0 and rec.bad_lines == {}
    # a reader given no way to the full lines skips the deltas it cannot decode, and says so
    lost = [e for e in rec.events(since=T0 + 33.0, seeds={}) if isinstance(e, SampleReceived)]
    assert len(lost) < len([e for e in everything if e.t >= T0 + 33.0])
    assert rec.skipped > 0 and rec.bad_lines == {}


def test_each_rotated_file_of_a_delta_stream_replays_on_its_own(tmp_path: Path) -> None:
    events = live_events(seconds=60)
    path = tmp_path / "r.jsonl"
    w = RecordingWriter(path, source="test", t=T0, block_s=5.0, max_bytes=64 << 10,
                        backups=20)
    for e in events:
        w.add_event(e)
    w.close()
    assert w.rotations >= 2
    files = [path.with_name(f"r.jsonl.{i}") for i in range(w.rotations, 0, -1)] + [path]
    live = {}
    for e in events:
        if isinstance(e, SampleReceived):
            live[(e.node_id, e.t)] = e.sample
    for f in files:
        rec = Recording.open(f)
        samples = [e for e in rec.events() if isinstance(e, SampleReceived)]
        assert samples and rec.skipped == 0 and rec.bad_lines == {}
        for e in samples:  # every sample of every file, each decoded as it was live
            assert live[(e.node_id, e.t)] == e.sample


def test_a_flight_recording_of_deltas_starts_at_each_nodes_full_line(tmp_path: Path) -> None:
    events = live_events(seconds=150)
    rules = parse_rules('[[rule]]\nname = "cpu_any"\nmetric = "cpu.util_pct"\nop = ">="\n'
                        'threshold = 0\nscope = "node"\n')[0]
    monitor = Monitor(FleetState(history_s=900.0))
    pipeline = AlertPipeline(AlertEngine([]))
    pipeline.install(monitor)
    flight = FlightRecorder(tmp_path / "flight", window_s=60.0, after_s=10.0, block_s=5.0,
                            clock=lambda: T0)
    flight.install(monitor)
    last = T0
    for e in events:
        while last + 1 <= e.t:
            last += 1
            if last == T0 + 120:
                pipeline.engine = AlertEngine(rules)  # fires at 120 s
            monitor.tick(last)
        monitor.apply(e)
    monitor.close()
    [path] = [p for p in (tmp_path / "flight").glob("*.jsonl*") if not p.name.endswith(".idx")]
    rec = Recording.open(path)
    kinds = wire_kinds(path)
    assert "delta" in kinds
    first = {}
    for e in rec.events():
        if isinstance(e, SampleReceived):
            first.setdefault(e.node_id, e.t)
    # every node's first line in the file is its full line at or before the window's start
    assert first and max(first.values()) <= T0 + 120 - 60
    assert rec.skipped == 0 and rec.bad_lines == {}
    assert T0 + 129 <= rec.end < T0 + 131  # until 10 s after the alert
    live = live_monitor([e for e in events if e.t <= rec.end])
    replayed = Monitor(FleetState(history_s=900.0))
    feed(rec, replayed, rec.start, rec.end)
    # the figures from where every node had its full line on equal the live ones
    assert_same_figures(replayed, live, since=max(first.values()) + 1.0)
    assert {e.node_id for e in rec.preamble(rec.start) if isinstance(e, NodeJoined)} == \
        set(live.state.nodes)
