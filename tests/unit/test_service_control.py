"""Registered services on the control line, pure parts: the sampler's parsing of
``{"type":"control","services":[...]}`` (good, bad and hostile entries, each judged alone), the
check that a URL's host is this node, and the lines the monitor's stream offers."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace

import pytest

from autoglm_tui import wire
from autoglm_tui.cluster.stream import (
    CONTROL_DELTA,
    SamplerStream,
    control_services,
    service_entries,
)
from autoglm_tui.model import SCHEMA_MINOR
from autoglm_tui.sampler.control import MAX_LINE, MAX_SERVICES, Controls
from autoglm_tui.sampler.services import local
from autoglm_tui.sampler.services.targets import TargetError, from_registration

from .samples import hello


def line(services: object) -> bytes:
    return json.dumps({"type": "control", "services": services}).encode() + b"\n"


def fed(services: object) -> Controls:
    controls = Controls(1.0)
    controls.feed(line(services))
    return controls


# ---------------------------------------------------------------------- the sampler's parsing


def test_good_entries_become_registration_targets_with_their_index() -> None:
    controls = fed([
        {"url": "http://127.0.0.1:8000/metrics", "name": "chat", "kind": "vllm"},
        {"url": "https://[::1]:9400/stats/prom?format=text"},
    ])
    got = controls.take_services()
    assert got is not None
    targets, refused = got
    assert refused == ()
    assert [i for i, _ in targets] == [0, 1]
    first, second = (t for _, t in targets)
    assert (first.url, first.name, first.kind, first.source) == (
        "http://127.0.0.1:8000/metrics", "chat", "vllm", "registration")
    assert (second.scheme, second.host, second.port, second.path, second.name) == (
        "https", "::1", 9400, "/stats/prom?format=text", None)
    assert controls.take_services() is None  # handed on once
    assert controls.take_notes() == []


def test_an_empty_list_clears_and_is_handed_on() -> None:
    controls = fed([{"url": "http://127.0.0.1:8000/metrics"}])
    controls.take_services()
    controls.feed(line([]))
    assert controls.take_services() == ((), ())


HOSTILE = [
    ("not-an-object", "expected an object"),
    ({"url": "http://127.0.0.1:1/metrics", "cmd": "rm -rf /"}, "unknown key 'cmd'"),
    ({"name": "x"}, "must be strings"),
    ({"url": 8000}, "must be strings"),
    ({"url": "http://127.0.0.1:1/m", "name": ["a"]}, "must be strings"),
    ({"url": "127.0.0.1:8000"}, "need a full http(s)://"),
    ({"url": "ftp://127.0.0.1:21/metrics"}, "only http:// and https://"),
    ({"url": "file:///etc/passwd"}, "only http:// and https://"),
    ({"url": "http://user:pw@127.0.0.1:1/metrics"}, "no user or password"),
    ({"url": "http://127.0.0.1:1/metrics,kind=vllm"}, "may not hold ','"),
    ({"url": "http://127.0.0.1:1/$(reboot)"}, "holds characters"),
    ({"url": "http://127.0.0.1:1/$(touch /tmp/x)"}, "not a URL"),
    ({"url": "http://127.0.0.1:1/m;reboot"}, "holds characters"),
    ({"url": "http://127.0.0.1:1/`id`"}, "holds characters"),
    ({"url": "http://127.0.0.1:1/m\x1b[2J"}, "not a URL"),
    ({"url": "http://127.0.0.1:1/m\r\nHost: evil"}, "not a URL"),
    ({"url": "http://127.0.0.1:99999/metrics"}, "out of range"),
    ({"url": "http://ex ample/metrics"}, "not a URL"),
    ({"url": "http://127.0.0.1:1/" + "a" * 2000}, "not a URL"),
    ({"url": "http://127.0.0.1:1/m", "name": "\x1b]0;pwned\x07"}, "bad service name"),
    ({"url": "http://127.0.0.1:1/m", "name": "[bold red]x[/]"}, "bad service name"),
    ({"url": "http://127.0.0.1:1/m", "kind": "evil"}, "unknown kind"),
]


@pytest.mark.parametrize(("entry", "why"), HOSTILE)
def test_a_bad_entry_is_refused_alone_with_its_index_and_reason(entry: object, why: str) -> None:
    good = {"url": "http://127.0.0.1:8000/metrics", "name": "chat"}
    controls = fed([good, entry, {"url": "http://localhost:8001/metrics"}])
    got = controls.take_services()
    assert got is not None
    targets, refused = got
    # The good neighbours on both sides are kept, with their own indexes.
    assert [(i, t.url) for i, t in targets] == [
        (0, "http://127.0.0.1:8000/metrics"), (2, "http://localhost:8001/metrics")]
    (reason,) = refused
    assert reason.startswith("control services[1] refused: "), reason
    assert why in reason, reason
    assert reason.isprintable() and "\x1b" not in reason and len(reason) <= 300
    assert controls.take_notes() == []  # the line itself was fine


def test_from_registration_raises_target_error() -> None:
    with pytest.raises(TargetError, match="expected an object"):
        from_registration(None)


def test_duplicates_and_too_many_entries_are_reported() -> None:
    entries = [{"url": f"http://127.0.0.1:{8000 + i}/metrics"} for i in range(MAX_SERVICES)]
    entries.insert(3, {"url": "http://127.0.0.1:8000/metrics", "name": "again"})
    entries.append({"url": "http://127.0.0.1:9999/metrics"})
    controls = fed(entries)
    got = controls.take_services()
    assert got is not None
    targets, refused = got
    assert len(targets) == MAX_SERVICES - 1  # 16 looked at, one a duplicate
    assert refused[0] == ("control services[3] refused: http://127.0.0.1:8000/metrics is "
                          "already services[0]")
    assert refused[1] == ("control services: 18 entries, at most 16; the last 2 are ignored")


@pytest.mark.parametrize("value", [None, {"url": "http://127.0.0.1:1/m"}, "x", 3])
def test_a_services_value_that_is_not_a_list_changes_nothing(value: object) -> None:
    controls = fed([{"url": "http://127.0.0.1:8000/metrics"}])
    before = controls.take_services()
    controls.feed(line(value))
    assert controls.take_services() is None
    assert controls.services == before[0]  # type: ignore[index]
    (note,) = controls.take_notes()
    assert note.startswith("control services: expected a list of services"), note


def test_a_line_with_sixteen_long_urls_fits_and_longer_lines_are_refused() -> None:
    long_path = "/" + "p" * 1000
    entries = [{"url": f"http://127.0.0.1:{8000 + i}{long_path}", "name": f"s{i}"}
               for i in range(MAX_SERVICES)]
    controls = fed(entries)
    got = controls.take_services()
    assert got is not None and len(got[0]) == MAX_SERVICES and got[1] == ()
    controls.feed(b'{"type":"control","services":["' + b"x" * MAX_LINE + b'"]}\n')
    assert controls.take_services() is None
    assert controls.take_notes() == [f"control line longer than {MAX_LINE} bytes ignored"]


# ---------------------------------------------------------------------- this node's addresses

MINE = frozenset({ipaddress.ip_address("10.1.2.3"), ipaddress.ip_address("fd00::2")})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost", "LocalHost",
                                  "::ffff:127.0.0.1", "10.1.2.3", "fd00::2", "::ffff:10.1.2.3"])
def test_loopback_and_own_addresses_are_this_node(host: str) -> None:
    assert local.refuse(host, MINE) is None


@pytest.mark.parametrize(("host", "why"), [
    ("10.1.2.4", "not an address of this node"),
    ("8.8.8.8", "not an address of this node"),
    ("169.254.169.254", "not an address of this node"),  # a cloud's metadata service
    ("fd00::3", "not an address of this node"),
    ("0.0.0.0", "not an address to scrape"),
    ("::", "not an address to scrape"),
    ("224.0.0.1", "not an address to scrape"),
    ("metrics.example.com", "is a host name"),
    ("localhost.evil.com", "is a host name"),
])
def test_other_hosts_are_refused_with_a_reason(host: str, why: str) -> None:
    reason = local.refuse(host, MINE)
    assert reason is not None and why in reason


FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
"""

