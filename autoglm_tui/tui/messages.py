"""Messages that source workers post to the app (the one way data enters the UI)."""

from __future__ import annotations

from textual.message import Message

from autoglm_tui.events import Event


class SourceEvent(Message):
    """A source observed something; the app folds it into the monitor."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class SourceFailed(Message):
    """A source stopped with an error it could not retry past."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__()
        self.source = source
        self.reason = reason
