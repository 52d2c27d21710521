"""One sampler run on an SSH channel: its stdout decoded into events as packets arrive."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncssh

from autoglm_tui.cluster.backoff import Backoff
from autoglm_tui.cluster.ssh.connect import describe_error
from autoglm_tui.cluster.stream import LineSplitter, SamplerStream, StderrTail
from autoglm_tui.events import Event

Emit = Callable[[Event], None]


@dataclass
class SamplerOutcome:
    samples: int = 0
    invalid: bool = False
    reason: str = ""
    missing_package: bool = False
    lost: str | None = None  # the connection failed under the sampler


class SamplerSession(asyncssh.SSHClientSession[bytes]):
    """One sampler run's channel: stdout turned into events as packets arrive (no reader task
    and no wake-up per packet), stderr kept as a tail. ``done`` resolves when the run is over:
    end of output, a stream that cannot be used, a lost channel, or ``finish()``."""

    def __init__(
        self, node_id: str, emit: Emit, clock: Callable[[], float], backoff: Backoff
    ) -> None:
        loop = asyncio.get_running_loop()
        self._time = loop.time
        self._clock = clock
        self._backoff = backoff
        self._emit = emit
        self.stream = SamplerStream(node_id)
        self.splitter = LineSplitter()
        self.stderr = StderrTail()
        self.last_line = loop.time()
        self.done: asyncio.Future[None] = loop.create_future()
        self.lost: str | None = None  # why the channel failed under the sampler
        self.error: Exception | None = None  # raised by this process while handling a line

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
        except Exception as exc:  # kept for _run_sampler: asyncssh would drop the connection
            self.error = exc
            self.finish()

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
