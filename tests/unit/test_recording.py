"""Recordings: round trips through every codec, the index (sidecar, rebuilt, extended),
seeking by time, rotation with a preamble, bad lines and clear errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from autoglm_tui.cluster.synthetic import SyntheticFleet
from autoglm_tui.events import (
    HelloReceived,
    NodeJoined,
    NodeLeft,
    NodeUnreachable,
    RegistryChanged,
    SampleReceived,
)
from autoglm_tui.monitor import Monitor
from autoglm_tui.recording import codec as codecs
from autoglm_tui.recording.format import RecordingError
from autoglm_tui.recording.index import index_path
from autoglm_tui.recording.reader import Recording
from autoglm_tui.recording.recorder import Recorder
from autoglm_tui.recording.writer import RecordingWriter

T0 = 1_700_000_000.0


def fleet_events(nodes: int = 3, seconds: int = 40) -> list:
    f = SyntheticFleet(nodes=nodes, gpus=2, clock=lambda: T0, top=4)
    events: list = [RegistryChanged(T0, True), *f.join_events(T0)]
    for k in range(1, seconds + 1):
        events.extend(f.tick_events(T0 + k))
        if k == 20:
            events.append(NodeUnreachable(T0 + k + 0.5, "node-001", "ssh: connection lost", 2.0))
    events.append(NodeLeft(T0 + seconds + 0.5, "node-002", "lease revoked"))
    return events


def write(path: Path, events: list, **kw) -> None:
    w = RecordingWriter(path, source="test", t=T0, **kw)
    for e in events:
        w.add_event(e)
    w.close()


def same(a, b) -> bool:
    """Events equal as the monitor sees them (a replayed join says where it came from)."""
    if isinstance(a, NodeJoined):
        return (a.t, a.node_id, a.labels, a.address) == (b.t, b.node_id, b.labels, b.address)
    return a == b


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz", "r.jsonl.zst"])
def test_round_trip_gives_the_same_events_in_the_same_order(tmp_path: Path, name: str) -> None:
    events = fleet_events()
    write(tmp_path / name, events)
    rec = Recording.open(tmp_path / name)
    assert rec.index_source == "sidecar"
    back = list(rec.events())
    assert len(back) == len(events)
    assert all(same(a, b) for a, b in zip(events, back, strict=True))
    assert rec.start == T0 + 1 and rec.end == T0 + 40.5
    assert set(rec.nodes) == {"node-000", "node-001", "node-002"}
    assert rec.header["source"] == "test" and rec.header["version"] == 2


def test_compressed_files_are_ordinary_gzip_and_zstd_streams(tmp_path: Path) -> None:
    import gzip

    import zstandard

    events = fleet_events(seconds=25)
    write(tmp_path / "r.jsonl.gz", events)
    write(tmp_path / "r.jsonl.zst", events)
    plain = gzip.decompress((tmp_path / "r.jsonl.gz").read_bytes()).decode().splitlines()
    with zstandard.ZstdDecompressor().stream_reader(
            (tmp_path / "r.jsonl.zst").open("rb"), read_across_frames=True) as r:
        zlines = r.read().decode().splitlines()
    assert len(plain) == len(zlines) == len(events) + 1
    head = json.loads(plain[0])
    assert head["type"] == "recording" and head["format"] == "autoglm-tui-recording"
    first = json.loads(plain[1])
    assert list(first)[:2] == ["rt", "type"] or list(first)[:3] == ["rt", "node", "type"]
    sample = next(json.loads(x) for x in plain if '"type":"sample"' in x)
    assert sample["node"] == "node-000" and sample["rt"] == T0 + 1
    assert sample["w"]["type"] == "sample" and "gpus" in sample["w"]  # the wire object


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.zst"])
def test_a_missing_or_stale_index_is_rebuilt_and_saved(tmp_path: Path, name: str) -> None:
    events = fleet_events()
    path = tmp_path / name
    write(path, events, block_s=5.0)
    blocks = Recording.open(path).blocks
    # an index cut short (a crash while recording) is extended from where it stops
    lines = index_path(path).read_text().splitlines()
    index_path(path).write_text("\n".join(lines[:3]) + "\n")
    rec = Recording.open(path)
    assert rec.index_source == "extended"
    assert sum(b.lines for b in rec.blocks) == sum(b.lines for b in blocks)
    assert len(list(rec.events())) == len(events)
    index_path(path).unlink()
    rec = Recording.open(path)
    assert rec.index_source == "built"
    if name.endswith(".zst"):  # the same blocks: one per frame
        assert [(b.offset, b.length, b.t0, b.t1, b.lines) for b in rec.blocks] == \
            [(b.offset, b.length, b.t0, b.t1, b.lines) for b in blocks]
    assert sum(b.lines for b in rec.blocks) == sum(b.lines for b in blocks)
    assert list(rec.events()) == list(Recording.open(path).events())
    assert rec.bad_lines == {}
    assert Recording.open(path).index_source == "sidecar"  # saved for next time


def test_seeking_reads_only_the_blocks_it_needs(tmp_path: Path) -> None:
    events = fleet_events(seconds=60)
    path = tmp_path / "r.jsonl.zst"
    write(path, events, block_s=10.0)
    rec = Recording.open(path)
    assert len(rec.blocks) >= 7
    got = list(rec.events(since=T0 + 45, until=T0 + 50))
    assert {e.t for e in got} == {T0 + k for k in range(45, 51)}
    assert rec.first_block(T0 + 45) >= 4
    pre = rec.preamble(T0 + 45)
    kinds = [type(e).__name__ for e in pre]
    assert kinds.count("NodeJoined") == 3 and kinds.count("HelloReceived") == 3
    assert "NodeUnreachable" in kinds and "RegistryChanged" in kinds
    assert all(e.t < T0 + 45 for e in pre)


def test_rotation_keeps_each_file_replayable_on_its_own(tmp_path: Path) -> None:
    events = fleet_events(seconds=60)
    path = tmp_path / "r.jsonl.gz"
    write(path, events, block_s=5.0, max_bytes=6000, backups=2)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["r.jsonl.gz", "r.jsonl.gz.1", "r.jsonl.gz.1.idx", "r.jsonl.gz.2",
                     "r.jsonl.gz.2.idx", "r.jsonl.gz.idx"]
    for p in (path, path.with_name("r.jsonl.gz.1"), path.with_name("r.jsonl.gz.2")):
        rec = Recording.open(p)
        evs = list(rec.events())
        hellos = {e.node_id for e in evs if isinstance(e, HelloReceived)}
        samples = {e.node_id for e in evs if isinstance(e, SampleReceived)}
        assert samples and samples <= hellos  # the preamble brings every node's hello
    newest = list(Recording.open(path).events())
    assert isinstance(newest[-1], NodeLeft)


def test_bad_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    events = fleet_events(nodes=2, seconds=5)
    path = tmp_path / "r.jsonl"
    write(path, events)
    text = path.read_text().splitlines()
    text.insert(5, "{not json")
    text.insert(7, '{"rt":1.0,"node":"node-000","type":"sample","seq":"x"}')
    text.insert(9, '{"rt":1.0,"node":"\\u001b[31mevil","type":"status","event":"left"}')
    path.write_text("\n".join(text) + "\n")
    index_path(path).unlink()
    rec = Recording.open(path)
    back = list(rec.events())
    assert len(back) == len(events) + 1
    left = [e for e in back if isinstance(e, NodeLeft)]
    assert left[0].node_id == " [31mevil"  # the escape character is gone
    assert sum(rec.bad_lines.values()) == 2 and rec.errors


def test_not_a_recording_and_other_versions_are_refused_clearly(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text('{"type":"hello"}\n')
    with pytest.raises(RecordingError, match="not an autoglm-tui recording"):
        Recording.open(p)
    p.write_text('{"type":"recording","format":"autoglm-tui-recording","version":9}\n')
    with pytest.raises(RecordingError, match="version 9 is not supported"):
        Recording.open(p)
    with pytest.raises(RecordingError, match="cannot read"):
        Recording.open(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(RecordingError, match="empty"):
        Recording.open(tmp_path / "empty.jsonl")


def test_zstd_without_the_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(RecordingError, match="pip install zstandard"):
        codecs.Zstd()
    assert isinstance(codecs.best_memory_codec(), codecs.Gzip)


def test_recorder_taps_the_monitor_and_writes_off_the_loop(tmp_path: Path) -> None:
    events = fleet_events(nodes=2, seconds=12)
    monitor = Monitor()
    rec = Recorder(tmp_path / "m.jsonl.zst", source="local", clock=lambda: T0, block_s=5.0)
    rec.install(monitor)
    for e in events:
        monitor.apply(e)
        monitor.tick(e.t)
    monitor.close()
    back = list(Recording.open(tmp_path / "m.jsonl.zst").events())
    assert all(same(a, b) for a, b in zip(events, back, strict=True))
    assert len(back) == len(events)
    assert "lines" in rec.status() and rec.worker.dropped == 0


def test_a_full_queue_drops_the_oldest_and_marks_the_gap(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    gate = threading.Event()
    rec = Recorder(tmp_path / "q.jsonl", clock=lambda: T0, max_items=4)
    real = rec._w.add_event

    def slow(event) -> None:
        gate.wait(5)
        real(event)

    monkeypatch.setattr(rec._w, "add_event", slow)
    events = fleet_events(nodes=1, seconds=20)
    for e in events:
        rec.tap(e)  # never waits for the disk
    assert rec.worker.dropped > 0
    assert "dropped" in rec.status()
    gate.set()
    assert rec.close()
    back = Recording.open(tmp_path / "q.jsonl")
    gaps = [m for m in back.marks if m.kind == "gap"]
    assert gaps and sum(m.data["dropped"] for m in gaps) == rec.worker.dropped
    assert len(list(back.events())) == len(events) - rec.worker.dropped


def test_a_disk_that_refuses_a_block_loses_nothing_once_it_accepts(tmp_path: Path) -> None:
    events = fleet_events(nodes=2, seconds=30)
    path = tmp_path / "r.jsonl.zst"
    w = RecordingWriter(path, source="test", t=T0, block_s=5.0)
    real = w._f
    failures = {"left": 3}

    class Full:
        """A file that takes half a block, then says the disk is full (three times)."""

        def write(self, data) -> int:
            if failures["left"] > 0:
                failures["left"] -= 1
                real.write(bytes(data[: len(data) // 2]))
                raise OSError(28, "No space left on device")
            return real.write(data)

        def __getattr__(self, name: str):
            return getattr(real, name)

    w._f = Full()
    for e in events:
        while True:
            try:
                w.add_event(e)
                break
            except OSError:
                continue  # what the writer thread does: the same item again, later
    w._f = real
    w.close()
    back = list(Recording.open(path).events())
    assert len(back) == len(events) and all(same(a, b) for a, b in zip(events, back,
                                                                         strict=True))


def test_membership_events_round_trip_and_shape_the_preamble(tmp_path: Path) -> None:
    from autoglm_tui.events import HeartbeatLost, NodeForgotten, SamplerExited

    events = fleet_events(nodes=2, seconds=8)
    extra = [HeartbeatLost(T0 + 8.2, "node-000", "lease lapsed"),
             SamplerExited(T0 + 8.3, "node-001", "exit status 1"),
             NodeForgotten(T0 + 8.4, "node-001", "forgotten by operator")]
    path = tmp_path / "m.jsonl"
    w = RecordingWriter(path, source="test", t=T0, max_bytes=64 << 10, backups=1)
    for e in events + extra:
        w.add_event(e)
    pre = w.preamble.lines()
    w.close()
    back = list(Recording.open(path).events())
    assert back[-3:] == extra
    assert not any(b'"node":"node-001"' in line for line in pre)  # forgotten: no preamble
    assert any(b'"event":"heartbeat_lost"' in line for line in pre)


def test_version_1_recordings_still_read(tmp_path: Path) -> None:
    """Version 1 wrote each wire object's fields beside rt and node (no "w", no deltas)."""
    from autoglm_tui import wire
    from autoglm_tui.recording.format import event_line

    events = fleet_events(nodes=2, seconds=6)
    lines = [json.dumps({"type": "recording", "format": "autoglm-tui-recording", "version": 1,
                         "id": "v1", "created": T0, "source": "test"}, separators=(",", ":"))]
    for e in events:
        if isinstance(e, (HelloReceived, SampleReceived)):
            msg = e.hello if isinstance(e, HelloReceived) else e.sample
            lines.append(json.dumps({"rt": e.t, "node": e.node_id})[:-1] + ","
                         + wire.encode(msg)[1:])
        else:
            lines.append(event_line(e)[0].decode())
    path = tmp_path / "old.jsonl.gz"
    path.write_bytes(codecs.Gzip().compress(("\n".join(lines) + "\n").encode()))
    rec = Recording.open(path)
    assert rec.version == 1 and rec.index_source == "built"
    back = list(rec.events())
    assert len(back) == len(events) and all(same(a, b) for a, b in zip(events, back,
                                                                         strict=True))
    assert rec.bad_lines == {}
