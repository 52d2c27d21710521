"""Writes and reads of membership in etcd: leave, forget, list (agent and operator commands).

Only agents and explicit operator commands write membership; monitors only read. Every write
that could race with an agent coming back is guarded by the keys' mod revisions, so a forget
never deletes a record that an agent rewrote meanwhile.

- ``leave(client, config, node_id, ...)``: a graceful leave or a deregistration: mark the member
  record (``leaving`` or ``deregistered``), drop the heartbeat (revoke its lease), delete the
  record. Used by the agent on SIGTERM and by ``agent --leave`` / ``agent --deregister``.
- ``forget(client, config, node_id, force=)``: the operator removes a member (normally a FAILED
  one): mark it ``forgotten``, then delete the record and any heartbeat key left without a lease.
  A node that still heartbeats is refused unless `force` (its lease is then revoked; a live agent
  registers again at its next heartbeat).
- ``read_members(client, config)``: every node with a heartbeat or a member record, and its
  view (members.decide), read at one revision.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from autoglm_tui.cluster.etcd_client import EtcdClient, EtcdConfig, KeyValue
from autoglm_tui.cluster.members import (
    MemberRecord,
    MemberState,
    View,
    decide,
    member_value,
    parse_member,
)
from autoglm_tui.cluster.registration import (
    Registration,
    RegistrationError,
    node_id_from_key,
    parse_registration,
)


class MembershipError(Exception):
    """A membership operation that cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """One node as the registry has it (for ``members list``)."""

    node_id: str
    view: View
    reason: str | None
    registration: Registration | None
    member_state: MemberState | None  # None: no (valid) member record
    since: float | None  # the member record's time
    lease: int  # the heartbeat's lease (0: none)

    def to_dict(self) -> dict[str, object]:
        reg = self.registration
        return {
            "node_id": self.node_id,
            "view": self.view.value,
            "reason": self.reason,
            "member_state": None if self.member_state is None else self.member_state.value,
            "since": self.since,
            "heartbeat_lease": self.lease or None,
            "address": reg.address if reg else None,
            "ssh_port": reg.ssh_port if reg else None,
            "labels": dict(reg.labels) if reg else {},
            "heartbeat_interval": reg.heartbeat_interval if reg else None,
            "agent_version": reg.agent_version if reg else None,
        }


def keys(config: EtcdConfig, node_id: str) -> tuple[bytes, bytes]:
    """(heartbeat key, member key) of a node."""
    return (config.prefix + node_id).encode(), (config.member_prefix + node_id).encode()


def _registration(config: EtcdConfig, beat: KeyValue | None, record: KeyValue | None
                  ) -> Registration | None:
    """The node's registration from its member record, else from its heartbeat, else None."""
    if record is not None:
        try:
            parsed = parse_member(record.key, record.value, config.member_prefix)
        except RegistrationError:
            parsed = None
        if parsed is not None and parsed.registration is not None:
            return parsed.registration
    if beat is not None:
        try:
            return parse_registration(beat.key, beat.value, config.prefix)
        except RegistrationError:
            return None
    return None


async def leave(
    client: EtcdClient,
    config: EtcdConfig,
    node_id: str,
    *,
    state: MemberState = MemberState.LEAVING,
    registration: Registration | None = None,
    lease_id: int | None = None,
) -> bool:
    """Mark the member record `state`, revoke the heartbeat's lease, delete the record.

    `lease_id`: the heartbeat's lease when the caller holds it (the agent), else it is read
    from the heartbeat key. Returns False when the node had neither key. Raises EtcdError."""
    beat_key, member_key = keys(config, node_id)
    beat = await client.get(beat_key)
    record = await client.get(member_key)
    if beat is None and record is None and lease_id is None:
        return False
    reg = registration or _registration(config, beat, record)
    await client.put(member_key, member_value(node_id, state, time.time(), reg))
    lease = lease_id if lease_id is not None else (beat.lease if beat is not None else 0)
    if lease:
        await client.revoke(lease)
    elif beat is not None:
        await client.delete(beat_key)
    await client.delete(member_key)
    return True


