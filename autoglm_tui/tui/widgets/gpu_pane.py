"""GPU pane: one line per GPU (health badge, util and memory meters, temperature, power, fan,
clock, PCIe; a GPU that is not healthy says why in a few words)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text

from autoglm_tui import format as fmt
from autoglm_tui.analysis.gpu_health import gpu_health
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.model import GpuInfo, GpuSample
from autoglm_tui.text import clean
from autoglm_tui.tui.render import Palette, bar, fit
from autoglm_tui.tui.widgets.gpu_health_view import BADGE_WIDTH, health_style, short_reason
from autoglm_tui.tui.widgets.pane import NodePane

MIN_BAR = 5
MAX_BAR = 30


@dataclass(frozen=True, slots=True)
class LineField:
    """An optional fixed-width part of a GPU line; dropped in `drop` order when narrow."""

    name: str
    width: int
    drop: int  # lower is dropped first
    draw: Callable[[GpuSample, Palette], Text]


def short_name(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'H100 80GB HBM3'."""
    name = clean(name, 64)
    for prefix in ("NVIDIA ", "Tesla ", "GeForce "):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


def _temp(g: GpuSample, p: Palette) -> Text:
    t = g.temp_c
    style = p.muted if t is None else p.level(t, 75, 85)
    return Text(fmt.num(t, "°C").rjust(6), style=style)


def _power(g: GpuSample, p: Palette) -> Text:
    if g.power_w is None and g.power_limit_w is None:
        value = fmt.NA
    elif g.power_limit_w is None:
        value = fmt.num(g.power_w, "W")
    else:
        value = f"{fmt.num(g.power_w)}/{fmt.num(g.power_limit_w)}W"
    pct = None
    if g.power_w is not None and g.power_limit_w:
        pct = 100.0 * g.power_w / g.power_limit_w
    return Text(value.rjust(10), style=p.muted if pct is None else p.level(pct, 70, 95))


def _fan(g: GpuSample, p: Palette) -> Text:
    out = Text(" fan ", style=p.muted)
    out.append(fmt.pct(g.fan_pct).rjust(4), style=p.muted if g.fan_pct is None else "")
    return out


def _clock(g: GpuSample, p: Palette) -> Text:
    return Text(fmt.num(g.sm_clock_mhz, "MHz").rjust(8), style="" if g.sm_clock_mhz else p.muted)


def _pcie(g: GpuSample, p: Palette) -> Text:
    out = Text(" rx ", style=p.muted)
    out.append(fmt.rate(g.pcie_rx_bps).rjust(8))
    out.append(" tx ", style=p.muted)
    out.append(fmt.rate(g.pcie_tx_bps).rjust(8))
    return out


FIELDS = (
    LineField("temp", 6, 5, _temp),
    LineField("power", 10, 4, _power),
    LineField("fan", 9, 2, _fan),
    LineField("clock", 8, 3, _clock),
    LineField("pcie", 24, 0, _pcie),
)
NAME_WIDTH = 15
NAME_DROP = 1


REASON_MAX = 18  # the short health reason at the end of a GPU line


def gpu_line(g: GpuSample, info: GpuInfo | None, width: int, p: Palette) -> Text:
    """One GPU as one line of `width` cells: its health badge first (OK, SLOW, RESET, LOST),
    the short reason last when it is not OK; a lost GPU shows LOST and its reason."""
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(f"{g.index:>2} ", style=f"bold {p.label}")
    health = gpu_health(g)
    name = short_name(info.name) if info else ""
    if g.state != "ok":
        if name:
            out.append(fit(name, NAME_WIDTH) + " ")
        word = "LOST" if g.state == "lost" else clean(g.state, 12).upper() or "ERROR"
        out.append(f" {word} ", style=f"bold reverse {p.error}")
        out.append(" " + clean(g.error or "no reason given", 300), style=p.error)
        return out

    out.append(health.badge.ljust(BADGE_WIDTH) + " ", style=health_style(health.state, p))
    reason = short_reason(health, g)[:REASON_MAX]
    util_fixed = len("util ") + len(" 100%")
    mem_fixed = len(" mem ") + len(" 99.9G/99.9G")
    base = 3 + BADGE_WIDTH + 1 + util_fixed + mem_fixed + 2 * MIN_BAR
    if reason:
        base += len(reason) + 1  # kept before the optional fields: it says what is wrong
    keep = list(FIELDS)
    show_name = bool(name)

    def used() -> int:
        return base + sum(f.width for f in keep) + ((NAME_WIDTH + 1) if show_name else 0)

    for drop in sorted({f.drop for f in FIELDS} | {NAME_DROP}):
        if used() <= width:
            break
        if drop == NAME_DROP:
            show_name = False
        keep = [f for f in keep if f.drop != drop]
    spare = max(0, width - used())
    bw = min(MAX_BAR, MIN_BAR + spare // 2)

    if show_name:
        out.append(fit(name, NAME_WIDTH) + " ", style=p.muted)
    out.append("util ", style=p.muted)
    out.append_text(bar(g.util_pct, bw, p))
    out.append(fmt.pct(g.util_pct).rjust(5))
    out.append(" mem ", style=p.muted)
    mem_pct = g.mem_used_pct
    out.append_text(bar(mem_pct, bw, p, p.level(mem_pct, 70, 90) if mem_pct is not None else None))
    used_s = fmt.bytes_(g.mem_used_bytes)
    total = g.mem_total_bytes or (info.mem_total_bytes if info else None)
    total_s = fmt.bytes_(total)
    out.append(f" {used_s}/{total_s}".rjust(12))
    for f in FIELDS:
        if f in keep:
            out.append_text(f.draw(g, p))
    if reason:
        out.append(" " + reason, style=health_style(health.state, p))
    return out


class GpuPane(NodePane):
    """Every GPU of one node; says why there are none when NVML is unavailable."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("GPUs", id=id)
        self._subtitle: tuple[bool | None, str] = (False, "")

    def show(self, node: NodeState | None, now: float, compact: bool | None = None) -> None:
        driver = node.hello.static.nvml.driver_version if node and node.hello else None
        subtitle = f"driver {clean(driver, 32)}" if driver else ""
        if (compact, subtitle) != self._subtitle:
            self._subtitle = (compact, subtitle)
            if compact and subtitle:  # no bottom border: the driver follows the title
                title = Text("GPUs  ")
                title.append(subtitle, style="not bold")
                self.border_title, self.border_subtitle = title, ""
            else:
                self.border_title, self.border_subtitle = "GPUs", Text(subtitle)
        super().show(node, now, compact)

    def build(self, width: int) -> list[Text]:
        p = self.palette
        node = self.node
        if node is None or node.hello is None:
            return [Text("waiting for the sampler…", style=p.muted)]
        static = node.hello.static
        if not static.nvml.available:
            reason = clean(static.nvml.reason or "NVML unavailable", 300)
            out = Text("No GPU: ", style=f"bold {p.muted}")
            out.append(reason, style=p.muted)
            return [out]
        gpus = node.last_sample.gpus if node.last_sample else ()
        if not gpus:
            msg = "no sample yet" if static.gpus else "NVML found no GPUs"
            return [Text(msg, style=p.muted)]
        infos = {g.index: g for g in static.gpus}
        return [gpu_line(g, infos.get(g.index), width, p) for g in gpus]
