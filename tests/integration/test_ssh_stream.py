"""The SSH data path against real sshd on loopback: streaming, host keys, failures, recovery."""

from __future__ import annotations

import asyncio
import getpass
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import autoglm_tui
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.runner import Runner, RunnerConfig
from autoglm_tui.events import Event, HelloReceived, NodeStatus, NodeUnreachable, SampleReceived
from tests.integration.fleet_watch import FleetWatch
from tests.integration.sshd_fixture import (
    SshdSet,
    async_wait_for,
    keygen,
    pid_alive,
    sshd_missing,
    wait_for,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sshd_missing() is not None, reason=str(sshd_missing())),
]


@pytest.fixture
def servers(tmp_path: Path):
    with SshdSet(tmp_path / "ssh") as made:
        yield made


async def test_node_streams_samples_and_leaves_nothing_behind(servers: SshdSet) -> None:
    node = servers.start()
    spec = node.spec(rack="a1")
    config = RunnerConfig(hosts=(spec,), ssh=servers.ssh_options())
    async with FleetWatch(config) as watch:
        assert await watch.until(lambda: watch.samples(spec.node_id) >= 3), watch.describe()
        state = watch.state.nodes[spec.node_id]
        assert state.status == NodeStatus.UP
        assert state.labels == {"rack": "a1"}
        assert state.source == "hosts"
        assert state.hello is not None
        assert state.hello.sampler_version == autoglm_tui.__version__
        assert state.hello.static.cpu_cores_logical >= 1
        sample = state.last_sample
        assert sample is not None and 0.0 <= sample.cpu.util_pct <= 100.0
        assert sample.mem.total_bytes > 0
        seqs = [
            e.sample.seq for e in watch.events
            if isinstance(e, SampleReceived) and e.node_id == spec.node_id
        ]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        running = node.sampler_pids()
        assert running, "a sampler runs on the node while the monitor watches"
    # The monitor closed its connection: the sampler saw EOF on stdin and exited.
    assert wait_for(lambda: not any(pid_alive(p) for p in running), 10), "sampler left behind"
    assert wait_for(lambda: not node.sampler_pids(), 10)


async def test_unknown_host_key_is_refused_and_nothing_runs(
    servers: SshdSet, tmp_path: Path
) -> None:
    node = servers.start(trust=False)
    marker = tmp_path / "ran"
    options = servers.ssh_options(remote_command=f"touch {marker}")
    spec = node.spec()
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=options)) as watch:
        assert await watch.until(lambda: watch.status(spec.node_id) == NodeStatus.UNREACHABLE)
        reason = watch.reason(spec.node_id)
    assert "unknown host key" in reason and "nothing was sent" in reason
    assert "--accept-new-host-keys" in reason
    assert not marker.exists()
    assert "Accepted publickey" not in node.log_path.read_text()


async def test_changed_host_key_is_refused_even_with_accept_new(
    servers: SshdSet, tmp_path: Path
) -> None:
    node = servers.start(trust=False)
    impostor = keygen(tmp_path / "other_host_key").split()
    servers.known_hosts.write_text(f"[{node.host}]:{node.port} {impostor[0]} {impostor[1]}\n")
    before = servers.known_hosts.read_text()
    marker = tmp_path / "ran"
    options = servers.ssh_options(remote_command=f"touch {marker}", accept_new_host_keys=True)
    spec = node.spec()
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=options)) as watch:
        assert await watch.until(lambda: watch.status(spec.node_id) == NodeStatus.UNREACHABLE)
        reason = watch.reason(spec.node_id)
    assert "HOST KEY CHANGED" in reason and "nothing was sent" in reason
    assert not marker.exists()
    assert servers.known_hosts.read_text() == before
    assert "Accepted publickey" not in node.log_path.read_text()


