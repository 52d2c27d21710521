"""What the services' screens flag (analysis/service_marks.py), how `:services` sorts and
filters (analysis/service_table.py), and how a service's figures read
(tui/widgets/service_row.py)."""

from __future__ import annotations

from autoglm_tui.analysis.history import NodeHistory
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.quantiles import Quantile
from autoglm_tui.analysis.query import parse
from autoglm_tui.analysis.service_marks import BAD, OK, WARN, marks, slope_per_s, warned
from autoglm_tui.analysis.service_table import ServiceSubject, service_rows
from autoglm_tui.analysis.services import Latency, ServiceView, family_of, gpus_of
from autoglm_tui.model import ProcGpuUse, ProcSample
from autoglm_tui.tui.widgets.service_row import (
    PANE_COLUMNS,
    fit,
    quantile_text,
    seconds,
    short_model,
    title,
    trend,
)

NOW = 1000.0


def view(**kw: object) -> ServiceView:
    base: dict[str, object] = dict(service_id="vllm:8000", kind="vllm", url="http://x/metrics",
                                   up=True, error=None)
    base.update(kw)
    return ServiceView(**base)  # type: ignore[arg-type]


def latency(p95: float, *, few: bool = False, above: bool = False) -> Latency:
    q = Quantile(0.95, p95, above, 100.0)
    return Latency(None, q, None, None, 100.0, few)


def flat(value: float, n: int = 30) -> list[tuple[float, float | None]]:
    return [(NOW - 60 + 2 * i, value) for i in range(n + 1)]


# ------------------------------------------------------------------ marks


def test_slope_of_a_queue_growing_one_request_every_ten_seconds() -> None:
    pts = [(NOW - 60 + t, t / 10) for t in range(0, 61, 5)]
    assert abs(slope_per_s(pts, NOW) - 0.1) < 1e-9  # type: ignore[operator]


def test_slope_needs_three_points_over_half_the_window() -> None:
    assert slope_per_s([(NOW - 1, 1.0), (NOW, 2.0)], NOW) is None
    assert slope_per_s([(NOW - 20, 1.0), (NOW - 10, 2.0), (NOW, 3.0)], NOW) is None
    assert slope_per_s([(NOW - 40, None), (NOW - 20, 2.0), (NOW, 3.0)], NOW) is None
    assert slope_per_s([(NOW - 40, 1.0), (NOW - 20, 2.0), (NOW, 3.0)], NOW) is not None


def test_a_healthy_service_is_not_flagged() -> None:
    m = marks(view(e2e=latency(0.4), kv_cache_pct=50.0, error_rate_pct=0.0, waiting=2.0),
              flat(2.0), NOW)
    assert m.row == OK and m.reasons == ()
    assert m.queue_per_min == 0.0


def test_thresholds_of_the_default_rules() -> None:
    m = marks(view(e2e=latency(2.5), kv_cache_pct=97.0, error_rate_pct=3.0), [], NOW)
    assert (m.row, m.p95, m.kv, m.errors) == (BAD, BAD, BAD, BAD)
    assert m.reasons == ("P95 2.50s", "errors 3.0%", "KV cache 97%")
    m = marks(view(e2e=latency(1.5), kv_cache_pct=90.0, error_rate_pct=0.5), [], NOW)
    assert (m.row, m.p95, m.kv, m.errors) == (WARN, WARN, WARN, WARN)
    assert m.reasons == ()  # warnings colour, only what a default rule pages on is named
    assert warned(m) == ("P95 over 1s", "KV cache 85%+", "some errors")


def test_a_quantile_on_few_requests_is_never_flagged() -> None:
    m = marks(view(e2e=latency(30.0, few=True)), [], NOW)
    assert m.p95 == OK and m.row == OK


def test_a_p95_above_the_largest_bound() -> None:
    m = marks(view(e2e=latency(10.0, above=True)), [], NOW)
    assert m.p95 == BAD and m.reasons == ("P95 > 10.00s",)


def test_a_growing_queue_warns_a_shrinking_one_does_not() -> None:
    growing = [(NOW - 60 + t, t / 10) for t in range(0, 61, 5)]  # +6 a minute
    m = marks(view(waiting=6.0), growing, NOW)
    assert m.queue == WARN and m.reasons == ("queue growing +6.0/min",)
    shrinking = [(t, 6 - v) for t, v in growing]  # type: ignore[operator]
    assert marks(view(waiting=0.0), shrinking, NOW).queue == OK


