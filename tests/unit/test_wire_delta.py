"""The compact wire (schema 1.1): deltas rebuild the full samples exactly, a reader joins at a
full sample, bad or missing lines never corrupt a sample, and old and new samplers and
monitors understand each other (tests/compat/v1_0 is the wire as schema 1.0 spoke it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoglm_tui import wire
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.stream import CONTROL_DELTA, CONTROL_FULL, SamplerStream
from autoglm_tui.events import NodeStatus, SampleReceived
from autoglm_tui.model import (
    GpuSample,
    NvLinkErrors,
    ProcGpuUse,
    ProcSample,
    Sample,
    SamplingInfo,
    SelfSample,
    XidEvent,
)
from autoglm_tui.wire_delta import DeltaEncoder, diff
from autoglm_tui.wire_patch import StreamDecoder, _object_patcher
from tests.compat.v1_0 import model as old_model
from tests.compat.v1_0 import wire as old_wire

from .samples import hello, sample

NAMES = st.text("abcdefgh xyz/._-", max_size=12)
PCT = st.one_of(st.none(), st.integers(0, 100).map(float), st.floats(0, 100).map(
    lambda v: round(v, 1)))
COUNTER = st.integers(0, 2**64 - 1)  # a counter may wrap: the next value can be anything


@st.composite
def gpu(draw: st.DrawFn, index: int) -> GpuSample:
    if draw(st.integers(0, 9)) == 0:  # lost
        return GpuSample(index=index, uuid=f"GPU-{index}", state="lost", error="GPU is lost",
                         xid=79, xids=(XidEvent(1.0, 79),), xid_total=1)
    links = draw(st.sampled_from([None, 0, 4]))
    return GpuSample(
        index=index, uuid=f"GPU-{index}", state="ok", util_pct=draw(PCT),
        mem_used_bytes=draw(st.one_of(st.none(), st.integers(0, 80 << 30))),
        mem_total_bytes=80 << 30, temp_c=draw(st.sampled_from([None, 40.0, 41.0])),
        power_w=draw(st.one_of(st.none(), st.integers(50, 700).map(float))),
        pcie_rx_bps=draw(st.sampled_from([None, 0.0, 1.02e6, 3.5e9])),
        ecc_errors=draw(st.sampled_from([None, 0, 3])),
        clock_reasons=draw(st.sampled_from([None, 0, 1, 4, 0x88])),
        xids=tuple(XidEvent(float(t), x) for t, x in draw(
            st.lists(st.tuples(st.integers(0, 5), st.sampled_from([13, 48, 94])), max_size=3))),
        xid_total=draw(st.sampled_from([None, 0, 7])),
        remap_pending=draw(st.sampled_from([None, 0, 1])),
        pcie_width=draw(st.sampled_from([None, 8, 16])), pcie_width_max=16,
        nvlink_links=links,
        nvlink_errors=tuple(NvLinkErrors(k, crc_flit=draw(st.integers(0, 3))) for k in draw(
            st.lists(st.integers(0, 3), unique=True, max_size=2))) if links else (),
    )


@st.composite
def process(draw: st.DrawFn, pid: int) -> ProcSample:
    uses = tuple(ProcGpuUse(i, draw(st.one_of(st.none(), st.integers(0, 1 << 34))),
                            draw(PCT)) for i in draw(st.lists(st.integers(0, 3), unique=True,
                                                                max_size=2)))
    return ProcSample(
        pid=pid, ppid=draw(st.one_of(st.none(), st.integers(1, 5))), user=draw(NAMES),
        name=draw(NAMES), cmdline=draw(NAMES), cpu_pct=draw(PCT),
        rss_bytes=draw(st.one_of(st.none(), st.integers(0, 1 << 40))),
        create_time=draw(st.sampled_from([None, 1000.0, 1234.5])),
        status=draw(st.sampled_from([None, "R", "S"])), gpus=uses,
        error=draw(st.sampled_from([None, "access denied: cmdline"])),
    )


@st.composite
def stream(draw: st.DrawFn) -> list[Sample]:
    """A run of samples: processes come and go (listed in any order), GPUs are lost and come
    back or vanish from the list, counters jump and wrap, optional parts come and go."""
    base = sample(1000.0, 1, gpus=0)
    out = []
    for k in range(draw(st.integers(1, 12))):
        gpu_ids = draw(st.lists(st.integers(0, 7), unique=True, max_size=4))
        pids = draw(st.lists(st.integers(1, 60), unique=True, max_size=6))
        cores = draw(st.integers(1, 4))
        s = replace(
            base, t=1000.0 + k + draw(st.sampled_from([0.0, 0.25])), seq=1 + k,
            cpu=replace(base.cpu, util_pct=draw(PCT) or 0.0,
                        per_core_pct=tuple(draw(PCT) or 0.0 for _ in range(cores)),
                        ctx_switches=draw(st.one_of(st.none(), COUNTER))),
            disk=replace(base.disk, read_bytes=draw(COUNTER), write_count=draw(COUNTER)),
            net=replace(base.net, rx_bytes=draw(COUNTER)),
            gpus=tuple(draw(gpu(i)) for i in gpu_ids),
            procs=tuple(draw(process(p)) for p in pids),
            procs_fresh=draw(st.booleans()),
            self_cost=draw(st.sampled_from([None, SelfSample(0.5, 30 << 20),
                                            SelfSample(0.51, 30 << 20)])),
            errors=tuple(draw(st.lists(NAMES, max_size=2))),
            sampling=draw(st.sampled_from([None, SamplingInfo(1.0, 2.0, 10.0),
                                           SamplingInfo(5.0, 8.0, 40.0, 5.0, "busy")])),
        )
        out.append(s)
    return out


def _normal(s: Sample) -> Sample:
    """What a monitor decodes from the full line of `s`."""
    out = wire.decode(wire.encode(s))
    assert isinstance(out, Sample)
    return out


@settings(max_examples=150, deadline=None)
@given(stream())
def test_deltas_rebuild_the_full_samples_exactly(samples: list[Sample]) -> None:
    enc, dec = DeltaEncoder(full_every_s=1e9), StreamDecoder()
    lines = [enc.encode(s) for s in samples]
    assert json.loads(lines[0])["type"] == "sample"
    assert all(json.loads(line)["type"] == "delta" for line in lines[1:])
    prev: Sample | None = None
    for s, line in zip(samples, lines, strict=True):
        got = dec.decode(line)
        assert got == _normal(s)
        if prev is not None:  # what did not change is the very same object as before
            before = {g.index: g for g in prev.gpus}
            for g in got.gpus:
                if before.get(g.index) == g:
                    assert before[g.index] is g
        prev = got  # type: ignore[assignment]


@settings(max_examples=60, deadline=None)
@given(stream(), st.integers(0, 11))
def test_a_reader_joining_mid_stream_starts_at_the_next_full_sample(
    samples: list[Sample], join: int
) -> None:
    enc = DeltaEncoder(full_every_s=3.0)
    lines = [enc.encode(s) for s in samples]
    join = min(join, len(lines) - 1)
    dec = StreamDecoder()
    synced = False
    for s, line in zip(samples[join:], lines[join:], strict=True):
        if json.loads(line)["type"] == "sample":
            synced = True
        if not synced:
            with pytest.raises(wire.WireError, match="waiting for the next full sample"):
                dec.decode(line)
            assert dec.needs_full
            continue
        assert dec.decode(line) == _normal(s)


def test_a_lost_line_stops_deltas_until_the_next_full_sample() -> None:
    enc, dec = DeltaEncoder(full_every_s=1e9), StreamDecoder()
    samples = [sample(float(t), t, gpu_util=float(t)) for t in range(1, 6)]
    lines = [enc.encode(s) for s in samples]
    assert dec.decode(lines[0]) == samples[0]
    with pytest.raises(wire.WireError, match="seq 3 follows seq 1"):
        dec.decode(lines[2])  # line 1 never came
    with pytest.raises(wire.WireError, match="waiting"):
        dec.decode(lines[3])
    assert dec.needs_full
    enc.reset()  # the sampler was asked for a full sample
    assert dec.decode(enc.encode(samples[4])) == samples[4]
    assert not dec.needs_full


def test_a_bad_delta_is_a_wire_error_and_changes_nothing() -> None:
    dec = StreamDecoder()
    first = sample(1.0, 1)
    dec.decode(wire.encode(first))
    bad = [
        '{"type":"delta","seq":2,"t":2,"gpus":{"@":"index","o":[0,0]}}',
        '{"type":"delta","seq":2,"t":2,"gpus":{"@":"index","o":[0,9]}}',
        '{"type":"delta","seq":2,"t":2,"gpus":{"@":"index","c":{"0":{"index":5}}}}',
        '{"type":"delta","seq":2,"t":"two"}',
        '{"type":"delta","seq":"2"}',
        '{"type":"delta","seq":2,"procs":{"@":"nope"}}',
        '{"type":"delta","seq":2,"cpu":{"~":["util_pct"]}}',
    ]
    bad += [
        '{"type":"delta","seq":2,"gpus":{"@":"index","f":["util_pct"],"v":{"0":[3,1,2]}}}',
        '{"type":"delta","seq":2,"gpus":{"@":"index","f":["util_pct"],"v":{"0":[1]}}}',
        # a mask seen before (its columns remembered) with a value too many
        '{"type":"delta","seq":2,"gpus":{"@":"index","f":["util_pct"],"v":{"0":[1,5],'
        '"1":[1,5,6]}}}',
        '{"type":"delta","seq":2,"gpus":{"@":"index","f":"util_pct","v":{"0":[1,5]}}}',
        '{"type":"delta","seq":2,"gpus":{"@":"index","f":["util_pct"],"v":{"0":["1",5]}}}',
        '{"type":"delta","seq":2,"gpus":{"@":"index","f":["util_pct"],"v":{"7":[1,5]}}}',
        # a column row may not rename its element, patch an element twice or add one
        '{"type":"delta","seq":2,"gpus":{"@":"index","f":["index"],"v":{"0":[1,1]}}}',
        '{"type":"delta","seq":2,"gpus":{"@":"index","f":["util_pct"],"v":{"0":[1,5]},'
        '"c":{"0":{"util_pct":6}}}}',
        '{"type":"delta","seq":2,"gpus":{"@":"index","o":[0,1,2],"f":["util_pct"],'
        '"v":{"2":[1,5]}}}',
        '{"type":"delta","seq":2,"gpus":{"@":"index","f":["util_pct"],"v":{"0":[-1]}}}',
        '{"type":"delta","seq":2,"gpus":{"@":"index","f":["util_pct"],"v":{"0":[1,"x"]}}}',
        '{"type":"delta","seq":2,"gpus":{"@":"index","f":["util_pct"],"v":[[1,5]]}}',
    ]
    for line in bad:
        dec2 = StreamDecoder()
        dec2.decode(wire.encode(first))
        with pytest.raises(wire.WireError):
            dec2.decode(line)
        assert dec2.last is None and dec2.needs_full
    # A line that is not JSON (NaN is not) may be noise between two samples: the stream keeps
    # its place, and a sample lost that way shows in the next delta's seq.
    dec2 = StreamDecoder()
    dec2.decode(wire.encode(first))
    with pytest.raises(wire.WireError, match="not JSON: a non-finite number"):
        dec2.decode('{"type":"delta","seq":2,"cpu":{"util_pct":NaN}}')
    assert dec2.last == first and not dec2.needs_full
    with pytest.raises(wire.WireError, match="delta for seq 3 follows seq 1"):
        dec2.decode('{"type":"delta","seq":3,"t":3}')
    assert dec2.last is None and dec2.needs_full
    # A field this monitor does not know is ignored, as it is in a full line (in a column too).
    ok = dec.decode('{"type":"delta","seq":2,"t":2,"future_field":{"x":1}}')
    assert ok == replace(first, t=2.0, seq=2)
    ok = dec.decode('{"type":"delta","seq":3,"t":3,"gpus":{"@":"index","f":["future","util_pct"],'
                    '"v":{"0":[3,{"x":1},7],"1":[1,"y"]}}}')
    assert ok.gpus[0] == replace(first.gpus[0], util_pct=7.0) and ok.gpus[1] == first.gpus[1]
    assert wire.decode('{"type":"sample","future":1,' + wire.encode(first)[17:]) == first


def test_many_elements_changing_travel_as_columns() -> None:
    enc, dec = DeltaEncoder(), StreamDecoder()
    a = sample(1.0, 1, gpus=4)
    b = replace(a, t=2.0, seq=2, gpus=tuple(
        replace(g, util_pct=float(10 * g.index), power_w=None if g.index == 2 else 300.0)
        for g in a.gpus))
    dec.decode(enc.encode(a))
    line = enc.encode(b)
    gpus = json.loads(line)["gpus"]
    assert gpus["f"] == ["util_pct", "power_w"] and "c" not in gpus
    assert gpus["v"]["0"] == [3, 0, 300] and gpus["v"]["2"] == [1, 20]
    assert dec.decode(line) == b


def test_delta_lines_are_small_when_little_changes() -> None:
    enc = DeltaEncoder()
    a = sample(1.0, 1, gpus=8, procs=tuple(
        ProcSample(p, 1, "u", "python", "python serve.py --model x" * 4, 1.0, 1 << 30, 5.0)
        for p in range(100, 125)))
    b = replace(a, t=2.0, seq=2, gpus=(replace(a.gpus[3], util_pct=77.0), *a.gpus[4:]))
    full, delta = enc.encode(a), enc.encode(b)
    assert len(delta) < 120 < 5000 < len(full)
    assert json.loads(delta)["gpus"]["o"] == [3, 4, 5, 6, 7]


@dataclass(frozen=True, slots=True)
class _Svc:
    url: str
    up: bool
    tokens_total: float | None = None


@dataclass(frozen=True, slots=True)
class _Future:
    t: float
    services: tuple[_Svc, ...] = ()


def test_the_delta_is_generic_over_new_fields() -> None:
    """A field added to the model later (here: a list of services keyed by url) travels in
    deltas with no change to the delta code: diff and patch follow the JSON and the types."""
    a = _Future(1.0, (_Svc("http://a", True, 5.0), _Svc("http://b", False)))
    b = _Future(2.0, (_Svc("http://b", True), _Svc("http://c", True, 1.0)))
    pa, pb = wire.to_dict(a), wire.to_dict(b)  # type: ignore[arg-type]
    patch = diff(pa, pb)
    assert patch["services"]["@"] == "url" and patch["services"]["o"] == ["http://b", "http://c"]
    got = _object_patcher(_Future)(a, patch, "")
    assert got == b and got.services[0] is not a.services[1]


# ---------------------------------------------------------------- old and new, side by side


def _old_sampler_lines(host: str, n: int) -> list[bytes]:
    """What a schema 1.0 sampler writes: its own model, its own encoder, full samples only."""
    h = hello(host)
    old_static = old_model.HostStatic(**{
        f: getattr(h.static, f) for f in old_model.HostStatic.__dataclass_fields__
        if f not in ("nvml", "gpus")},
        nvml=old_model.NvmlInfo(True), gpus=(old_model.GpuInfo(0, "GPU-0", "H100", 80 << 30),))
    lines = [old_wire.encode(old_model.Hello(1, host, "0.1.0", 1000.0, old_static))]
    for k in range(n):
        s = old_model.Sample(
            t=1001.0 + k, seq=k + 1,
            cpu=old_model.CpuSample(10.0, (10.0,), 1.0, None),
            mem=old_model.MemSample(1 << 34, 1 << 32, 3 << 32, 25.0, 0, 0, None),
            disk=old_model.DiskCounters(k, 0, k, 0, 0, 0, 0),
            net=old_model.NetCounters(k, 0, 0, 0, 0, 0, None),
            gpus=(old_model.GpuSample(0, "GPU-0", "ok", util_pct=40.0 + k),),
        )
        lines.append(old_wire.encode(s))
    return [line.encode() for line in lines]


def _new_sampler_lines(host: str, n: int) -> list[bytes]:
    from autoglm_tui.model import SCHEMA_MINOR

    h = replace(hello(host), schema_minor=SCHEMA_MINOR, features=("control", "delta"))
    enc = DeltaEncoder()
    lines = [wire.encode(h)]
    for k in range(n):
        s = sample(1001.0 + k, k + 1, gpu_util=40.0 + k, disk_read=k, net_rx=k)
        s = replace(s, gpus=tuple(replace(g, clock_reasons=0, xid_total=0) for g in s.gpus))
        lines.append(enc.encode(s, delta=True))
    return [line.encode() for line in lines]


def test_old_and_new_samplers_in_one_monitor() -> None:
    state = FleetState()
    streams = {"old": SamplerStream("old"), "new": SamplerStream("new")}
    feeds = {"old": _old_sampler_lines("old", 5), "new": _new_sampler_lines("new", 5)}
    assert json.loads(feeds["new"][2])["type"] == "delta"
    for i in range(6):
        for node, lines in feeds.items():
            event = streams[node].feed(lines[i], 2000.0 + i)
            assert event is not None
            state.apply(event)
            if i == 0:  # after the hello: ask the new sampler for deltas, the old one nothing
                want = [CONTROL_DELTA] if node == "new" else []
                assert streams[node].control_lines() == want
                assert streams[node].control_lines() == []  # offered once
    for node in feeds:
        n = state.nodes[node]
        assert n.status == NodeStatus.UP and n.bad_lines == 0
        assert n.metric("gpu.util_pct", 0) == 44.0
        assert streams[node].stats.bad_lines == 0 and streams[node].stats.samples == 5
    assert streams["new"].stats.deltas == 4 and streams["old"].stats.deltas == 0
    assert state.nodes["new"].metric("gpu.hw_slowdown", 0) == 0
    assert state.nodes["old"].metric("gpu.hw_slowdown", 0) is None  # unknown, not 0


def test_a_stream_out_of_step_skips_deltas_and_asks_for_a_full_sample() -> None:
    lines = _new_sampler_lines("n", 6)
    stream = SamplerStream("n")
    stream.feed(lines[0], 1.0)
    assert stream.control_lines() == [CONTROL_DELTA]
    assert isinstance(stream.feed(lines[1], 2.0), SampleReceived)
    assert stream.feed(lines[3], 3.0) is None  # lines[2] lost: out of step
    assert stream.stats.bad_lines == 1
    assert stream.feed(lines[4], 4.0) is None
    assert stream.stats.skipped == 1
    assert stream.control_lines() == [CONTROL_FULL]
    assert stream.control_lines() == []


def test_an_old_monitor_reads_a_new_samplers_full_lines() -> None:
    """A new sampler that nobody asked for deltas writes full lines; the schema 1.0 decoder
    reads them (it ignores the fields it does not know)."""
    new = _new_sampler_lines("n", 2)
    h = old_wire.decode(new[0])
    assert isinstance(h, old_model.Hello) and h.schema == 1
    s = sample(5.0, 1)
    s = replace(s, gpus=tuple(replace(g, clock_reasons=8, xids=(XidEvent(4.0, 48),),
                                      nvlink_errors=(NvLinkErrors(1, 2),), xid_total=1)
                              for g in s.gpus), sampling=SamplingInfo(1.0, 2.0, 10.0))
    old = old_wire.decode(wire.encode(s))
    assert isinstance(old, old_model.Sample) and old.gpus[0].util_pct == 50.0
    with pytest.raises(old_wire.WireError, match="unknown message type"):
        old_wire.decode(new[2])  # a delta only goes to a monitor that asked for it