async def test_accept_new_records_an_unknown_key_then_trusts_it(
    servers: SshdSet, tmp_path: Path
) -> None:
    node = servers.start(trust=False)
    known = tmp_path / "fresh" / "known_hosts"  # does not exist yet
    spec = node.spec()
    options = servers.ssh_options(known_hosts=(str(known),), accept_new_host_keys=True)
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=options)) as watch:
        assert await watch.until(lambda: watch.samples(spec.node_id) >= 1), watch.describe()
    assert known.read_text().splitlines() == [node.known_hosts_line()]
    # Recorded: a strict monitor (no accept-new) now trusts it.
    options = servers.ssh_options(known_hosts=(str(known),))
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=options)) as watch:
        assert await watch.until(lambda: watch.samples(spec.node_id) >= 1), watch.describe()


async def test_stopped_sampler_goes_stale_and_a_killed_one_is_restarted(
    servers: SshdSet,
) -> None:
    node = servers.start()
    spec = node.spec()
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=servers.ssh_options())) as watch:
        assert await watch.until(lambda: watch.status(spec.node_id) == NodeStatus.UP)
        [pid] = node.sampler_pids()
        os.kill(pid, signal.SIGSTOP)
        try:
            assert await watch.until(lambda: watch.status(spec.node_id) == NodeStatus.STALE)
        finally:
            os.kill(pid, signal.SIGKILL)
        assert await watch.until(
            lambda: watch.status(spec.node_id) == NodeStatus.UP and node.sampler_pids()
        ), watch.describe()
        assert pid not in node.sampler_pids()
        hellos = [e for e in watch.events if isinstance(e, HelloReceived)]
        assert len(hellos) == 2


async def test_sshd_stopped_then_started_heals_on_its_own(servers: SshdSet) -> None:
    node = servers.start()
    spec = node.spec()
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=servers.ssh_options())) as watch:
        assert await watch.until(lambda: watch.status(spec.node_id) == NodeStatus.UP)
        old = node.sampler_pids()
        node.stop()
        assert await watch.until(lambda: watch.status(spec.node_id) == NodeStatus.UNREACHABLE)
        assert watch.reason(spec.node_id)
        # Its sshd session is gone, so the old sampler's stdin closed: it exited.
        assert await async_wait_for(lambda: not any(pid_alive(p) for p in old), 10)
        assert await watch.until(
            lambda: "refused" in watch.reason(spec.node_id)
            or watch.status(spec.node_id) == NodeStatus.UNREACHABLE
        )
        node.start()
        assert await watch.until(lambda: watch.status(spec.node_id) == NodeStatus.UP), (
            watch.describe()
        )


async def test_stderr_tail_is_the_nodes_error(servers: SshdSet) -> None:
    node = servers.start()
    spec = node.spec()
    command = "echo 'Traceback (most recent call last):' >&2; echo 'RuntimeError: boom' >&2; exit 3"
    options = servers.ssh_options(remote_command=command)
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=options)) as watch:
        assert await watch.until(lambda: watch.status(spec.node_id) == NodeStatus.UNREACHABLE)
        reason = watch.reason(spec.node_id)
    assert "RuntimeError: boom" in reason and "exit status 3" in reason


@pytest.mark.parametrize(
    ("first_line", "expected"),
    [
        ("not json", "not JSON"),
        ('{"type":"hello","schema":2}', "unsupported wire schema 2"),
    ],
)
async def test_a_stream_that_does_not_validate_makes_the_node_invalid(
    servers: SshdSet, first_line: str, expected: str
) -> None:
    node = servers.start()
    spec = node.spec()
    # `read` waits for stdin's EOF, so nothing outlives the session.
    options = servers.ssh_options(remote_command=f"echo '{first_line}'; read -r _")
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=options)) as watch:
        assert await watch.until(lambda: watch.status(spec.node_id) == NodeStatus.INVALID)
        assert expected in watch.reason(spec.node_id)


async def test_bad_and_overlong_lines_are_skipped_and_the_node_stays_up(
    servers: SshdSet,
) -> None:
    node = servers.start()
    spec = node.spec()
    sample = "python3 -m autoglm_tui sample --interval 0.2"
    overlong = "head -c 1100000 /dev/zero | tr '\\0' x; echo"  # one 1.1 MB line: over 1 MiB
    command = (
        f"{sample} --once; echo '{{garbage'; {overlong}; "
        f"{sample} --count 2 | tail -n 2; read -r _"
    )
    options = servers.ssh_options(remote_command=command)
    config = RunnerConfig(hosts=(spec,), ssh=options)
    async with FleetWatch(config) as watch:
        assert await watch.until(lambda: watch.samples(spec.node_id) >= 3), watch.describe()
        assert watch.status(spec.node_id) == NodeStatus.UP
        assert watch.runner.streams[spec.node_id].source.bad_lines == 2


