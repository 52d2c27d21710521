"""IO pane: disk read/write and network rx/tx rates with sparklines, IOPS, await, link use."""

from __future__ import annotations

from rich.text import Text

from autoglm_tui import format as fmt
from autoglm_tui.analysis.history import History
from autoglm_tui.tui.render import Palette, spark
from autoglm_tui.tui.widgets.pane import NodePane

FLOOR_BPS = 64 * 1024  # sparklines of an idle link stay flat instead of magnifying noise


def count(value: float | None) -> str:
    """1234.5 -> '1.2K'."""
    if value is None:
        return fmt.NA
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def link(mbps: int | None) -> str:
    if not mbps:
        return "link speed unknown"
    return f"{mbps / 1000:g} Gb/s" if mbps >= 1000 else f"{mbps} Mb/s"


def _rate_row(
    label: str, name: str, value: float | None, series: list[float | None], hi: float,
    width: int, p: Palette,
) -> Text:
    out = Text(no_wrap=True)
    out.append(label, style=f"bold {p.label}" if label.strip() else "")
    out.append(name, style=p.muted)
    out.append(fmt.rate(value).rjust(9))
    spark_w = width - len(label) - len(name) - 10
    if spark_w > 0:
        out.append(" " + spark(series, spark_w, hi), style=p.spark)
    return out


class IoPane(NodePane):
    """Disk and network figures of one node, with their recent history."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("IO", id=id)

    def build(self, width: int) -> list[Text]:
        p = self.palette
        node = self.node
        if node is None or node.last_sample is None:
            return [Text("waiting for the first sample…", style=p.muted)]
        h = node.history
        m = node.metric
        link_mbps = node.last_sample.net.link_speed_mbps
        iops = Text(no_wrap=True)
        iops.append("     IOPS ", style=p.muted)
        iops.append(count(m("disk.iops")))
        iops.append("  await ", style=p.muted)
        iops.append(fmt.num(m("disk.await_ms"), "ms", digits=1))
        util = Text(no_wrap=True)
        util.append("     util ", style=p.muted)
        net_util = m("net.util_pct")
        util.append(fmt.pct(net_util, digits=1), style=p.level(net_util, 60, 85))
        util.append(f"  of {link(link_mbps)}" if link_mbps else "  link speed unknown",
                    style=p.muted)
        if self.compact:
            half = (width - 5) // 2
            return [
                self._pair("Disk ", ("R ", "W "), ("disk.read_bps", "disk.write_bps"), h, half),
                iops,
                self._pair("Net  ", ("rx ", "tx "), ("net.rx_bps", "net.tx_bps"), h, half),
                util,
            ]
        n = max(1, width)
        d_hi = _scale_top(h, ("disk.read_bps", "disk.write_bps"), n)
        n_hi = _scale_top(h, ("net.rx_bps", "net.tx_bps"), n)
        return [
            _rate_row("Disk ", "read ", m("disk.read_bps"), h.tail(("disk.read_bps", None), n),
                      d_hi, width, p),
            _rate_row("     ", "write", m("disk.write_bps"),
                      h.tail(("disk.write_bps", None), n), d_hi, width, p),
            iops,
            _rate_row("Net  ", "rx   ", m("net.rx_bps"), h.tail(("net.rx_bps", None), n),
                      n_hi, width, p),
            _rate_row("     ", "tx   ", m("net.tx_bps"), h.tail(("net.tx_bps", None), n),
                      n_hi, width, p),
            util,
        ]

    def _pair(
        self, label: str, names: tuple[str, str], keys: tuple[str, str], h: History,
        half: int,
    ) -> Text:
        """Two rates with small sparklines on one line (the compact layout)."""
        p = self.palette
        hi = _scale_top(h, keys, half)
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(label, style=f"bold {p.label}")
        for i, (name, key) in enumerate(zip(names, keys, strict=True)):
            if i:
                out.append(" ")
            value = self.node.metric(key) if self.node else None
            out.append(name, style=p.muted)
            out.append(fmt.rate(value).rjust(8))
            spark_w = half - len(name) - 9
            if spark_w > 0:
                out.append(" " + spark(h.tail((key, None), spark_w), spark_w, hi), style=p.spark)
        return out


def _scale_top(h: History, keys: tuple[str, ...], n: int) -> float:
    """The shared scale of a group of sparklines: the largest recent value, at least FLOOR."""
    top = FLOOR_BPS
    for key in keys:
        for v in h.tail((key, None), n):
            if v is not None and v > top:
                top = v
    return top
