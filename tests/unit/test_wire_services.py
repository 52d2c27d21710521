"""Services on the wire: round trip, old samplers' lines, untrusted strings."""

import json

import pytest

from autoglm_tui import wire
from autoglm_tui.model import Histogram, Sample, ServiceSample
from autoglm_tui.wire import WireError, decode, encode

from .samples import sample


def _svc(**kw: object) -> ServiceSample:
    base: dict[str, object] = dict(
        url="http://127.0.0.1:8000/metrics", kind="vllm", ok=True, model="m", pid=42,
        port=8000, t=10.0, running=3.0, waiting=None, kv_cache_usage=0.5,
        prompt_tokens=100.0, generation_tokens=2000.0, requests_finished=7.0,
        requests_error=0.0, requests_aborted=1.0,
        e2e=Histogram((0.5, 1.0), (3.0, 6.0, 7.0), 4.5),
        itl=Histogram((), (2000.0,), 30.0),
    )
    base.update(kw)
    return ServiceSample(**base)  # type: ignore[arg-type]


def test_services_round_trip_with_histograms_and_nulls() -> None:
    s = sample(2.0, 2)
    s = Sample(**{**{f: getattr(s, f) for f in s.__dataclass_fields__},
                  "services": (_svc(), _svc(url="http://127.0.0.1:9/metrics", ok=False,
                                            error="connection refused", kind="unknown"))})
    back = decode(encode(s))
    assert back == s
    assert back.services[0].waiting is None  # not exported stays null, never 0
    assert back.services[0].ttft is None and back.services[0].e2e.count == 7.0
    assert back.services[0].service_id == "vllm:8000"
    assert back.services[1].error == "connection refused"


def test_old_samplers_lines_still_decode() -> None:
    """A line from before services (with the old single `service`, or with nothing) decodes:
    missing keys take their defaults, unknown keys are ignored."""
    data = wire.to_dict(sample(2.0, 2))
    del data["services"]
    assert decode(json.dumps(data)).services == ()
    data["service"] = {"url": "http://x/metrics", "ok": True, "latency_p95_s": 0.4,
                       "tokens_total": 10.0, "requests_total": 2.0}
    back = decode(json.dumps(data))
    assert isinstance(back, Sample) and back.services == ()
    # A service from a sampler that knew fewer fields, and one with fields yet to come.
    data["services"] = [{"url": "http://127.0.0.1:8000/metrics", "kind": "vllm", "ok": True,
                         "future_field": [1, 2]}]
    svc = decode(json.dumps(data)).services[0]
    assert svc.kind == "vllm" and svc.running is None and svc.e2e is None and svc.pid is None


def test_service_strings_are_cleaned_and_types_checked() -> None:
    data = wire.to_dict(Sample(**{**{f: getattr(sample(2.0, 2), f)
                                     for f in Sample.__dataclass_fields__},
                                  "services": (_svc(),)}))
    data["services"][0]["model"] = "\x1b[31m[bold]evil[/bold]\x07"
    data["services"][0]["error"] = "x" * 5000
    svc = decode(json.dumps(data)).services[0]
    assert svc.model.strip() == "[31m[bold]evil[/bold]"  # no control characters; markup literal
    assert len(svc.error) <= 1024
    data["services"][0]["e2e"]["counts"] = ["many"]
    with pytest.raises(WireError, match=r"services\.e2e\.counts"):
        decode(json.dumps(data))


def test_histogram_validity() -> None:
    assert Histogram((1.0, 2.0), (1.0, 2.0, 3.0)).valid
    assert Histogram((), (5.0,), 1.0).valid  # averages only
    assert not Histogram((1.0, 2.0), (1.0, 3.0)).valid  # one count short
    assert not Histogram((2.0, 1.0), (1.0, 2.0, 3.0)).valid  # bounds out of order
    assert not Histogram((1.0, 2.0), (3.0, 2.0, 4.0)).valid  # cumulative counts dropped


def test_services_in_compact_samples() -> None:
    """Deltas (schema 1.1) carry a service only when its scrape changed, and the monitor
    rebuilds the very samples that were sent."""
    from autoglm_tui.wire_delta import DeltaEncoder
    from autoglm_tui.wire_patch import StreamDecoder

    enc, dec = DeltaEncoder(full_every_s=1000.0), StreamDecoder()
    base = sample(0.0, 1)
    lines = []
    sent = []
    for i in range(1, 12):
        scrape = (i // 5) * 5.0  # a new scrape every 5 samples
        svcs = (_svc(t=scrape, requests_finished=10.0 * (i // 5),
                     e2e=Histogram((0.5, 1.0), (1.0 * (i // 5), 2.0 * (i // 5), 3.0 * (i // 5)),
                                   0.7 * (i // 5))),
                _svc(url="http://127.0.0.1:9/metrics", ok=False, kind="unknown",
                     error="connection refused", t=float(i), port=9))
        s = Sample(**{**{f: getattr(base, f) for f in Sample.__dataclass_fields__},
                      "t": float(i), "seq": i, "services": svcs})
        sent.append(s)
        lines.append(enc.encode(s))
    got = [dec.decode(line) for line in lines]
    assert got == sent
    assert '"type":"delta"' in lines[2] and "requests_finished" not in lines[2]  # same scrape
    assert "requests_finished" in lines[4]  # i = 5: a new scrape travels
