"""The cells of an inference service: the node screen's Services pane, the fleet's `:services`
table and the Service screen all draw a service with these.

Pure drawing: a ``ServiceView`` (analysis/services.py) and its marks (analysis/service_marks.py)
in, Rich ``Text`` out. Every string from the service (name, kind, model, URL, error) is
untrusted: it is cleaned and appended as plain text, never markup.

Columns have a priority: on a narrow pane the lowest-priority ones go first (:func:`fit`),
so a row never wraps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

from autoglm_tui.analysis.quantiles import Quantile
from autoglm_tui.analysis.service_marks import BAD, OK, WARN, ServiceMarks
from autoglm_tui.analysis.services import Latency, ServiceView
from autoglm_tui.text import clean
from autoglm_tui.tui.render import Palette, cell, spark

DASH = "-"


@dataclass(frozen=True, slots=True)
class SvcColumn:
    """A column of a service row: its width, and the order it goes in when space runs out
    (lower `drop` goes first; 0 never goes)."""

    key: str
    title: str
    width: int
    right: bool = True
    drop: int = 0
    help: str = ""


# The node screen's pane: name first (it takes what the others leave), then the figures.
PANE_COLUMNS: tuple[SvcColumn, ...] = (
    SvcColumn("name", "Service", 22, right=False),
    SvcColumn("p95", "P95", 6, help="end-to-end latency, 95th percentile over 60 s"),
    SvcColumn("ttft", "TTFT", 6, drop=5, help="time to first token, P95"),
    SvcColumn("itl", "ITL", 6, drop=2, help="inter-token latency, P95"),
    SvcColumn("tok", "tok/s", 6, help="generated tokens a second"),
    SvcColumn("run", "Run", 4, drop=4, help="requests running"),
    SvcColumn("queue", "Queue", 5, help="requests waiting; ↑ growing"),
    SvcColumn("kv", "KV%", 4, drop=6, help="KV cache in use"),
    SvcColumn("err", "Err%", 5, drop=3, help="errors of the requests finished in 60 s"),
    SvcColumn("spark_p95", "P95 trend", 10, right=False, drop=1),
    SvcColumn("spark_tok", "tok/s trend", 12, right=False, drop=1),
)
NAME_MAX = 40  # the name column grows up to this when there is room


def fit(columns: Sequence[SvcColumn], width: int) -> list[tuple[SvcColumn, int]]:
    """The columns that fit in `width` (one space between them), lowest `drop` removed
    first, and each one's width; the first column takes what is left, up to NAME_MAX."""
    cols = list(columns)

    def need(cs: list[SvcColumn]) -> int:
        return sum(c.width for c in cs) + max(0, len(cs) - 1)

    while need(cols) > width:
        droppable = [c for c in cols if c.drop > 0]
        if not droppable:
            break
        cols.remove(min(droppable, key=lambda c: (c.drop, -cols.index(c))))
    spare = max(0, width - need(cols))
    out = [(c, c.width) for c in cols]
    if out:
        first = out[0][0]
        out[0] = (first, min(NAME_MAX, first.width + spare) if spare else
                  max(4, first.width - max(0, need(cols) - width)))
    return out


def lay_out(cells: dict[str, Text], columns: Sequence[tuple[SvcColumn, int]]) -> Text:
    """One line of cells at the widths `fit` chose (cut with an ellipsis, never wrapped)."""
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    for i, (col, width) in enumerate(columns):
        if i:
            out.append(" ")
        piece = cells.get(col.key, Text(""))
        if piece.cell_len > width:
            piece = piece.copy()
            piece.truncate(width, overflow="ellipsis")
        gap = " " * (width - piece.cell_len)
        if col.right:
            out.append(gap)
            out.append_text(piece)
        else:
            out.append_text(piece)
            out.append(gap)
    return out


def header(columns: Sequence[tuple[SvcColumn, int]], p: Palette, first: str | None = None
           ) -> Text:
    """The column titles (the first replaced by `first`, e.g. 'Services (3)')."""
    cells = {c.key: Text(first if first is not None and i == 0 else c.title)
             for i, (c, _) in enumerate(columns)}
    line = lay_out(cells, columns)
    line.stylize(f"bold {p.label}")
    return line


# ------------------------------------------------------------------ figures as text


def short_model(model: str | None) -> str:
    """'meta-llama/Llama-3.1-70B-Instruct' or '/models/x.gguf' -> the last path part."""
    if not model:
        return ""
    text = clean(model, 256).rstrip("/")
    return text.rsplit("/", 1)[-1] or text


def title(view: ServiceView) -> str:
    """The service's name as a row shows it: its name (or kind) and its model's short name."""
    who = clean(view.name, 48) if view.name else clean(view.kind, 24)
    model = short_model(view.model)
    return f"{who} {model}" if model else who


