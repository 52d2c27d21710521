"""One sampler run on an SSH channel: its stdout decoded into events as packets arrive, and
the control lines the stream asks for (docs/wire.md) written to its stdin."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncssh

from autoglm_tui.cluster.backoff import Backoff
from autoglm_tui.cluster.ssh.connect import describe_error
from autoglm_tui.cluster.stream import LineSplitter, SamplerStream, StderrTail
from autoglm_tui.events import Event, IntervalRequested

Emit = Callable[[Event], None]


@dataclass
class SamplerOutcome:
    samples: int = 0
    invalid: bool = False
    reason: str = ""
    missing_package: bool = False
    lost: str | None = None  # the connection failed under the sampler
    full_lines: bool = False  # stopped after a hello that offers no compact lines (watched)


class SamplerSession(asyncssh.SSHClientSession[bytes]):
    """One sampler run's channel: stdout turned into events as packets arrive (no reader task
    and no wake-up per packet), stderr kept as a tail, control lines written to stdin when the
    stream has something to ask (``send_controls``). ``done`` resolves when the run is over:
    end of output, a stream that cannot be used, a lost channel, or ``finish()``."""

    def __init__(
        self,
        node_id: str,
        emit: Emit,
        clock: Callable[[], float],
        backoff: Backoff,
        *,
        want_delta: bool = True,
        interval_s: float | None = None,
        watch_full_lines: bool = False,
    ) -> None:
        loop = asyncio.get_running_loop()
        self._time = loop.time
        self._clock = clock
        self._backoff = backoff
        self._emit = emit
        self._chan: Any = None
        self.stream = SamplerStream(node_id, want_delta=want_delta, interval_s=interval_s)
        self.splitter = LineSplitter()
        self.stderr = StderrTail()
        self.last_line = loop.time()
        self.done: asyncio.Future[None] = loop.create_future()
        self.lost: str | None = None  # why the channel failed under the sampler
        self.error: Exception | None = None  # raised by this process while handling a line
        self.control_bytes = 0  # written to the sampler's stdin
        # Stop after the hello when the sampler offers no compact lines (full_lines is then
        # set): the source connects again, compressed (--ssh-compression auto).
        self._watch_full_lines = watch_full_lines
        self.full_lines = False

    def connection_made(self, chan: Any) -> None:
        self._chan = chan

    def data_received(self, data: bytes, datatype: Any) -> None:
        if datatype == asyncssh.EXTENDED_DATA_STDERR:
            self.stderr.feed(data)  # kept until the channel closes: it may say why it ended
            return
        if self.done.done():
            return
        try:
            lines = self.splitter.feed(data)
            if not lines:
                return
            self.last_line = self._time()
            stream = self.stream
            for line in lines:
                event = stream.feed(line, self._clock())
                if event is not None:
                    self._emit(event)
                    if stream.stats.samples == 1 and stream.hello is not None:
                        self._backoff.reset()
            if stream.invalid is not None:
                self.finish()
                return
            if self._watch_full_lines and stream.hello is not None:
                self._watch_full_lines = False
                if "delta" not in stream.hello.features:
                    self.full_lines = True
                    self.finish()
                    return
            self.send_controls()
        except Exception as exc:  # kept for _run_sampler: asyncssh would drop the connection
            self.error = exc
            self.finish()

    def send_controls(self) -> None:
        """Write what the stream asks the sampler for (nothing for an old sampler). The write
        only queues (asyncssh sends as the channel's window allows), so it never blocks the
        event loop; a write that fails ends this run with the reason, as a lost channel does."""
        stream = self.stream
        before = stream.interval_lines
        lines = stream.control_lines()
        if not lines or self.done.done() or self._chan is None:
            return
        data = b"".join(lines)
        try:
            self._chan.write(data)
        except (asyncssh.Error, OSError) as exc:
            if self.lost is None:
                self.lost = f"cannot send a control line to the sampler: {describe_error(exc)}"
            self.finish()
            return
        self.control_bytes += len(data)
        if stream.interval_lines != before:
            self._emit(IntervalRequested(self._clock(), stream.node_id, stream.interval_s))

    def eof_received(self) -> bool:
        self.finish()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self.lose(exc)
        self.finish()

    def lose(self, exc: BaseException) -> None:
        """The connection failed under the sampler."""
        if self.lost is None:
            self.lost = describe_error(exc)
        self.finish()

    def finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)
