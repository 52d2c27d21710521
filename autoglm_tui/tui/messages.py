"""Messages that move up to the app: a source that gave up, a process the user wants to signal,
a node the user wants forgotten.

Source events themselves do not travel as messages: sources call ``MonitorApp.emit`` (a queue
folded in by batches, tui/app.py). Navigation travels as intents (tui/intents.py).
"""

from __future__ import annotations

from textual.message import Message

from autoglm_tui.model import ProcSample


class SourceFailed(Message):
    """A source stopped with an error it could not retry past."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__()
        self.source = source
        self.reason = reason


class SignalRequest(Message):
    """The user asked to signal a process: the app confirms, then hands the intent over."""

    def __init__(self, node_id: str, proc: ProcSample) -> None:
        super().__init__()
        self.node_id = node_id
        self.proc = proc


class ForgetRequest(Message):
    """The user asked to forget a node (`:forget NODE`, or the key on a FAILED/LEFT row): the
    app confirms (Cancel focused), then hands a ``requests.ForgetNode`` to the sources."""

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id


class ReplayGoto(Message):
    """`:goto TIME` in a replay: the replay app parses the time and seeks there."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
