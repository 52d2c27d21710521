import contextlib
import dataclasses
import json
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoglm_tui import wire
from autoglm_tui.model import Hello, ProcSample, Sample
from autoglm_tui.text import clean
from autoglm_tui.wire import WireError, decode, encode

from .samples import hello, proc, sample


def test_hello_round_trip() -> None:
    h = hello(gpus=4)
    back = decode(encode(h))
    assert back == h
    assert isinstance(back, Hello)


def test_sample_round_trip_keeps_nulls_and_procs() -> None:
    s = sample(5.0, 3, procs=(proc(42, gpu_mem=1 << 30),))
    line = encode(s)
    data = json.loads(line)
    assert data["type"] == "sample"
    assert data["gpus"][0]["power_w"] is None  # unsupported stays null, never 0
    assert "self" in data and "self_cost" not in data
    back = decode(line)
    assert isinstance(back, Sample)
    assert back == s
    assert back.procs[0].gpu_mem_bytes == 1 << 30


def test_bytes_input_and_trailing_newline_accepted() -> None:
    s = sample(1.0, 1)
    assert decode((encode(s) + "\n").encode()) == s


def test_untrusted_strings_are_cleaned() -> None:
    s = sample(1.0, 1, procs=(proc(7, "\x1b]0;pwned\x07[red]x[/red]\x9b"),))
    back = decode(encode(s))
    assert isinstance(back, Sample)
    cmd = back.procs[0].cmdline
    assert "\x1b" not in cmd and "\x07" not in cmd and "\x9b" not in cmd
    assert "[red]x[/red]" in cmd


def test_every_printable_character_is_one_clean_keeps() -> None:
    # The decoder returns printable strings as they are (cut to length): clean() must agree.
    printable = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isprintable())
    assert clean(printable, len(printable)) == printable


@pytest.mark.parametrize(
    "cmdline",
    [
        "é" * 5000,  # printable, not ASCII, over the 4096 cap
        "x" * 4097,  # printable ASCII, one over the cap
        "a\u202eb\u2066c\ufeffd\x85e\x00" + "ü" * 5000,  # bidi, C1, NUL: cleaned, then cut
        "plain python train.py",
    ],
)
def test_decoded_strings_are_what_clean_makes_of_them(cmdline: str) -> None:
    back = decode(encode(sample(1.0, 1, procs=(proc(7, cmdline),))))
    assert isinstance(back, Sample)
    assert back.procs[0].cmdline == clean(cmdline, 4096)
    assert len(back.procs[0].cmdline) <= 4096


