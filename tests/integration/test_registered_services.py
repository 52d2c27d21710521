"""Registered services reach the sampler: the real `autoglm-tui sample` process, with service
discovery off, is told on its stdin (``{"type":"control","services":[...]}``) about a vLLM
page (prometheus_client, vLLM's names) served on loopback at a path discovery never probes;
it scrapes it, links it to the process that listens, refuses what is not this node's or not
valid with a reason per entry, never fetches a refused URL, and forgets the service when the
list is cleared."""

from __future__ import annotations

import json
import os
import socket

import pytest

from autoglm_tui.model import Hello, Sample, ServiceSample
from autoglm_tui.sampler.services.monitor import ServiceMonitor
from autoglm_tui.sampler.services.targets import from_registration, parse_spec
from tests.fakes.service_pages import FakeServer
from tests.integration.test_sampler_control import Sampler, sampler  # noqa: F401 (fixture)
from tests.integration.test_services_histograms import http  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


def control(services: list[object]) -> bytes:
    return json.dumps({"type": "control", "services": services}).encode() + b"\n"


def until(s: Sampler, check, reads: int = 40) -> Sample:  # type: ignore[no-untyped-def]
    """The first sample for which `check(sample)` holds (at most `reads` messages)."""
    for _ in range(reads):
        msg, _ = s.read()
        if isinstance(msg, Sample) and check(msg):
            return msg
    raise AssertionError(f"not seen in {reads} messages; last: {msg}")


def named(sample: Sample, name: str) -> ServiceSample | None:
    return next((svc for svc in sample.services if svc.name == name), None)


def loaded(kind: str) -> FakeServer:
    """A fake server with one finished request and some load (an empty page has no samples)."""
    fake = FakeServer(kind, model="org/chat-7b")
    fake.request(0.0, 0.5)
    fake.load(3, 2, 0.4)
    return fake


def test_a_registered_service_is_scraped_without_discovery(sampler, http) -> None:  # noqa: F811
    fake = loaded("vllm")
    url = http.route("/engine/v1/prom", fake.page)  # not a path discovery would try
    refused_path = "/refused/metrics"
    http.route(refused_path, fake.page)
    s = sampler("--interval", "0.3", "--no-service-discovery", "--service-interval", "0.3")
    hello, _ = s.read()
    assert isinstance(hello, Hello) and "services" in hello.features
    first = until(s, lambda m: True)
    assert first.services == ()  # nothing given, nothing discovered

    s.send(control([
        {"url": url, "name": "chat"},
        {"url": "http://203.0.113.7:8000/metrics", "name": "elsewhere"},  # not this node
        # A host name could point anywhere: refused, even one that resolves to this node.
        {"url": f"http://{socket.gethostname()}:{http.port}{refused_path}"},
        {"url": f"http://127.0.0.1:{http.port}/m", "name": "\x1b[31mred"},
        {"url": url + "?x=$(reboot)"},
        "not an object",
    ]))
    got = until(s, lambda m: (svc := named(m, "chat")) is not None and svc.ok)
    svc = named(got, "chat")
    assert svc is not None
    assert (svc.url, svc.kind, svc.source, svc.port) == (url, "vllm", "registration", http.port)
    assert (svc.running, svc.waiting, svc.kv_cache_usage) == (3, 2, 0.4)
    assert svc.model == "org/chat-7b"
    assert svc.pid == os.getpid()  # the process that listens on the port (this test)
    assert len(got.services) == 1
    refusals = [e for e in got.errors if e.startswith("control services[")]
    assert [r.partition("]")[0] for r in refusals] == [
        f"control services[{i}" for i in range(1, 6)]
    assert "203.0.113.7 is not an address of this node" in refusals[0]
    assert "is a host name" in refusals[1]
    assert "bad service name" in refusals[2]
    assert "holds characters" in refusals[3]
    assert "expected an object" in refusals[4]
    assert all(r.isprintable() and "\x1b" not in r for r in refusals)
    # The refusals stay in every sample while the list stands.
    later = until(s, lambda m: m.seq > got.seq + 2)
    assert [e for e in later.errors if e.startswith("control services[")] == refusals
    assert http.requests.count(refused_path) == 0  # a refused URL is never fetched
    assert http.requests.count("/engine/v1/prom") >= 1

    s.send(control([]))  # the registration names none any more
    cleared = until(s, lambda m: m.services == ())
    assert not [e for e in cleared.errors if e.startswith("control services")]
    assert s.proc.poll() is None
    assert s.close() == 0


def test_the_monitor_merges_registered_with_given_services(http) -> None:  # noqa: F811
    """In process, one round at a time: an --service endpoint with the same URL wins over the
    registered entry; a registered one is added, then dropped with the list; refusals last as
    long as the list."""
    given = http.route("/given/metrics", loaded("tgi").page)
    reg = http.route("/reg/metrics", loaded("vllm").page)
    monitor = ServiceMonitor([parse_spec(f"{given},name=given")], discover=False)
    try:
        monitor.run_round()
        assert [(s.name, s.source) for s in monitor.services()] == [("given", "option")]
        monitor.set_registered([
            (0, from_registration({"url": given, "name": "dup"})),
            (1, from_registration({"url": reg, "name": "reg"})),
            (2, from_registration({"url": "http://[2001:db8::1]:8000/metrics"})),
        ], ["control services[3] refused: expected an object with url, name and kind, not int"])
        monitor.run_round()
        assert [(s.name, s.source, s.ok) for s in monitor.services()] == [
            ("given", "option", True), ("reg", "registration", True)]
        refused = monitor.refused()
        assert [r.partition("]")[0] for r in refused] == [
            "control services[2", "control services[3"]
        assert "2001:db8::1 is not an address of this node" in refused[0]
        monitor.set_registered([])
        monitor.run_round()
        assert [s.name for s in monitor.services()] == ["given"]
        assert monitor.refused() == ()
        assert http.requests.count("/reg/metrics") == 1
    finally:
        monitor.close()
