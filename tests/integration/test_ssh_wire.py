"""The compact wire and control lines over real SSH: the monitor asks a 1.1 sampler for deltas
and gets the same figures as from full lines, recovers from a lost line with the full line it
asks for, leaves a 1.0 sampler alone, and changes a node's interval without making it STALE.

The node runs the real sampler under tests/integration/tap_sampler.py, which logs every
control line the sampler read and the full line of every sample it sent (as a full line or a
delta), so the monitor's state can be held against the state full lines give.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shlex
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from autoglm_tui import wire
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.runner import RunnerConfig
from autoglm_tui.events import (
    HelloReceived,
    IntervalRequested,
    NodeStatus,
    NodeUnreachable,
    SampleReceived,
)
from tests.integration.fleet_watch import FleetWatch
from tests.integration.sshd_fixture import (
    SshdSet,
    async_wait_for,
    processes_matching,
    sshd_missing,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sshd_missing() is not None, reason=str(sshd_missing())),
]

TAP = Path(__file__).resolve().parent / "tap_sampler.py"
DELTA_ON = '{"type":"control","delta":true}'
FULL_PLEASE = '{"type":"control","full":true}'


@pytest.fixture
def servers(tmp_path: Path):
    with SshdSet(tmp_path / "ssh") as made:
        yield made


def tap_command(tap: Path, *sampler_args: str, drop_delta: int = 0, old: bool = False) -> str:
    """The remote command: the real sampler under the tap (python3 is the test venv's)."""
    parts = ["python3", str(TAP), "--tap", str(tap)]
    if drop_delta:
        parts += ["--drop-delta", str(drop_delta)]
    if old:
        parts.append("--as-1.0")
    parts += ["--", "--top", "5", *sampler_args]
    return " ".join(shlex.quote(p) for p in parts)


def read_tap(tap: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The control lines the sampler read, and its samples (seq, kind, dropped, full line)."""
    controls, samples = [], []
    if tap.exists():
        for line in tap.read_text().splitlines():
            record = json.loads(line)
            if "control" in record:
                controls.append(record["control"])
            else:
                samples.append(record)
    return controls, samples


def received(watch: FleetWatch, node_id: str) -> list[SampleReceived]:
    return [e for e in watch.events if isinstance(e, SampleReceived) and e.node_id == node_id]


def reference_state(watch: FleetWatch, node_id: str, tap: Path) -> FleetState:
    """What the monitor's state would be had every sample it received come as a full line:
    the same hello and receive times, each sample decoded from the tap's full line."""
    _, samples = read_tap(tap)
    full = {r["seq"]: wire.decode(r["full"]) for r in samples}
    ref = FleetState()
    for event in watch.events:
        if getattr(event, "node_id", None) != node_id:
            continue
        if isinstance(event, HelloReceived):
            ref.apply(event)
        elif isinstance(event, SampleReceived):
            ref.apply(SampleReceived(event.t, node_id, full[event.sample.seq]))
    return ref


def same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def assert_same_figures(node: NodeState, ref: NodeState) -> None:
    assert node.last_sample == ref.last_sample
    assert node.metrics.keys() == ref.metrics.keys()
    for key, value in node.metrics.items():
        assert same(value, ref.metrics[key]), key
    keys = ref.history.keys()
    assert keys == node.history.keys()
    for key in keys:
        assert node.history.points(key) == ref.history.points(key), key


def assert_as_sent(watch: FleetWatch, events: list[SampleReceived], tap: Path) -> None:
    """Every sample the monitor built (from deltas) is the very sample the node sent, and its
    state holds the figures that full lines of those samples give."""
    _, samples = read_tap(tap)
    by_seq = {r["seq"]: wire.decode(r["full"]) for r in samples}
    for event in events:
        assert event.sample == by_seq[event.sample.seq]
    ref = reference_state(watch, "n1", tap)
    assert_same_figures(watch.state.nodes["n1"], ref.nodes["n1"])


async def test_a_node_streams_deltas_with_the_figures_of_full_lines(
    servers: SshdSet, tmp_path: Path
) -> None:
    node = servers.start()
    spec = node.spec(name="n1")
    tap = tmp_path / "tap.jsonl"
    command = tap_command(tap, "--interval", "0.25", "--full-every", "3600")
    options = servers.ssh_options(remote_command=command)
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=options)) as watch:
        assert await watch.until(lambda: watch.samples("n1") >= 14), watch.describe()
        stream = watch.runner.streams["n1"].source.stream
        assert stream is not None
        deltas, bad = stream.stats.deltas, stream.stats.bad_lines
        events = received(watch, "n1")
        assert watch.status("n1") == NodeStatus.UP
    controls, samples = read_tap(tap)
    assert controls == [DELTA_ON]  # asked once, right after the hello
    kinds = [r["kind"] for r in samples]
    # Full lines until the request arrived, one full line to start from, then deltas only.
    first_delta = kinds.index("delta")
    assert 1 <= first_delta <= 3 and set(kinds[first_delta:]) == {"delta"}, kinds
    assert deltas >= 10 and bad == 0
    assert [e.sample.seq for e in events] == [r["seq"] for r in samples][: len(events)]
    assert_as_sent(watch, events, tap)


