"""What a diagnosis rests on (pure): how many nodes, how many seconds of data, and the checks
those seconds are too few for. "No findings" from a minute of data is not "nothing is wrong":
the `diagnose` command and the Diagnosis screen both say which checks could not run yet."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from autoglm_tui import format as fmt
from autoglm_tui.analysis.diagnosis.config import DiagnosisConfig
from autoglm_tui.analysis.node_state import NodeState


@dataclass(frozen=True)
class Coverage:
    """Nodes and seconds of data a diagnosis had, and the checks that need more (name ->
    seconds of data each needs)."""

    nodes: int
    data_s: float
    too_short_for: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """As ``diagnose --json`` gives it."""
        return {"nodes": self.nodes, "data_s": round(self.data_s, 3),
                "too_short_for": dict(self.too_short_for)}

    def what(self) -> str:
        """'2 nodes, 6s of data'."""
        n = self.nodes
        return f"{n} node{'' if n == 1 else 's'}, {fmt.duration(self.data_s)} of data"

    def too_short(self) -> str | None:
        """'bottlenecks need 2m00s of data, memory leaks 5m00s, latency rises 6m00s' (None:
        every check could run)."""
        short = [(name.replace("_", " "), fmt.duration(need))
                 for name, need in self.too_short_for.items()]
        if not short:
            return None
        (first, need), rest = short[0], short[1:]
        return ", ".join([f"{first} need {need} of data", *(f"{n} {d}" for n, d in rest)])


def coverage(nodes: int, data_s: float, config: DiagnosisConfig) -> Coverage:
    """The Coverage of a diagnosis of `nodes` nodes over `data_s` seconds of data."""
    needs = {"bottlenecks": config.bottleneck.window_s, "memory_leaks": config.leak.min_span_s,
             "latency_rises": config.rise.before_s + config.rise.after_s}
    return Coverage(nodes, max(0.0, data_s),
                    {name: need for name, need in needs.items() if data_s < need})


def data_span(nodes: Iterable[NodeState], now: float) -> tuple[int, float]:
    """How many of `nodes` have data, and the seconds of history the longest-watched one holds
    up to `now` (its oldest full-resolution point; older points exist only past the fine
    tier, well beyond what any check needs)."""
    count, oldest = 0, now
    for node in nodes:
        since = node.history.fine_since
        if since is not None:
            count += 1
            oldest = min(oldest, since)
    return count, max(0.0, now - oldest)
