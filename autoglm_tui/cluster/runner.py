"""Monitor-side orchestration: which nodes exist, and one data stream per node.

``Runner(config, emit)`` turns the configured node sources (a static host list, the etcd
registry, or this machine alone) into per-node SSH streams and forwards every event to `emit`.
``await run()`` works until cancelled; ``await close()`` stops every stream and closes every
connection, so each remote sampler sees EOF on its stdin and exits. Used by ``snapshot`` and by
the cluster view.

A node registered in etcd also names its inference servers (its registration's ``services``):
they go to its SSH source, which hands them to the sampler as a control line, at start and
whenever the registration changes.

A node's stream runs while it is a member: it stops on a graceful leave (``NodeLeft``), a forget
(``NodeForgotten``) or a registration that does not validate, and keeps running when only the
heartbeat is lost (``HeartbeatLost``), so a node whose agent died but whose sampler streams stays
UP. A hosts file (``--hosts-file``) is read again when it changes: a host added is a member, a
host removed has left gracefully; a file that does not parse keeps the last good list.

Intervals: ``focus(node_ids)`` tells it which nodes someone is looking at; with a background
interval (``RunnerConfig.background_interval_s``) the others are asked to sample more slowly
(interval_policy.py). ``request_interval(node_id, seconds)`` asks one node directly.
``await forget(node_id)`` is an operator's forget from the UI (cluster/forget.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autoglm_tui.aio import stop_tasks
from autoglm_tui.cluster.etcd_config import EtcdConfig
from autoglm_tui.cluster.forget import ForgetResult, forget_node
from autoglm_tui.cluster.hosts import HostSpec, HostSpecError, read_hosts_file, validate_host
from autoglm_tui.cluster.interval_policy import IntervalPolicy
from autoglm_tui.events import (
    Event,
    NodeForgotten,
    NodeInvalid,
    NodeJoined,
    NodeLeft,
    RegistryChanged,
)

Emit = Callable[[Event], None]
DEFAULT_MAX_CONNECTS = 16
HOSTS_POLL_S = 2.0
LEFT_HOSTS_FILE = "removed from the hosts file"


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    """Where the nodes come from and how they are reached.

    With neither `hosts` nor `etcd`, and `local` set, this machine is sampled in-process."""

    hosts: tuple[HostSpec, ...] = ()
    etcd: EtcdConfig | None = None  # the registry (None: none)
    ssh: Any = None  # ssh.SshOptions (None: defaults)
    max_connects: int = DEFAULT_MAX_CONNECTS  # concurrent SSH handshakes
    local: bool = False
    interval_s: float = 1.0
    hosts_file: str | None = None  # read again when it changes
    hosts_from_file: frozenset[str] = frozenset()  # the ids in `hosts` that came from it
    hosts_poll_s: float = HOSTS_POLL_S
    background_interval_s: float | None = None  # nodes out of focus (None: all at interval_s)

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
    stop_grace_s: float = 5.0  # a stopped stream's time to close before it is cancelled again

    def __post_init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping: set[asyncio.Task[None]] = set()  # streams told to stop, until they have
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False
        self._slots: asyncio.Semaphore | None = None
        self._keys: Any = None
        self.policy = IntervalPolicy(self.config.background_interval_s)
        self.hosts_listed: set[str] = {s.node_id for s in self.config.hosts}  # --hosts and file
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
                self.emit(_joined(self.clock(), spec))
                self._start(spec)
            if self.config.hosts_file is not None:
                self._tasks.append(asyncio.ensure_future(self._watch_hosts_file()))
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
        tasks = [s.task for s in self.streams.values()] + self._tasks + list(self._stopping)
        if self._reaper is not None:
            tasks.append(self._reaper)
        self.streams.clear()
        self._tasks = []
        await stop_tasks(tasks, self.stop_grace_s)

    # ------------------------------------------------------------------ SSH streams

    def _ssh_parts(self) -> tuple[Any, Any, asyncio.Semaphore]:
        from autoglm_tui.cluster.ssh import HostKeyStore, SshOptions

        options = self.config.ssh or SshOptions(interval_s=self.config.interval_s)
        if self._keys is None:
            self._keys = HostKeyStore(options.known_hosts, options.accept_new_host_keys)
        if self._slots is None:
            self._slots = asyncio.Semaphore(max(1, self.config.max_connects))
        return options, self._keys, self._slots

    def _start(self, spec: HostSpec, services: Any = None) -> None:
        from autoglm_tui.cluster.ssh import SshSource

        if self._closed:
            return
        self._stop(spec.node_id)
        options, keys, slots = self._ssh_parts()
        source = SshSource(spec, options, keys=keys, slots=slots, clock=self.clock, rng=self.rng)
        source.request_interval(self.policy.interval_for(spec.node_id))
        source.request_services(services)
        task = asyncio.ensure_future(self._guard(source.run(self.emit), spec.node_id))
        self.streams[spec.node_id] = _Stream(spec, task, source)

    # ------------------------------------------------------------------ intervals

    def focus(self, node_ids: Any) -> None:
        """The nodes someone is looking at now (an iterable of node ids; empty: none). With a
        background interval, these sample at the fleet's interval and the rest slower."""
        for node_id in self.policy.focus(node_ids):
            stream = self.streams.get(node_id)
            if stream is not None and stream.source is not None:
                stream.source.request_interval(self.policy.interval_for(node_id))

    def request_interval(self, node_id: str, seconds: float | None) -> bool:
        """Ask one node's sampler for `seconds` between samples (None: its own --interval),
        until the next focus change that concerns it; False when no such SSH node runs.
        ValueError outside 0.2 to 3600 s."""
        stream = self.streams.get(node_id)
        if stream is None or stream.source is None:
            return False
        stream.source.request_interval(seconds)
        return True

    def _stop(self, node_id: str) -> None:
        stream = self.streams.pop(node_id, None)
        if stream is not None:
            stream.task.cancel()
            if not stream.task.done():
                self._stopping.add(stream.task)
                stream.task.add_done_callback(self._stopping.discard)
                if self._reaper is None or self._reaper.done():
                    self._reaper = asyncio.ensure_future(self._reap())

    async def _reap(self) -> None:
        """Wait until every stopped stream has ended, cancelling again any that went on (a
        cancellation a library lost): a node taken out never keeps its sampler running."""
        while True:
            # A task that ended may still be here (its callback runs on a later loop turn).
            self._stopping.difference_update([t for t in self._stopping if t.done()])
            if not self._stopping:
                return
            await stop_tasks(list(self._stopping), self.stop_grace_s)

    async def _guard(self, work: Any, node_id: str) -> None:
        """Run one node's stream; a bug in it marks only that node INVALID."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a programming error must not take the fleet down
            self.emit(NodeInvalid(self.clock(), node_id, f"internal error: {exc!r}"[:300]))

    # ------------------------------------------------------------------ operator

    async def forget(self, node_id: str, force: bool = False) -> ForgetResult:
        """An operator's forget (the UI's ``ForgetNode``): in etcd as ``members forget`` does,
        refused for a listed host, or for this monitor only when no registry knows the node."""
        return await forget_node(node_id, etcd=self.config.etcd, listed=self._listed_in,
                                 emit=self.on_registry_event, clock=self.clock, force=force)

    def _listed_in(self, node_id: str) -> str | None:
        if node_id not in self.hosts_listed:
            return None
        if node_id in self.config.hosts_from_file or node_id not in {
                s.node_id for s in self.config.hosts}:
            return f"the hosts file {self.config.hosts_file}"
        return "--hosts"

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
            services = (event.registration or {}).get("services")
            current = self.streams.get(event.node_id)
            if current is None or (current.spec.host, current.spec.port, current.spec.user) != (
                spec.host,
                spec.port,
                spec.user,
            ):
                self._start(spec, services)
            else:
                current.spec = spec
                if current.source is not None:
                    current.source.request_services(services)
            return
        if isinstance(event, (NodeLeft, NodeInvalid, NodeForgotten)):
            self._stop(event.node_id)
        self.emit(event)  # HeartbeatLost included: the stream goes on

    async def _watch_registry(self) -> None:
        from autoglm_tui.cluster.discovery import RegistryWatcher

        watcher = RegistryWatcher(self.config.etcd, emit=self.on_registry_event, clock=self.clock)
        try:
            await watcher.run()
        finally:
            with contextlib.suppress(Exception):
                await watcher.close()

    # ------------------------------------------------------------------ hosts file

    async def _watch_hosts_file(self) -> None:
        """Read the hosts file again whenever it changes; apply the differences."""
        path = self.config.hosts_file
        assert path is not None
        from_file = self.config.hosts_from_file
        listed = {s.node_id: s for s in self.config.hosts if s.node_id in from_file}
        others = {s.node_id for s in self.config.hosts} - set(listed)
        seen = await asyncio.to_thread(_stat, path)
        ok = True
        while True:
            await asyncio.sleep(self.config.hosts_poll_s)
            stamp = await asyncio.to_thread(_stat, path)
            if stamp == seen:
                continue
            seen = stamp
            try:
                specs = await asyncio.to_thread(read_hosts_file, path)
                clash = sorted(others & {s.node_id for s in specs})
                if clash:
                    raise HostSpecError(f"node {clash[0]!r} is also given by --hosts")
            except HostSpecError as exc:
                ok = False
                self.emit(RegistryChanged(
                    self.clock(), False, f"{exc}; keeping the last good list of {len(listed)}"
                ))
                continue
            if not ok:
                ok = True
                self.emit(RegistryChanged(self.clock(), True, None))
            listed = self._apply_hosts(listed, {s.node_id: s for s in specs})

    def _apply_hosts(
        self, old: dict[str, HostSpec], new: dict[str, HostSpec]
    ) -> dict[str, HostSpec]:
        now = self.clock()
        self.hosts_listed = (self.hosts_listed - set(old)) | set(new)
        for node_id in sorted(set(old) - set(new)):
            self._stop(node_id)
            self.emit(NodeLeft(now, node_id, LEFT_HOSTS_FILE))
        for node_id, spec in new.items():
            before = old.get(node_id)
            if before == spec:
                continue
            self.emit(_joined(now, spec))
            stream = self.streams.get(node_id)
            if stream is None or (before is not None and (before.host, before.port, before.user)
                                  != (spec.host, spec.port, spec.user)):
                self._start(spec)
            else:
                stream.spec = spec
        return new

    # ------------------------------------------------------------------ local

    async def _run_local(self) -> None:
        from autoglm_tui.cluster.sources import LocalSource
        from autoglm_tui.sampler.services.monitor import ServiceMonitor

        source = LocalSource(interval_s=self.config.interval_s, clock=self.clock,
                             services=ServiceMonitor())  # inference servers, found as usual
        await source.run(self.emit)


def _joined(t: float, spec: HostSpec) -> NodeJoined:
    return NodeJoined(
        t,
        spec.node_id,
        address=spec.host,
        ssh_port=spec.port,
        user=spec.user,
        labels=dict(spec.labels),
        source="hosts",
    )


def _stat(path: str) -> tuple[int, int, int] | None:
    """What tells a changed file: (mtime ns, size, inode); None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


__all__ = ["DEFAULT_MAX_CONNECTS", "LEFT_HOSTS_FILE", "Runner", "RunnerConfig"]