async def test_a_lost_delta_line_recovers_with_the_full_line_it_asks_for(
    servers: SshdSet, tmp_path: Path
) -> None:
    node = servers.start()
    spec = node.spec(name="n1")
    tap = tmp_path / "tap.jsonl"
    # The node loses its 4th delta line; with --full-every 3600, any later full line is one
    # the monitor asked for.
    command = tap_command(tap, "--interval", "0.25", "--full-every", "3600", drop_delta=4)
    options = servers.ssh_options(remote_command=command)
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=options)) as watch:

        def recovered() -> bool:
            _, samples = read_tap(tap)
            kinds = [r["kind"] for r in samples]
            dropped = [i for i, r in enumerate(samples) if r["dropped"]]
            return bool(dropped) and kinds[dropped[0] + 1:].count("delta") >= 5

        assert await watch.until(recovered), watch.describe()
        await asyncio.sleep(0.3)  # the last deltas the tap logged reach the monitor
        source = watch.runner.streams["n1"].source
        stream = source.stream
        assert stream is not None
        stats = stream.stats
        statuses = [e for e in watch.events if isinstance(e, NodeUnreachable)]
        events = received(watch, "n1")
        assert watch.status("n1") == NodeStatus.UP
    controls, samples = read_tap(tap)
    assert controls == [DELTA_ON, FULL_PLEASE]
    [lost] = [i for i, r in enumerate(samples) if r["dropped"]]
    after = [r["kind"] for r in samples[lost + 1:]]
    # The delta after the gap could not apply (refused: "waiting for the next full sample");
    # the full line asked for came next (or one later, when a delta was already on its way),
    # then deltas again.
    assert after[0] == "delta"
    full_at = after.index("sample")
    assert 1 <= full_at <= 2 and after.count("sample") == 1, after
    assert source.bad_lines == 1
    assert stats.skipped == full_at - 1  # deltas on their way meanwhile, skipped quietly
    assert not statuses
    got = {e.sample.seq for e in events}
    lost_seq = samples[lost]["seq"]
    assert lost_seq not in got and lost_seq + 1 not in got
    assert max(got) > samples[lost + 1 + full_at]["seq"]  # deltas apply again after the full
    assert_as_sent(watch, events, tap)


