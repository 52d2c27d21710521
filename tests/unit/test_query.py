"""The `/` filter language: parsing, errors with positions, and matching nodes and GPU rows."""

from __future__ import annotations

import pytest

from autoglm_tui.analysis.query import GpuSubject, NodeSubject, ParseError, parse, parse_number
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import HelloReceived, NodeJoined, NodeLeft, SampleReceived

from .samples import hello, replace, sample


def _state() -> FleetState:
    st = FleetState()
    st.apply(NodeJoined(1.0, "dgx-01", labels={"zone": "a", "role": "train"}))
    st.apply(HelloReceived(1.0, "dgx-01", hello("dgx-01.lab")))
    st.apply(SampleReceived(2.0, "dgx-01", sample(2.0, 1, gpu_util=95.0, cpu=30.0)))
    st.apply(NodeJoined(1.0, "infer-7", labels={"zone": "b"}))
    st.apply(HelloReceived(1.0, "infer-7", hello("infer-7.lab")))
    st.apply(SampleReceived(2.0, "infer-7", sample(2.0, 1, gpu_util=10.0, cpu=80.0)))
    st.apply(NodeJoined(1.0, "gone", labels={"zone": "a"}))
    st.apply(NodeLeft(3.0, "gone"))
    return st


def _match(query: str) -> list[str]:
    q = parse(query)
    return sorted(n.node_id for n in _state().nodes.values() if q.matches(NodeSubject(n)))


def test_empty_query_matches_everything() -> None:
    assert not parse("   ")
    assert _match("") == ["dgx-01", "gone", "infer-7"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("gpu.util>80", ["dgx-01"]),
        ("gpu.util_pct <= 10", ["infer-7"]),
        ("gpu.util>=95", ["dgx-01"]),
        ("gpu.util=10", ["infer-7"]),
        ("gpu.util!=10", ["dgx-01"]),  # a node without values never matches a metric
        ("cpu>50", ["infer-7"]),
        ("label.zone=a", ["dgx-01", "gone"]),
        ("label.zone!=a", ["infer-7"]),
        ('label.rack=""', ["dgx-01", "gone", "infer-7"]),  # missing label reads as ""
        ("host~=dgx", ["dgx-01"]),
        ("host~=LAB$", ["dgx-01", "infer-7"]),  # regex, case-insensitive
        ("host=gone", ["gone"]),  # no sampler yet: the host is the node id
        ("node~=^inf", ["infer-7"]),
        ("status=left", ["gone"]),
        ("status!=UP", ["gone"]),
        ("label.zone=a & gpu.util>80", ["dgx-01"]),
        ("label.zone=a&status=up&cpu<50", ["dgx-01"]),
        ("gpu.mem_used_bytes>=40G", ["dgx-01", "infer-7"]),
        ("gpu.mem_used_bytes>40GiB", []),
        ("gpu.mem>49.9%", ["dgx-01", "infer-7"]),
        ('host~="dgx-01 lab|infer"', ["infer-7"]),
        ("gpu=1", ["dgx-01", "infer-7"]),
        ("gpu>1", []),
    ],
)
def test_queries_select_the_right_nodes(query: str, expected: list[str]) -> None:
    assert _match(query) == expected


def test_gpu_rows_use_only_their_own_gpu() -> None:
    st = FleetState()
    st.apply(NodeJoined(1.0, "n"))
    s = sample(2.0, 1)
    s = replace(s, gpus=(s.gpus[0], replace(s.gpus[1], util_pct=99.0)))
    st.apply(SampleReceived(2.0, "n", s))
    node = st.nodes["n"]
    q = parse("gpu.util>90")
    assert [q.matches(GpuSubject(node, i)) for i in (0, 1)] == [False, True]
    assert parse("gpu=0").matches(GpuSubject(node, 0))
    assert q.matches(NodeSubject(node))  # any GPU of the node


@pytest.mark.parametrize(
    ("query", "pos", "words"),
    [
        ("gpu.util>", 9, "value"),
        ("gpu.util>abc", 9, "number"),
        ("gpu.utl>3", 0, "unknown field"),
        ("gpu.mem_>3", 0, "ambiguous"),
        ("gpu.util 80", 9, "operator"),
        ("host>3", 4, "compares numbers"),
        ("gpu.util~=9", 8, "text field"),
        ("host~=[", 6, "regular expression"),
        ("label.=a", 6, "needs a key"),
        ("cpu>1 & ", 8, "follow '&'"),
        ("cpu>1 | mem>2", 6, "expected '&'"),
        ("host='dgx", 5, "unclosed"),
        ("& cpu>1", 0, "field name"),
        ("cpu>>1", 4, "operator in value"),
        ("[red]x=1", 0, "field name"),
    ],
)
def test_malformed_queries_raise_with_position(query: str, pos: int, words: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(query)
    assert info.value.pos == pos
    assert words in info.value.message
    assert f"column {pos + 1}" in str(info.value)


def test_overlong_query_is_refused() -> None:
    with pytest.raises(ParseError):
        parse("cpu>1&" * 400)


@pytest.mark.parametrize(
    ("text", "value"),
    [("80", 80.0), ("1.5", 1.5), ("2K", 2048.0), ("1g", float(1 << 30)), ("3MiB", 3.0 * (1 << 20)),
     ("50%", 50.0), ("-2", -2.0), ("1e3", 1000.0), ("abc", None), ("1x", None), ("inf", None)],
)
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value
