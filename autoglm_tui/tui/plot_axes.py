"""Axes for the plotext charts (GPU screen, IO correlation): round value ticks that never go
below what a value can be (a rate is never negative), labels with a unit suffix instead of
"20249.8", and a time axis read as minutes ago ("5m … now"). Pure arithmetic, then one call to
apply it to a plotext figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

NICE = (1.0, 2.0, 2.5, 5.0, 10.0)
TIME_STEPS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
SUFFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def nice_step(span: float, count: int) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that cuts `span` into at most `count` steps."""
    if not math.isfinite(span) or span <= 0 or count < 1:
        return 1.0
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    for m in NICE:
        if m * power >= raw * (1 - 1e-9):
            return m * power
    return 10.0 * power  # pragma: no cover - NICE ends at 10


def tick_label(value: float, step: float, top: float) -> str:
    """`value` with a suffix chosen by the axis' largest tick `top` (2.5k, 20G) and as many
    decimals as the step needs (no "20249.8", no "65.849")."""
    unit, suffix = next(((u, s) for u, s in SUFFIXES if abs(top) >= u), (1.0, ""))
    scaled_step = step / unit
    digits = 0
    while digits < 3 and abs(round(scaled_step, digits) - scaled_step) > 1e-9 * scaled_step:
        digits += 1
    text = f"{value / unit:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text + (suffix if value else "")


@dataclass(frozen=True, slots=True)
class Axis:
    lo: float
    hi: float
    ticks: tuple[float, ...]
    labels: tuple[str, ...]


def value_axis(
    values: Iterable[float | None],
    rows: int,
    *,
    floor: float | None = 0.0,
    fixed: tuple[float, float] | None = None,
) -> Axis:
    """A value axis for a chart `rows` rows high: round ticks about two rows apart. `fixed`
    gives the range (0 to 100 %, 0 to the memory size); else the data's range widened to whole
    steps, never below `floor` (None: no floor)."""
    count = max(1, min(5, rows // 2))
    if fixed is not None and fixed[1] > fixed[0]:
        lo, hi = fixed
        step = nice_step(hi - lo, count)
        first = math.ceil(lo / step - 1e-9)
        ticks = [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]
        if hi - ticks[-1] >= 0.4 * step:  # the top of the range is worth a label (80 GiB)
            ticks.append(hi)
    else:
        known = [v for v in values if v is not None and math.isfinite(v)]
        lo = min(known) if known else 0.0
        hi = max(known) if known else 1.0
        if floor is not None:
            lo, hi = max(floor, lo), max(floor, hi)
        if hi <= lo:  # a flat line: a range around it (from the floor when it is there)
            hi = lo + (abs(lo) if lo else 1.0)
            if floor is not None and lo > floor:
                lo = floor
        step = nice_step(hi - lo, count)
        lo = math.floor(lo / step + 1e-9) * step
        if floor is not None:
            lo = max(floor, lo)
        hi = math.ceil(hi / step - 1e-9) * step
        ticks = [lo + k * step for k in range(round((hi - lo) / step) + 1)]
    top = max((abs(t) for t in ticks), default=0.0)
    return Axis(lo, hi, tuple(ticks), tuple(tick_label(t, step, top) for t in ticks))


def ago_label(seconds: float) -> str:
    s = round(seconds)
    if s == 0:
        return "now"
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    return f"{m}m" if s == 0 else f"{m}m{s:02d}"


def time_axis(window_s: float, width: int) -> tuple[list[float], list[str]]:
    """Ticks of a time axis from `window_s` seconds ago (x = -window_s) to now (x = 0), as
    many as fit `width` columns with room for their labels."""
    count = max(1, min(6, width // 7))
    step = next((s for s in TIME_STEPS if window_s / s <= count), TIME_STEPS[-1])
    xs = [-k * step for k in range(int(window_s // step) + 1)][::-1]
    return [float(x) for x in xs], [ago_label(-x) for x in xs]


def apply_time_axis(plt: Any, window_s: float, width: int) -> None:
    """The x axis from `window_s` ago to now, labelled in minutes ago."""
    xs, labels = time_axis(window_s, width)
    plt.xlim(-window_s, 0)
    plt.xticks(xs, labels)


def apply_value_axis(plt: Any, axis: Axis, yside: str | None = None) -> None:
    plt.ylim(axis.lo, axis.hi, yside=yside)
    plt.yticks(list(axis.ticks), list(axis.labels), yside=yside)
