"""Member records (untrusted input), the membership view of a node, and the key layout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autoglm_tui.cluster.etcd_config import (
    EtcdConfig,
    check_prefixes,
    default_members_prefix,
)
from autoglm_tui.cluster.members import (
    DEREGISTERED,
    FAILED_LEASE,
    FORGOTTEN_BY_OPERATOR,
    LEFT_GRACEFUL,
    LEFT_LEASE,
    LEFT_RECORD_DELETED,
    MemberState,
    View,
    decide,
    member_value,
    parse_member,
)
from autoglm_tui.cluster.registration import RegistrationError, parse_registration

PREFIX = "/autoglm/members/"


def reg_dict(node_id: str = "gpu-1", **fields: object) -> dict[str, object]:
    value: dict[str, object] = {
        "node_id": node_id,
        "hostname": node_id,
        "address": "10.0.0.7",
        "ssh_port": 22,
        "labels": {"role": "infer"},
        "heartbeat_interval": 5.0,
    }
    value.update(fields)
    return value


def registration(node_id: str = "gpu-1"):
    return parse_registration(
        f"/autoglm/nodes/{node_id}", json.dumps(reg_dict(node_id)).encode(), "/autoglm/nodes/"
    )


def record(node_id: str = "gpu-1", **fields: object) -> bytes:
    value: dict[str, object] = {
        "member": 1,
        "node_id": node_id,
        "state": "alive",
        "since": 1.79e9,
        "registration": reg_dict(node_id),
    }
    value.update(fields)
    return json.dumps(value).encode()


def test_a_written_record_reads_back() -> None:
    reg = registration()
    raw = member_value("gpu-1", MemberState.ALIVE, 1.79e9, reg)
    parsed = parse_member(PREFIX + "gpu-1", raw, PREFIX)
    assert parsed.state is MemberState.ALIVE
    assert parsed.registration == reg
    assert parsed.since == 1.79e9
    assert parsed.to_json() == raw


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"\xff\xfe", "UTF-8"),
        (record(member="1"), "record version"),
        (record(member=True), "record version"),
        (record(node_id="other"), "does not match"),
        (record(state="zombie\x1b[2J"), "unknown state"),
        (record(since="yesterday"), "'since'"),
        (record(since=float("1e300")), "'since'"),
        (record(registration={"node_id": "gpu-1"}), "hostname"),
        (record(registration=dict(reg_dict(), address="$(reboot)")), "address"),
        (record(registration=None), "no registration"),
        (b'{"member": 1, "member": 1}', "duplicate"),
        (b'{"member": 1, "since": NaN}', "not a number"),
        (b'{"pad": "' + b"x" * 70_000 + b'"}', "too large"),
    ],
)
def test_bad_records_are_refused_with_a_clean_reason(value: bytes, words: str) -> None:
    with pytest.raises(RegistrationError) as caught:
        parse_member(PREFIX + "gpu-1", value, PREFIX)
    assert words in caught.value.reason
    assert caught.value.node_id == "gpu-1"
    assert "\x1b" not in caught.value.reason


def test_a_forgotten_record_needs_no_registration_and_a_bad_key_is_refused() -> None:
    parsed = parse_member(PREFIX + "n", record("n", state="forgotten", registration=None), PREFIX)
    assert parsed.state is MemberState.FORGOTTEN and parsed.registration is None
    with pytest.raises(RegistrationError, match="key suffix"):
        parse_member(PREFIX + "bad id", record("bad id"), PREFIX)


def test_views_from_heartbeat_and_member_record() -> None:
    reg = registration()
    alive = parse_member(PREFIX + "gpu-1", record(), PREFIX)
    leaving = parse_member(PREFIX + "gpu-1", record(state="leaving"), PREFIX)
    forgotten = parse_member(PREFIX + "gpu-1", record(state="forgotten"), PREFIX)
    dereg = parse_member(PREFIX + "gpu-1", record(state="deregistered"), PREFIX)
    # A heartbeat means alive, whatever the record says (a leave is under way, or an old agent).
    assert decide(reg, alive) == (View.ALIVE, None)
    assert decide(reg, None) == (View.ALIVE, None)
    assert decide(reg, "garbage") == (View.ALIVE, None)
    assert decide("bad heartbeat", alive) == (View.INVALID, "bad heartbeat")
    # No heartbeat: the record tells a crash from a leave from a forget.
    assert decide(None, alive) == (View.FAILED, FAILED_LEASE)
    assert decide(None, leaving) == (View.LEFT, LEFT_GRACEFUL)
    assert decide(None, forgotten) == (View.FORGOTTEN, FORGOTTEN_BY_OPERATOR)
    assert decide(None, dereg) == (View.FORGOTTEN, DEREGISTERED)
    assert decide(None, "bad record") == (View.INVALID, "bad record")
    # Both keys gone: the record's last state before it was deleted decides.
    assert decide(None, None, MemberState.LEAVING) == (View.LEFT, LEFT_GRACEFUL)
    assert decide(None, None, MemberState.FORGOTTEN) == (View.FORGOTTEN, FORGOTTEN_BY_OPERATOR)
    assert decide(None, None, MemberState.ALIVE) == (View.LEFT, LEFT_RECORD_DELETED)
    assert decide(None, None, None) == (View.LEFT, LEFT_LEASE)


def test_members_prefix_defaults_beside_the_node_prefix() -> None:
    assert default_members_prefix("/autoglm/nodes/") == "/autoglm/members/"
    assert default_members_prefix("/nodes/") == "/members/"
    assert default_members_prefix("/a/b/hb/") == "/a/b/members/"
    config = EtcdConfig(endpoints=(), prefix="/x/nodes/")
    assert config.member_prefix == "/x/members/"
    assert EtcdConfig(endpoints=(), members_prefix="/m/").member_prefix == "/m/"
    with pytest.raises(ValueError, match="overlap"):
        check_prefixes("/members/", default_members_prefix("/members/"))
    with pytest.raises(ValueError, match="overlap"):
        check_prefixes("/a/", "/a/m/")


def test_building_an_etcd_config_imports_no_grpc() -> None:
    """etcd_args and etcd_config make a typed config without the gRPC stack."""
    code = (
        "import argparse, sys\n"
        "from autoglm_tui.cluster.etcd_args import add_etcd_args, etcd_config_from_args\n"
        "p = argparse.ArgumentParser(); add_etcd_args(p)\n"
        "c = etcd_config_from_args(p.parse_args(['--etcd', 'h:1', '--prefix', '/x/n/']))\n"
        "print(type(c).__name__, c.member_prefix,"
        " sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'aetcd')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["EtcdConfig", "/x/members/", "[]"]
