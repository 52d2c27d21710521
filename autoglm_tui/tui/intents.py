"""Navigation intents: a screen says where the user wants to go; the app's navigator goes there.

A screen never imports another screen to open it. It posts an intent (a Textual message, which
bubbles up to the app), and ``tui/navigator.py`` maps the intent's class to a screen and keeps
the screen stack, hence the breadcrumb. An intent is also a *place*: it knows its identity
(``place``), the place above it in the hierarchy (``parent``) and its breadcrumb part.

Two ways to go somewhere:

- ``reset=False`` (Enter on a row, a digit, a click, a jump from the alerts screen): the new
  screen opens on top of the current one, so Esc returns where the user came from;
- ``reset=True`` (the ``:`` command line, k9s style): the stack becomes the place's path from the
  root (``cluster › node-07 › GPU 3``), keeping the screens it shares with the current stack.

A place already open in the stack is never opened twice: going there pops back to it.

To add a place: subclass :class:`Intent` here (screens that open it import it from here, never
from another screen's module) with its fields, ``place``, ``parent`` and ``crumb``, and register
its screen in ``tui/navigator.py``. ``OpenDiagnosis`` is declared already, for the
Diagnosis screen: until a screen is registered for it, the navigator says so instead of opening
anything.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.message import Message

from autoglm_tui.text import clean


class Intent(Message):
    """Where the user wants to go. Subclasses are places; :class:`Back` is not."""

    node_id: str | None = None  # the node a place belongs to (None: fleet-wide)

    def __init__(self, *, reset: bool = False) -> None:
        super().__init__()
        self.reset = reset

    @property
    def place(self) -> Hashable:
        """Identity of the place: two intents with the same place open the same screen."""
        return (type(self).__name__,)

    def parent(self) -> Intent | None:
        """The place above this one (None: directly under the root)."""
        return None

    def crumb(self, below: Intent | None) -> str:
        """This place's part of the breadcrumb, given the place under it in the stack."""
        return type(self).__name__.removeprefix("Open").lower()

    def node_prefix(self, below: Intent | None) -> str:
        """'node-07 ' when the place below is not on the same node (a jump), else ''."""
        if self.node_id is None or (below is not None and below.node_id == self.node_id):
            return ""
        return clean(self.node_id, 64) + " "


class Back(Intent):
    """Esc: back to the screen the user came from (the root screen stays)."""


class OpenNodes(Intent):
    """The cluster's node table (the root in cluster mode)."""

    def crumb(self, below: Intent | None) -> str:
        return "cluster"


class OpenGpus(Intent):
    """Every GPU of the fleet."""

    def parent(self) -> Intent | None:
        return OpenNodes()

    def crumb(self, below: Intent | None) -> str:
        return "GPUs"


class OpenAlerts(Intent):
    """The alerts screen: firing, pending, recently resolved."""

    def crumb(self, below: Intent | None) -> str:
        return "alerts"


class OpenNode(Intent):
    """One node: GPUs, host, IO, processes (the local view's screen)."""

    def __init__(self, node_id: str, *, reset: bool = False) -> None:
        super().__init__(reset=reset)
        self.node_id = node_id

    @property
    def place(self) -> Hashable:
        return ("node", self.node_id)

    def parent(self) -> Intent | None:
        return OpenNodes()

    def crumb(self, below: Intent | None) -> str:
        return clean(self.node_id, 64)


class OpenGpu(Intent):
    """One GPU of one node: history plots and its processes."""

    def __init__(self, node_id: str, index: int, *, reset: bool = False) -> None:
        super().__init__(reset=reset)
        self.node_id = node_id
        self.index = index

    @property
    def place(self) -> Hashable:
        return ("gpu", self.node_id, self.index)

    def parent(self) -> Intent | None:
        return OpenNode(self.node_id)

    def crumb(self, below: Intent | None) -> str:
        return f"{self.node_prefix(below)}GPU {self.index}"


class OpenProcess(Intent):
    """One process of one node; `create_time` tells a reused pid from the process shown."""

    def __init__(
        self, node_id: str, pid: int, create_time: float | None = None, *, reset: bool = False
    ) -> None:
        super().__init__(reset=reset)
        self.node_id = node_id
        self.pid = pid
        self.create_time = create_time

    @property
    def place(self) -> Hashable:
        return ("process", self.node_id, self.pid)

    def parent(self) -> Intent | None:
        return OpenNode(self.node_id)

    def crumb(self, below: Intent | None) -> str:
        return f"{self.node_prefix(below)}pid {self.pid}"


class OpenService(Intent):
    """An inference service of a node (`service_id`: the Service screen), or all of the node's
    (None: the services table of that node)."""

    def __init__(self, node_id: str, service_id: str | None = None, *, reset: bool = False) -> None:
        super().__init__(reset=reset)
        self.node_id = node_id
        self.service_id = service_id

    @property
    def place(self) -> Hashable:
        return ("service", self.node_id, self.service_id)

    def parent(self) -> Intent | None:
        return OpenNode(self.node_id)

    def crumb(self, below: Intent | None) -> str:
        what = "services" if self.service_id is None else clean(self.service_id, 48)
        return f"{self.node_prefix(below)}{what}"


class OpenServices(Intent):
    """Every inference service of the fleet (`:services`)."""

    def parent(self) -> Intent | None:
        return OpenNodes()

    def crumb(self, below: Intent | None) -> str:
        return "services"


class OpenDiagnosis(Intent):
    """What is wrong and why, for one node or (None) the fleet. Declared for the Diagnosis
    screen (issue 11): it registers its screen in the navigator for this intent."""

    def __init__(self, node_id: str | None = None, *, reset: bool = False) -> None:
        super().__init__(reset=reset)
        self.node_id = node_id

    @property
    def place(self) -> Hashable:
        return ("diagnosis", self.node_id)

    def parent(self) -> Intent | None:
        return OpenNode(self.node_id) if self.node_id is not None else None

    def crumb(self, below: Intent | None) -> str:
        return f"{self.node_prefix(below)}diagnosis"


def trail(places: list[Intent]) -> list[str]:
    """The breadcrumb of a stack of places (root first): one cleaned part per place."""
    parts: list[str] = []
    below: Intent | None = None
    for place in places:
        parts.append(clean(place.crumb(below), 64))
        below = place
    return parts
