"""Helpers for the discovery tests: a running RegistryWatcher that records its events, agents
started as real subprocesses, and registrations written straight into etcd."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autoglm_tui.cluster.backoff import Backoff
from autoglm_tui.cluster.discovery import RegistryWatcher
from autoglm_tui.cluster.etcd_client import EtcdClient, EtcdConfig
from autoglm_tui.events import (
    Event,
    HeartbeatLost,
    NodeForgotten,
    NodeInvalid,
    NodeJoined,
    NodeLeft,
    RegistryChanged,
)

REPO = Path(__file__).resolve().parents[2]


class Recorder:
    """``async with Recorder(config) as rec``: a RegistryWatcher running in the background."""

    def __init__(self, config: EtcdConfig, **kwargs: Any) -> None:
        kwargs.setdefault("backoff", Backoff(base=0.2, cap=0.5))
        self.events: list[Event] = []
        self.watcher = RegistryWatcher(config, self.events.append, **kwargs)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Recorder:
        self._task = asyncio.ensure_future(self.watcher.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.watcher.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> bool:
        """Poll until `predicate()` holds or `timeout` seconds pass; returns whether it held."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            if self._task is not None and self._task.done():
                self._task.result()  # surface a crash of the watcher
                return False
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)

    def known_ids(self) -> set[str]:
        """Nodes whose heartbeat is alive."""
        return set(self.watcher.known())

    def failed_ids(self) -> set[str]:
        """Members whose heartbeat lapsed without a leave."""
        return set(self.watcher.failed())

    def of(self, kind: type, node_id: str | None = None) -> list[Any]:
        return [
            e
            for e in self.events
            if isinstance(e, kind) and (node_id is None or getattr(e, "node_id", None) == node_id)
        ]

    def joined(self, node_id: str) -> list[NodeJoined]:
        return self.of(NodeJoined, node_id)

    def left(self, node_id: str) -> list[NodeLeft]:
        return self.of(NodeLeft, node_id)

    def invalid(self, node_id: str | None = None) -> list[NodeInvalid]:
        return self.of(NodeInvalid, node_id)

    def lost(self, node_id: str) -> list[HeartbeatLost]:
        return self.of(HeartbeatLost, node_id)

    def forgotten(self, node_id: str) -> list[NodeForgotten]:
        return self.of(NodeForgotten, node_id)

    def health(self) -> list[bool]:
        return [e.ok for e in self.events if isinstance(e, RegistryChanged)]

    def reasons(self) -> list[str]:
        """Why the registry was unusable, each time it said so (newest last)."""
        return [e.reason for e in self.events
                if isinstance(e, RegistryChanged) and not e.ok and e.reason]

    def describe(self) -> str:
        return "\n".join(repr(e)[:300] for e in self.events[-30:])


def registration(node_id: str, **fields: Any) -> bytes:
    """A valid registration value for `node_id`, with `fields` replacing the defaults."""
    value: dict[str, Any] = {
        "node_id": node_id,
        "hostname": node_id,
        "address": "127.0.0.1",
        "ssh_port": 22,
        "labels": {},
        "resources": {"cpu_cores": 4, "memory_mb": 8192, "gpus": [], "bandwidth_mbps": 1000},
        "heartbeat_interval": 1.0,
        "agent_version": "test",
        "started_at": 1.7e9,
    }
    value.update(fields)
    return json.dumps(value).encode()


class AgentProcess:
    """``autoglm-tui agent`` as a real subprocess; its stderr goes to a file."""

    def __init__(
        self,
        endpoint: str,
        node_id: str,
        *extra: str,
        interval: float = 1.0,
        ttl: int = 2,
        env: dict[str, str] | None = None,
    ) -> None:
        self.node_id = node_id
        fd, name = tempfile.mkstemp(prefix=f"agent-{node_id}-", suffix=".log")
        os.close(fd)  # reopened below for the child; keeping it would leak one fd an agent
        self.log = Path(name)
        argv = [
            sys.executable,
            "-m",
            "autoglm_tui",
            "agent",
            "--etcd",
            endpoint,
            "--node-id",
            node_id,
            "--address",
            "127.0.0.1",
            "--interval",
            f"{interval:g}",
            "--ttl",
            str(ttl),
            *extra,
        ]
        full_env = {**os.environ, **(env or {})}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=full_env
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGKILL)
            self.proc.wait(5)
        with contextlib.suppress(OSError):
            self.log.unlink()


@contextlib.asynccontextmanager
async def etcd(config: EtcdConfig) -> Any:
    """A connected adapter client for writing test data."""
    client = EtcdClient(config)
    await client.connect()
    try:
        yield client
    finally:
        await client.close()


class AgentPool:
    """Starts agents against one etcd and kills whatever is left at the end of a test."""

    def __init__(self) -> None:
        self.started: list[AgentProcess] = []

    def start(self, endpoint: str, node_id: str, *extra: str, **kwargs: Any) -> AgentProcess:
        agent = AgentProcess(endpoint, node_id, *extra, **kwargs)
        self.started.append(agent)
        return agent

    def close(self) -> None:
        for agent in self.started:
            agent.close()