IF_INET6 = """fd000000000000000000000000000002 04 40 00 82     eth0
00000000000000000000000000000001 01 80 10 80       lo
garbage line
"""


def test_proc_texts_give_the_local_addresses_only() -> None:
    assert local.parse_fib_trie(FIB_TRIE) == {ipaddress.ip_address("127.0.0.1"),
                                             ipaddress.ip_address("192.0.2.2")}
    assert local.parse_if_inet6(IF_INET6) == {ipaddress.ip_address("fd00::2"),
                                             ipaddress.ip_address("::1")}


def test_this_machines_addresses_hold_loopback_by_either_way() -> None:
    by_psutil = local.read_addresses()
    by_proc = local.read_addresses(use_psutil=False)
    assert ipaddress.ip_address("127.0.0.1") in by_psutil
    assert ipaddress.ip_address("127.0.0.1") in by_proc
    assert {a for a in by_psutil if a.version == 4} == {a for a in by_proc if a.version == 4}


# ---------------------------------------------------------------------- the monitor's stream


def new_hello(features: tuple[str, ...]) -> bytes:
    h = replace(hello(), schema_minor=SCHEMA_MINOR, features=features)
    return wire.encode(h).encode()


REG = [{"url": "http://127.0.0.1:8000/metrics", "name": "chat"}]


