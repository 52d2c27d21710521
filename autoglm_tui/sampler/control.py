"""Control lines: JSON objects a monitor may write to the sampler's stdin (schema 1.1).

    {"type": "control", "interval": 5}       seconds between samples (0.2 to 3600);
                                             null goes back to the --interval the run began with
    {"type": "control", "full": true}        make the next sample a full one (not a delta)
    {"type": "control", "delta": true}       compact samples from now on (false: full ones)
    {"type": "control", "services": [{"url": "http://127.0.0.1:8000/metrics", "name": "chat",
                                      "kind": "vllm"}, ...]}
                                             the inference servers the node's registration
                                             names (replacing the previous list; [] clears)

Keys may be combined in one line. A line that is not such an object, or a value out of range,
changes nothing for that key and leaves a reason in the next sample's ``errors``; the sampler
never stops because of what arrives on stdin. Lines longer than ``MAX_LINE`` bytes are dropped
(with a reason). A sampler older than schema 1.1 reads stdin only to notice its end, so sending
it control lines is harmless; the hello's ``features`` say whether a sampler understands them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from autoglm_tui.sampler.services.targets import Target, TargetError, from_registration
from autoglm_tui.text import clean

MAX_LINE = 128 * 1024  # fits a registration's 16 services of 1024-character URLs
MAX_SERVICES = 16  # as many as a registration may name (cluster/registration.py)
MIN_INTERVAL_S = 0.2
MAX_INTERVAL_S = 3600.0
MAX_NOTES = 8  # reasons kept for the next sample


class Controls:
    """What the control lines asked for, folded in as they arrive (pure: bytes in, state out)."""

    def __init__(self, interval_s: float, delta: bool = False) -> None:
        self.base_interval_s = interval_s
        self.interval_s = interval_s
        self.requested_interval_s: float | None = None
        self.delta = delta
        self.full_wanted = False
        self.changed = False  # set when something that affects the schedule changed
        self.notes: list[str] = []  # reasons for ignored lines, for the next sample's errors
        # The registration's services: (index in the list, target) for the usable entries, and
        # the reasons the others were refused; `services_changed` until the loop hands them on.
        self.services: tuple[tuple[int, Target], ...] = ()
        self.services_refused: tuple[str, ...] = ()
        self.services_changed = False
        self.lines = 0
        self._buf = bytearray()
        self._skipping = False

    # ------------------------------------------------------------------ bytes in

    def feed(self, data: bytes) -> None:
        """Bytes read from stdin: every complete line is applied."""
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            if self._skipping:
                self._skipping = False
            elif len(self._buf) + nl - start > MAX_LINE:
                self._note(f"control line longer than {MAX_LINE} bytes ignored")
            else:
                self._buf += data[start:nl]
                self.apply_line(bytes(self._buf))
            self._buf.clear()
            start = nl + 1
        if not self._skipping and start < len(data):
            self._buf += data[start:]
            if len(self._buf) > MAX_LINE:
                self._buf.clear()
                self._skipping = True
                self._note(f"control line longer than {MAX_LINE} bytes ignored")

    def apply_line(self, raw: bytes) -> None:
        """Apply one control line (without its newline)."""
        text = raw.strip()
        if not text:
            return
        self.lines += 1
        try:
            data = json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            self._note(f"control line is not JSON ({clean(str(exc), 80)})")
            return
        if not isinstance(data, dict):
            self._note(f"control line must be a JSON object, not {type(data).__name__}")
            return
        if data.get("type") != "control":
            self._note(f"control line needs \"type\": \"control\" (got {_show(data.get('type'))})")
            return
        for key, value in data.items():
            if key == "type":
                continue
            handler = _HANDLERS.get(key)
            if handler is None:
                self._note(f"control key {_show(key)} is not known here; ignored")
                continue
            problem = handler(self, value)
            if problem:
                self._note(f"control {key}: {problem}")

    # ------------------------------------------------------------------ handlers

    def _interval(self, value: Any) -> str | None:
        if value is None:
            new = self.base_interval_s
            self.requested_interval_s = None
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"expected a number of seconds or null, got {_show(value)}"
            if not math.isfinite(value) or not MIN_INTERVAL_S <= value <= MAX_INTERVAL_S:
                return f"{_show(value)} is outside {MIN_INTERVAL_S:g} to {MAX_INTERVAL_S:g} s"
            new = float(value)
            self.requested_interval_s = new
        if new != self.interval_s:
            self.interval_s = new
            self.changed = True
        return None

    def _full(self, value: Any) -> str | None:
        if value is not True and value is not False:
            return f"expected true or false, got {_show(value)}"
        if value:
            self.full_wanted = True
        return None

    def _delta(self, value: Any) -> str | None:
        if value is not True and value is not False:
            return f"expected true or false, got {_show(value)}"
        if value and not self.delta:
            self.full_wanted = True  # a reader that switches starts from a full sample
        self.delta = value
        return None

    def _services(self, value: Any) -> str | None:
        if not isinstance(value, list):
            return f"expected a list of services, got {_show(value)}"
        usable: list[tuple[int, Target]] = []
        refused: list[str] = []
        seen: dict[str, int] = {}
        for i, entry in enumerate(value[:MAX_SERVICES]):
            try:
                target = from_registration(entry)
            except TargetError as exc:
                refused.append(clean(f"control services[{i}] refused: {exc}", 300))
                continue
            if target.url in seen:
                refused.append(clean(f"control services[{i}] refused: {target.url} is already "
                                     f"services[{seen[target.url]}]", 300))
                continue
            seen[target.url] = i
            usable.append((i, target))
        if len(value) > MAX_SERVICES:
            refused.append(f"control services: {len(value)} entries, at most {MAX_SERVICES}; "
                           f"the last {len(value) - MAX_SERVICES} are ignored")
        self.services = tuple(usable)
        self.services_refused = tuple(refused)
        self.services_changed = True
        return None

    def take_services(self) -> tuple[tuple[tuple[int, Target], ...], tuple[str, ...]] | None:
        """The registration's services and the refusals when a line changed them, else None."""
        if not self.services_changed:
            return None
        self.services_changed = False
        return self.services, self.services_refused

    # ------------------------------------------------------------------ out

    def take_full(self) -> bool:
        """Whether the next sample must be full (the request is used up)."""
        wanted, self.full_wanted = self.full_wanted, False
        return wanted

    def take_notes(self) -> list[str]:
        notes, self.notes = self.notes, []
        return notes

    def note(self, text: str) -> None:
        """Keep a reason for the next sample's errors."""
        self._note(text)

    def _note(self, text: str) -> None:
        if len(self.notes) < MAX_NOTES:
            self.notes.append(clean(text, 200))


def _show(value: Any) -> str:
    return clean(repr(value), 40)


_HANDLERS = {
    "interval": Controls._interval,
    "full": Controls._full,
    "delta": Controls._delta,
    "services": Controls._services,
}