async def test_an_error_while_handling_a_line_stops_only_that_node(servers: SshdSet) -> None:
    node = servers.start()
    good, bad = node.spec(name="good"), node.spec(name="bad")
    state = FleetState()
    samples: dict[str, int] = {"good": 0, "bad": 0}

    def emit(event: Event) -> None:
        if isinstance(event, SampleReceived):
            samples[event.node_id] += 1
            if event.node_id == "bad":
                raise RuntimeError("boom in the monitor")
        state.apply(event)

    runner = Runner(RunnerConfig(hosts=(good, bad), ssh=servers.ssh_options()), emit)
    task = asyncio.ensure_future(runner.run())
    try:
        def settled() -> bool:
            node_bad = state.nodes.get("bad")
            return (
                node_bad is not None
                and node_bad.status == NodeStatus.INVALID
                and samples["good"] >= 3
            )

        assert await async_wait_for(settled, 20), {n: s.status for n, s in state.nodes.items()}
        reason = state.nodes["bad"].reason or ""
        assert "internal error" in reason and "boom in the monitor" in reason
        assert samples["bad"] == 1  # its stream stopped at the error
        assert state.nodes["good"].status == NodeStatus.UP
        # The failed node's connection is closed, so its sampler exits; the other keeps one.
        assert await async_wait_for(lambda: len(node.sampler_pids()) == 1, 10)
    finally:
        await runner.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_aes_gcm_is_negotiated_unless_ssh_config_names_ciphers(
    servers: SshdSet, tmp_path: Path
) -> None:
    node = servers.start()
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host chacha-node\n"
        f"  HostName {node.host}\n"
        f"  Port {node.port}\n"
        "  Ciphers chacha20-poly1305@openssh.com\n"
    )
    from autoglm_tui.cluster.hosts import HostSpec

    plain = node.spec(name="plain")
    named = HostSpec("named", "chacha-node", None, getpass.getuser())
    options = servers.ssh_options(config=(str(config),))
    async with FleetWatch(RunnerConfig(hosts=(plain, named), ssh=options)) as watch:
        assert await watch.until(
            lambda: watch.samples("plain") >= 1 and watch.samples("named") >= 1
        ), watch.describe()
        streams = watch.runner.streams
        assert streams["plain"].source.cipher == "aes128-gcm@openssh.com"
        assert streams["named"].source.cipher == "chacha20-poly1305@openssh.com"