def seconds(v: float | None) -> str:
    """0.0123 -> '12ms', 1.234 -> '1.23s', 75 -> '75s'; '-' when unknown."""
    if v is None or not math.isfinite(v):
        return DASH
    if v < 0.001:
        return f"{v * 1e6:.0f}µs"
    if v < 1:
        return f"{v * 1000:.0f}ms"
    if v < 10:
        return f"{v:.2f}s"
    if v < 1000:
        return f"{v:.0f}s"
    return f"{v / 60:.0f}m"


def quantile_text(q: Quantile | None, lat: Latency | None) -> str:
    """A quantile as shown: '>10s' in the +Inf bucket, '~1.2s' on few requests."""
    if q is None:
        return DASH
    text = seconds(q.value)
    if q.above:
        return ">" + text
    if lat is not None and lat.few:
        return "~" + text
    return text


def latency_cell(lat: Latency | None, which: str, level: int, p: Palette, dim: str) -> Text:
    q = getattr(lat, which) if lat is not None else None
    if q is None and lat is not None and lat.avg is not None and which == "p95":
        return cell(f"x̄{seconds(lat.avg)}", dim or p.muted, True)  # averages-only servers
    few = lat is not None and lat.few
    style = dim or (p.muted if few or q is None else _level_style(level, p))
    return cell(quantile_text(q, lat), style, True)


def count(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return DASH
    if v >= 10_000:
        return f"{v / 1000:.0f}k"
    if v >= 1000:
        return f"{v / 1000:.1f}k"
    return f"{v:.0f}"


def rate(v: float | None) -> str:
    """Tokens or requests a second: '3.4k', '812', '0.5'."""
    if v is None or not math.isfinite(v):
        return DASH
    if v >= 1000:
        return count(v)
    if v >= 10:
        return f"{v:.0f}"
    return f"{v:.1f}"


def percent(v: float | None, digits: int = 0) -> str:
    if v is None or not math.isfinite(v):
        return DASH
    return f"{v:.{digits}f}%"


def _level_style(level: int, p: Palette) -> str:
    return {OK: "", WARN: p.warning, BAD: f"bold {p.error}"}.get(level, "")


def queue_text(view: ServiceView, marks: ServiceMarks) -> str:
    text = count(view.waiting)
    if marks.queue != OK and text != DASH:
        return text + "↑"
    return text


def service_cells(view: ServiceView, marks: ServiceMarks, p: Palette, *, grey: bool = False,
                  trends: tuple[Sequence[float | None], Sequence[float | None]] | None = None,
                  ) -> dict[str, Text]:
    """The cells of one service, by column key (`trends`: P95 and tok/s history for the
    sparkline columns; `grey`: the node is not live, its figures are old)."""
    dim = p.muted if grey else ""
    name = Text(no_wrap=True, overflow="ellipsis")
    row_style = "bold" if marks.row == OK else _level_style(marks.row, p)
    name.append(title(view), style=dim or row_style)
    if not view.up:
        down = Text("DOWN " + clean(view.error or "no answer", 200), style=f"bold {p.error}",
                    no_wrap=True, overflow="ellipsis")
        return {"name": name, "p95": down}
    out = {
        "name": name,
        "p95": latency_cell(view.e2e, "p95", marks.p95, p, dim),
        "ttft": latency_cell(view.ttft, "p95", OK, p, dim),
        "itl": latency_cell(view.itl, "p95", OK, p, dim),
        "tok": cell(rate(view.tokens_per_s), dim, True),
        "run": cell(count(view.running), dim, True),
        "queue": cell(queue_text(view, marks), dim or _level_style(marks.queue, p), True),
        "kv": cell(percent(view.kv_cache_pct), dim or _level_style(marks.kv, p), True),
        "err": cell(percent(view.error_rate_pct, 1), dim or _level_style(marks.errors, p), True),
    }
    if trends is not None:
        p95s, toks = trends
        out["spark_p95"] = cell(trend(p95s, 10), dim or p.spark)
        out["spark_tok"] = cell(trend(toks, 12), dim or p.spark)
    return out


def trend(values: Sequence[float | None], width: int) -> str:
    """A sparkline from the lowest to the highest value shown (a trend, not a level: the
    figure beside it says the level)."""
    known = [v for v in values if v is not None and math.isfinite(v)]
    if not known:
        return spark(values, width)
    lo, hi = min(known), max(known)
    return spark([None if v is None else v - lo for v in values], width, hi - lo or 1.0)


def down_line(view: ServiceView, columns: Sequence[tuple[SvcColumn, int]], cells: dict[str, Text]
              ) -> Text:
    """A down service's row: its name, then the reason across the figure columns."""
    first, width = columns[0]
    rest = sum(w for _, w in columns[1:]) + max(0, len(columns) - 1)
    line = lay_out({first.key: cells["name"]}, [(first, width)])
    reason = cells["p95"].copy()
    if reason.cell_len > rest - 1:
        reason.truncate(max(1, rest - 1), overflow="ellipsis")
    line.append(" ")
    line.append_text(reason)
    return line


__all__ = ["PANE_COLUMNS", "SvcColumn", "count", "down_line", "fit", "header", "lay_out",
           "percent", "quantile_text", "rate", "seconds", "service_cells", "short_model",
           "title"]
