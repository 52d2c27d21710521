"""One inference service of one node: its figures, their history, its processes and GPUs.

Reads ``NodeState.services[service_id]`` (analysis/services.py) and the node's history under
``(svc.*, service_id)``; no I/O. The top lines say what the service is (kind, name, model, where
its figures come from: the metrics URL, shown as plain text), whether it answers (and why not),
and its figures now; six plots share one time axis (latency P50/P95/P99, TTFT and ITL P95, or
the means where a server gives averages and no quantiles, as llama.cpp and Triton do;
tokens/s, running and queued requests, KV cache %, the util of the GPUs its processes use);
the table below lists its processes and GPUs, and Enter opens one.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.containers import Grid
from textual.widget import Widget
from textual.widgets import Static

from autoglm_tui import format as fmt
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.service_marks import OK, ServiceMarks, warned
from autoglm_tui.analysis.services import Latency, ServiceView, family_of
from autoglm_tui.events import NodeStatus
from autoglm_tui.model import ProcSample
from autoglm_tui.text import clean
from autoglm_tui.tui.focus import focus_now
from autoglm_tui.tui.intents import OpenGpu, OpenProcess
from autoglm_tui.tui.render import Palette, cell
from autoglm_tui.tui.screens.base import StateScreen
from autoglm_tui.tui.widgets.gpu_pane import short_name
from autoglm_tui.tui.widgets.live_table import Column, LiveTable, same
from autoglm_tui.tui.widgets.node_header import NodeHeader
from autoglm_tui.tui.widgets.service_plot import Series, ServicePlot
from autoglm_tui.tui.widgets.service_row import (
    count,
    percent,
    quantile_text,
    rate,
    seconds,
)
from autoglm_tui.tui.widgets.services_pane import service_marks

LINK_COLUMNS = [
    Column("what", "", 9),
    Column("util", "Util", 5, right=True, help="GPU util, or the process's CPU"),
    Column("mem", "Memory", 13, right=True),
    Column("detail", "Model / command", 20, fill=True),
]
Link = tuple[str, int]  # ("gpu", index) or ("proc", pid)
COMPACT_BELOW_ROWS = 32  # a short terminal: 3 plots (latency, tokens/s, requests), 2 lines


def latency_words(label: str, lat: Latency | None) -> list[tuple[str, str]]:
    """('P50 ', '0.61s') pairs of one latency, with the request count it rests on."""
    if lat is None:
        return []
    out = [(f"{label} P50 ", quantile_text(lat.p50, lat)),
           ("P95 ", quantile_text(lat.p95, lat)),
           ("P99 ", quantile_text(lat.p99, lat))]
    if means_only(lat):
        out = [(f"{label} mean ", seconds(lat.avg))]
    out.append(("", f"({lat.count:.0f}{' few' if lat.few else ''})"))
    return out


def means_only(lat: Latency | None) -> bool:
    """Whether `lat` comes from a server that gives averages and no quantiles (llama.cpp,
    Triton): its mean is what there is to show and plot."""
    return lat is not None and lat.p95 is None and lat.avg is not None


def p95_words(label: str, lat: Latency) -> tuple[str, str]:
    """('TTFT P95 ', '120ms'), or ('ITL mean ', '9ms') from an averages-only server."""
    if means_only(lat):
        return (f"{label} mean ", seconds(lat.avg))
    return (f"{label} P95 ", quantile_text(lat.p95, lat))


def latency_series(sid: str, view: ServiceView | None) -> dict[str, tuple[str, Series]]:
    """The latency plots' titles and series: quantiles, or the means of an averages-only
    server (whose quantile series are empty). A server with no end-to-end latency (llama.cpp)
    has its TTFT and ITL in the first plot, and no second one."""
    e2e = view.e2e if view is not None else None
    ttft = view.ttft if view is not None else None
    itl = view.itl if view is not None else None
    given = [(name, lat) for name, lat in (("ttft", ttft), ("itl", itl)) if lat is not None]
    means = [means_only(lat) for _name, lat in given]
    pair: Series = [((f"svc.{name}_avg_s" if mean else f"svc.{name}_p95_s", sid), name.upper())
                    for (name, _lat), mean in zip(given, means, strict=True)]
    which = "mean" if means and all(means) else "P95 / mean" if any(means) else "P95"
    title = f"{' / '.join(label for _key, label in pair) or 'TTFT / ITL'} {which}"
    if e2e is None and given:
        return {"plot-latency": (title, pair)}
    if means_only(e2e):
        latency: Series = [(("svc.latency_avg_s", sid), "mean")]
    else:
        latency = [(("svc.latency_p50_s", sid), "P50"), (("svc.latency_p95_s", sid), "P95"),
                   (("svc.latency_p99_s", sid), "P99")]
    if not given:  # neither: the plot's series are the (empty) P95s, titled as ever
        pair = [(("svc.ttft_p95_s", sid), "TTFT"), (("svc.itl_p95_s", sid), "ITL")]
    return {"plot-latency": ("latency", latency), "plot-ttft": (title, pair)}


class ServiceScreen(StateScreen):
    """Figures, history, processes and GPUs of one inference service."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Open the GPU or process", show=False),
    ]

    def __init__(self, node_id: str, service_id: str) -> None:
        super().__init__()
        self.node_id = node_id
        self.service_id = service_id
        self._procs: dict[int, ProcSample] = {}
        self._node: NodeState | None = None
        self._shown: dict[str, Text] = {}

    def compose_body(self) -> Iterable[Widget]:
        yield NodeHeader(self.node_id, id="header")
        yield Static(id="svc-info", classes="detail")
        yield Static(id="svc-figures")
        with Grid(id="svc-plots"):
            yield ServicePlot("latency", seconds=True, id="plot-latency")
            yield ServicePlot("TTFT / ITL P95", seconds=True, id="plot-ttft")
            yield ServicePlot("tokens/s", id="plot-tokens")
            yield ServicePlot("requests", id="plot-requests")
            yield ServicePlot("KV cache %", ymax=100.0, id="plot-kv")
            yield ServicePlot("its GPUs: util %", ymax=100.0, id="plot-gpus")
        table = LiveTable(LINK_COLUMNS, id="svc-links")
        table.border_title = "Processes and GPUs (Enter opens)"
        yield table

    def focus_main(self) -> None:
        focus_now(self.table)

    @property
    def table(self) -> LiveTable:
        return self.query_one("#svc-links", LiveTable)

    def view(self) -> tuple[NodeState | None, ServiceView | None]:
        node = self.node_state(self.node_id)
        return node, (node.services.get(self.service_id) if node is not None else None)

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(self.compact, "-compact")
        self.repaint(self.monitor_app.clock(), force=True)

    # ------------------------------------------------------------------ drawing

    def paint(self, now: float) -> None:
        node, view = self.view()
        self.paint_header(self.node_id, node, now)
        self.set_class(self.compact, "-compact")
        p = Palette.from_variables(self.app.theme_variables)
        m = service_marks(node, view, now) if node is not None and view is not None else None
        self._set("#svc-info", self._info(node, view, m, now, p))
        self._set("#svc-figures", self._figures(view, m, p), layout=True)
        sid = self.service_id
        latency = latency_series(sid, view)
        self.set_class("plot-ttft" not in latency, "-no-e2e")  # its TTFT/ITL plot comes first
        plots: dict[str, Series] = {
            **{name: series for name, (_title, series) in latency.items()},
            "plot-tokens": [(("svc.tokens_per_s", sid), "gen"),
                            (("svc.prompt_tokens_per_s", sid), "prompt")],
            "plot-requests": [(("svc.requests_running", sid), "running"),
                              (("svc.queue_len", sid), "queue")],
            "plot-kv": [(("svc.kv_cache_pct", sid), "")],
            "plot-gpus": [(("gpu.util_pct", i), f"GPU {i}") for i in (view.gpus if view else ())],
        }
        for plot in self.query(ServicePlot):
            if plot.id in latency:
                plot.title_text = latency[plot.id][0]
            if plot.display:
                plot.show(node, now, plots.get(plot.id or "", []))
        self._paint_links(node, view)

    def _set(self, selector: str, text: Text, layout: bool = False) -> None:
        old = self._shown.get(selector)
        if old is None or not same(old, text):
            self._shown[selector] = text
            self.query_one(selector, Static).update(text, layout=layout)

    def _info(self, node: NodeState | None, view: ServiceView | None, m: ServiceMarks | None,
              now: float, p: Palette) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        if view is None:
            out.append(clean(self.service_id, 64), style="bold")
            out.append("  no longer listed on this node", style=f"bold {p.warning}")
            return out
        out.append(clean(view.name, 64) if view.name else clean(view.kind, 24), style="bold")
        if view.name:
            out.append(f" ({clean(view.kind, 24)})", style=p.muted)
        if view.model:
            out.append("  " + clean(view.model, 200))
        if not view.up:
            out.append("  DOWN: ", style=f"bold {p.error}")
            out.append(clean(view.error or "no answer", 300), style=p.error)
        elif m is not None and m.reasons:
            out.append("  " + "; ".join(m.reasons), style=f"bold {p.error}" if m.row > 1
                       else p.warning)
        else:
            grey = node is not None and node.status is not NodeStatus.UP
            out.append("  UP" if not grey else "  (node not live)",
                       style=f"bold {p.success}" if not grey else p.muted)
            if m is not None and not grey and warned(m):
                out.append("  " + "; ".join(warned(m)), style=p.warning)
        return out

    def _figures(self, view: ServiceView | None, m: ServiceMarks | None, p: Palette) -> Text:
        """Every figure, most telling first, packed into as few lines as the width allows
        (at most 2 on a short terminal: the rest is in the plots)."""
        if view is None:
            return Text("")
        words: list[tuple[str, str, str]] = []  # (label, value, style)

        def add(label: str, value: str, style: str = "") -> None:
            words.append((label, value, style))

        bad = f"bold {p.error}"
        if view.up:
            for label, value in latency_words("e2e", view.e2e):
                add(label, value, bad if m is not None and m.p95 > 1 and "P95" in label else "")
            if view.ttft is not None:
                add(*p95_words("TTFT", view.ttft))
            if view.itl is not None:
                add(*p95_words("ITL", view.itl))
            add("tok/s ", rate(view.tokens_per_s))
            add("running ", count(view.running))
            slope = ""
            if m is not None and m.queue_per_min is not None:
                slope = f" ({m.queue_per_min:+.1f}/min)"
            add("queue ", count(view.waiting) + slope,
                p.warning if m is not None and m.queue != OK else "")
            add("KV cache ", percent(view.kv_cache_pct),
                bad if m is not None and m.kv > 1 else p.warning if m and m.kv else "")
            add("errors ", percent(view.error_rate_pct, 2),
                bad if m is not None and m.errors > 1 else "")
            if view.finished is not None:
                add("of ", f"{view.finished:.0f} finished")
            if view.aborts_per_s is not None:
                add("aborts/s ", rate(view.aborts_per_s))
            add("prompt tok/s ", rate(view.prompt_tokens_per_s))
            add("req/s ", rate(view.requests_per_s))
            if view.queue is not None and view.queue.p95 is not None:
                add("queue time P95 ", quantile_text(view.queue.p95, view.queue))
        add("pid ", str(view.pid) if view.pid is not None else fmt.NA)
        add("GPUs ", ",".join(str(i) for i in view.gpus) if view.gpus else "none seen")
        if view.window_s:
            add("window ", f"{view.window_s:.0f}s")
        if view.scraped_at is not None:
            add("scraped ", time.strftime("%H:%M:%S", time.localtime(view.scraped_at)))
        width = max(20, self.size.width - 2)
        max_lines = 2 if self.compact else 4
        out = Text(no_wrap=True, overflow="ellipsis")
        used, line = 0, 1
        for label, value, style in words:
            size = len(label) + len(value)
            if used and used + 2 + size > width:
                if line == max_lines:
                    break
                out.append("\n")
                used, line = 0, line + 1
            elif used:
                out.append("  ")
                used += 2
            out.append(label, style=p.muted)
            out.append(value, style=style)
            used += size
        return out

    @property
    def compact(self) -> bool:
        return self.size.height < COMPACT_BELOW_ROWS

    def _paint_links(self, node: NodeState | None, view: ServiceView | None) -> None:
        items: list[Link] = []
        self._procs = {}
        source = Text(no_wrap=True, overflow="ellipsis")
        if node is not None and view is not None:
            sample = node.last_sample
            family = family_of(view.pid, sample.procs) if sample is not None else []
            for proc in family:
                if proc.pid == view.pid or proc.gpus:  # the server and its GPU workers
                    self._procs[proc.pid] = proc
                    items.append(("proc", proc.pid))
            items += [("gpu", i) for i in view.gpus]
            source.append("source ")
            source.append(clean(view.url, 300))  # plain text: never markup, never a link
            source.append(f" ({clean(view.source, 16)})")
        self._node = node
        table = self.table
        old = self._shown.get("source")
        if old is None or not same(old, source):
            self._shown["source"] = source
            table.border_subtitle = source
        table.show(items, self._render_link)

    def _render_link(self, item: Hashable) -> list[Text]:
        kind, key = item  # type: ignore[misc]
        node = self._node
        p = Palette.from_variables(self.app.theme_variables)
        if kind == "gpu" and node is not None:
            m = node.metrics
            util = m.get(("gpu.util_pct", key))
            info = node.gpu_info(key)
            return [
                cell(f"GPU {key}", f"bold {p.label}"),
                cell(fmt.pct(util), p.level(util), True),
                cell(f"{fmt.bytes_(m.get(('gpu.mem_used_bytes', key)))}/"
                     f"{fmt.bytes_(m.get(('gpu.mem_total_bytes', key)))}", "", True),
                cell(short_name(info.name) if info else "", p.muted),
            ]
        proc = self._procs.get(key)
        if proc is None:
            return [cell("")] * len(LINK_COLUMNS)
        cmd = clean(proc.cmdline, 1024).strip() or f"[{clean(proc.name, 64)}]"
        return [
            cell(f"pid {proc.pid}", "bold"),
            cell(fmt.pct(proc.cpu_pct, digits=0), "", True),
            cell(fmt.bytes_(proc.gpu_mem_bytes) + " GPU" if proc.gpus else
                 fmt.bytes_(proc.rss_bytes) + " RSS", "", True),
            cell(cmd),
        ]

    # ------------------------------------------------------------------ actions

    def on_live_table_activated(self, event: LiveTable.Activated) -> None:
        event.stop()
        self._open(event.item)

    def on_live_table_moved(self, event: LiveTable.Moved) -> None:
        event.stop()

    def action_open(self) -> None:
        self._open(self.table.selected)

    def _open(self, item: Hashable | None) -> None:
        if not isinstance(item, tuple):
            return
        kind, key = item
        if kind == "gpu":
            self.go(OpenGpu(self.node_id, key))
        elif kind == "proc":
            proc = self._procs.get(key)
            self.go(OpenProcess(self.node_id, key, proc.create_time if proc else None))


__all__ = ["ServiceScreen"]
