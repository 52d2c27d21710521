"""The fast /metrics reader gives exactly what prometheus_client's parsers give, page by page.

Corpus: every fake server kind's page, real-size vLLM pages, a page captured from the real
llama-server these tests build, hand-written pages with escapes, NaN, infinities, timestamps,
odd spacing and `_created` lines, and OpenMetrics pages with exemplars, compared against
prometheus_client's text parser and its OpenMetrics parser."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.openmetrics import exposition as om_exposition
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as om_families,
)
from prometheus_client.parser import text_string_to_metric_families

from autoglm_tui.sampler.services.promtext import looks_like_metrics, parse
from tests.fakes.service_pages import KINDS, FakeServer, vllm_page

DATA = Path(__file__).resolve().parents[1] / "data"
_LINE_NAME = re.compile(r"^[ \t]*([a-zA-Z_:][a-zA-Z0-9_:]*)", re.M)

HAND_WRITTEN = r'''# HELP weird A page with the awkward parts of the format.
# TYPE weird gauge
weird{path="C:\\dir\\file",quote="say \"hi\"",nl="a\nb",other="\t\q"} 1.5
weird{ a = "spaced" , b="x" , } 2
weird{empty=""} NaN
weird{sign="+"} +Inf
weird{sign="-"} -Inf
weird{ts="ms"} 3.25 1712000000000
weird{markup="[bold]x[/bold]",esc="\u001b[31m"} 7e-3
weird 42
# A comment line that is not HELP or TYPE
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m",engine="0"} 4
vllm:num_requests_running{model_name="m",engine="1"}	5
# TYPE vllm:request_success_total counter
vllm:request_success_total{finished_reason="stop",model_name="m"} 10
vllm:request_success_created{finished_reason="stop",model_name="m"} 1.7e9
# TYPE h histogram
h_bucket{le="0.1"} 1
h_bucket{le="1e1"} 2
h_bucket{le="+Inf"} 3
h_sum 4.5
h_count 3
'''


def _names_on_lines(text: str) -> set[str]:
    return {m.group(1) for m in _LINE_NAME.finditer(text) if not m.group(1).startswith("#")}


def _reference(text: str, openmetrics: bool = False) -> list[tuple[str, dict, float]]:
    """(sample name as written on the page, labels, value) from prometheus_client."""
    families = om_families(text) if openmetrics else text_string_to_metric_families(text)
    written = _names_on_lines(text)
    out = []
    for fam in families:
        for s in fam.samples:
            name = s.name
            # The text parser renames a counter's samples that lack _total; undo that.
            if name not in written and name.endswith("_total") and name[:-6] in written:
                name = name[:-6]
            out.append((name, dict(s.labels), float(s.value)))
    return out


def _ours(text: str, names: set[str]) -> list[tuple[str, dict, float]]:
    got = parse(text, names)
    return [(n, labels, v) for n in got for labels, v in got[n]]


def _same(a: list[tuple[str, dict, float]], b: list[tuple[str, dict, float]]) -> None:
    key = lambda r: (r[0], sorted(r[1].items()))  # noqa: E731
    a, b = sorted(a, key=key), sorted(b, key=key)
    assert [(n, lb) for n, lb, _ in a] == [(n, lb) for n, lb, _ in b]
    for (n, lb, x), (_, _, y) in zip(a, b, strict=True):
        assert (math.isnan(x) and math.isnan(y)) or x == y, (n, lb, x, y)


def _corpus() -> list[tuple[str, str, bool]]:
    pages: list[tuple[str, str, bool]] = []
    for kind in KINDS:
        srv = FakeServer(kind, engines=2 if kind == "vllm" else 1,
                         buckets={"ttft_ms": [1, 5, 10, 50]} if kind == "triton" else None)
        for i in range(30):
            srv.request(float(i), 0.2 + 0.1 * i, outcome=("error", "abort", "ok", "ok")[i % 4])
        srv.load(3, 1, 0.4)
        pages.append((kind, srv.page(), False))
    pages.append(("vllm-40k", vllm_page(1), False))
    pages.append(("vllm-130k", vllm_page(4), False))
    pages.append(("llama.cpp (captured)", (DATA / "llamacpp_metrics.txt").read_text(), False))
    pages.append(("hand-written", HAND_WRITTEN, False))
    reg = CollectorRegistry()
    hist = Histogram("om_latency_seconds", "x", ["model_name"], registry=reg,
                     buckets=[0.1, 0.5, 1.0])
    for v, trace in ((0.05, "a1"), (0.7, "b2"), (3.0, "c3")):
        hist.labels("m").observe(v, exemplar={"trace_id": trace})
    Counter("om_requests", "x", ["code"], registry=reg).labels("500").inc(3)
    Gauge("om_gauge", "x", registry=reg).set(float("nan"))
    pages.append(("openmetrics", om_exposition.generate_latest(reg).decode(), True))
    return pages


CORPUS = _corpus()


@pytest.mark.parametrize("name,text,openmetrics", CORPUS, ids=[c[0] for c in CORPUS])
def test_identical_to_prometheus_client_on_the_corpus(name: str, text: str,
                                                      openmetrics: bool) -> None:
    ref = _reference(text, openmetrics)
    assert ref, name
    _same(_ours(text, {r[0] for r in ref}), ref)
    assert looks_like_metrics(text)


def test_only_the_wanted_names_are_read() -> None:
    got = parse(HAND_WRITTEN, {"h_count", "vllm:num_requests_running", "absent"})
    assert set(got) == {"h_count", "vllm:num_requests_running"}
    assert [v for _, v in got["vllm:num_requests_running"]] == [4.0, 5.0]  # tab separator too


def test_label_values_come_back_unescaped_and_literal() -> None:
    got = {tuple(sorted(lb.items())): v for lb, v in parse(HAND_WRITTEN, {"weird"})["weird"]}
    first = next(lb for lb in got if dict(lb).get("path"))
    labels = dict(first)
    assert labels["path"] == "C:\\dir\\file" and labels["quote"] == 'say "hi"'
    assert labels["nl"] == "a\nb" and labels["other"] == "\\t\\q"  # unknown escapes stay
    markup = next(dict(lb) for lb in got if dict(lb).get("markup"))
    assert markup["markup"] == "[bold]x[/bold]"


def test_garbage_is_not_a_metrics_page() -> None:
    assert not looks_like_metrics("<html><body>Not Found</body></html>")
    assert not looks_like_metrics("\x89PNG garbage \xff\xfe")
    assert not looks_like_metrics("")
    assert parse("<html>vllm:num_requests_running</html>", {"vllm:num_requests_running"}) == {}


_label_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_label_text, st.floats(allow_nan=True)), min_size=1, max_size=6))
def test_any_label_value_and_number_survive_like_the_reference(rows) -> None:
    reg = CollectorRegistry()
    g = Gauge("prop_gauge", "x", ["v"], registry=reg)
    for label, value in rows:
        g.labels(label).set(value)
    text = generate_latest(reg).decode()
    ref = _reference(text)
    _same(_ours(text, {"prop_gauge"}), ref)