def test_the_services_line_goes_to_a_sampler_that_announces_them_once_per_run() -> None:
    stream = SamplerStream("n")
    stream.request_services(REG)
    assert stream.control_lines() == []  # no hello yet
    stream.feed(new_hello(("control", "delta", "services")), 1.0)
    expected = (b'{"type":"control","services":[{"name":"chat",'
                b'"url":"http://127.0.0.1:8000/metrics"}]}\n')
    assert stream.control_lines() == [CONTROL_DELTA, expected]
    assert stream.control_lines() == []
    stream.request_services(list(REG))  # the same again (a heartbeat's update)
    assert stream.control_lines() == []
    stream.feed(new_hello(("control", "delta", "services")), 2.0)  # the sampler restarted
    assert stream.control_lines() == [CONTROL_DELTA, expected]
    stream.request_services(None)  # the registration names none any more
    assert stream.control_lines() == [b'{"type":"control","services":[]}\n']
    assert stream.services_lines == 3


def test_no_services_line_to_a_sampler_that_does_not_scrape_services() -> None:
    stream = SamplerStream("n")
    stream.request_services(REG)
    stream.feed(new_hello(("control", "delta")), 1.0)
    assert stream.control_lines() == [CONTROL_DELTA]
    assert stream.services_lines == 0


def test_no_line_for_a_registration_without_services() -> None:
    stream = SamplerStream("n")
    stream.request_services([])
    stream.feed(new_hello(("control", "delta", "services")), 1.0)
    assert stream.control_lines() == [CONTROL_DELTA]


def test_entries_keep_only_url_name_kind_strings() -> None:
    got = service_entries([{"url": "http://127.0.0.1:1/m", "name": 5, "x": "y", "kind": "vllm"},
                           "junk", {"name": "no-url"}])
    assert got == ((("kind", "vllm"), ("url", "http://127.0.0.1:1/m")),)


def test_a_line_past_the_samplers_limit_loses_its_last_entries_not_all() -> None:
    entries = service_entries([{"url": "http://127.0.0.1:1/" + "a" * 60_000},
                               {"url": "http://127.0.0.1:2/" + "b" * 60_000},
                               {"url": "http://127.0.0.1:3/" + "c" * 60_000}])
    out = control_services(entries)
    assert len(out) <= MAX_LINE
    assert [e["url"][:20] for e in json.loads(out)["services"]] == [
        "http://127.0.0.1:1/a", "http://127.0.0.1:2/b"]


def test_the_agent_names_the_services_its_sampler_would_refuse() -> None:
    from autoglm_tui.cluster.registration import RegisteredService
    from autoglm_tui.commands.agent import _unscraped

    got = _unscraped([
        RegisteredService("http://127.0.0.1:8000/metrics", "chat", "vllm"),
        RegisteredService("http://[::1]:8001/metrics"),
        RegisteredService("http://203.0.113.7:8000/metrics", "far"),
        RegisteredService("http://127.0.0.1:8002/m;x"),
    ])
    assert got == [
        "--service http://203.0.113.7:8000/metrics: this node's sampler will not scrape it: "
        "203.0.113.7 is not an address of this node (only its own addresses are scraped)",
        "--service http://127.0.0.1:8002/m;x: this node's sampler will not scrape it: path "
        "'/m;x' holds characters a metrics path does not need (letters, digits and ._~/%+- "
        "only, and a simple ?query)",
    ]
