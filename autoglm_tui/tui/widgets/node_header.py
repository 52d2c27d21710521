"""The one-line status bar of a node: host, status, uptime, sampler cost (and, in the local
view, where the sampler runs inside the monitor, the monitor's own cost), last sample time."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from autoglm_tui import format as fmt
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.process_cost import ProcessCost
from autoglm_tui.events import NodeStatus
from autoglm_tui.text import clean
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.widgets.liveness import status_reason


class NodeHeader(Widget):
    """Shows who and how fresh: the first line of the node screen."""

    def __init__(self, node_id: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.node_id = node_id
        self.node: NodeState | None = None
        self.error: str | None = None
        self.cost_pct: float | None = None
        self.monitor: ProcessCost | None = None
        self.now = 0.0

    def show(
        self, node: NodeState | None, now: float, error: str | None = None,
        cost_pct: float | None = None, monitor: ProcessCost | None = None,
    ) -> None:
        """Draw `node`; `cost_pct` is its sampler's CPU use (`NodeState.sampler_cpu_pct`),
        `monitor` the monitor process's own cost (`FleetState.monitor_cost`: known when the
        sampler runs inside the monitor, as in the local view)."""
        self.node = node
        self.now = now
        self.error = error
        self.cost_pct = cost_pct
        self.monitor = monitor if monitor is not None and monitor.t is not None else None
        self.refresh()

    def render(self) -> Text:
        p = Palette.from_variables(self.app.theme_variables)
        width = self.content_size.width
        node = self.node
        host = clean(node.hello.host if node and node.hello else self.node_id, 64)
        parts: list[Text] = [Text(host, style=f"bold {p.accent}")]
        if node is None:
            parts.append(Text("waiting for the sampler…", style=p.muted))
        else:
            parts.append(self._status(node, p))
            s = node.last_sample
            static = node.hello.static if node.hello else None
            if s is not None and static is not None and static.boot_time:
                parts.append(_kv("up ", fmt.duration(s.t - static.boot_time), p))
            monitor = self.monitor
            if s is not None and s.self_cost is not None:
                cpu = fmt.pct(self.cost_pct, digits=1)
                # in-process, the sampler's memory is the monitor's: shown once, below
                cost = f"{cpu} CPU" if monitor is not None else \
                    f"{cpu} CPU {fmt.bytes_(s.self_cost.rss_bytes)} RSS"
                parts.append(_kv("sampler ", cost, p))
            if monitor is not None:
                cost = (f"{fmt.pct(monitor.cpu_pct, digits=1)} CPU "
                        f"{fmt.bytes_(monitor.rss_bytes)} RSS")
                parts.append(_kv("TUI ", cost, p))
            if s is not None:
                parts.append(_kv("last sample ", fmt.clock_time(s.t), p))
            if node.sampler_restarts:
                parts.insert(2, self._restarts(node, p))
            problems = node.registration_problems()
            if problems:  # a bad services entry, left out of the registration
                parts.insert(2, Text(f"registration: {problems[0]} (left out)",
                                     style=f"bold {p.warning}"))
        if self.error:
            parts.insert(1, Text(clean(self.error, 200), style=f"bold {p.error}"))
        out = Text(no_wrap=True, overflow="ellipsis")
        for i, part in enumerate(parts):
            if i and out.cell_len + 3 + part.cell_len > width:
                break
            if i:
                out.append("  │  " if width >= 100 else "  ", style=p.muted)
            out.append_text(part)
        return out

    def _restarts(self, node: NodeState, p: Palette) -> Text:
        """How often the node's sampler was restarted, and why it last ended."""
        out = Text(f"sampler restarted {node.sampler_restarts}x", style=f"bold {p.warning}")
        if node.sampler_exit:
            out.append(f" (last: {clean(node.sampler_exit, 80)} at "
                       f"{fmt.clock_time(node.sampler_exit_at)})", style=p.warning)
        return out

    def _status(self, node: NodeState, p: Palette) -> Text:
        status = node.status
        style = {
            NodeStatus.UP: p.success,
            NodeStatus.CONNECTING: p.muted,
            NodeStatus.STALE: p.warning,
        }.get(status, p.error)
        out = Text(status.value, style=f"bold {style}")
        reason = status_reason(node, self.now) if status != NodeStatus.UP else None
        if reason:
            out.append(" " + clean(reason, 120), style=style)
        if status is NodeStatus.UP and node.agent_lost:
            out.append(" ⚠ agent lost", style=f"bold {p.warning}")
        return out


def _kv(label: str, value: str, p: Palette) -> Text:
    out = Text(label, style=p.muted)
    out.append(value)
    return out
