"""The analyzer registry and what every analyzer reads: a context over the fleet at `now`.

An analyzer is one module: a class with a `name`, the finding names it `finds`, a `scope`
("node": run for one node at a time, spread over ticks; "fleet": run for the whole fleet) and
`run_node` or `run_fleet`, registered with ``@register``. Add its module to the import list in
``analysis/diagnosis/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from autoglm_tui.analysis.diagnosis.config import DiagnosisConfig
from autoglm_tui.analysis.diagnosis.model import Finding
from autoglm_tui.analysis.history import Key
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.events import NodeStatus


@dataclass
class Window:
    """Series of one node on one time axis over [since, until]; NaN marks a gap."""

    since: float
    until: float
    times: list[float]
    rows: dict[Key, list[float]] = field(default_factory=dict)

    def get(self, key: Key) -> list[float] | None:
        return self.rows.get(key)

    @property
    def span(self) -> float:
        return self.times[-1] - self.times[0] if len(self.times) > 1 else 0.0

    @property
    def covered(self) -> tuple[float, float]:
        """The part of [since, until] its data covers: from its first point (a node seen for
        less than the window, a short recording) to `until`; what a finding quotes."""
        start = self.times[0] if self.times and self.times[0] > self.since else self.since
        return start, self.until


class Context:
    """The fleet at `now` plus the configuration; caches windows for one evaluation."""

    def __init__(self, nodes: Mapping[str, NodeState], now: float,
                 config: DiagnosisConfig | None = None) -> None:
        self.nodes = nodes
        self.now = now
        self.config = config or DiagnosisConfig()
        self._windows: dict[tuple[str, float, tuple[Key, ...]], Window] = {}

    def up(self) -> list[NodeState]:
        """Nodes that are UP with at least one sample."""
        return [n for n in self.nodes.values() if is_up(n)]

    @staticmethod
    def gpus(node: NodeState) -> list[int]:
        s = node.last_sample
        return [g.index for g in s.gpus] if s is not None else []

    def window(self, node: NodeState, keys: Iterable[Key], seconds: float) -> Window:
        """The node's series for `keys` over the last `seconds` (unknown keys left out)."""
        ks = tuple(keys)
        cache_key = (node.node_id, seconds, ks)
        hit = self._windows.get(cache_key)
        if hit is not None:
            return hit
        since = self.now - seconds
        times, rows = node.window(ks, since, self.now)
        w = Window(since, self.now, times, {k: r for k, r in zip(ks, rows, strict=True)
                                            if r is not None})
        self._windows[cache_key] = w
        return w


    def span(self, node: NodeState, keys: Iterable[Key], since: float, until: float) -> Window:
        """The node's series over [since, until] (not cached)."""
        ks = tuple(keys)
        times, rows = node.window(ks, since, until)
        return Window(since, until, times, {k: r for k, r in zip(ks, rows, strict=True)
                                            if r is not None})


def is_up(node: NodeState) -> bool:
    return node.status is NodeStatus.UP and node.last_sample is not None


class Analyzer:
    """Base of every analyzer (one module each)."""

    name: ClassVar[str] = ""
    finds: ClassVar[tuple[str, ...]] = ()
    scope: ClassVar[str] = "node"  # "node" or "fleet"

    def period(self, config: DiagnosisConfig) -> float:
        """Seconds between two evaluations of one node (or of the fleet)."""
        return config.bottleneck.period_s

    def appear_after(self, config: DiagnosisConfig) -> float:
        """A finding must be seen again this much later before it shows (hysteresis)."""
        return self.period(config)

    def run_node(self, ctx: Context, node: NodeState) -> list[Finding]:
        return []

    def run_fleet(self, ctx: Context) -> list[Finding]:
        return []


REGISTRY: dict[str, Analyzer] = {}


def register(cls: type[Analyzer]) -> type[Analyzer]:
    """Class decorator: make `cls` one of the analyzers every diagnosis runs."""
    if not cls.name or cls.name in REGISTRY:
        raise ValueError(f"analyzer needs a unique name, got {cls.name!r}")
    REGISTRY[cls.name] = cls()
    return cls


def selected(names: Sequence[str] | None = None) -> list[Analyzer]:
    """The registered analyzers (all, or those named), in registration order."""
    if names is None:
        return list(REGISTRY.values())
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise KeyError(f"unknown analyzer(s): {', '.join(unknown)}")
    return [REGISTRY[n] for n in names]
