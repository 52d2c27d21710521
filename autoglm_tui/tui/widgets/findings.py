"""Diagnosis findings drawn as Text: table cells, the evidence view, the node screen's one-line
summary and the cluster rows' marker.

Pure drawing over `analysis/diagnosis` findings (name, severity, subject, verdict, evidence,
window, next steps). Verdicts and evidence may quote a process's command line, so every string
is cleaned and drawn as ``Text``, never markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from autoglm_tui import format as fmt
from autoglm_tui.analysis.diagnosis.model import Finding, Severity
from autoglm_tui.text import clean, wrap_hanging
from autoglm_tui.tui.render import Palette, cell
from autoglm_tui.tui.widgets.live_table import Column, same

MARK = "◆"  # a node with findings (cluster rows, node screen)
SEVERITY_WORD = {Severity.CRITICAL: "CRIT", Severity.WARNING: "WARN", Severity.INFO: "info"}

FINDING_COLUMNS = [
    Column("sev", "Sev", 4),
    Column("name", "Finding", 19),  # write_amplification, the longest name, whole
    Column("subject", "Subject", 20),
    Column("since", "Since", 6, right=True),
    Column("verdict", "Verdict", 20, fill=True),
]


def severity_style(sev: Severity, p: Palette) -> str:
    return {Severity.CRITICAL: f"bold {p.error}", Severity.WARNING: f"bold {p.warning}",
            Severity.INFO: p.label}.get(sev, "")


def subject_text(f: Finding) -> str:
    """'mix-0 pid 4600', 'group service=llm-70b', 'fleet' (cleaned)."""
    return clean(str(f.subject), 120)


def finding_cells(f: Finding, now: float, p: Palette) -> list[Text]:
    """One row of the findings table, in FINDING_COLUMNS order."""
    since = fmt.duration(now - f.since) if f.since is not None and now >= f.since else "-"
    return [
        cell(SEVERITY_WORD.get(f.severity, "?"), severity_style(f.severity, p)),
        cell(clean(f.name, 48), "bold"),
        cell(subject_text(f)),
        cell(since, p.muted, True),
        cell(clean(f.verdict, 300)),
    ]


def window_text(f: Finding) -> str:
    """'00:00:05-00:09:05, 9 min' (local time of day)."""
    start, end = f.window
    return f"{fmt.clock_time(start)}-{fmt.clock_time(end)}, {fmt.duration(max(0.0, end - start))}"


def _item(out: Text, text: str, width: int | None, first: str, rest: str,
          style: str = "") -> None:
    """`text` as lines of `out`, wrapped to `width` under a hanging indent (None: one line,
    the widget wraps it)."""
    if width is None:
        out.append(first)
        out.append(text, style=style)
        out.append("\n")
        return
    for k, line in enumerate(wrap_hanging(text, width, first, rest)):
        lead = first if k == 0 else rest
        out.append(lead)
        out.append(line[len(lead):], style=style)
        out.append("\n")


def evidence_text(f: Finding, now: float, p: Palette, go_hint: str | None,
                  width: int | None = None) -> Text:
    """Everything about one finding: verdict, the numbers and their window, what to do next,
    and where Enter goes; evidence and steps wrap under their bullets to `width` columns."""
    out = Text()
    out.append(SEVERITY_WORD.get(f.severity, "?") + " ", style=severity_style(f.severity, p))
    out.append(clean(f.name, 48), style="bold")
    out.append("  ·  ", style=p.muted)
    out.append(subject_text(f), style=f"bold {p.accent}")
    out.append("\n")
    _item(out, clean(f.verdict, 400), width, "", "")
    out.append("\n")
    out.append("Evidence", style=f"bold {p.label}")
    out.append(f"  ({window_text(f)}", style=p.muted)
    if f.since is not None:
        ago = fmt.duration(max(0.0, now - f.since))
        out.append(f"; seen since {fmt.clock_time(f.since)}, {ago} ago", style=p.muted)
    out.append(")\n", style=p.muted)
    for ev in f.evidence:
        _item(out, clean(ev.text, 300), width, "  · ", "    ")
    if f.next_steps:
        out.append("\n")
        out.append("What to do", style=f"bold {p.label}")
        out.append("\n")
        for i, step in enumerate(f.next_steps, 1):
            number = f"  {i}. "
            _item(out, clean(step, 400), width, number, " " * len(number))
    if go_hint:
        out.append("\n")
        out.append(go_hint, style=p.muted)
    return out


@dataclass(frozen=True, slots=True)
class NodeMark:
    """A node's findings in short: how many and the worst severity."""

    count: int
    worst: Severity


def node_marks(findings: Iterable[Finding]) -> dict[str, NodeMark]:
    """Per node id, its findings' count and worst severity (findings without a node, such as
    a group's scaling advice, mark no row)."""
    out: dict[str, NodeMark] = {}
    for f in findings:
        node = f.subject.node
        if node is None:
            continue
        old = out.get(node)
        if old is None:
            out[node] = NodeMark(1, f.severity)
        else:
            worst = f.severity if f.severity.rank > old.worst.rank else old.worst
            out[node] = NodeMark(old.count + 1, worst)
    return out


def mark_text(mark: NodeMark | None, p: Palette) -> Text:
    """'◆2' in the worst severity's colour, or nothing."""
    if mark is None:
        return Text("")
    return Text(f"{MARK}{mark.count}", style=severity_style(mark.worst, p))


def findings_line(findings: list[Finding], p: Palette, key: str = "d") -> Text:
    """The node screen's one line: how many findings, the worst one's verdict, the key."""
    out = Text(no_wrap=True, overflow="ellipsis")
    if not findings:
        return out
    worst = findings[0]
    out.append(f"{MARK} {len(findings)} finding{'s' if len(findings) != 1 else ''} ",
               style=severity_style(worst.severity, p))
    out.append(f"({key}) ", style=p.muted)
    out.append(clean(worst.name, 48), style="bold")
    verdict = clean(worst.verdict, 300)
    where = subject_text(worst).removeprefix(clean(worst.subject.node or "", 120)).strip()
    if worst.subject.kind not in ("node", "fleet") and where not in verdict:
        out.append(" " + where, style=p.accent)  # the verdict does not say which GPU/pid
    out.append(": ")
    out.append(verdict)
    return out


class FindingsLine(Static):
    """One line on the node screen naming the node's worst finding; hidden when there is none."""

    DEFAULT_CSS = """
    FindingsLine { height: 1; padding: 0 1; background: $surface; display: none; }
    FindingsLine.-shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._text = Text()

    def show(self, findings: list[Finding], p: Palette) -> None:
        text = findings_line(findings, p)
        self.set_class(bool(findings), "-shown")
        if not same(text, self._text):
            self._text = text
            self.update(text)
