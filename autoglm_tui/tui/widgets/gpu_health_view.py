"""GPU health in the UI's words: a badge with its short reason, a node's worst GPU, and the
GPU screen's health section.

Pure drawing over ``analysis/gpu_health.py``: the state and reasons come from there
(``NodeState.gpu_health()``, ``worst_gpu_health()``); this module only picks the words that fit
a table cell ("RESET remap pending", "SLOW HW slowdown", "SLOW PCIe x8 of x16", "LOST Xid 79")
and colours them. Every string that came from a node is cleaned; everything is plain ``Text``.
"""

from __future__ import annotations

from rich.text import Text

from autoglm_tui import format as fmt
from autoglm_tui.analysis.gpu_health import GpuHealth, Health, XidNote, gpu_health
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.model import GpuSample
from autoglm_tui.text import clean
from autoglm_tui.tui.render import Palette, cell

BADGE_WIDTH = 5  # "RESET"
XID_LINES = 3  # recent Xids listed on the GPU screen


def health_style(state: Health | None, p: Palette) -> str:
    """OK is quiet, a degraded GPU a warning, a reset or a lost GPU an error."""
    if state is None or state is Health.OK:
        return p.muted
    if state is Health.DEGRADED:
        return f"bold {p.warning}"
    return f"bold {p.error}"


def short_reason(h: GpuHealth, g: GpuSample | None = None) -> str:
    """The most serious reason in a few words (a table cell): 'Xid 79', 'remap pending',
    'HW slowdown', 'PCIe x8 of x16'; '' when the GPU is fine."""
    if not h.reasons:
        return ""
    first = clean(h.reasons[0], 120)
    if first.startswith("Xid "):
        return first.split(":", 1)[0]  # "Xid 79"
    if first.startswith("PCIe link downtrained"):
        if g is not None and g.pcie_width is not None and g.pcie_width_max is not None:
            return f"PCIe x{g.pcie_width} of x{g.pcie_width_max}"
        return "PCIe downtrained"
    for long, short in (("a row remap failed", "remap failed"),
                        ("row remap pending", "remap pending"),
                        ("page retirement pending", "retire pending")):
        if first.startswith(long):
            return short
    return first.split(":", 1)[0][:24]


def badge(h: GpuHealth | None, g: GpuSample | None, p: Palette, *, reason: bool = True,
          width: int | None = None) -> Text:
    """'OK', or the badge and its short reason ('RESET remap pending'), coloured by state."""
    out = Text(no_wrap=True, overflow="ellipsis")
    if h is None:
        out.append("-", style=p.muted)
        return out
    out.append(h.badge.ljust(BADGE_WIDTH) if reason and h.reasons else h.badge,
               style=health_style(h.state, p))
    if reason and h.reasons:
        words = short_reason(h, g)
        if width is not None:
            words = words[: max(0, width - BADGE_WIDTH - 1)]
        out.append(" " + words, style=health_style(h.state, p).replace("bold ", ""))
    return out


def node_worst(node: NodeState) -> tuple[GpuHealth, GpuSample] | None:
    """The node's GPU in the worst health (the first such), with its sample; None: no GPUs."""
    sample = node.last_sample
    if sample is None or not sample.gpus:
        return None
    worst: tuple[GpuHealth, GpuSample] | None = None
    for g in sample.gpus:
        h = gpu_health(g)
        if worst is None or h.state.rank > worst[0].state.rank:
            worst = (h, g)
    return worst


def worst_cell(node: NodeState, p: Palette, grey: bool) -> Text:
    """The cluster row's health cell: the worst GPU's badge ('-' without GPUs)."""
    found = node_worst(node)
    if found is None:
        return cell("-", p.muted)
    h, _ = found
    return cell(h.badge, p.muted if grey else health_style(h.state, p))


def worst_detail(node: NodeState, p: Palette) -> Text | None:
    """For the detail line: 'GPU 3 RESET: row remap pending: reset the GPU (+1 more)'."""
    sample = node.last_sample
    if sample is None:
        return None
    bad = [(h, g) for g in sample.gpus if (h := gpu_health(g)).state is not Health.OK]
    if not bad:
        return None
    bad.sort(key=lambda hg: -hg[0].state.rank)
    h, _ = bad[0]
    out = Text(f"GPU {h.index} {h.badge}", style=health_style(h.state, p))
    out.append(": " + clean("; ".join(h.reasons), 200), style=health_style(h.state, p)
               .replace("bold ", ""))
    if len(bad) > 1:
        out.append(f" (+{len(bad) - 1} more GPU{'s' if len(bad) > 2 else ''})", style=p.muted)
    return out


