"""The node screen's Services pane: one line per inference server of the node.

Shown only when the node has services. A header line names the columns; each service's line
gives its name and model, P95, TTFT P95, ITL P95, tokens/s, running, queue, KV cache %, error
rate (and sparklines of P95 and tokens/s when the pane is wide), coloured by
analysis/service_marks.py: a growing queue, a KV cache near full, errors, a slow P95, a
service that is down. Columns drop by priority as the pane narrows; a line never wraps.

On a short terminal (the node screen's compact form) the pane has no border, its header line
doubling as its title, and it lists at most ``COMPACT_ROWS`` services (the window follows the
cursor; the header says which, "1-2 of 5"). Collapsed (`z`), it is
one summary line. With the focus (Tab, `S`, a click) it has a cursor: Up/Down move it, Enter
(or a click) posts ``ServicesPane.Open`` for the highlighted service.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message

from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.service_marks import BAD, OK, ServiceMarks, marks
from autoglm_tui.analysis.services import ServiceView
from autoglm_tui.events import NodeStatus
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.widgets.chart import time_columns
from autoglm_tui.tui.widgets.pane import NodePane
from autoglm_tui.tui.widgets.service_row import (
    PANE_COLUMNS,
    down_line,
    fit,
    header,
    lay_out,
    rate,
    seconds,
    service_cells,
)

COMPACT_ROWS = 2  # services listed on a short terminal (the header says "1-2 of N")
FULL_ROWS = 8
QUEUE_WINDOW_S = 60.0
TREND_S = 300.0  # the sparklines' span


def service_marks(node: NodeState, view: ServiceView, now: float) -> ServiceMarks:
    """The marks of one of `node`'s services (its queue's last minute from the history)."""
    points = node.history.points(("svc.queue_len", view.service_id), since=now - QUEUE_WINDOW_S)
    return marks(view, points, now)


class ServicesPane(NodePane, can_focus=True):
    """The node's inference services, one line each; Enter opens the highlighted one."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Previous service", show=False),
        Binding("down", "cursor(1)", "Next service", show=False),
        Binding("enter", "open", "Open the service", show=False),
    ]

    class Open(Message):
        """The user wants the screen of service `service_id`."""

        def __init__(self, service_id: str) -> None:
            super().__init__()
            self.service_id = service_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Services", id=id)
        self.collapsed = False  # folded by the user (`z`)
        self.squeezed = False  # folded by its screen, for want of rows
        self.cursor = 0
        self.top = 0  # the first service listed (the window follows the cursor)
        self._ids: list[str] = []  # the services listed, in order (what the cursor indexes)

    # ------------------------------------------------------------------ state

    def follow(self, node: NodeState | None) -> None:
        """Shown only while `node` has services (call before painting the panes)."""
        self.display = node is not None and bool(node.services)

    def show(self, node: NodeState | None, now: float, compact: bool | None = None) -> None:
        views = node.services if node is not None else {}
        if compact is not None:
            self.set_class(compact, "-compact")
        self._ids = list(views)
        if self._ids:
            self.cursor = min(self.cursor, len(self._ids) - 1)
        super().show(node, now, compact)
        self._follow_cursor()

    def _follow_cursor(self) -> None:
        """Keep the cursor's service among the lines listed."""
        shown = self.rows_shown()
        if shown <= 0:
            return
        self.top = max(0, min(self.top, len(self._ids) - shown))
        if self.cursor < self.top:
            self.top = self.cursor
        elif self.cursor >= self.top + shown:
            self.top = self.cursor - shown + 1

    @property
    def selected(self) -> str | None:
        """The id of the service under the cursor."""
        return self._ids[self.cursor] if 0 <= self.cursor < len(self._ids) else None

    @property
    def folded(self) -> bool:
        return self.collapsed or self.squeezed

    def rows_unfolded(self) -> int:
        """The service lines listed below its header while unfolded."""
        return min(len(self._ids), COMPACT_ROWS if self.compact else FULL_ROWS)

    def rows_shown(self) -> int:
        return 0 if self.folded else self.rows_unfolded()

    def toggle(self) -> None:
        self.collapsed = not self.collapsed
        self._stamp += 1
        self.refresh(layout=True)

    def squeeze(self, squeezed: bool) -> None:
        """Fold (or unfold) for want of rows; the user's own fold stays as it is."""
        if squeezed != self.squeezed:
            self.squeezed = squeezed
            self._stamp += 1
            self.refresh(layout=True)

    def _redraw(self) -> None:
        self._stamp += 1
        self.refresh()

    def on_focus(self) -> None:
        self._redraw()

    def on_blur(self) -> None:
        self._redraw()

    def action_cursor(self, step: int) -> None:
        if not self._ids:
            return
        self.cursor = max(0, min(len(self._ids) - 1, self.cursor + step))
        self._follow_cursor()
        self._redraw()

    def action_open(self) -> None:
        sid = self.selected
        if sid is not None:
            self.post_message(self.Open(sid))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = offset.y - 1  # below the header line
        if 0 <= row < self.rows_shown():
            event.stop()
            self.cursor = self.top + row
            self._redraw()
            self.action_open()

    # ------------------------------------------------------------------ drawing

    def build(self, width: int) -> list[Text]:
        node = self.node
        if node is None:
            return []
        views = node.services
        p = self.palette
        columns = fit(PANE_COLUMNS, width)
        n = len(views)
        shown = self.rows_shown()
        all_marks = {sid: service_marks(node, v, self.now) for sid, v in views.items()}
        first = f"Services ({n})" if self.compact or self.folded else "Service"
        if self.folded:
            return [self._summary(views, all_marks, width, p)]
        head = header(columns, p, first)
        if shown < n:
            more = Text(f" {self.top + 1}-{self.top + shown} of {n}", style=p.muted)
            head.truncate(max(1, width - more.cell_len))
            head.append_text(more)
        out = [head]
        grey = node.status is not NodeStatus.UP
        wide = any(c.key.startswith("spark") for c, _ in columns)
        listed = list(views.items())[self.top:self.top + shown]
        for i, (sid, view) in enumerate(listed, start=self.top):
            trends = None
            if wide:  # the last TREND_S, in columns evenly spaced in time
                since = self.now - TREND_S
                trends = (
                    time_columns(node.history.points(("svc.latency_p95_s", sid), since), 10)[0],
                    time_columns(node.history.points(("svc.tokens_per_s", sid), since), 12)[0],
                )
            cells = service_cells(view, all_marks[sid], p, grey=grey, trends=trends)
            line = lay_out(cells, columns) if view.up else down_line(view, columns, cells)
            if self.has_focus and i == self.cursor:
                line.stylize("reverse")
            out.append(line)
        return out

    def _summary(self, views: dict[str, ServiceView], all_marks: dict[str, ServiceMarks],
                 width: int, p: Palette) -> Text:
        """The collapsed pane's one line: count, worst P95, total tokens/s and queue."""
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(f"▸ Services ({len(views)})", style=f"bold {p.label}")
        p95s = [v.e2e.p95.value for v in views.values()
                if v.up and v.e2e is not None and v.e2e.p95 is not None]
        toks = [v.tokens_per_s for v in views.values() if v.tokens_per_s is not None]
        queue = [v.waiting for v in views.values() if v.waiting is not None]
        down = sum(1 for v in views.values() if not v.up)
        if p95s:
            out.append("  worst P95 ", style=p.muted)
            out.append(seconds(max(p95s)))
        if toks:
            out.append("  tok/s ", style=p.muted)
            out.append(rate(sum(toks)))
        if queue:
            out.append("  queue ", style=p.muted)
            out.append(f"{sum(queue):.0f}")
        if down:
            out.append(f"  {down} down", style=f"bold {p.error}")
        flagged = [m for m in all_marks.values() if m.row != OK]
        if flagged:
            worst = max(flagged, key=lambda m: m.row)
            out.append("  " + "; ".join(worst.reasons[:1]),
                       style=f"bold {p.error}" if worst.row == BAD else p.warning)
        out.append("  (S Enter: open)" if self.squeezed and not self.collapsed
                   else "  (z: expand)", style=p.muted)
        out.truncate(width, overflow="ellipsis")
        return out


__all__ = ["ServicesPane", "service_marks"]
