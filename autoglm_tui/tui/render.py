"""Drawing helpers shared by the widgets: theme palette, meters, sparklines, safe text.

Everything returns ``rich.text.Text`` built from plain strings (never markup), so untrusted
strings that pass through :func:`safe` are shown literally.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text

from autoglm_tui import format as fmt
from autoglm_tui.text import clean

SPARK = "▁▂▃▄▅▆▇█"
EIGHTHS = " ▁▂▃▄▅▆▇█"


def cell(text: str, style: str = "", right: bool = False) -> Text:
    """One table cell: a single line, cut with an ellipsis, justified left or right."""
    return Text(text, style=style, no_wrap=True, overflow="ellipsis",
                justify="right" if right else "left")


@dataclass(frozen=True, slots=True)
class Palette:
    """Concrete colours for Rich styles, read from the current theme's CSS variables."""

    low: str = "green"
    mid: str = "yellow"
    high: str = "red"
    empty: str = "grey30"
    muted: str = "grey58"
    label: str = "cyan"
    spark: str = "cyan"
    accent: str = "bright_yellow"
    error: str = "red"
    warning: str = "yellow"
    success: str = "green"
    foreground: str = "default"

    @classmethod
    def from_variables(cls, v: Mapping[str, str]) -> Palette:
        def pick(*names: str, default: str) -> str:
            for n in names:
                value = v.get(n)
                if value and value.startswith("#"):
                    return value
            return default

        return cls(
            low=pick("bar-low", "success", default=cls.low),
            mid=pick("bar-mid", "warning", default=cls.mid),
            high=pick("bar-high", "error", default=cls.high),
            empty=pick("bar-empty", "panel-lighten-1", "panel", default=cls.empty),
            muted=pick("muted", "foreground-darken-3", default=cls.muted),
            label=pick("label", "primary", default=cls.label),
            spark=pick("spark", "secondary", "primary", default=cls.spark),
            accent=pick("accent", default=cls.accent),
            error=pick("error", default=cls.error),
            warning=pick("warning", default=cls.warning),
            success=pick("success", default=cls.success),
            foreground=pick("foreground", default=cls.foreground),
        )

    def level(self, pct: float | None, mid: float = 60.0, high: float = 85.0) -> str:
        """The colour for a percentage: low, mid or high load."""
        if pct is None:
            return self.muted
        return self.high if pct >= high else self.mid if pct >= mid else self.low


def safe(value: object, max_len: int = 4096, style: str = "") -> Text:
    """Untrusted text, sanitised and wrapped as plain Text (never parsed as markup)."""
    return Text(clean(value, max_len), style=style, no_wrap=True, overflow="ellipsis")


def fit(text: str, width: int) -> str:
    """Cut or pad `text` to exactly `width` cells (with an ellipsis when cut)."""
    if width <= 0:
        return ""
    if len(text) > width:
        return text[: max(0, width - 1)] + "…"
    return text.ljust(width)


def bar(pct: float | None, width: int, palette: Palette, color: str | None = None) -> Text:
    """A meter of `width` cells: coloured eighth blocks on a dim track."""
    out = Text(no_wrap=True)
    if width <= 0:
        return out
    if pct is None:
        out.append("·" * width, style=palette.empty)
        return out
    filled = fmt.bar(pct / 100.0, width).rstrip()
    out.append(filled, style=color or palette.level(pct))
    out.append("░" * (width - len(filled)), style=palette.empty)
    return out


def spark(values: Sequence[float | None], width: int, hi: float | None = None) -> str:
    """Newest-right sparkline of the last `width` values; gaps are blanks; scaled to `hi`."""
    if width <= 0:
        return ""
    vals = list(values)[-width:]
    known = [v for v in vals if v is not None and math.isfinite(v)]
    top = hi if hi is not None else (max(known) if known else 0.0)
    chars = []
    for v in vals:
        if v is None or not math.isfinite(v):
            chars.append(" ")
        elif top <= 0:
            chars.append(SPARK[0])
        else:
            idx = int(min(1.0, max(0.0, v / top)) * (len(SPARK) - 1) + 0.5)
            chars.append(SPARK[idx])
    return "".join(chars).rjust(width)


def chart_rows(
    values: Sequence[float | None], width: int, height: int, hi: float | None = None
) -> list[str]:
    """A column chart `height` rows tall (top row first), newest value at the right edge."""
    if width <= 0 or height <= 0:
        return []
    vals = list(values)[-width:]
    vals = [None] * (width - len(vals)) + vals
    known = [v for v in vals if v is not None and math.isfinite(v)]
    top = hi if hi is not None else (max(known) if known else 0.0)
    rows = [[" "] * width for _ in range(height)]
    for x, v in enumerate(vals):
        if v is None or not math.isfinite(v) or top <= 0:
            continue
        eighths = round(min(1.0, max(0.0, v / top)) * height * 8)
        if v > 0 and eighths == 0:
            eighths = 1  # a non-zero value stays visible
        for level in range(height):
            part = min(8, max(0, eighths - level * 8))
            rows[height - 1 - level][x] = EIGHTHS[part]
    return ["".join(r) for r in rows]


def kv(label: str, value: str, palette: Palette, value_style: str = "") -> Text:
    """'label value' with the label dimmed."""
    out = Text(no_wrap=True)
    out.append(label, style=palette.muted)
    out.append(value, style=value_style)
    return out


def join(parts: Sequence[Text], sep: str = "  ") -> Text:
    out = Text(no_wrap=True)
    for i, part in enumerate(parts):
        if i:
            out.append(sep)
        out.append_text(part)
    return out


def lines(rows: Sequence[Text]) -> Text:
    """Stack single-line Texts into one multi-line Text."""
    out = Text(no_wrap=True, overflow="ellipsis")
    for i, row in enumerate(rows):
        if i:
            out.append("\n")
        out.append_text(row)
    return out


def plot_runs(
    points: Iterable[tuple[float, float | None]], now: float, scale: float = 1.0
) -> list[tuple[list[float], list[float]]]:
    """Split a series at its gaps for a plot: runs of (seconds before `now`, value / scale)."""
    out: list[tuple[list[float], list[float]]] = []
    xs: list[float] = []
    ys: list[float] = []
    for t, v in points:
        if v is None or not math.isfinite(v):
            if xs:
                out.append((xs, ys))
                xs, ys = [], []
            continue
        xs.append(t - now)
        ys.append(v / scale)
    if xs:
        out.append((xs, ys))
    return out
