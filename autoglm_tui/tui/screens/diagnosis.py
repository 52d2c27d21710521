"""The Diagnosis screen (`:diagnose`, or d): what is wrong, worst first, with its evidence.

One row per finding of the diagnosis runner (monitor.diagnosis): severity, finding, subject,
how long it has been seen, verdict. The evidence pane below shows the highlighted finding: the
verdict, the numbers and the window they come from, what to do next. Enter on a row opens its
evidence full height; Enter there (or ``o`` anywhere) goes to the subject: the node, the GPU,
the process or the service. Opened from a node's screen it lists that node's findings only.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from autoglm_tui import format as fmt
from autoglm_tui.analysis.diagnosis.coverage import coverage, data_span
from autoglm_tui.analysis.diagnosis.model import Finding, Severity
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.text import clean
from autoglm_tui.tui.focus import focus_now
from autoglm_tui.tui.intents import (
    Intent,
    OpenGpu,
    OpenNode,
    OpenNodes,
    OpenProcess,
    OpenService,
)
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.screens.base import StateScreen
from autoglm_tui.tui.widgets.findings import (
    FINDING_COLUMNS,
    evidence_text,
    finding_cells,
    severity_style,
    subject_text,
)
from autoglm_tui.tui.widgets.live_table import LiveTable, same


class DiagnosisScreen(StateScreen):
    """Findings of the fleet (node_id None) or of one node, worst first."""

    DEFAULT_CSS = """
    DiagnosisScreen #diag-title { height: 1; background: $panel; padding: 0 1; }
    DiagnosisScreen #diag-table { height: auto; max-height: 45%; min-height: 3; }
    DiagnosisScreen #diag-evidence-box {
        height: 1fr; border: round $primary 60%; border-title-color: $primary;
        border-title-style: bold; padding: 0 1; scrollbar-size-vertical: 1;
    }
    DiagnosisScreen.-expanded #diag-table { display: none; }
    """
    age_every_s = 1.0  # the Since column moves without new data
    BINDINGS = [
        Binding("escape", "back", "Back / list"),
        Binding("enter", "enter", "Evidence, then go to subject", show=False),
        Binding("o", "open_subject", "Go to subject"),
    ]

    def __init__(self, node_id: str | None = None) -> None:
        super().__init__()
        self.scope_node = node_id  # whose findings (None: the fleet's)
        self.node_id = node_id  # the chrome's liveness banner and `:gpu INDEX` follow it
        self.expanded = False
        self._findings: dict[Hashable, Finding] = {}
        self._now = 0.0
        self._p = Palette()
        self._title = Text()
        self._evidence = Text()

    def compose_body(self) -> Iterable[Widget]:
        yield Static(id="diag-title")
        yield LiveTable(FINDING_COLUMNS, id="diag-table")
        with VerticalScroll(id="diag-evidence-box") as box:
            box.border_title = "Finding"
            yield Static(id="diag-evidence")

    @property
    def table(self) -> LiveTable:
        return self.query_one("#diag-table", LiveTable)

    def focus_main(self) -> None:
        if self.expanded:
            focus_now(self.query_one("#diag-evidence-box", VerticalScroll))
        else:
            focus_now(self.table)

    # ------------------------------------------------------------------ drawing

    def findings(self) -> list[Finding] | None:
        """The findings shown, worst first (None: the diagnosis is off)."""
        runner = self.monitor_app.monitor.diagnosis
        if runner is None:
            return None
        if self.scope_node is None:
            return list(runner.findings)
        return runner.for_node(self.scope_node)

    def paint(self, now: float) -> None:
        p = self._p = Palette.from_variables(self.app.theme_variables)
        self._now = now
        if self.scope_node is not None:
            self.node_state(self.scope_node)  # keeps its last state for the liveness banner
        found = self.findings()
        title = Text("Diagnosis", style="bold", no_wrap=True, overflow="ellipsis")
        title.append("  " + (clean(self.scope_node, 64) if self.scope_node else "fleet"),
                     style=f"bold {p.accent}")
        if found is None:
            title.append("  diagnosis is off (started with --no-diagnosis)", style=p.muted)
            found = []
        else:
            title.append(f"  {len(found)} finding{'s' if len(found) != 1 else ''}")
            by_sev = {s: sum(1 for f in found if f.severity is s) for s in Severity}
            parts = [(s, n) for s, n in sorted(by_sev.items(), key=lambda kv: -kv[0].rank) if n]
            if parts:
                title.append(" (", style=p.muted)
                for i, (sev, n) in enumerate(parts):
                    if i:
                        title.append(", ", style=p.muted)
                    title.append(f"{n} {sev.value}", style=severity_style(sev, p))
                title.append(")", style=p.muted)
            title.append(f"  ·  as of {fmt.clock_time(now)}", style=p.muted)
        if not same(title, self._title):
            self._title = title
            self.query_one("#diag-title", Static).update(title)
        self._findings = {f.key: f for f in found}
        self.table.show(list(self._findings), self._render_row)
        self._paint_evidence()

    def _render_row(self, item: Hashable) -> list[Text]:
        f = self._findings.get(item)
        return finding_cells(f, self._now, self._p) if f is not None else []

    def _paint_evidence(self) -> None:
        f = self.selected
        p = self._p
        if f is None:
            text = self._no_findings(p)
        else:
            hint = (f"Enter / o: go to {subject_text(f)}  ·  Esc: back to the list"
                    if self.expanded else
                    f"Enter: the evidence full height  ·  o: go to {subject_text(f)}")
            box = self.query_one("#diag-evidence-box", VerticalScroll)
            width = box.scrollable_content_region.width - (0 if box.show_vertical_scrollbar
                                                            else box.styles.scrollbar_size_vertical)
            text = evidence_text(f, self._now, p, hint, width if width > 10 else None)
        if not same(text, self._evidence):
            self._evidence = text
            self.query_one("#diag-evidence", Static).update(text)

    def _no_findings(self, p: Palette) -> Text:
        """What an empty list rests on: nodes and seconds of data, and the checks that need
        more (a minute of data with no finding is not a clean bill of health)."""
        text = Text(style=p.muted)
        runner = self.monitor_app.monitor.diagnosis
        if runner is None:
            text.append("The diagnosis is off (started with --no-diagnosis): nothing is looked "
                        "for. Start without --no-diagnosis to have bottlenecks, leaks and "
                        "stragglers named here.")
            return text
        nodes = self.state.nodes
        if self.scope_node is None:
            watched: Iterable[NodeState] = nodes.values()
        else:
            watched = [nodes[self.scope_node]] if self.scope_node in nodes else []
        covers = coverage(*data_span(watched, self._now), runner.config)
        text.append(f"No findings ({covers.what()}): nothing the diagnosis can name is wrong "
                    "here. It looks for bottlenecks (CPU, PCIe, memory, compute, storage, "
                    "network), throttled clocks, stragglers, memory leaks, memory held by no "
                    "process, latency that follows a resource or rose and stayed up, and "
                    "scaling advice.")
        short = covers.too_short()
        if short:
            text.append("\n\nToo short to rule everything out: ", style=f"bold {p.warning}")
            text.append(f"{short}.", style=p.warning)
        hint = self.monitor_app.data_hint(covers.data_s)
        if hint:
            text.append(f"\n\n{hint}")
        return text

    # ------------------------------------------------------------------ actions

    @property
    def selected(self) -> Finding | None:
        """The finding under the cursor."""
        return self._findings.get(self.table.selected)  # type: ignore[arg-type]

    def on_live_table_moved(self, event: LiveTable.Moved) -> None:
        event.stop()
        self._paint_evidence()

    def on_live_table_activated(self, event: LiveTable.Activated) -> None:
        event.stop()
        self.action_enter()

    def action_enter(self) -> None:
        if self.expanded:
            self.action_open_subject()
        elif self.selected is not None:
            self._expand(True)

    def _expand(self, on: bool) -> None:
        self.expanded = on
        self.set_class(on, "-expanded")
        self.focus_main()
        self._paint_evidence()

    def action_back(self) -> None:
        if self.expanded:
            self._expand(False)
        else:
            super().action_back()

    def action_open_subject(self) -> None:
        f = self.selected
        if f is None:
            return
        intent = self.subject_intent(f)
        if intent is None:
            self.notify(f"{subject_text(f)} has no screen to go to", severity="warning")
            return
        self.go(intent)

    def subject_intent(self, f: Finding) -> Intent | None:
        """Where a finding's subject lives: its GPU, process or service, else its node; a
        fleet or group finding goes to the node table (cluster mode)."""
        s = f.subject
        if s.node is None:
            return OpenNodes() if self.cluster_mode else None
        node = self.state.nodes.get(s.node)
        if node is None:
            self.notify(f"{clean(s.node, 64)} is no longer in the fleet", severity="warning")
            return None
        if s.gpu is not None:
            return OpenGpu(s.node, s.gpu)
        if s.pid is not None:
            info = node.proc_info.get(s.pid)
            return OpenProcess(s.node, s.pid, info.create_time if info else None)
        if s.service is not None and self._can_open(OpenService):
            return OpenService(s.node, s.service)
        return OpenNode(s.node)

    def _can_open(self, kind: type[Intent]) -> bool:
        navigator: Any = getattr(self.app, "navigator", None)
        return navigator is not None and kind in getattr(navigator, "screens", {})
