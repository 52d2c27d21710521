"""The registry watcher: which nodes exist, from etcd (monitor side, no Textual).

``RegistryWatcher(config, emit).run()`` reads two prefixes at one revision, the heartbeats
(``config.prefix``, on leases) and the member records (``config.member_prefix``, on no lease;
cluster/members.py), then watches both in one ordered stream from the next revision, and turns
each node's membership view into events (autoglm_tui/events.py):

- ``NodeJoined`` (source "etcd") when a valid heartbeat appears or changes, or when a member
  without a heartbeat is first seen (then followed by ``HeartbeatLost``);
- ``HeartbeatLost`` when a member's lease lapses without a graceful leave (FAILED while no
  samples flow);
- ``NodeLeft`` for a graceful leave (the record was marked ``leaving``), and for a heartbeat that
  goes with no member record at all (an agent without member records);
- ``NodeForgotten`` when an operator forgets the node or its agent deregisters it;
- ``NodeInvalid`` when a value does not validate (only that node is affected);
- ``RegistryChanged(ok=False)`` when etcd is lost or silent (the last known nodes stay as they
  are: nothing is marked LEFT or FAILED while etcd cannot be read), ``ok=True`` once it has been
  listed again.

A silent etcd (a cut link drops packets, no reset) is noticed by the watch's progress probes
within 3 heartbeat intervals: the probe period is the shortest heartbeat interval among the
known nodes (1-5 s), and the stream may stay silent for one period plus max(2 s, one period).
After a lost connection it reconnects with capped exponential backoff and jitter, lists again
and emits only the differences. A member whose heartbeat vanished while etcd was unreachable
gets two TTLs (6 heartbeat intervals + 2 s) of grace to register again before it is called
FAILED, since its agent could not reach etcd either. Event times come from `clock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from autoglm_tui.cluster.backoff import Backoff
from autoglm_tui.cluster.etcd_client import (
    EtcdClient,
    EtcdCompacted,
    EtcdConfig,
    EtcdError,
    KeyValue,
    WatchBatch,
    prefix_end,
)
from autoglm_tui.cluster.members import (
    LEFT_LEASE,
    MemberRecord,
    MemberState,
    View,
    decide,
    parse_member,
)
from autoglm_tui.cluster.registration import (
    Registration,
    RegistrationError,
    node_id_from_key,
    parse_registration,
)
from autoglm_tui.events import (
    REGISTRATION_PROBLEMS,
    Event,
    HeartbeatLost,
    NodeForgotten,
    NodeInvalid,
    NodeJoined,
    NodeLeft,
    RegistryChanged,
)
from autoglm_tui.text import clean

Emit = Callable[[Event], None]
LEFT_DELETED = "deleted"  # a heartbeat key on no lease was deleted (and there is no member record)
DEFAULT_PROBE_S = 5.0
MIN_PROBE_S = 1.0
# After an outage, how long (in heartbeat intervals, plus 2 s) a member whose heartbeat vanished
# meanwhile may take to register again before it is FAILED: its agent retries at most every
# third of a TTL and each try may wait for a timeout, so two TTLs.
GRACE_INTERVALS = 6

log = logging.getLogger("autoglm_tui.discovery")


@dataclass(frozen=True, slots=True)
class _Entry:
    """What one registry key held when last seen."""

    node_id: str
    value: bytes
    lease: int
    parsed: Registration | MemberRecord | None
    reason: str | None = None  # why it does not validate

    @property
    def verdict(self) -> Registration | MemberRecord | str:
        return self.parsed if self.parsed is not None else (self.reason or "invalid")


@dataclass
class _Node:
    """What this watcher last told its consumer about one node."""

    view: View | None = None  # None: nothing said yet (or the node is gone)
    reason: str | None = None
    registration: Registration | None = None
    last_state: MemberState | None = None  # the member record's state when it was deleted
    hb_lease: int = 0  # the lease of the last heartbeat key seen
    grace_until: float | None = None  # FAILED held back until then (after an outage)


class RegistryWatcher:
    """Lists and watches the heartbeat and member prefixes; keeps the last known set while
    etcd is away.

    `on_listed(revision)` (optional) is awaited after every full list, before the watch starts.
    `probe_s` fixes the watch's liveness probe period (default: from the heartbeat intervals).
    """

    def __init__(
        self,
        config: EtcdConfig,
        emit: Emit | None = None,
        *,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
        on_listed: Callable[[int], Awaitable[None]] | None = None,
        probe_s: float | None = None,
    ) -> None:
        self.config = config
        self._emit_fn = emit
        self.clock = clock
        self.backoff = backoff or Backoff(base=0.5, cap=5.0)
        self.on_listed = on_listed
        self.probe_s = probe_s
        self._prefix = config.prefix.encode()
        self._members = config.member_prefix.encode()
        self._entries: dict[bytes, _Entry] = {}
        self._bad: set[bytes] = set()  # keys whose suffix is no valid node id
        self._nodes: dict[str, _Node] = {}
        self._client: EtcdClient | None = None
        self._ok: bool | None = None
        self._closed = False
        self._outage = False  # etcd was lost since the last full list
        self.revision = 0
        self.lists = 0  # full lists done (first one, reconnects, compactions)

    # ------------------------------------------------------------------ views

    def known(self) -> dict[str, Registration]:
        """Nodes whose heartbeat is alive, with their registrations."""
        return self._with(View.ALIVE)

    def failed(self) -> dict[str, Registration]:
        """Members whose heartbeat lapsed without a leave."""
        return self._with(View.FAILED)

    def members(self) -> dict[str, View]:
        """Every node this watcher has told about and not seen go: node id -> view."""
        return {n: s.view for n, s in self._nodes.items() if s.view is not None}

    def invalid(self) -> dict[str, str]:
        """Registry entries that do not validate: node id -> reason."""
        return {e.node_id: e.reason or "" for e in self._entries.values() if e.reason is not None}

    @property
    def degraded(self) -> bool:
        """True while etcd is unreachable (the last known nodes are kept)."""
        return self._ok is False

    def _with(self, view: View) -> dict[str, Registration]:
        return {
            n: s.registration
            for n, s in self._nodes.items()
            if s.view is view and s.registration is not None
        }

    def probe_period(self) -> float:
        """Seconds between the watch's liveness probes: the shortest heartbeat interval among
        the known nodes, within 1-5 s (5 s with none)."""
        if self.probe_s is not None:
            return self.probe_s
        intervals = [
            s.registration.heartbeat_interval
            for s in self._nodes.values()
            if s.registration is not None and s.registration.heartbeat_interval
        ]
        if not intervals:
            return DEFAULT_PROBE_S
        return max(MIN_PROBE_S, min(DEFAULT_PROBE_S, min(intervals)))

    # ------------------------------------------------------------------ running

    async def run(self, emit: Emit | None = None) -> None:
        """Keep the node set current until cancelled (or close() is called)."""
        if emit is not None:
            self._emit_fn = emit
        if self._emit_fn is None:
            raise ValueError("RegistryWatcher.run needs an emit callback")
        while not self._closed:
            client = EtcdClient(self.config)
            self._client = client
            try:
                await client.connect()
                await self._follow(client)
            except EtcdError as exc:
                if self._closed:
                    return
                self._outage = self.lists > 0
                self._set_ok(False, str(exc))
            finally:
                self._client = None
                await client.close()
            if self._closed:
                return
            await asyncio.sleep(self.backoff.next())

    async def close(self) -> None:
        """Stop run() and drop the connection."""
        self._closed = True
        client = self._client
        if client is not None:
            await client.close()

    async def _follow(self, client: EtcdClient) -> None:
        """List, then watch; list again whenever the watch's history was compacted."""
        start = min(self._prefix, self._members)
        end = max(prefix_end(self._prefix), prefix_end(self._members))
        while True:
            try:
                revision = await self._relist(client)
            except EtcdCompacted:
                continue  # compacted between the two reads: read both again
            if self.on_listed is not None:
                await self.on_listed(revision)
            try:
                async for batch in client.watch(start, end, revision + 1, self.probe_period):
                    if self._ok is not True:  # listed and watching: the registry is whole
                        self._set_ok(True, None)
                        self.backoff.reset()
                    self._apply_batch(batch)
                    self._end_grace()
            except EtcdCompacted as exc:
                log.info("registry watch: %s; listing again", exc)
                continue
            except EtcdError as exc:
                if "permission denied" in str(exc).lower():
                    raise EtcdError(
                        f"{exc}; the monitor watches one range from {self.config.member_prefix}"
                        f" to {self.config.prefix}: grant it read on a prefix holding both"
                    ) from None
                raise

    async def _relist(self, client: EtcdClient) -> int:
        """Read both prefixes at one revision and emit what differs from the last known set."""
        revision, beats = await client.get_prefix(self._prefix)
        _, records = await client.get_prefix(self._members, revision)
        self.lists += 1
        grace = self._outage
        self._outage = False
        present = {kv.key for kv in (*beats, *records)}
        touched: set[str] = set()
        for key in sorted(k for k in self._entries if k not in present):
            touched.update(self._delete(key))
        for kv in sorted((*beats, *records), key=lambda kv: kv.key):
            touched.update(self._put(kv))
        self._decide_all(touched, grace=grace)
        self.revision = revision
        return revision

    def _apply_batch(self, batch: WatchBatch) -> None:
        """Fold in one watch response, deciding after each whole revision."""
        touched: set[str] = set()
        revision = None
        for event in batch.events:
            if revision is not None and event.mod_revision != revision:
                self._decide_all(touched)
                touched = set()
            revision = event.mod_revision
            if event.kind == "put":
                touched.update(self._put(KeyValue(event.key, event.value, revision, event.lease)))
            else:
                touched.update(self._delete(event.key))
            self.revision = max(self.revision, revision)
        self._decide_all(touched)

    # ------------------------------------------------------------------ keys

    def _is_member_key(self, key: bytes) -> bool:
        return key.startswith(self._members)

    def _put(self, kv: KeyValue) -> list[str]:
        """Record one key's new value; returns the node ids to decide again."""
        member = self._is_member_key(kv.key)
        if not member and not kv.key.startswith(self._prefix):
            return []  # between the two prefixes: not ours
        old = self._entries.get(kv.key)
        if old is not None and old.value == kv.value:
            if old.lease != kv.lease:  # the agent re-registered on a new lease: no visible change
                self._entries[kv.key] = _Entry(
                    old.node_id, old.value, kv.lease, old.parsed, old.reason
                )
            return []
        prefix = self.config.member_prefix if member else self.config.prefix
        try:
            node_id = node_id_from_key(kv.key, prefix)
        except RegistrationError as exc:  # no valid node id: reported on its own
            self._entries[kv.key] = _Entry(exc.node_id, kv.value, kv.lease, None, exc.reason)
            self._bad.add(kv.key)
            self._emit(NodeInvalid(self.clock(), exc.node_id, exc.reason))
            return []
        try:
            if member:
                parsed: Registration | MemberRecord = parse_member(kv.key, kv.value, prefix)
            else:
                parsed = parse_registration(kv.key, kv.value, prefix)
        except RegistrationError as exc:
            entry = _Entry(node_id, kv.value, kv.lease, None, exc.reason)
        else:
            entry = _Entry(node_id, kv.value, kv.lease, parsed)
        self._entries[kv.key] = entry
        node = self._nodes.setdefault(node_id, _Node())
        if member:
            node.last_state = None
        else:
            node.hb_lease = kv.lease
        return [node_id]

    def _delete(self, key: bytes) -> list[str]:
        old = self._entries.pop(key, None)
        if old is None:
            return []
        if key in self._bad:
            self._bad.discard(key)
            self._emit(NodeLeft(self.clock(), old.node_id, LEFT_DELETED))
            return []
        node = self._nodes.setdefault(old.node_id, _Node())
        if self._is_member_key(key):
            record = old.parsed
            node.last_state = record.state if isinstance(record, MemberRecord) else None
        return [old.node_id]

    def _verdicts(
        self, node_id: str
    ) -> tuple[Registration | str | None, MemberRecord | str | None]:
        """Each key's validated value, or why it does not validate, or None when absent."""
        beat = self._entries.get(self._prefix + node_id.encode())
        record = self._entries.get(self._members + node_id.encode())
        hb = beat.verdict if beat is not None else None
        mem = record.verdict if record is not None else None
        assert not isinstance(hb, MemberRecord) and not isinstance(mem, Registration)
        return hb, mem

    # ------------------------------------------------------------------ decisions

    def _decide_all(self, node_ids: Iterable[str], *, grace: bool = False) -> None:
        for node_id in sorted(set(node_ids)):
            self._decide(node_id, grace=grace)

    def _decide(self, node_id: str, *, grace: bool = False) -> None:
        """Compare the node's view now with what was last said, and say what changed."""
        node = self._nodes.setdefault(node_id, _Node())
        hb, mem = self._verdicts(node_id)
        view, reason = decide(hb, mem, node.last_state)
        if view is View.LEFT and reason == LEFT_LEASE and node.hb_lease == 0:
            reason = LEFT_DELETED
        prev = node.view
        now = self.clock()
        if view is View.ALIVE:
            assert isinstance(hb, Registration)
            node.grace_until = None
            if prev is not View.ALIVE or node.registration != hb:
                node.registration = hb
                self._emit(_joined(now, hb))
        elif view is View.FAILED:
            assert isinstance(mem, MemberRecord) and mem.registration is not None
            if prev is View.ALIVE and (grace or node.grace_until is not None):
                if node.grace_until is None:
                    interval = (node.registration and node.registration.heartbeat_interval) or 5.0
                    node.grace_until = now + GRACE_INTERVALS * interval + 2.0
                    log.info("%s: no heartbeat after the outage; waiting for it to register "
                             "again until %.0f", node_id, node.grace_until)
                if now < node.grace_until:
                    return  # still ALIVE as far as anyone was told
            node.grace_until = None
            if prev is not View.FAILED:
                if prev is not View.ALIVE:  # new to the consumer, or back after a leave
                    node.registration = mem.registration
                    self._emit(_joined(now, mem.registration))
                self._emit(HeartbeatLost(now, node_id, reason or "lost heartbeat"))
        elif view is View.LEFT:
            node.grace_until = None
            if prev in (View.ALIVE, View.FAILED, View.INVALID):
                self._emit(NodeLeft(now, node_id, reason or "left"))
        elif view is View.FORGOTTEN:
            node.grace_until = None
            if prev in (View.ALIVE, View.FAILED, View.INVALID, View.LEFT):
                self._emit(NodeForgotten(now, node_id, reason or "forgotten"))
        else:  # INVALID
            node.grace_until = None
            if prev is not View.INVALID or node.reason != reason:
                self._emit(NodeInvalid(now, node_id, reason or "invalid"))
        node.view, node.reason = view, reason
        if hb is None and mem is None and view in (View.LEFT, View.FORGOTTEN):
            del self._nodes[node_id]  # both keys gone: nothing left to remember

    def _end_grace(self) -> None:
        """Decide again for nodes whose post-outage grace has run out."""
        now = self.clock()
        due = [n for n, s in self._nodes.items()
               if s.grace_until is not None and now >= s.grace_until]
        self._decide_all(due)

    # ------------------------------------------------------------------ output

    def _set_ok(self, ok: bool, reason: str | None) -> None:
        if self._ok is ok:
            return
        self._ok = ok
        text = None
        if not ok:
            text = clean(f"etcd {self.config.describe()} unreachable: {reason}", 300)
            log.warning("registry degraded: %s; keeping %d known nodes", text, len(self._nodes))
        self._emit(RegistryChanged(self.clock(), ok, text))

    def _emit(self, event: Event) -> None:
        assert self._emit_fn is not None
        try:
            self._emit_fn(event)
        except Exception:  # a consumer's bug must not stop discovery
            log.exception("registry event handler failed")


def _joined(t: float, reg: Registration) -> NodeJoined:
    value = reg.to_dict()
    if reg.problems:  # what was left out of it, for the node's detail line
        value[REGISTRATION_PROBLEMS] = list(reg.problems)
    return NodeJoined(
        t,
        reg.node_id,
        address=reg.address,
        ssh_port=reg.ssh_port,
        labels=dict(reg.labels),
        source="etcd",
        registration=value,
    )


async def list_registry(config: EtcdConfig) -> dict[str, Registration]:
    """The valid live registrations now in the registry, read once (scripts, snapshots);
    raises EtcdError."""
    client = EtcdClient(config)
    try:
        await client.connect()
        watcher = RegistryWatcher(config, lambda _e: None)
        await watcher._relist(client)
        return watcher.known()
    finally:
        with contextlib.suppress(Exception):
            await client.close()


__all__ = ["LEFT_DELETED", "LEFT_LEASE", "RegistryWatcher", "list_registry"]
