"""Figures a source derived itself (a Prometheus source's rates and quantiles,
``SampleReceived.derived``) are kept on the sample line (format 1.1 and 2), so a replay shows
them as the live view did; version 1.0 and 1.1 files still read, and a bad field loses only the
figures, never the sample."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived
from autoglm_tui.model import DiskCounters, NetCounters
from autoglm_tui.recording import format as fmt
from autoglm_tui.recording.index import index_path
from autoglm_tui.recording.reader import Recording
from autoglm_tui.recording.writer import RecordingWriter
from tests.unit.samples import hello, sample

T0 = 1_700_000_000.0


def prometheus_like(k: int) -> SampleReceived:
    """What the Prometheus source emits: no raw counters, the rates and service figures the
    server computed under the state's metric names (node level, per GPU, per service)."""
    s = sample(T0 + k, k)
    s = replace(s, disk=DiskCounters(None, None, None, None, None, None, None),
                net=NetCounters(None, None, None, None, None, None, 1000))
    derived = {
        ("disk.read_bps", None): 1000.0 * k, ("net.rx_bps", None): 2.5e6,
        ("disk.await_ms", None): None,  # Prometheus had no value: N/A, kept as such
        ("svc.tokens_per_s", None): 812.5 + k, ("svc.latency_p95_s", None): 3.75,
        ("svc.latency_p95_s", "chat"): 3.5, ("gpu.util_pct", 1): 0.1 * k,
    }
    return SampleReceived(T0 + k + 0.25, "gpu-7", s, derived)


def events() -> list:
    return [NodeJoined(T0, "gpu-7", source="prometheus"), HelloReceived(T0, "gpu-7", hello()),
            *(prometheus_like(k) for k in range(1, 8))]


def v1_line(e: object, *, derived: bool) -> str:
    """A line as format 1.x wrote it: the wire object's fields beside rt and node, and (1.1)
    the derived figures after them."""
    from autoglm_tui import wire

    if not isinstance(e, (HelloReceived, SampleReceived)):
        return fmt.event_line(e)[0].decode()  # type: ignore[arg-type]
    msg = e.hello if isinstance(e, HelloReceived) else e.sample
    line = json.dumps({"rt": e.t, "node": e.node_id})[:-1] + "," + wire.encode(msg)[1:]
    if derived and isinstance(e, SampleReceived) and e.derived:
        items = [[m, s, v] for (m, s), v in e.derived.items()]
        line = line[:-1] + ',"derived":' + json.dumps(items) + "}"
    return line


def record(path: Path, evs: list) -> None:
    w = RecordingWriter(path, source="cluster", t=T0)
    for e in evs:
        w.add_event(e)
    w.close()


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz"])
def test_derived_figures_round_trip(tmp_path: Path, name: str) -> None:
    evs = events()
    record(tmp_path / name, evs)
    rec = Recording.open(tmp_path / name)
    assert (rec.header["version"], rec.header["minor"]) == (2, 0)
    back = [e for e in rec.events() if isinstance(e, SampleReceived)]
    assert [e.derived for e in back] == [e.derived for e in evs[2:]]
    assert [e.sample for e in back] == [e.sample for e in evs[2:]]
    assert not rec.bad_lines


def test_a_replay_shows_the_figures_the_live_view_showed(tmp_path: Path) -> None:
    live = FleetState()
    evs = events()
    for e in evs:
        live.apply(e)
    record(tmp_path / "r.jsonl", evs)
    replayed = FleetState()
    for e in Recording.open(tmp_path / "r.jsonl").events():
        replayed.apply(e)
    a, b = live.nodes["gpu-7"], replayed.nodes["gpu-7"]
    assert b.metric("disk.read_bps") == 7000.0 and b.metric("svc.latency_p95_s", "chat") == 3.5
    assert b.metric("svc.tokens_per_s") == 819.5
    assert a.metrics == b.metrics
    key = ("svc.tokens_per_s", None)
    assert a.history.points(key) == b.history.points(key)


def test_a_version_1_0_file_still_reads(tmp_path: Path) -> None:
    """A file written before derived figures were kept: no "minor", no "derived"."""
    head = {**fmt.header("cluster", T0), "version": 1}
    del head["minor"]
    lines = [fmt.dumps(head), *(v1_line(e, derived=False) for e in events())]
    path = tmp_path / "old.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rec = Recording.open(path)
    back = [e for e in rec.events() if isinstance(e, SampleReceived)]
    assert len(back) == 7 and all(e.derived is None for e in back)
    assert not rec.bad_lines


def test_a_version_1_1_file_still_reads_its_figures(tmp_path: Path) -> None:
    evs = events()
    head = {**fmt.header("cluster", T0), "version": 1, "minor": 1}
    lines = [fmt.dumps(head), *(v1_line(e, derived=True) for e in evs)]
    path = tmp_path / "old.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rec = Recording.open(path)
    back = [e for e in rec.events() if isinstance(e, SampleReceived)]
    assert [e.derived for e in back] == [e.derived for e in evs[2:]]
    assert [e.sample for e in back] == [e.sample for e in evs[2:]]
    assert not rec.bad_lines


def test_the_figures_stay_outside_the_wire_object() -> None:
    """The wire line under "w" is the sampler's, untouched; the figures sit beside it, so the
    wire decoder reads the same sample from "w"."""
    from autoglm_tui import wire

    e = prometheus_like(3)
    obj = json.loads(fmt.event_line(e)[0])
    assert "derived" not in obj["w"] and len(obj["derived"]) == len(e.derived or {})
    assert wire.from_dict(obj["w"]) == e.sample


@pytest.mark.parametrize("bad", [
    '"derived":{"disk.read_bps":1}',
    '"derived":[["disk.read_bps",null]]',
    '"derived":[["\\u001b[31m",null,1.0]]',
    '"derived":[["disk.read_bps",true,1.0]]',
    '"derived":[["disk.read_bps",null,"fast"]]',
    '"derived":[["disk.read_bps",null,1e999]]',
])
def test_a_bad_derived_field_loses_only_the_figures(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "r.jsonl"
    record(path, events())
    lines = path.read_text().splitlines()
    i = next(i for i, x in enumerate(lines) if '"derived"' in x)
    lines[i] = lines[i][:lines[i].index('"derived"')] + bad + "}"
    path.write_text("\n".join(lines) + "\n")
    index_path(path).unlink()
    rec = Recording.open(path)
    back = [e for e in rec.events() if isinstance(e, SampleReceived)]
    assert len(back) == 7  # the sample stands
    assert back[0].derived is None and back[1].derived is not None
    assert sum(rec.bad_lines.values()) == 1 and "derived" in rec.errors[0]


def test_service_subjects_are_cleaned() -> None:
    got = fmt.derived_of({"derived": [["svc.up", "chat\x1b[2J", 1]]})
    assert got == {("svc.up", "chat [2J"): 1.0}