async def test_an_old_sampler_in_the_same_cluster_view_is_sent_nothing(
    servers: SshdSet, tmp_path: Path
) -> None:
    old_node, new_node = servers.start(), servers.start()
    old_tap, new_tap = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    # One command for the fleet, as in production; the node behind port P runs as a 1.0
    # sampler (sshd puts its own port last in $SSH_CONNECTION).
    old = tap_command(old_tap, "--interval", "0.25", old=True)
    new = tap_command(new_tap, "--interval", "0.25")
    command = f'if [ "${{SSH_CONNECTION##* }}" = {old_node.port} ]; then {old}; else {new}; fi'
    specs = (old_node.spec(name="old"), new_node.spec(name="new"))
    options = servers.ssh_options(remote_command=command)
    async with FleetWatch(RunnerConfig(hosts=specs, ssh=options)) as watch:
        assert await watch.until(
            lambda: watch.samples("old") >= 8 and watch.samples("new") >= 8, 30
        ), watch.describe()
        streams = {name: watch.runner.streams[name].source.stream for name in ("old", "new")}
        assert streams["old"] is not None and streams["new"] is not None
        assert streams["new"].stats.deltas >= 4 and streams["old"].stats.deltas == 0
        assert streams["old"].stats.bad_lines == 0 and streams["new"].stats.bad_lines == 0
        # Asking the old one for another interval sends nothing; it keeps streaming.
        assert watch.runner.request_interval("old", 2.0)
        before = watch.samples("old")
        assert await watch.until(lambda: watch.samples("old") >= before + 3)
        assert watch.status("old") == watch.status("new") == NodeStatus.UP
        state = watch.state
        asked = [e for e in watch.events if isinstance(e, IntervalRequested)]
        sources = {name: watch.runner.streams[name].source for name in ("old", "new")}
        hellos = {name: sum(1 for e in watch.events
                            if isinstance(e, HelloReceived) and e.node_id == name)
                  for name in ("old", "new")}
    # --ssh-compression auto: full lines (18 KB/s) travel compressed, compact ones do not. The
    # old sampler's first connection was opened again, compressed, right after its hello.
    assert sources["old"].compression == "zlib@openssh.com" and sources["old"].full_lines
    assert sources["new"].compression == "none"
    assert hellos == {"old": 2, "new": 1}
    assert not [e for e in watch.events if isinstance(e, NodeUnreachable)]
    old_controls, old_samples = read_tap(old_tap)
    new_controls, _ = read_tap(new_tap)
    assert old_controls == []  # a 1.0 sampler never hears from the monitor
    assert new_controls == [DELTA_ON]
    assert {r["kind"] for r in old_samples} == {"sample"}
    old_state, new_state = state.nodes["old"], state.nodes["new"]
    assert old_state.hello is not None and old_state.hello.schema_minor == 0
    assert old_state.hello.features == ()
    assert old_state.last_sample is not None and old_state.last_sample.sampling is None
    assert old_state.interval_s == 0.25  # from its hello
    assert new_state.hello is not None and "delta" in new_state.hello.features
    for node in (old_state, new_state):
        assert 0.0 <= (node.metric("cpu.util_pct") or 0.0) <= 100.0
        assert (node.metric("mem.used_pct") or 0.0) > 0
    assert not asked


async def test_a_slowed_node_never_looks_stale_and_a_stopped_one_still_does(
    servers: SshdSet, tmp_path: Path
) -> None:
    node = servers.start()
    spec = node.spec(name="n1")
    tap = tmp_path / "tap.jsonl"
    options = servers.ssh_options(remote_command=tap_command(tap, "--interval", "0.25"))
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=options)) as watch:
        assert await watch.until(lambda: watch.samples("n1") >= 3), watch.describe()
        seen: set[NodeStatus] = set()

        def at(seconds: float) -> int:
            seen.add(watch.status("n1"))  # type: ignore[arg-type]
            return sum(1 for e in received(watch, "n1")
                       if e.sample.sampling and e.sample.sampling.interval_s == seconds)

        # 0.25 s -> 1.5 s: the next sample comes 1.5 s after the last, six of the old
        # interval; STALE (3 intervals) must be measured in the new one.
        assert watch.runner.request_interval("n1", 1.5)
        assert await watch.until(lambda: at(1.5) >= 3, 15), watch.describe()
        assert seen == {NodeStatus.UP}
        assert watch.state.nodes["n1"].interval_s == 1.5
        # A restarted sampler gets the interval again after its hello.
        [pid] = processes_matching(str(tap))
        os.kill(pid, signal.SIGKILL)
        assert await watch.until(
            lambda: len([e for e in watch.events if isinstance(e, HelloReceived)]) == 2
            and at(1.5) >= 5, 20), watch.describe()
        # A slowed node that stops is still seen: STALE after 3 of its (slow) intervals.
        [pid] = processes_matching(str(tap))
        os.kill(pid, signal.SIGSTOP)
        try:
            assert await watch.until(lambda: watch.status("n1") == NodeStatus.STALE, 15)
            reason = watch.reason("n1")
            node = watch.state.nodes["n1"]
            assert node.last_sample_at is not None
            quiet = node.status_since - node.last_sample_at
        finally:
            os.kill(pid, signal.SIGCONT)
        assert reason.startswith("no sample since "), reason  # a clock time, never stale
        assert quiet > 4.5, reason  # 3 of its 1.5 s intervals
        # Back to the sampler's own interval.
        assert watch.runner.request_interval("n1", None)
        assert await watch.until(lambda: at(0.25) >= 8), watch.describe()
        asked = [e.interval_s for e in watch.events if isinstance(e, IntervalRequested)]
    controls, _ = read_tap(tap)
    interval_lines = [c for c in controls if '"interval"' in c]
    assert interval_lines == [
        '{"type":"control","interval":1.5}',  # first run
        '{"type":"control","interval":1.5}',  # the restarted one
        '{"type":"control","interval":null}',
    ]
    assert asked == [1.5, 1.5, None]


