"""The SSH data path of one node: a connection, the sampler run on it, its JSON lines into
events.

``SshSource`` connects to one node (:func:`~autoglm_tui.cluster.ssh.connect.connect`), starts
the sampler there, decodes its stdout with the wire module and emits events (events.py). It
owns its retries: a failed connect or a lost link is ``NodeUnreachable`` with the reason and
the next retry (capped exponential backoff with jitter); a sampler that dies (or is stopped for
sending nothing) is ``SamplerExited`` with the reason (exit status, signal, its last stderr) and
is restarted on the same connection. Closing the connection closes the sampler's stdin, which
stops it: no sampler outlives the monitor. The remote command is fixed by the monitor; no data
from etcd or a host list is ever put into it.

Cost per node matters (256 nodes at 1 Hz must stay under 10% of a core): the sampler's stdout
is handled in the channel's data callback as packets arrive, with no reader task to wake
(:class:`~autoglm_tui.cluster.ssh.session.SamplerSession`), and a sampler that offers compact
lines is asked for them (a control line on its stdin after its hello; docs/wire.md).
``request_interval(seconds)`` asks the node's sampler for another interval, now and after every
restart; ``request_services(services)`` hands it the services the node's registration names, the
same way (a control line on its stdin, never a command-line argument).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import Callable
from typing import Any

import asyncssh

from autoglm_tui.aio import within
from autoglm_tui.cluster.backoff import Backoff
from autoglm_tui.cluster.hosts import HostSpec
from autoglm_tui.cluster.push import build_bundle
from autoglm_tui.cluster.ssh.connect import ConnectFailed, SshTarget, connect, describe_error
from autoglm_tui.cluster.ssh.host_keys import HostKeyStore
from autoglm_tui.cluster.ssh.options import PUSH_MODES, SshOptions
from autoglm_tui.cluster.ssh.session import Emit, SamplerOutcome, SamplerSession
from autoglm_tui.cluster.stream import (
    LineSplitter,
    SamplerStream,
    StderrTail,
    check_interval,
    service_entries,
)
from autoglm_tui.events import NodeUnreachable, SamplerExited
from autoglm_tui.text import clean


class SshSource:
    """One node over SSH: ``await run(emit)`` until cancelled (retrying on its own)."""

    def __init__(
        self,
        spec: HostSpec,
        options: SshOptions,
        *,
        keys: HostKeyStore,
        slots: asyncio.Semaphore,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if options.push not in PUSH_MODES:
            raise ValueError(f"push must be one of {PUSH_MODES}")
        self.spec = spec
        self.options = options
        self.keys = keys
        self.slots = slots
        self.target = SshTarget(spec, options, keys, slots)  # how remote actions reach it too
        self.clock = clock
        self.node_id = spec.node_id
        self.push = options.push == "always"
        self.backoff = Backoff(
            options.backoff_base_s,
            options.backoff_cap_s,
            options.backoff_jitter,
            rng or random.Random(),
        )
        self._past_bad_lines = 0
        self._stream: SamplerStream | None = None
        self._splitter: LineSplitter | None = None
        self.stderr: StderrTail = StderrTail()
        self.cipher: str | None = None  # the cipher negotiated on the current connection
        self.compression: str | None = None  # what the node compresses with ("none": nothing)
        self.full_lines = False  # its sampler sends full lines only (no "delta" in its hello)
        self.interval_s: float | None = None  # asked of the sampler (None: its own --interval)
        self.services: tuple[dict[str, str], ...] = ()  # the registration's services
        self._session: SamplerSession | None = None

    @property
    def stream(self) -> SamplerStream | None:
        """The current sampler run's stream (None between runs)."""
        return self._stream

    def request_interval(self, seconds: float | None) -> None:
        """Ask this node's sampler for `seconds` between samples (None: back to its own
        --interval). Sent at once when a sampler that reads control lines runs, and again
        after every restart; an old sampler keeps its interval. ValueError outside the
        sampler's range (0.2 to 3600 s)."""
        seconds = check_interval(seconds)
        if seconds == self.interval_s:
            return
        self.interval_s = seconds
        session = self._session
        if session is not None and not session.done.done():
            session.stream.request_interval(seconds)
            session.send_controls()

    def request_services(self, services: Any) -> None:
        """The services the node's registration names (a list of {"url", "name"?, "kind"?}):
        sent to a sampler whose hello lists "services", at once and after every restart, as a
        control line on its stdin; the sampler scrapes those whose host is that node."""
        entries = tuple(dict(e) for e in service_entries(services))
        if entries == self.services:
            return
        self.services = entries
        session = self._session
        if session is not None and not session.done.done():
            session.stream.request_services(entries)
            session.send_controls()

    @property
    def bad_lines(self) -> int:
        """Lines from this node's samplers that did not decode (each skipped)."""
        now = 0
        if self._stream is not None and self._splitter is not None:
            now = self._stream.stats.bad_lines + self._splitter.dropped
        return self._past_bad_lines + now

    # ------------------------------------------------------------------ main loop

    async def run(self, emit: Emit) -> None:
        while True:
            reason = await self._connection(emit)
            if reason is None:
                continue  # at once: compression on for a sampler that sends full lines
            delay = self.backoff.next()
            emit(NodeUnreachable(self.clock(), self.node_id, reason, retry_in_s=round(delay, 2)))
            await asyncio.sleep(delay)

    async def _connection(self, emit: Emit) -> str | None:
        """Connect, run samplers until the connection fails; return why it failed (None: to
        connect again at once, with compression, see ``_run_sampler``)."""
        target = self.target
        if self.full_lines:
            target = dataclasses.replace(target, full_lines=True)
        try:
            async with connect(target) as connection:
                self.cipher = connection.cipher
                self.compression = connection.compression
                # --ssh-compression auto: an uncompressed connection to a sampler that turns
                # out to send full lines only is opened again, compressed (once per node).
                watch = (connection.auto_compression and not self.full_lines
                         and self.options.delta)
                while True:
                    outcome = await self._run_sampler(connection.conn, emit, watch)
                    if outcome.full_lines:
                        self.full_lines = True
                        return None
                    lost = connection.lost_reason()
                    if lost is not None:
                        return lost
                    if outcome.lost is not None:
                        return outcome.lost
                    if outcome.missing_package and self.options.push == "auto" and not self.push:
                        self.push = True  # the node lacks autoglm_tui: send the sampler along
                        continue
                    # The sampler ended on a live connection: counted on the node, restarted.
                    emit(SamplerExited(self.clock(), self.node_id, outcome.reason))
                    delay = self.backoff.next()
                    if outcome.samples == 0 and not outcome.invalid:
                        emit(
                            NodeUnreachable(
                                self.clock(), self.node_id, outcome.reason, round(delay, 2)
                            )
                        )
                    await asyncio.sleep(delay)
        except ConnectFailed as exc:
            return exc.reason

    # ------------------------------------------------------------------ the sampler

    async def _run_sampler(self, conn: Any, emit: Emit, watch: bool = False) -> SamplerOutcome:
        """One run of the sampler on `conn`. With `watch`, a sampler whose hello does not offer
        compact lines ends the run at once (``outcome.full_lines``)."""
        outcome = SamplerOutcome()
        push = self.push
        session = SamplerSession(
            self.node_id,
            emit,
            self.clock,
            self.backoff,
            want_delta=self.options.delta,
            interval_s=self.interval_s,
            watch_full_lines=watch,
        )
        session.stream.request_services(self.services)
        try:
            chan, _ = await conn.create_session(
                lambda: session,
                self.options.sampler_command(push),
                encoding=None,
                request_pty=False,
                term_type=None,
            )
        except Exception as exc:  # channel refused, connection gone
            outcome.reason = describe_error(exc)
            if isinstance(exc, (asyncssh.DisconnectError, OSError)):
                outcome.lost = outcome.reason
            return outcome
        self.stderr = session.stderr
        self._stream, self._splitter = session.stream, session.splitter
        self._session = session
        stalled = [False]
        watchdog = asyncio.ensure_future(self._watchdog(session, stalled))
        try:
            if push:  # once; stdin stays open: its EOF stops the sampler
                try:
                    chan.write(build_bundle())
                except (asyncssh.Error, OSError) as exc:
                    session.lose(exc)
            await session.done
        finally:
            self._past_bad_lines += session.stream.stats.bad_lines + session.splitter.dropped
            self._stream = self._splitter = None
            self._session = None
            watchdog.cancel()
            chan.close()
            with contextlib.suppress(Exception):
                await within(chan.wait_closed(), 2.0)
        if session.error is not None:
            raise session.error  # a bug in this process, not the node's fault: see Runner._guard
        stream = session.stream
        self.stderr.finish()
        outcome.lost = session.lost
        outcome.full_lines = session.full_lines
        outcome.samples = stream.stats.samples
        outcome.invalid = stream.invalid is not None
        outcome.missing_package = (
            stream.hello is None and not push and self.stderr.missing_package()
        )
        outcome.reason = self._exit_reason(chan, stalled[0], stream)
        return outcome

    def stall_limit(self) -> float:
        """Seconds without a line before the sampler is restarted: the options' limit, or
        10 intervals of a slower interval asked for."""
        limit = self.options.stall_limit()
        if self.interval_s is not None:
            limit = max(limit, 10 * self.interval_s)
        return limit

    async def _watchdog(self, session: SamplerSession, stalled: list[bool]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            limit = self.stall_limit()  # read each time: the interval may change meanwhile
            await asyncio.sleep(max(0.05, session.last_line + limit - loop.time()))
            if loop.time() - session.last_line >= self.stall_limit():
                stalled[0] = True
                session.finish()
                return

    def _exit_reason(self, chan: Any, stalled: bool, stream: SamplerStream) -> str:
        if stalled:
            return f"sampler sent nothing for {self.stall_limit():g}s; restarting it"
        status = chan.get_exit_status()
        signal = chan.get_exit_signal()
        if signal:
            how = f"killed by signal {clean(signal[0], 20)}"
        elif status is not None and status >= 0:
            how = f"exit status {status}"
        else:
            how = "no exit status"
        said = self.stderr.summary()
        if stream.hello is None:
            if said:
                return f"sampler failed: {said} ({how})"
            return f"sampler exited before sending anything ({how})"
        return f"sampler stopped ({how})" + (f": {said}" if said else "")
