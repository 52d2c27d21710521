"""Monitor-side orchestration: which nodes exist, and one data stream per node.

``Runner(config, emit)`` turns the configured node sources (a static host list, the etcd
registry, or this machine alone) into per-node SSH streams and forwards every event to `emit`.
``await run()`` works until cancelled; ``await close()`` stops every stream and closes every
connection, so each remote sampler sees EOF on its stdin and exits. Used by ``snapshot`` and by
the cluster view.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autoglm_tui.cluster.hosts import HostSpec, HostSpecError, validate_host
from autoglm_tui.events import Event, NodeInvalid, NodeJoined, NodeLeft

Emit = Callable[[Event], None]
DEFAULT_MAX_CONNECTS = 16


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    """Where the nodes come from and how they are reached.

    With neither `hosts` nor `etcd`, and `local` set, this machine is sampled in-process."""

    hosts: tuple[HostSpec, ...] = ()
    etcd: Any = None  # the etcd settings from etcd_args (None: no registry)
    ssh: Any = None  # ssh.SshOptions (None: defaults)
    max_connects: int = DEFAULT_MAX_CONNECTS  # concurrent SSH handshakes
    local: bool = False
    interval_s: float = 1.0

    @property
    def uses_ssh(self) -> bool:
        return bool(self.hosts) or self.etcd is not None


@dataclass
class _Stream:
    spec: HostSpec
    task: asyncio.Task[None]
    source: Any = None


@dataclass
class Runner:
    """Starts and stops per-node streams as nodes come and go; forwards their events."""

    config: RunnerConfig
    emit: Emit
    clock: Callable[[], float] = time.time
    rng: random.Random | None = None
    streams: dict[str, _Stream] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._slots: asyncio.Semaphore | None = None
        self._keys: Any = None
        # asyncssh logs every failed connect; the node's row already says why. With no logging
        # configured, this keeps those lines off the terminal (configured handlers still get them).
        ssh_log = logging.getLogger("asyncssh")
        if not any(isinstance(h, logging.NullHandler) for h in ssh_log.handlers):
            ssh_log.addHandler(logging.NullHandler())

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Start every configured source and keep them going until cancelled."""
        try:
            for spec in self.config.hosts:
                self.emit(
                    NodeJoined(
                        self.clock(),
                        spec.node_id,
                        address=spec.host,
                        ssh_port=spec.port,
                        user=spec.user,
                        labels=dict(spec.labels),
                        source="hosts",
                    )
                )
                self._start(spec)
            if self.config.etcd is not None:
                self._tasks.append(asyncio.ensure_future(self._watch_registry()))
            if self.config.local:
                self._tasks.append(asyncio.ensure_future(self._run_local()))
            await asyncio.Event().wait()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop every stream and close every connection (remote samplers get EOF)."""
        self._closed = True
        tasks = [s.task for s in self.streams.values()] + self._tasks
        self.streams.clear()
        self._tasks = []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ SSH streams

    def _ssh_parts(self) -> tuple[Any, Any, asyncio.Semaphore]:
        from autoglm_tui.cluster.ssh import HostKeyStore, SshOptions

        options = self.config.ssh or SshOptions(interval_s=self.config.interval_s)
        if self._keys is None:
            self._keys = HostKeyStore(options.known_hosts, options.accept_new_host_keys)
        if self._slots is None:
            self._slots = asyncio.Semaphore(max(1, self.config.max_connects))
        return options, self._keys, self._slots

    def _start(self, spec: HostSpec) -> None:
        from autoglm_tui.cluster.ssh import SshSource

        if self._closed:
            return
        self._stop(spec.node_id)
        options, keys, slots = self._ssh_parts()
        source = SshSource(spec, options, keys=keys, slots=slots, clock=self.clock, rng=self.rng)
        task = asyncio.ensure_future(self._guard(source.run(self.emit), spec.node_id))
        self.streams[spec.node_id] = _Stream(spec, task, source)

    def _stop(self, node_id: str) -> None:
        stream = self.streams.pop(node_id, None)
        if stream is not None:
            stream.task.cancel()

    async def _guard(self, work: Any, node_id: str) -> None:
        """Run one node's stream; a bug in it marks only that node INVALID."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a programming error must not take the fleet down
            self.emit(NodeInvalid(self.clock(), node_id, f"internal error: {exc!r}"[:300]))

    # ------------------------------------------------------------------ registry

    def on_registry_event(self, event: Event) -> None:
        """Forward a discovery event and start, restart or stop the node's stream."""
        if isinstance(event, NodeJoined) and event.source == "etcd":
            try:
                if not event.address:
                    raise HostSpecError("registration has no address")
                host = validate_host(event.address)
                port = event.ssh_port
                if port is not None and not 1 <= port <= 65535:
                    raise HostSpecError(f"ssh_port out of range: {port}")
            except HostSpecError as exc:
                self._stop(event.node_id)
                self.emit(NodeInvalid(event.t, event.node_id, f"registration: {exc}"))
                return
            self.emit(event)
            spec = HostSpec(event.node_id, host, port, event.user, dict(event.labels))
            current = self.streams.get(event.node_id)
            if current is None or (current.spec.host, current.spec.port, current.spec.user) != (
                spec.host,
                spec.port,
                spec.user,
            ):
                self._start(spec)
            else:
                current.spec = spec
            return
        if isinstance(event, (NodeLeft, NodeInvalid)):
            self._stop(event.node_id)
        self.emit(event)

    async def _watch_registry(self) -> None:
        from autoglm_tui.cluster.discovery import RegistryWatcher

        watcher = RegistryWatcher(self.config.etcd, emit=self.on_registry_event, clock=self.clock)
        try:
            await watcher.run()
        finally:
            with contextlib.suppress(Exception):
                await watcher.close()

    # ------------------------------------------------------------------ local

    async def _run_local(self) -> None:
        from autoglm_tui.cluster.sources import LocalSource
        from autoglm_tui.sampler.services.monitor import ServiceMonitor

        source = LocalSource(interval_s=self.config.interval_s, clock=self.clock,
                             services=ServiceMonitor())  # inference servers, found as usual
        await source.run(self.emit)


__all__ = ["DEFAULT_MAX_CONNECTS", "Runner", "RunnerConfig"]