async def test_background_interval_follows_the_focus(servers: SshdSet, tmp_path: Path) -> None:
    """The UI's hook: requests.send(sources, NodesInView(...)) to the cluster view's SSH source."""
    from autoglm_tui.commands.cluster import RunnerSource
    from autoglm_tui.requests import HistoryWanted, NodesInView, send

    node = servers.start()
    specs = (node.spec(name="a"), node.spec(name="b"))
    options = servers.ssh_options(interval_s=0.25)
    source = RunnerSource(RunnerConfig(hosts=specs, ssh=options, background_interval_s=1.0))
    state = FleetState()
    assert send([source], NodesInView(frozenset({"a"}))) == 1  # before it runs: kept
    task = asyncio.ensure_future(source.run(state.apply))

    def interval(name: str) -> float | None:
        sample = state.nodes[name].last_sample if name in state.nodes else None
        return sample.sampling.interval_s if sample and sample.sampling else None

    async def until(a: float, b: float) -> bool:
        return await async_wait_for(lambda: interval("a") == a and interval("b") == b, 20)

    try:
        assert await until(0.25, 1.0), {n: interval(n) for n in ("a", "b")}
        send([source], NodesInView(frozenset({"b"})))
        send([source], HistoryWanted("b"))  # nothing to do over SSH: ignored
        assert await until(1.0, 0.25), {n: interval(n) for n in ("a", "b")}
        send([source], NodesInView(frozenset()))
        assert await until(1.0, 1.0), {n: interval(n) for n in ("a", "b")}
        state.tick(time.time())
        assert {state.nodes["a"].status, state.nodes["b"].status} == {NodeStatus.UP}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_control_line_that_cannot_be_written_is_the_nodes_reason(
    servers: SshdSet,
) -> None:
    node = servers.start()
    spec = node.spec(name="n1")
    options = servers.ssh_options()
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=options)) as watch:
        assert await watch.until(lambda: watch.samples("n1") >= 2), watch.describe()
        source = watch.runner.streams["n1"].source
        session = source._session
        assert session is not None
        session._chan.write_eof()  # this side of the channel is closed for writing
        source.request_interval(2.0)  # so this line cannot go out
        assert await watch.until(lambda: watch.status("n1") == NodeStatus.UNREACHABLE)
        assert "cannot send a control line to the sampler" in watch.reason("n1")
        # The next connection runs a fresh sampler, asked for the interval after its hello.
        assert await watch.until(
            lambda: watch.status("n1") == NodeStatus.UP
            and watch.state.nodes["n1"].interval_s == 2.0, 20), watch.describe()


async def test_compression_on_off_and_ssh_config(servers: SshdSet, tmp_path: Path) -> None:
    node = servers.start()
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host squeezed\n"
        f"  HostName {node.host}\n"
        f"  Port {node.port}\n"
        "  Compression yes\n"
    )
    from autoglm_tui.cluster.hosts import HostSpec

    plain = node.spec(name="plain")
    squeezed = HostSpec("squeezed", "squeezed", None, plain.user)
    got = {}
    for mode in ("auto", "on", "off"):
        options = servers.ssh_options(config=(str(config),), compression=mode)
        async with FleetWatch(RunnerConfig(hosts=(plain, squeezed), ssh=options)) as watch:
            assert await watch.until(
                lambda: watch.samples("plain") >= 2 and watch.samples("squeezed") >= 2
            ), watch.describe()
            got[mode] = {n: watch.runner.streams[n].source.compression
                         for n in ("plain", "squeezed")}
            stream = watch.runner.streams["plain"].source.stream
            assert stream is not None and stream.stats.deltas >= 1
    zlib = "zlib@openssh.com"
    assert got == {
        "auto": {"plain": "none", "squeezed": zlib},  # compact lines; ssh_config says yes
        "on": {"plain": zlib, "squeezed": zlib},
        "off": {"plain": "none", "squeezed": "none"},
    }
