"""Requests the UI hands to sources (intents flowing the other way from events).

A source that can use them has a ``request(req)`` method, which must return at once (it only
records the wish; the source's own task does the I/O). Sources that always have everything
(local, replay) have no such method, and ``send`` skips them; the SSH runner
(``commands/cluster.py:RunnerSource``) takes ``NodesInView`` as the focus of
``--background-interval`` and carries out ``ForgetNode`` in the registry. The UI never waits
for an answer: what a source fetches arrives later as ordinary events (``HistoryBackfill``,
samples, ``NodeForgotten``); an operator's request may name a ``reply`` callback, which the
source calls on the event loop once it is done, to say how it went in one line.

A source that acts only on some kinds of request lists them in a ``takes`` attribute (a tuple of
request classes); ``send`` hands it only those, so its return value says whether anyone acts on
a request (a source without ``takes`` gets every request).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HistoryWanted:
    """A node, GPU or service screen opened: fill the node's history (`seconds` back)."""

    node_id: str
    seconds: float = 900.0


@dataclass(frozen=True, slots=True)
class NodesInView:
    """The nodes whose screens are open (node, GPU, process, service): a source that fetches
    only what is on screen gets their details (every GPU field, processes, per-core CPU), and
    over SSH they sample at --interval while the others use --background-interval."""

    node_ids: frozenset[str]


Reply = Callable[[bool, str], None]  # (done, what happened in one line)


@dataclass(frozen=True, slots=True)
class ForgetNode:
    """An operator confirmed `:forget NODE`: remove the node's membership for every monitor
    (as ``members forget`` does), so it leaves the table with "forgotten by operator" and its
    alerts end. The source replies through `reply` (on the event loop), if given."""

    node_id: str
    force: bool = False
    reply: Reply | None = field(default=None, compare=False)


Request = HistoryWanted | NodesInView | ForgetNode


def takers(sources: Iterable[object], req: Request) -> list[object]:
    """The sources that act on `req`: those with a ``request`` method whose ``takes`` (if
    they declare one) names its class."""
    out = []
    for source in sources:
        if getattr(source, "request", None) is None:
            continue
        takes = getattr(source, "takes", None)
        if takes is None or isinstance(req, tuple(takes)):
            out.append(source)
    return out


def send(sources: Iterable[object], req: Request) -> int:
    """Hand `req` to every source that takes it; how many took it."""
    taken = takers(sources, req)
    for source in taken:
        source.request(req)  # type: ignore[attr-defined]
    return len(taken)
