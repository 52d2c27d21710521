"""Turning a sampler's byte stream into events (pure: bytes and `now` in, events out).

``LineSplitter`` cuts stdout chunks into lines with a hard cap on line length; ``StderrTail``
keeps the last lines a remote process wrote on stderr, sanitised; ``SamplerStream`` decodes
lines with one stateful wire_patch.StreamDecoder: the first must be a hello (else the node is
INVALID with the decoder's reason), later ones are full samples or compact deltas (schema 1.1)
against the sample before; a single bad line is counted and skipped. After a bad line deltas
cannot apply: they are counted as skipped until the next full sample.

``control_lines()`` says what the transport should write to the sampler's stdin (docs/wire.md,
"Control lines"): after the hello, deltas please (when the hello lists "delta") and the interval
the monitor wants (``request_interval``) and the services the node's registration names
(``request_services``, to a sampler whose hello lists "services"); after a delta that cannot
apply, a full sample please. A sampler whose hello does not list "control" (schema 1.0) is
never sent anything.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from autoglm_tui import wire
from autoglm_tui.events import Event, HelloReceived, NodeInvalid, SampleReceived
from autoglm_tui.model import Hello, Sample
from autoglm_tui.sampler.control import MAX_INTERVAL_S, MAX_LINE, MAX_SERVICES, MIN_INTERVAL_S
from autoglm_tui.text import clean
from autoglm_tui.wire_patch import StreamDecoder

STDERR_LINES = 20
STDERR_LINE_CHARS = 300
_MISSING_PACKAGE = re.compile(r"No module named '?autoglm_tui(?:[.'\s]|$)")


class LineSplitter:
    """Bytes in, complete lines out; a line longer than `max_line` is dropped and counted."""

    def __init__(self, max_line: int = wire.MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self._skipping = False  # inside an over-long line: drop bytes until its newline
        self.dropped = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                break
            if self._skipping:
                self._skipping = False
            elif len(self._buf) + nl - start > self.max_line:
                self.dropped += 1
            else:
                if self._buf:
                    self._buf += chunk[start:nl]
                    lines.append(bytes(self._buf))
                else:
                    lines.append(chunk[start:nl])
            self._buf.clear()
            start = nl + 1
        if not self._skipping and start < len(chunk):
            self._buf += chunk[start:]
            if len(self._buf) > self.max_line:
                self._buf.clear()
                self._skipping = True
                self.dropped += 1
        return lines

    def rest(self) -> bytes | None:
        """The unterminated text left at end of stream (None when there is none)."""
        if self._skipping or not self._buf:
            return None
        return bytes(self._buf)


class StderrTail:
    """The last `keep` non-blank lines written on stderr, each sanitised and shortened."""

    def __init__(self, keep: int = STDERR_LINES) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self._split = LineSplitter(max_line=16384)

    def feed(self, chunk: bytes) -> None:
        for raw in self._split.feed(chunk):
            self._add(raw)

    def finish(self) -> None:
        rest = self._split.rest()
        if rest:
            self._add(rest)

    def _add(self, raw: bytes) -> None:
        text = clean(raw.decode("utf-8", "replace"), STDERR_LINE_CHARS).strip()
        if text:
            self.lines.append(text)

    def summary(self) -> str | None:
        """The last meaningful line (a traceback's final line says the most), or None."""
        if not self.lines:
            return None
        return self.lines[-1]

    def missing_package(self) -> bool:
        """True when the node's python says it has no autoglm_tui package."""
        return any(_MISSING_PACKAGE.search(line) for line in self.lines)


@dataclass
class StreamStats:
    lines: int = 0
    samples: int = 0
    bad_lines: int = 0
    last_bad: str | None = None
    deltas: int = 0  # samples that arrived as deltas (schema 1.1)
    skipped: int = 0  # deltas that could not apply (waiting for a full sample)


CONTROL_FULL = b'{"type":"control","full":true}\n'
CONTROL_DELTA = b'{"type":"control","delta":true}\n'


def control_interval(seconds: float | None) -> bytes:
    """The control line that sets the sampler's interval (None: back to its own --interval)."""
    if seconds is None:
        return b'{"type":"control","interval":null}\n'
    return b'{"type":"control","interval":%s}\n' % format(seconds, "g").encode()


ServiceEntry = tuple[tuple[str, str], ...]  # one registered service: sorted (key, value) pairs


def service_entries(services: Iterable[Mapping[str, object]] | None) -> tuple[ServiceEntry, ...]:
    """The registration's ``services`` (dicts with url and optional name, kind, as validated by
    cluster/registration.py) as hashable entries; anything else in them is left out, and the
    sampler checks every entry again (it alone knows its own addresses)."""
    out: list[ServiceEntry] = []
    for svc in list(services or ())[:MAX_SERVICES]:
        if not isinstance(svc, Mapping) or not isinstance(svc.get("url"), str):
            continue
        out.append(tuple(sorted((k, v) for k, v in svc.items()
                                if k in ("url", "name", "kind") and isinstance(v, str))))
    return tuple(out)


def control_services(entries: tuple[ServiceEntry, ...]) -> bytes:
    """The control line that names the node's registered services (``[]``: none any more).
    Entries that would take it past the sampler's line limit are left out (a registration
    cannot hold that many long URLs, cluster/registration.py)."""
    listed = [dict(e) for e in entries]
    while True:
        line = json.dumps({"type": "control", "services": listed}, ensure_ascii=False,
                          separators=(",", ":")).encode() + b"\n"
        if len(line) <= MAX_LINE or not listed:
            return line
        listed.pop()


def check_interval(seconds: float | None) -> float | None:
    """`seconds` as a float the sampler accepts (0.2 to 3600 s), or None; ValueError if not."""
    if seconds is None:
        return None
    value = float(seconds)
    if not MIN_INTERVAL_S <= value <= MAX_INTERVAL_S:  # NaN fails this too
        raise ValueError(
            f"interval {seconds!r} is outside {MIN_INTERVAL_S:g} to {MAX_INTERVAL_S:g} s")
    return value


class SamplerStream:
    """One sampler run's stdout, line by line, into events for `node_id`."""

    def __init__(
        self, node_id: str, want_delta: bool = True, interval_s: float | None = None
    ) -> None:
        self.node_id = node_id
        self.hello: Hello | None = None
        self.invalid: str | None = None  # set when the stream cannot be used at all
        self.stats = StreamStats()
        self.want_delta = want_delta
        self._decoder = StreamDecoder()
        self._asked: set[bytes] = set()  # control lines offered and not yet answered
        self._check = False  # something may be worth offering: control_lines() looks
        # The interval to ask for (None: the sampler's own); `_interval_sent`: what was asked.
        self.interval_s = check_interval(interval_s)
        self._interval_sent: float | None = None
        self.interval_lines = 0  # interval lines offered so far
        # The services the node's registration names, and what this run of the sampler was
        # told (a new run starts with none).
        self.services: tuple[ServiceEntry, ...] = ()
        self._services_sent: tuple[ServiceEntry, ...] = ()
        self.services_lines = 0  # services lines offered so far

    def feed(self, line: bytes, now: float) -> Event | None:
        """The event for one line, or None (bad line counted, or stream already invalid)."""
        if self.invalid is not None:
            return None
        self.stats.lines += 1
        decoder = self._decoder
        try:
            msg = decoder.decode(line)
        except wire.WireError as exc:
            reason = clean(str(exc), 300)
            if self.hello is None:
                self.invalid = reason
                return NodeInvalid(now, self.node_id, reason)
            self._check = decoder.needs_full
            if decoder.needs_full and decoder.last is None and reason.startswith("a delta "):
                self.stats.skipped += 1  # out of step: not the node's fault, nothing wrong
                return None
            self.stats.bad_lines += 1
            self.stats.last_bad = reason
            return None
        if isinstance(msg, Hello):
            self.hello = msg
            self._asked.clear()
            self._interval_sent = None  # a new run starts at its own --interval
            self._services_sent = ()  # ... and knows no registered services
            self._check = True
            return HelloReceived(now, self.node_id, msg)
        if self.hello is None:
            self.invalid = "the sampler's stream did not start with a hello"
            return NodeInvalid(now, self.node_id, self.invalid)
        assert isinstance(msg, Sample)
        self.stats.samples += 1
        if decoder.deltas > self.stats.deltas:
            self.stats.deltas = decoder.deltas
        else:
            self._asked.discard(CONTROL_FULL)  # a full sample came
        return SampleReceived(now, self.node_id, msg)

    @property
    def controllable(self) -> bool:
        """Whether this sampler reads control lines (its hello lists "control")."""
        return self.hello is not None and "control" in self.hello.features

    def request_interval(self, seconds: float | None) -> None:
        """Ask for `seconds` between samples (None: the sampler's own --interval); the line
        goes out with the next ``control_lines()``. ValueError outside 0.2 to 3600 s."""
        self.interval_s = check_interval(seconds)
        self._check = True

    def request_services(self, services: Iterable[Mapping[str, object]] | None) -> None:
        """The services the node's registration names (its ``services`` list); the line goes
        out with the next ``control_lines()`` when they differ from what the sampler has."""
        self.services = service_entries(services)
        self._check = True

    def control_lines(self) -> list[bytes]:
        """Lines the transport should write to the sampler's stdin now (each offered once):
        ask a sampler that announces "delta" for compact samples, for the interval wanted, and
        for a full sample when deltas cannot apply. An old sampler (no "control" in its
        ``features``) is never asked anything. Cheap when there is nothing to say."""
        if not self._check:
            return []
        self._check = False
        if not self.controllable:
            return []
        hello = self.hello
        assert hello is not None
        out = []
        if self.want_delta and "delta" in hello.features and CONTROL_DELTA not in self._asked:
            out.append(CONTROL_DELTA)
        if self._decoder.needs_full and CONTROL_FULL not in self._asked:
            out.append(CONTROL_FULL)
        self._asked.update(out)
        if self.interval_s != self._interval_sent:
            out.append(control_interval(self.interval_s))
            self._interval_sent = self.interval_s
            self.interval_lines += 1
        if self.services != self._services_sent and "services" in hello.features:
            out.append(control_services(self.services))
            self._services_sent = self.services
            self.services_lines += 1
        return out


__all__ = [
    "CONTROL_DELTA",
    "CONTROL_FULL",
    "LineSplitter",
    "SamplerStream",
    "StderrTail",
    "StreamStats",
    "check_interval",
    "control_interval",
    "control_services",
    "service_entries",
]