def test_snapshot_prints_hosts_up_with_cpu_figures(servers: SshdSet, tmp_path: Path) -> None:
    import json

    a = servers.start()
    b = servers.start()
    marker = tmp_path / "owned"
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text(
        "# two nodes\n"
        f"{a.entry()} name=alpha rack=r1 note=$(touch{marker})\n"
        f"{b.entry()} role=;rm-rf\n"
    )
    proc = subprocess.run(
        [
            sys.executable, "-m", "autoglm_tui", "snapshot", "--hosts-file", str(hosts_file),
            *servers.cli_args(), "--interval", "0.5", "--wait", "30",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    doc = json.loads(proc.stdout)
    nodes = {n["node_id"]: n for n in doc["nodes"]}
    assert set(nodes) == {"alpha", f"{b.host}:{b.port}"}
    for node in nodes.values():
        assert node["status"] == "UP"
        cpu = node["last_sample"]["cpu"]
        assert 0.0 <= cpu["util_pct"] <= 100.0 and cpu["per_core_pct"]
        assert node["last_sample"]["mem"]["total_bytes"] > 0
    assert nodes["alpha"]["labels"] == {"rack": "r1", "note": f"$(touch{marker})"}
    assert nodes[f"{b.host}:{b.port}"]["labels"] == {"role": ";rm-rf"}
    assert not marker.exists()
    assert wait_for(lambda: not a.sampler_pids() and not b.sampler_pids(), 10)


def test_snapshot_refuses_a_host_entry_that_is_a_command(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    for entry in (f"$(touch {marker})", f"127.0.0.1; touch {marker}", "h1;rm -rf /"):
        proc = subprocess.run(
            [sys.executable, "-m", "autoglm_tui", "snapshot", "--hosts", entry, "--wait", "1"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 2, proc.stdout
        assert "--hosts entry 1" in proc.stderr
        assert proc.stdout == ""
    assert not marker.exists()


def test_snapshot_with_no_source_is_this_host() -> None:
    import json

    proc = subprocess.run(
        [sys.executable, "-m", "autoglm_tui", "snapshot", "--interval", "0.3", "--wait", "20"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    [node] = json.loads(proc.stdout)["nodes"]
    assert node["status"] == "UP" and node["source"] == "local"
    assert 0.0 <= node["last_sample"]["cpu"]["util_pct"] <= 100.0


async def test_ssh_config_user_port_identity_and_proxyjump(
    servers: SshdSet, tmp_path: Path
) -> None:
    jump = servers.start()
    target = servers.start()
    config = tmp_path / "ssh_config"
    user = getpass.getuser()
    config.write_text(
        "Host jumpbox\n"
        f"  HostName {jump.host}\n"
        f"  Port {jump.port}\n"
        f"  User {user}\n"
        f"  IdentityFile {servers.client_key}\n"
        "Host gpu-target\n"
        f"  HostName {target.host}\n"
        f"  Port {target.port}\n"
        f"  User {user}\n"
        f"  IdentityFile {servers.client_key}\n"
        "  ProxyJump jumpbox\n"
    )
    from autoglm_tui.cluster.hosts import parse_entry

    spec = parse_entry("gpu-target")
    options = servers.ssh_options(client_keys=(), config=(str(config),))
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=options)) as watch:
        assert await watch.until(lambda: watch.samples("gpu-target") >= 1), watch.describe()
    assert "Accepted publickey" in jump.log_path.read_text()
    assert "Accepted publickey" in target.log_path.read_text()


async def test_concurrent_handshakes_are_bounded(servers: SshdSet) -> None:
    # sshd drops unauthenticated connections past MaxStartups (4 here). With the monitor
    # bounded to 2 handshakes at once, all 10 sessions come up and none is ever refused.
    node = servers.start(extra_config="MaxStartups 4:100:4\n")
    specs = tuple(node.spec(name=f"n{i}") for i in range(10))
    config = RunnerConfig(hosts=specs, ssh=servers.ssh_options(), max_connects=2)
    async with FleetWatch(config) as watch:
        assert await watch.until(
            lambda: all(watch.samples(s.node_id) >= 1 for s in specs), 40
        ), watch.describe()
        assert not [e for e in watch.events if isinstance(e, NodeUnreachable)]


def test_a_killed_monitor_leaves_no_sampler_behind(servers: SshdSet) -> None:
    import signal as sig
    import time

    good = servers.start()
    unknown = servers.start(trust=False)  # keeps the snapshot waiting for it
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "autoglm_tui", "snapshot",
            "--hosts", f"{good.entry()},{unknown.entry()}",
            *servers.cli_args(), "--interval", "0.5", "--wait", "60",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: good.sampler_pids(), 20)
        running = good.sampler_pids()
        time.sleep(0.5)
        proc.send_signal(sig.SIGKILL)  # no clean-up at all: the kernel closes its sockets
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert wait_for(lambda: not any(pid_alive(p) for p in running), 10), "sampler left behind"


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
async def test_an_ipv6_host_entry_streams(servers: SshdSet) -> None:
    from autoglm_tui.cluster.hosts import parse_hosts_arg

    node = servers.start(host="::1")
    [spec] = parse_hosts_arg(node.entry())
    assert spec.node_id == f"[::1]:{node.port}"
    async with FleetWatch(RunnerConfig(hosts=(spec,), ssh=servers.ssh_options())) as watch:
        assert await watch.until(lambda: watch.samples(spec.node_id) >= 1), watch.describe()
