"""Host pane: total CPU and iowait, a per-core grid (like btop), memory, swap and load."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text

from autoglm_tui import format as fmt
from autoglm_tui.tui.render import EIGHTHS, Palette, bar
from autoglm_tui.tui.widgets.pane import NodePane

LABEL_W = 5
GAP = 2


def meter_line(
    label: str, pct: float | None, tail: str, bar_w: int, p: Palette, tail_style: str = ""
) -> Text:
    """'CPU  ██████░░░░  23%  iowait 1%' with a bar of `bar_w` cells."""
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(label.ljust(LABEL_W), style=f"bold {p.label}")
    out.append_text(bar(pct, bar_w, p))
    out.append(fmt.pct(pct).rjust(5))
    if tail:
        out.append("  " + tail, style=tail_style or p.muted)
    return out


def core_grid(
    per_core: Sequence[float], width: int, max_rows: int, p: Palette, indent: int = LABEL_W
) -> list[Text]:
    """Per-core meters in columns; a one-cell-per-core heat strip (indented by `indent`) when
    they would not fit in `max_rows` rows."""
    n = len(per_core)
    if n == 0 or width <= 0:
        return []
    idx_w = len(str(n - 1))
    fixed = idx_w + 1 + 1 + 4  # "12 " + bar + " " + " 45%"
    cols = max(1, (width + GAP) // (fixed + 3 + GAP))
    rows = math.ceil(n / cols)
    if rows <= max_rows:
        used_cols = min(cols, n)
        bar_w = max(3, min(20, (width + GAP) // used_cols - GAP - fixed))
        out: list[Text] = []
        for r in range(rows):
            line = Text(no_wrap=True)
            for c in range(used_cols):
                i = c * rows + r  # column-major, like btop: core numbers run down
                if i >= n:
                    continue
                if c:
                    line.append(" " * GAP)
                line.append(f"{i:>{idx_w}} ", style=p.muted)
                line.append_text(bar(per_core[i], bar_w, p))
                line.append(f"{per_core[i]:>4.0f}%")
            out.append(line)
        return out
    # Heat strip: one cell per core, its height and colour showing the load, under the bars.
    out = []
    indent = indent if width > indent else 0
    strip_w = max(1, width - indent)
    for start in range(0, n, strip_w):
        line = Text(" " * indent, no_wrap=True)
        for v in per_core[start : start + strip_w]:
            level = round(min(100.0, max(0.0, v)) / 100 * 8)
            line.append(EIGHTHS[max(1, level)], style=p.level(v))
        out.append(line)
    return out


class HostPane(NodePane):
    """CPU, memory, swap and load of one node."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Host", id=id)

    def build(self, width: int) -> list[Text]:
        p = self.palette
        node = self.node
        sample = node.last_sample if node else None
        if sample is None:
            return [Text("waiting for the first sample…", style=p.muted)]
        cpu, mem = sample.cpu, sample.mem
        cpu_tail = f"iowait {fmt.pct(cpu.iowait_pct, digits=1)}"
        mem_tail = f"{fmt.bytes_(mem.used_bytes)}/{fmt.bytes_(mem.total_bytes)}"
        if mem.swap_total_bytes:
            swap_tail = f"{fmt.bytes_(mem.swap_used_bytes)}/{fmt.bytes_(mem.swap_total_bytes)}"
        else:
            swap_tail = "no swap"
        digits = 1 if self.compact else 2
        load = "load " + (" ".join(f"{x:.{digits}f}" for x in cpu.load) if cpu.load else fmt.NA)
        tails = [cpu_tail, mem_tail, swap_tail]
        tail_w = max(len(t) for t in tails) + 2
        bar_w = max(4, width - LABEL_W - 5 - tail_w)
        out = [meter_line("CPU", cpu.util_pct, cpu_tail, bar_w, p)]
        if self.compact:  # short terminals: the core strip shares its row with the load
            grid = core_grid(cpu.per_core_pct, width, 2, p, indent=0)
        else:
            grid = core_grid(cpu.per_core_pct, width, 4, p)
        load_line = Text(load, style=p.muted, no_wrap=True, overflow="ellipsis")
        static = node.hello.static if node and node.hello else None
        if static and static.cpu_cores_logical and not self.compact:
            load_line.append(f"  ·  {static.cpu_cores_logical} cores", style=p.muted)
        out += grid
        out.append(meter_line("Mem", mem.used_pct, mem_tail, bar_w, p))
        out.append(meter_line("Swap", mem.swap_used_pct, swap_tail, bar_w, p))
        if self.compact and grid and grid[-1].cell_len + 2 + load_line.cell_len <= width:
            grid[-1].append("  ")
            grid[-1].append_text(load_line)
        else:
            out.append(load_line)
        return out