def test_a_down_service_says_why() -> None:
    m = marks(view(up=False, error="timed out after 0.5 s"), [], NOW)
    assert m.row == BAD and m.reasons == ("down: timed out after 0.5 s",)


# ------------------------------------------------------------------ the :services table


def node_with(node_id: str, views: list[ServiceView]) -> NodeState:
    node = NodeState(node_id=node_id, history=NodeHistory(60))
    node.service_tracker.views = {v.service_id: v for v in views}
    return node


def test_rows_sort_unknown_last_and_filter_by_the_rows_own_service() -> None:
    a = node_with("node-10", [view(service_id="a", tokens_per_s=10.0)])
    b = node_with("node-9", [view(service_id="b", tokens_per_s=None),
                             view(service_id="c", tokens_per_s=50.0)])
    nodes = [a, b]
    assert service_rows(nodes, "node", False) == [("node-9", "b"), ("node-9", "c"),
                                                  ("node-10", "a")]
    assert service_rows(nodes, "tok", True) == [("node-9", "c"), ("node-10", "a"),
                                                ("node-9", "b")]
    assert service_rows(nodes, "tok", False, only_node="node-9") == [("node-9", "c"),
                                                                     ("node-9", "b")]
    b.metrics[("svc.kv_cache_pct", "b")] = 97.0
    b.metrics[("svc.kv_cache_pct", "c")] = 40.0
    b.metrics[("svc.kv_cache_pct", None)] = 97.0  # the node's worst
    assert service_rows(nodes, "node", False, parse("kv>90")) == [("node-9", "b")]
    assert ServiceSubject(b, "c").numbers("svc.kv_cache_pct") == [40.0]
    assert ServiceSubject(b, "c").text("node") == "node-9"


# ------------------------------------------------------------------ cells


def test_figures_as_text() -> None:
    assert seconds(0.0123) == "12ms" and seconds(1.234) == "1.23s" and seconds(None) == "-"
    assert quantile_text(Quantile(0.95, 10.0, True, 5.0), None) == ">10s"
    assert quantile_text(Quantile(0.95, 0.5, False, 5.0), latency(0.5, few=True)) == "~500ms"
    assert short_model("meta-llama/Llama-3.1-70B-Instruct") == "Llama-3.1-70B-Instruct"
    assert short_model("/models/x.gguf") == "x.gguf"
    assert title(view(name="chat\x1b[31m", model="org/m")) == "chat [31m m"


def test_narrow_panes_drop_columns_in_their_order() -> None:
    keys = [c.key for c, _ in fit(PANE_COLUMNS, 200)]
    assert keys == [c.key for c in PANE_COLUMNS]
    narrow = fit(PANE_COLUMNS, 76)
    assert [c.key for c, _ in narrow] == ["name", "p95", "ttft", "itl", "tok", "run", "queue",
                                          "kv", "err"]
    assert sum(w for _, w in narrow) + len(narrow) - 1 <= 76
    tiny = fit(PANE_COLUMNS, 40)
    assert [c.key for c, _ in tiny] == ["name", "p95", "tok", "queue"]
    assert sum(w for _, w in tiny) + len(tiny) - 1 <= 40


def test_trend_spans_lowest_to_highest() -> None:
    assert trend([1.0, 1.5, 2.0], 3) == "▁▅█"
    assert trend([None, 2.0, 2.0], 3) == " ▁▁"


def test_a_service_family_and_its_gpus() -> None:
    procs = (
        ProcSample(10, 1, "u", "server", "", 1.0, 1, 0.0),
        ProcSample(11, 10, "u", "worker", "", 1.0, 1, 0.0, gpus=(ProcGpuUse(1, 1, None),)),
        ProcSample(12, 11, "u", "sub", "", 1.0, 1, 0.0, gpus=(ProcGpuUse(0, 1, None),)),
        ProcSample(20, 1, "u", "other", "", 1.0, 1, 0.0, gpus=(ProcGpuUse(2, 1, None),)),
    )
    assert [p.pid for p in family_of(10, procs)] == [10, 11, 12]
    assert gpus_of(10, procs) == (0, 1)
    assert family_of(None, procs) == [] and gpus_of(99, procs) == ()