def health_lines(h: GpuHealth, g: GpuSample, p: Palette, compact: bool = False,
                 over: tuple[str, int, list[tuple[str, float]]] | None = None) -> list[Text]:
    """The GPU screen's health section: state and reasons, clock-event reasons and throttled
    time (now, and `over` a stretch of history: its name, points read and each reason's share),
    recent Xids with their times, memory (remaps, retired pages), PCIe, NVLink.
    `compact` (a short terminal): the state line alone (its reasons name the newest Xid)."""
    if compact:
        return health_lines(h, g, p)[:1]
    lines: list[Text] = []
    style = health_style(h.state, p)
    head = Text(no_wrap=True, overflow="ellipsis")
    head.append("Health ", style=p.muted)
    head.append(h.badge, style=style if h.state is not Health.OK else f"bold {p.success}")
    if h.state is not Health.OK:
        head.append(f" ({h.state.value})", style=p.muted)
    if h.reasons:
        head.append("  " + clean("; ".join(h.reasons), 400), style=style.replace("bold ", ""))
    lines.append(head)

    clocks = Text(no_wrap=True, overflow="ellipsis")
    clocks.append("Clocks ", style=p.muted)
    if g.clock_reasons is None:
        clocks.append(fmt.NA + " (reasons not reported)", style=p.muted)
    else:
        clocks.append(", ".join(h.clock_reasons) or "no limit active",
                      style=p.warning if g.hw_slowdown else "")
    if h.throttle_power_pct is not None or h.throttle_thermal_pct is not None:
        clocks.append("  ·  held back ", style=p.muted)
        clocks.append(f"power {fmt.pct(h.throttle_power_pct)}, "
                      f"thermal {fmt.pct(h.throttle_thermal_pct)} of the interval")
    lines.append(clocks)
    if over is not None and over[1]:
        window, n, shares = over
        past = Text(no_wrap=True, overflow="ellipsis")
        past.append(f"Limits, {window} ", style=p.muted)
        if not shares:
            past.append(f"none in {n} samples")
        else:
            for i, (name, share) in enumerate(shares):
                if i:
                    past.append(" · ", style=p.muted)
                past.append(f"{name} {fmt.pct(100.0 * share)}",
                            style=p.warning if share >= 0.05 else "")
            past.append(f" of {n} samples", style=p.muted)
        lines.append(past)

    xid = Text(no_wrap=True, overflow="ellipsis")
    xid.append("Xids ", style=p.muted)
    if h.xid_total is None and not h.xids:
        xid.append(fmt.NA + " (Xid events not watched here)", style=p.muted)
    elif not h.xids:
        xid.append(f"none in the last 10 minutes ({h.xid_total or 0} since the sampler "
                   f"started)")
    else:
        xid.append(f"{len(h.xids)} in the last 10 minutes", style=style)
        if h.xid_total is not None:
            xid.append(f", {h.xid_total} since the sampler started", style=p.muted)
    lines.append(xid)
    lines.extend(_xid_line(note, p) for note in h.xids[:XID_LINES])
    if len(h.xids) > XID_LINES:
        lines.append(Text(f"  … {len(h.xids) - XID_LINES} older", style=p.muted))

    mem = Text(no_wrap=True, overflow="ellipsis")
    mem.append("Memory ", style=p.muted)
    mem.append(clean(h.memory, 200) if h.memory else fmt.NA + " (remaps not reported)",
               style=(f"bold {p.error}" if (g.remap_pending or g.remap_failed
                                             or g.retired_pending) else
                      "" if h.memory else p.muted))
    lines.append(mem)

    link = Text(no_wrap=True, overflow="ellipsis")
    link.append("PCIe ", style=p.muted)
    link.append(clean(h.pcie, 80) if h.pcie else fmt.NA,
                style=f"bold {p.warning}" if h.pcie_degraded else "" if h.pcie else p.muted)
    if h.pcie_degraded:
        link.append(" downtrained", style=p.warning)
    if g.pcie_replay is not None:
        link.append("  ·  replays ", style=p.muted)
        link.append(str(g.pcie_replay), style=p.warning if g.pcie_replay else "")
    link.append("  ·  NVLink ", style=p.muted)
    link.append(clean(h.nvlink, 120) if h.nvlink else "none",
                style="" if h.nvlink else p.muted)
    lines.append(link)
    return lines


def _xid_line(note: XidNote, p: Palette) -> Text:
    """'  12:03:04  Xid 79 fallen off the bus: what it usually means'."""
    one = Text(no_wrap=True, overflow="ellipsis")
    sev = f"bold {p.error}" if note.severity == "critical" else (
        p.warning if note.severity == "warn" else p.muted)
    one.append(f"  {fmt.clock_time(note.t)}  ", style=p.muted)
    one.append(f"Xid {note.xid}", style=sev)
    one.append(f" {clean(note.name, 60)}", style="bold")
    one.append(f": {clean(note.meaning, 200)}", style=p.muted)
    return one
