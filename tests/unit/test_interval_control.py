"""Interval requests, pure parts: the control lines a stream offers, the focus policy, and the
fleet state's STALE limit while a node changes interval (a hand-moved clock)."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest

from autoglm_tui import wire
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.interval_policy import IntervalPolicy
from autoglm_tui.cluster.source_args import add_source_args, runner_config_from_args
from autoglm_tui.cluster.stream import (
    CONTROL_DELTA,
    SamplerStream,
    check_interval,
    control_interval,
)
from autoglm_tui.events import HelloReceived, IntervalRequested, NodeStatus, SampleReceived
from autoglm_tui.model import SCHEMA_MINOR, SamplingInfo

from .samples import hello, sample


def new_hello(interval: float = 1.0) -> bytes:
    h = replace(hello(interval=interval), schema_minor=SCHEMA_MINOR, features=("control", "delta"))
    return wire.encode(h).encode()


def test_the_interval_goes_out_after_the_hello_with_the_delta_request() -> None:
    stream = SamplerStream("n", interval_s=5)
    assert stream.control_lines() == []  # no hello yet: nothing to say, nobody to say it to
    stream.feed(new_hello(), 1.0)
    assert stream.control_lines() == [CONTROL_DELTA, b'{"type":"control","interval":5}\n']
    assert stream.interval_lines == 1
    assert stream.control_lines() == []
    stream.request_interval(5.0)  # the same again: nothing new to send
    assert stream.control_lines() == []
    stream.request_interval(0.5)
    assert stream.control_lines() == [b'{"type":"control","interval":0.5}\n']
    stream.request_interval(None)
    assert stream.control_lines() == [b'{"type":"control","interval":null}\n']
    assert stream.interval_lines == 3


def test_a_new_run_of_the_sampler_is_asked_again() -> None:
    stream = SamplerStream("n", interval_s=2.5)
    stream.feed(new_hello(), 1.0)
    assert len(stream.control_lines()) == 2
    stream.feed(new_hello(), 2.0)  # a hello starts a run at its own --interval
    assert stream.control_lines() == [CONTROL_DELTA, b'{"type":"control","interval":2.5}\n']


def test_an_old_sampler_is_never_sent_an_interval() -> None:
    stream = SamplerStream("n", interval_s=5)
    stream.feed(wire.encode(hello()).encode(), 1.0)  # no "features": schema 1.0
    assert not stream.controllable
    assert stream.control_lines() == []
    stream.request_interval(2.0)
    assert stream.control_lines() == []
    assert stream.interval_lines == 0


def test_full_lines_only_when_deltas_are_not_wanted() -> None:
    stream = SamplerStream("n", want_delta=False)
    stream.feed(new_hello(), 1.0)
    assert stream.control_lines() == []


@pytest.mark.parametrize("bad", [0.1, 0, -1, 3601, float("nan"), float("inf")])
def test_intervals_outside_the_samplers_range_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=r"outside 0\.2 to 3600"):
        check_interval(bad)
    with pytest.raises(ValueError):
        SamplerStream("n").request_interval(bad)


def test_interval_lines_are_what_the_sampler_parses() -> None:
    from autoglm_tui.sampler.control import Controls

    controls = Controls(1.0)
    controls.feed(control_interval(7.25) + control_interval(None) + control_interval(0.2))
    assert controls.notes == []
    assert controls.interval_s == 0.2 and controls.requested_interval_s == 0.2


def test_focus_policy() -> None:
    off = IntervalPolicy()
    assert off.focus({"a"}) == frozenset()  # no background interval: nothing ever changes
    assert off.interval_for("b") is None
    policy = IntervalPolicy(background_s=5)
    assert policy.interval_for("a") == 5.0 and policy.interval_for("b") == 5.0
    assert policy.focus({"a"}) == {"a"}
    assert policy.interval_for("a") is None and policy.interval_for("b") == 5.0
    assert policy.focus({"b"}) == {"a", "b"}
    assert policy.focus({"b"}) == frozenset()
    assert policy.focus(()) == {"b"}
    with pytest.raises(ValueError):
        IntervalPolicy(background_s=0.05)


def _slow(t: float, seq: int, interval: float, requested: float | None = None) -> SampleReceived:
    s = replace(sample(t, seq), sampling=SamplingInfo(interval, 2.0, 10.0, requested))
    return SampleReceived(t, "n1", s)


def test_a_node_being_slowed_is_not_stale_while_the_next_sample_is_on_its_way() -> None:
    st = FleetState()
    st.apply(HelloReceived(0.0, "n1", hello(interval=1.0)))
    st.apply(_slow(1.0, 1, 1.0))
    st.apply(IntervalRequested(1.2, "n1", 5.0))
    assert st.nodes["n1"].interval_s == 5.0
    assert st.tick(5.9) == []  # 4.9 s after the last sample: > 3 old intervals, < 3 new ones
    st.apply(_slow(6.0, 2, 5.0, requested=5.0))  # confirmed
    assert st.nodes["n1"].requested_interval_s is None
    assert st.nodes["n1"].interval_s == 5.0
    assert st.tick(20.9) == []
    [change] = st.tick(21.1)  # 3 x 5 s without a sample: STALE as before
    assert change.new == NodeStatus.STALE


def test_a_sample_on_its_way_does_not_confirm_and_a_second_one_decides() -> None:
    st = FleetState()
    st.apply(HelloReceived(0.0, "n1", hello(interval=1.0)))
    st.apply(_slow(1.0, 1, 1.0))
    st.apply(IntervalRequested(1.1, "n1", 5.0))
    st.apply(_slow(2.0, 2, 1.0))  # written before the request arrived
    assert st.nodes["n1"].interval_s == 5.0
    st.apply(_slow(3.0, 3, 1.0))  # the sampler did not take it: its word is the truth
    assert st.nodes["n1"].interval_s == 1.0
    [change] = st.tick(6.1)
    assert change.new == NodeStatus.STALE


def test_back_to_the_samplers_own_interval_and_a_restart_forgets_the_request() -> None:
    st = FleetState()
    st.apply(HelloReceived(0.0, "n1", hello(interval=2.0)))
    st.apply(_slow(1.0, 1, 0.5, requested=0.5))
    st.apply(IntervalRequested(1.1, "n1", None))  # None: the hello's 2 s
    assert st.nodes["n1"].requested_interval_s == 2.0 and st.nodes["n1"].interval_s == 2.0
    st.apply(HelloReceived(1.5, "n1", hello(interval=1.0)))
    assert st.nodes["n1"].requested_interval_s is None


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_source_args(parser)
    return parser.parse_args(argv)


def test_interval_compression_and_delta_options() -> None:
    config = runner_config_from_args(_parse(["--hosts", "gpu1"]))
    assert config.background_interval_s is None
    assert config.ssh.delta and config.ssh.compression == "auto"
    config = runner_config_from_args(_parse([
        "--hosts", "gpu1", "--background-interval", "5", "--ssh-compression", "on",
        "--no-delta",
    ]))
    assert config.background_interval_s == 5.0
    assert not config.ssh.delta and config.ssh.compression == "on"
    for bad in (["--background-interval", "0.1"], ["--ssh-compression", "maybe"]):
        with pytest.raises(SystemExit):
            _parse(bad)
