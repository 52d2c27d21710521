"""Requests the UI hands to sources (intents flowing the other way from events).

A source that can use them has a ``request(req)`` method, which must return at once (it only
records the wish; the source's own task does the I/O). Sources that always have everything
(local, replay) have no such method, and ``send`` skips them; the SSH runner
(``commands/cluster.py:RunnerSource``) takes ``NodesInView`` as the focus of
``--background-interval``. The UI never waits for an
answer: what a source fetches arrives later as ordinary events (``HistoryBackfill``, samples).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


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


Request = HistoryWanted | NodesInView


def send(sources: Iterable[object], req: Request) -> int:
    """Hand `req` to every source that takes requests; how many took it."""
    taken = 0
    for source in sources:
        handler = getattr(source, "request", None)
        if handler is not None:
            handler(req)
            taken += 1
    return taken
