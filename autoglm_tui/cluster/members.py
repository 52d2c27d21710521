"""Membership records and what they say about a node, together with its heartbeat (pure).

Each agent keeps two keys in etcd:

- the heartbeat ``<prefix><node_id>`` (registration.py), on a lease: present while the agent
  lives;
- the member record ``<members_prefix><node_id>``, on no lease: present from the first
  registration until a graceful leave, a deregistration or an operator's ``members forget``.

A member record's value is compact JSON::

    {"member": 1, "node_id": "gpu-7", "state": "alive", "since": 1790000000.0,
     "registration": {...the heartbeat's registration...}}

``state`` is ``alive``; ``leaving`` (set just before a graceful leave revokes the lease);
``forgotten`` (an operator is removing a failed node); or ``deregistered`` (``agent
--deregister``). Records are untrusted input and validated like registrations.

``decide(heartbeat, member, last_state)`` gives the node's membership view: ALIVE (heartbeat),
FAILED (a member without a heartbeat and without a leave), LEFT, FORGOTTEN or INVALID. The
registry watcher turns changes of view into events.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import Enum

from autoglm_tui.cluster.registration import (
    NODE_ID,
    Registration,
    RegistrationError,
    load_object,
    node_id_from_key,
    registration_from_object,
)
from autoglm_tui.text import clean

RECORD_VERSION = 1


class MemberState(str, Enum):
    ALIVE = "alive"
    LEAVING = "leaving"
    FORGOTTEN = "forgotten"
    DEREGISTERED = "deregistered"


class View(str, Enum):
    """What the registry says about a node."""

    ALIVE = "alive"  # heartbeat present
    FAILED = "failed"  # member record, no heartbeat, no leave: the lease lapsed
    LEFT = "left"  # graceful leave (or a record deleted without a mark)
    FORGOTTEN = "forgotten"  # removed by an operator or a deregistration
    INVALID = "invalid"  # the heartbeat or member record does not validate


# Reasons, as the state and the alert log show them.
FAILED_LEASE = "lost heartbeat: lease expired without a leave"
LEFT_GRACEFUL = "left gracefully"
LEFT_LEASE = "lease revoked or expired"  # no member record: an agent that predates them
LEFT_RECORD_DELETED = "member record deleted"
FORGOTTEN_BY_OPERATOR = "forgotten by operator"
DEREGISTERED = "deregistered by its agent"


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """One validated member record."""

    node_id: str
    state: MemberState
    since: float | None
    registration: Registration | None  # required while alive or leaving

    def to_json(self) -> bytes:
        return member_value(self.node_id, self.state, self.since, self.registration)


def member_value(
    node_id: str,
    state: MemberState,
    since: float | None,
    registration: Registration | None,
) -> bytes:
    """The value of a member record (compact UTF-8 JSON)."""
    value: dict[str, object] = {
        "member": RECORD_VERSION,
        "node_id": node_id,
        "state": state.value,
        "since": None if since is None else round(since, 3),
    }
    if registration is not None:
        value["registration"] = registration.to_dict()
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def parse_member(key: bytes | str, value: bytes, members_prefix: str) -> MemberRecord:
    """Validate one member record; raises RegistrationError (never anything else)."""
    node_id = node_id_from_key(key, members_prefix)
    try:
        obj = load_object(value)
    except ValueError as exc:
        raise RegistrationError(node_id, clean(f"member record: {exc}", 300)) from None
    version = obj.get("member")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RegistrationError(node_id, "member record: 'member' is not a record version")
    claimed = obj.get("node_id")
    if not isinstance(claimed, str) or not NODE_ID.fullmatch(claimed) or claimed != node_id:
        raise RegistrationError(node_id, "member record: node_id does not match its key")
    try:
        state = MemberState(obj.get("state"))
    except ValueError:
        raise RegistrationError(
            node_id, clean(f"member record: unknown state {obj.get('state')!r}", 120)
        ) from None
    since = obj.get("since")
    if since is not None and (
        isinstance(since, bool)
        or not isinstance(since, (int, float))
        or not math.isfinite(since)
        or not 0 <= since <= 1e11
    ):
        raise RegistrationError(node_id, "member record: 'since' is not a time")
    raw = obj.get("registration")
    registration = None
    if raw is not None:
        try:
            registration = registration_from_object(node_id, raw)
        except RegistrationError as exc:
            raise RegistrationError(node_id, f"member record: {exc.reason}") from None
    if registration is None and state in (MemberState.ALIVE, MemberState.LEAVING):
        raise RegistrationError(node_id, "member record: no registration")
    return MemberRecord(node_id, state, None if since is None else float(since), registration)


def decide(
    heartbeat: Registration | str | None,
    member: MemberRecord | str | None,
    last_state: MemberState | None = None,
) -> tuple[View, str | None]:
    """The membership view of one node and its reason.

    `heartbeat`/`member`: the validated value, a string (why it does not validate) or None
    (no such key). `last_state`: the member record's state before it was deleted, when it was
    (it tells a graceful leave from a forget once both keys are gone)."""
    if isinstance(heartbeat, Registration):
        return View.ALIVE, None
    if isinstance(heartbeat, str):
        return View.INVALID, heartbeat
    if isinstance(member, str):
        return View.INVALID, member
    state = member.state if member is not None else last_state
    if state is MemberState.ALIVE:
        if member is not None:
            return View.FAILED, FAILED_LEASE
        return View.LEFT, LEFT_RECORD_DELETED
    if state is MemberState.LEAVING:
        return View.LEFT, LEFT_GRACEFUL
    if state is MemberState.FORGOTTEN:
        return View.FORGOTTEN, FORGOTTEN_BY_OPERATOR
    if state is MemberState.DEREGISTERED:
        return View.FORGOTTEN, DEREGISTERED
    return View.LEFT, LEFT_LEASE


__all__ = [
    "DEREGISTERED",
    "FAILED_LEASE",
    "FORGOTTEN_BY_OPERATOR",
    "LEFT_GRACEFUL",
    "LEFT_LEASE",
    "LEFT_RECORD_DELETED",
    "MemberRecord",
    "MemberState",
    "View",
    "decide",
    "member_value",
    "parse_member",
]
