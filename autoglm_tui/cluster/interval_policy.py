"""Which interval each node's sampler should run at (pure: no I/O, no clock).

With a background interval, the nodes someone is looking at (the UI says which through
``Runner.focus``) sample at the fleet's own ``--interval`` and every other node at the slower
background interval: a large fleet costs the monitor and the links less while the node on
screen stays live. Without one, every node runs at its sampler's own interval.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from autoglm_tui.cluster.stream import check_interval


@dataclass
class IntervalPolicy:
    """``background_s`` for nodes out of focus (None: no policy, samplers keep their own)."""

    background_s: float | None = None
    focused: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        self.background_s = check_interval(self.background_s)

    def focus(self, node_ids: Iterable[str]) -> frozenset[str]:
        """Set the nodes being looked at; returns the nodes whose interval changed."""
        new = frozenset(node_ids)
        changed = new ^ self.focused
        self.focused = new
        return changed if self.background_s is not None else frozenset()

    def interval_for(self, node_id: str) -> float | None:
        """The interval to ask `node_id`'s sampler for (None: its own --interval)."""
        if self.background_s is None or node_id in self.focused:
            return None
        return self.background_s


__all__ = ["IntervalPolicy"]