def test_decoded_messages_are_real_frozen_instances() -> None:
    s = sample(5.0, 3, procs=(proc(42, gpu_mem=1 << 30), proc(43)))
    back = decode(encode(s))
    assert isinstance(back, Sample)
    assert type(back.procs[0]) is ProcSample
    assert back == s and hash(back.procs[1]) == hash(s.procs[1])
    assert repr(back.procs[1]) == repr(s.procs[1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        back.procs[0].pid = 1  # type: ignore[misc]


def test_optional_keys_may_be_missing_and_take_their_defaults() -> None:
    s = sample(2.0, 2, procs=(proc(9),))
    data = wire.to_dict(s)
    for key in ("procs_fresh", "services", "errors", "self"):
        del data[key]
    del data["procs"][0]["gpus"], data["procs"][0]["status"]
    back = decode(json.dumps(data))
    assert isinstance(back, Sample)
    assert back.procs_fresh is True and back.services == () and back.errors == ()
    assert back.self_cost is None
    assert back.procs[0].gpus == () and back.procs[0].status is None
    assert back.procs[0].cmdline == s.procs[0].cmdline and back.cpu == s.cpu
    data["procs"][0]["user"] = 5  # a wrong type is still caught on this path
    with pytest.raises(WireError, match=r"procs\.user: expected a string"):
        decode(json.dumps(data))


@dataclasses.dataclass(frozen=True, slots=True)
class _Checked:
    n: int
    label: str = "none"

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError("n must not be negative")


def test_a_dataclass_with_post_init_still_runs_it() -> None:
    conv = wire._compile_dataclass(_Checked)
    assert conv({"n": 2}, "") == _Checked(2)
    with pytest.raises(ValueError, match="negative"):
        conv({"n": -1}, "")


def test_unknown_schema_major_refused_with_clear_message() -> None:
    data = wire.to_dict(hello())
    data["schema"] = 2
    with pytest.raises(WireError, match="unsupported wire schema 2"):
        decode(json.dumps(data))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"type": "boom"}', "unknown message type"),
        ('{"type": "sample", "t": 1}', "seq: missing"),
        ("", "empty line"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_lines_rejected_with_reason(line: str | bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        decode(line)


def test_wrong_types_rejected_with_path() -> None:
    data = wire.to_dict(sample(1.0, 1))
    data["cpu"]["util_pct"] = "high"
    with pytest.raises(WireError, match=r"cpu\.util_pct: expected a number"):
        decode(json.dumps(data))
    data = wire.to_dict(sample(1.0, 1))
    data["seq"] = True
    with pytest.raises(WireError, match="seq: expected an integer"):
        decode(json.dumps(data))


def test_oversized_line_rejected() -> None:
    line = '{"type": "sample", "pad": "' + "x" * (wire.MAX_LINE_BYTES + 10) + '"}'
    with pytest.raises(WireError, match="line too long"):
        decode(line)


def test_nan_and_infinity_rejected() -> None:
    data = wire.to_dict(sample(1.0, 1))
    assert data["cpu"]["util_pct"] == 10  # an integral float travels as an integer
    line = json.dumps(data).replace('"util_pct": 10,', '"util_pct": NaN,', 1)
    assert "NaN" in line
    with pytest.raises(WireError, match="finite"):
        decode(line)


def test_deep_nesting_is_a_wire_error() -> None:
    with pytest.raises(WireError):
        decode("[" * 100000 + "]" * 100000)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(),
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
        max_leaves=30,
    )
)
def test_decoder_raises_only_wire_error(value: object) -> None:
    for candidate in (value, {"type": "sample", **(value if isinstance(value, dict) else {})}):
        with contextlib.suppress(WireError):
            decode(json.dumps(candidate))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_decoder_never_raises_on_random_bytes(raw: bytes) -> None:
    with contextlib.suppress(WireError):
        decode(raw)


def test_the_fast_json_parser_decodes_as_the_standard_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """wire.parse reads lines with orjson (a dependency): a synthetic fleet's full and delta
    lines (every figure moving) and strings with escapes and non-ASCII text decode to the very
    samples the standard parser gives; a line the standard parser would take but that is not
    valid JSON text (a lone surrogate escape, NaN) is refused with the reason."""
    import orjson

    from autoglm_tui.cluster.synthetic import SyntheticFleet
    from autoglm_tui.wire_delta import DeltaEncoder
    from autoglm_tui.wire_patch import StreamDecoder

    assert wire._loads is orjson.loads
    fleet = SyntheticFleet(nodes=3, gpus=8, seed=2)
    encoders = {n.node_id: DeltaEncoder(full_every_s=20) for n in fleet.nodes}
    lines = [(e.node_id, encoders[e.node_id].encode(e.sample).encode())
             for k in range(45) for e in fleet.tick_events(1_000_000.0 + k)]
    odd = ["tab\there", 'quote " and \\ backslash', "é 中文 😀", "\u2028 line sep", "a" * 300]
    lines += [("odd", encode(sample(float(i), i + 1, procs=(proc(7, cmdline=c),))).encode())
              for i, c in enumerate(odd)]

    def decoded() -> list[object]:
        decoders: dict[str, StreamDecoder] = {}
        return [decoders.setdefault(node, StreamDecoder()).decode(line) for node, line in lines]

    fast = decoded()
    monkeypatch.setattr(wire, "_loads", json.loads)
    assert fast == decoded()
    assert sum(b'"delta"' in line[:20] for _, line in lines) > 100  # deltas were compared
    assert [s.procs[0].cmdline for s in fast[-len(odd):]] == [clean(c, 4096) for c in odd]
    monkeypatch.undo()
    good = wire.encode(sample(1.0, 1, procs=(proc(7),)))
    for bad in (good.replace('"python train.py"', '"\\ud800"'),
                good.replace('"util_pct":', '"util_pct":NaN,"x":', 1)):
        assert bad != good
        with pytest.raises(WireError, match="not JSON"):
            decode(bad)
