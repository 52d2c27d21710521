"""The real `autoglm-tui cluster` in tmux: a real etcd, two real agents and a real sshd on
loopback. Both nodes show UP; Enter drills to a node, a GPU and a process and Esc comes back;
a confirmed remote signal really ends the process on the node; an agent stopped with SIGTERM
shows its node LEFT.

The nodes' samplers use the fake NVML module (the only accepted fake: there is no GPU here),
through --remote-command, so the GPU screens have something to show.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_local_tmux import CLI, Tmux, tmux
from tests.integration.discovery_helpers import AgentPool
from tests.integration.etcd_fixture import EtcdServer, etcd_server
from tests.integration.sshd_fixture import VENV_BIN, SshdSet, sshd_missing

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.integration,
    pytest.mark.skipif(sshd_missing() is not None, reason=str(sshd_missing())),
]

FAKE_NVML = Path(__file__).resolve().parents[1] / "fakes" / "fake_nvml.py"
MARK = "autoglm-e2e-victim"

__all__ = ["etcd_server", "tmux"]  # fixtures used here, defined elsewhere


@pytest.fixture
def agents() -> Iterator[AgentPool]:
    pool = AgentPool()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    """A process that the fake NVML reports as using GPU 0 (the one the test will signal)."""
    # argv[0] is the marker so that it leads the command column, however long the
    # checkout's path is (a long venv path pushed a trailing marker out of the column).
    proc = subprocess.Popen(
        ["bash", "-c", f"exec -a {MARK} sleep 120"], stdin=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)


def row(screen: str, node_id: str) -> list[str]:
    line = next((ln for ln in screen.splitlines() if f" {node_id} " in ln), "")
    return line.split()


def test_cluster_view_with_etcd_agents_and_sshd(
    tmux: Tmux,
    etcd_server: EtcdServer,
    agents: AgentPool,
    victim: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    with SshdSet(tmp_path / "ssh") as servers:
        node = servers.start()
        scenario = tmp_path / "nvml.json"
        scenario.write_text(json.dumps({
            "gpu_count": 2,
            "gpus": [{"processes": [{"pid": victim.pid, "mem": 3 << 30}]}, {}],
        }))
        remote = (
            f"env AUTOGLM_NVML_MODULE={FAKE_NVML} AUTOGLM_FAKE_NVML={scenario} "
            f"{VENV_BIN}/python -m autoglm_tui sample --interval 1"
        )
        for node_id, zone in (("node-a", "a"), ("node-b", "b")):
            agents.start(etcd_server.endpoint, node_id, "--ssh-port", str(node.port),
                         "--label", f"zone={zone}", interval=1.0, ttl=3)

        tmux.start(160, 45, [
            str(CLI), "cluster", "--etcd", etcd_server.endpoint, *servers.cli_args(),
            "--remote-command", remote, "--allow-remote-actions",
            "--alert-log", str(tmp_path / "alerts.jsonl"),
        ])
        screen = tmux.wait_for(
            lambda s: row(s, "node-a")[:1] == ["UP"] and row(s, "node-b")[:1] == ["UP"],
            "both nodes UP", timeout=40,
        )
        assert "nodes 2/2 up" in screen and "registry ok" in screen
        assert "zone=a" in screen and "zone=b" in screen

        tmux.keys("Enter")  # node-a is first
        tmux.wait_for(lambda s: "cluster › node-a" in s and "GPUs" in s, "node-a's screen")
        tmux.keys("0")
        screen = tmux.wait_for(
            lambda s: "cluster › node-a › GPU 0" in s and MARK in s, "GPU 0 with its process",
        )
        assert "GPU util %" in screen and str(victim.pid) in screen
        tmux.keys("Enter")
        screen = tmux.wait_for(lambda s: f"› pid {victim.pid}" in s, "the process screen")
        assert MARK in screen

        tmux.keys("k")  # a remote signal: confirmed naming node, pid and command
        screen = tmux.wait_for(
            lambda s: f"Send a signal to process {victim.pid} on node node-a?" in s,
            "the confirmation",
        )
        assert MARK in screen
        tmux.keys("Enter")  # Cancel has the focus: nothing is sent
        tmux.wait_for(lambda s: "Send a signal" not in s and f"› pid {victim.pid}" in s,
                      "the dialog to close")
        assert victim.poll() is None
        tmux.keys("k")
        tmux.wait_for(lambda s: "Send a signal to process" in s, "the confirmation again")
        tmux.keys("Left", "Left", "Left", "Enter")  # Cancel -> KILL -> INT -> SIGTERM
        victim.wait(timeout=20)
        assert victim.returncode == -signal.SIGTERM
        tmux.wait_for(lambda s: f"node-a: sent SIGTERM to {victim.pid}" in s, "the result")

        for where in ("› GPU 0", "cluster › node-a", "nodes 2/2 up"):
            tmux.keys("Escape")
            tmux.wait_for(lambda s, w=where: w in s and "› pid" not in s, f"back to {where}")
        screen = tmux.screen()
        assert screen.splitlines()[0].strip() == "cluster"

        tmux.keys("Down", "Enter")  # and the other node
        tmux.wait_for(lambda s: "cluster › node-b" in s, "node-b's screen")
        tmux.keys("Escape")
        tmux.wait_for(lambda s: s.splitlines()[0].strip() == "cluster", "the cluster")

        stopped = next(a for a in agents.started if a.node_id == "node-b")
        stopped.signal(signal.SIGTERM)
        assert stopped.wait(10) == 0
        screen = tmux.wait_for(lambda s: row(s, "node-b")[:1] == ["LEFT"], "node-b LEFT",
                               timeout=20)
        assert row(screen, "node-a")[:1] == ["UP"]
        assert "(1 LEFT)" in screen

        tmux.keys("q")
        assert tmux.wait_exit(15) == 0
        deadline = time.monotonic() + 10
        while node.sampler_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert node.sampler_pids() == []  # no sampler outlives the monitor
