"""Registry values are untrusted: parse_registration accepts only well-formed registrations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoglm_tui.cluster.registration import (
    MAX_VALUE_BYTES,
    GpuResource,
    Registration,
    RegistrationError,
    Resources,
    parse_registration,
)

PREFIX = "/autoglm/nodes/"


def value(node_id: str = "n1", **fields: Any) -> bytes:
    base: dict[str, Any] = {
        "node_id": node_id,
        "hostname": "gpu-host.example",
        "address": "10.0.0.5",
        "ssh_port": 22,
        "labels": {"role": "infer", "zone": "eu west/1"},
        "resources": {
            "cpu_cores": 64,
            "memory_mb": 515_000,
            "gpus": [{"index": 0, "uuid": "GPU-1a2b", "name": "NVIDIA H100", "memory_mb": 81559}],
            "bandwidth_mbps": 25000,
        },
        "heartbeat_interval": 5,
        "agent_version": "0.1.0",
        "started_at": 1_790_000_000.5,
    }
    base.update(fields)
    return json.dumps(base).encode()


def reason_for(raw: bytes, node_id: str = "n1") -> str:
    with pytest.raises(RegistrationError) as info:
        parse_registration(PREFIX + node_id, raw, PREFIX)
    assert info.value.node_id == node_id
    return info.value.reason


def test_a_full_registration_round_trips() -> None:
    reg = parse_registration(
        b"/autoglm/nodes/n1", value(service_url="http://10.0.0.5:8000/metrics"), PREFIX
    )
    assert reg.node_id == "n1"
    assert (reg.address, reg.ssh_port) == ("10.0.0.5", 22)
    assert reg.labels == {"role": "infer", "zone": "eu west/1"}
    assert reg.resources == Resources(
        64, 515_000, (GpuResource(0, "GPU-1a2b", "NVIDIA H100", 81559),), 25000
    )
    assert reg.heartbeat_interval == 5.0
    assert reg.service_url == "http://10.0.0.5:8000/metrics"
    assert parse_registration("/autoglm/nodes/n1", reg.to_json(), PREFIX) == reg
    assert json.loads(reg.to_json())["resources"]["gpus"][0]["uuid"] == "GPU-1a2b"


def test_minimal_registration_and_unknown_fields() -> None:
    raw = json.dumps(
        {"node_id": "n1", "hostname": "h", "address": "fd00::5", "ssh_port": 2200, "future": [1]}
    ).encode()
    reg = parse_registration("/autoglm/nodes/n1", raw, PREFIX)
    assert reg == Registration("n1", "h", "fd00::5", 2200)
    assert "service_url" not in reg.to_dict()


@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        (b"{nope", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"\xff\xfe", "UTF-8"),
        (b'{"node_id": "n1", "ssh_port": NaN}', "NaN"),
        (b'{"node_id": "n1", "node_id": "n1"}', "duplicate field"),
        (b"[" * 60_000, "nested too deeply"),
        (b'{"a": "' + b"x" * MAX_VALUE_BYTES + b'"}', "too large"),
        (b'{"node_id": "n1", "x": ' + b"9" * 5000 + b"}", "invalid"),
        (value(node_id="n2"), "does not match its key"),
        (value(hostname=None), "hostname: missing"),
        (value(hostname="a b"), "hostname"),
        (value(hostname="evil\x1b]0;title\x07"), "hostname"),
        (value(address=5), "address: not a string"),
        (value(address="$(touch /tmp/x)"), "address"),
        (value(address="-oProxyCommand=sh"), "address"),
        (value(address="host name"), "address"),
        (value(address="10.0.0.256"), "address"),
        (value(address="fe80::1%$(id)"), "address"),
        (value(address="a" * 300), "address"),
        (value(ssh_port="22"), "ssh_port: not an integer"),
        (value(ssh_port=True), "ssh_port: not an integer"),
        (value(ssh_port=22.0), "ssh_port: not an integer"),
        (value(ssh_port=0), "out of range"),
        (value(ssh_port=65536), "out of range"),
        (value(labels=["a"]), "labels: not an object"),
        (value(labels={"role": 1}), "labels.role: not a string"),
        (value(labels={"ro le": "x"}), "labels: bad key"),
        (value(labels={"role": "$(reboot)"}), "labels.role"),
        (value(labels={"role": "\x1b[31mred"}), "labels.role"),
        (value(labels={"role": "x" * 129}), "labels.role"),
        (value(labels={f"k{i}": "v" for i in range(65)}), "labels: 65 labels"),
        (value(resources=[]), "resources: not an object"),
        (value(resources={"cpu_cores": -1}), "resources.cpu_cores"),
        (value(resources={"memory_mb": "lots"}), "resources.memory_mb"),
        (value(resources={"gpus": {}}), "resources.gpus: not a list"),
        (value(resources={"gpus": [{"index": 0, "uuid": "GPU-1", "name": "\u202eevil"}]}), "name"),
        (value(resources={"gpus": [{"index": 0, "uuid": "x y", "name": "A"}]}), "uuid"),
        (value(resources={"gpus": [{"index": 0, "uuid": "u"}] * 65}), "at most 64"),
        (value(heartbeat_interval=-1), "heartbeat_interval"),
        (value(heartbeat_interval=1e400), "Infinity"),
        (value(heartbeat_interval="5"), "heartbeat_interval: not a number"),
        (value(agent_version="1.0 beta"), "agent_version"),
        (value(service_url="javascript:alert(1)"), "service_url"),
        (value(service_url="http://h:99999/"), "service_url"),
        (value(service_url="http://h/\x1b[2J"), "service_url"),
    ],
)
def test_bad_values_are_rejected_with_a_reason(raw: bytes, expect: str) -> None:
    reason = reason_for(raw)
    assert expect in reason
    assert "\x1b" not in reason and "\x07" not in reason and "\u202e" not in reason


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("/autoglm/nodes/", "?"),
        ("/autoglm/nodes/a/b", "a/b"),
        ("/autoglm/nodes/-rf", "-rf"),
        ("/autoglm/nodes/" + "a" * 65, "a" * 63 + "…"),
        ("/autoglm/nodes/x\x1b[2J", "x [2J"),
        ("/other/n1", "/other/n1"),
    ],
)
def test_bad_keys_are_rejected(key: str, shown: str) -> None:
    with pytest.raises(RegistrationError) as info:
        parse_registration(key, value(), PREFIX)
    assert info.value.node_id == shown
    assert "\x1b" not in info.value.node_id


def test_key_bytes_that_are_not_utf8() -> None:
    with pytest.raises(RegistrationError, match="not UTF-8"):
        parse_registration(b"/autoglm/nodes/\xff", value(), PREFIX)


def test_accepted_address_forms() -> None:
    for address in ("10.1.2.3", "gpu-7.cluster.local", "node_12", "::1", "fe80::1%eth0"):
        assert parse_registration(PREFIX + "n1", value(address=address), PREFIX).address == address


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_raise_only_registration_error(raw: bytes) -> None:
    try:
        parse_registration(PREFIX + "n1", raw, PREFIX)
    except RegistrationError as exc:
        assert exc.reason


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "node_id": st.sampled_from(["n1", "n2", 1, None]),
            "hostname": _json,
            "address": st.sampled_from(["10.0.0.1", "::1", "x y", 7]) | _json,
            "ssh_port": st.integers(-5, 70000) | _json,
            "labels": _json,
            "resources": _json,
            "heartbeat_interval": _json,
            "service_url": _json,
        },
    )
)
def test_any_json_object_raises_only_registration_error(obj: dict[str, Any]) -> None:
    try:
        reg = parse_registration(PREFIX + "n1", json.dumps(obj).encode(), PREFIX)
    except RegistrationError:
        return
    assert reg.node_id == "n1" and 1 <= reg.ssh_port <= 65535