async def forget(
    client: EtcdClient, config: EtcdConfig, node_id: str, *, force: bool = False
) -> MemberInfo:
    """Remove a member for every monitor (see the module docstring); returns what it was.
    Raises MembershipError (not a member, still alive, changed meanwhile) or EtcdError."""
    beat_key, member_key = keys(config, node_id)
    beat = await client.get(beat_key)
    record = await client.get(member_key)
    if beat is None and record is None:
        raise MembershipError(f"{node_id} is not in the registry (no member record, no heartbeat)")
    info = _info(config, node_id, beat, record)
    if beat is not None and beat.lease and not force:
        raise MembershipError(
            f"{node_id} still heartbeats (lease {beat.lease:x}), so it is not failed; stop its "
            f"agent (it then leaves by itself) or pass --force"
        )
    reg = _registration(config, beat, record)
    mark = member_value(node_id, MemberState.FORGOTTEN, time.time(), reg)
    guards = [
        (member_key, record.mod_revision if record is not None else 0),
        (beat_key, beat.mod_revision if beat is not None else 0),
    ]
    done, revision = await client.txn(unchanged=guards, puts=[(member_key, mark, 0)])
    if not done:
        raise MembershipError(f"{node_id} changed while it was being forgotten (its agent "
                              f"came back?); nothing was removed")
    if beat is not None and beat.lease:
        await client.revoke(beat.lease)  # --force on a live node
        beat = None
    deletes = [member_key] + ([beat_key] if beat is not None else [])
    guards = [(member_key, revision)] + (
        [(beat_key, beat.mod_revision)] if beat is not None else []
    )
    done, _ = await client.txn(unchanged=guards, deletes=deletes)
    if not done:
        raise MembershipError(f"{node_id} changed while it was being forgotten (its agent "
                              f"came back?); it is marked forgotten but still listed")
    return info


async def read_member(client: EtcdClient, config: EtcdConfig, node_id: str) -> MemberInfo | None:
    """One node's view, or None when it has neither key."""
    beat_key, member_key = keys(config, node_id)
    beat = await client.get(beat_key)
    record = await client.get(member_key)
    if beat is None and record is None:
        return None
    return _info(config, node_id, beat, record)


async def read_members(client: EtcdClient, config: EtcdConfig) -> list[MemberInfo]:
    """Every node with a heartbeat or a member record, by node id, read at one revision."""
    revision, beats = await client.get_prefix(config.prefix.encode())
    _, records = await client.get_prefix(config.member_prefix.encode(), revision)
    by_id: dict[str, list[KeyValue | None]] = {}
    for slot, (kvs, prefix) in enumerate(
        ((beats, config.prefix), (records, config.member_prefix))
    ):
        for kv in kvs:
            try:
                node_id = node_id_from_key(kv.key, prefix)
            except RegistrationError:
                continue  # no valid node id: nothing a forget could name
            by_id.setdefault(node_id, [None, None])[slot] = kv
    return [_info(config, n, beat, record) for n, (beat, record) in sorted(by_id.items())]


def _info(
    config: EtcdConfig, node_id: str, beat: KeyValue | None, record: KeyValue | None
) -> MemberInfo:
    hb: Registration | str | None = None
    if beat is not None:
        try:
            hb = parse_registration(beat.key, beat.value, config.prefix)
        except RegistrationError as exc:
            hb = exc.reason
    mem: MemberRecord | str | None = None
    if record is not None:
        try:
            mem = parse_member(record.key, record.value, config.member_prefix)
        except RegistrationError as exc:
            mem = exc.reason
    view, reason = decide(hb, mem)
    reg = hb if isinstance(hb, Registration) else None
    if reg is None and isinstance(mem, MemberRecord):
        reg = mem.registration
    return MemberInfo(
        node_id=node_id,
        view=view,
        reason=reason,
        registration=reg,
        member_state=mem.state if isinstance(mem, MemberRecord) else None,
        since=mem.since if isinstance(mem, MemberRecord) else None,
        lease=beat.lease if beat is not None else 0,
    )


__all__ = [
    "MemberInfo",
    "MembershipError",
    "forget",
    "keys",
    "leave",
    "read_member",
    "read_members",
]
