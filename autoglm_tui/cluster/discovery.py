"""The registry watcher: which nodes exist, from etcd (monitor side, no Textual).

``RegistryWatcher(config, emit).run()`` lists the prefix, then watches from the next revision,
and turns registry changes into events (autoglm_tui/events.py):

- ``NodeJoined`` (source "etcd") when a valid registration appears, and again when it changes;
- ``NodeLeft`` when its key goes ("lease revoked or expired" when the key was on a lease, else
  "deleted");
- ``NodeInvalid`` when a value does not validate (only that node is affected);
- ``RegistryChanged(ok=False)`` when etcd is lost (the last known nodes stay), ``ok=True`` once
  it has been listed again.

After a lost connection it reconnects with capped exponential backoff and jitter, lists again
and emits only the differences, so a node that joined or left meanwhile is not missed. A watch
whose start revision was compacted also lists again. Event times come from `clock` (the
monitor's clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from autoglm_tui.cluster.backoff import Backoff
from autoglm_tui.cluster.etcd_client import (
    EtcdClient,
    EtcdCompacted,
    EtcdConfig,
    EtcdError,
    KeyValue,
)
from autoglm_tui.cluster.registration import Registration, RegistrationError, parse_registration
from autoglm_tui.events import Event, NodeInvalid, NodeJoined, NodeLeft, RegistryChanged
from autoglm_tui.text import clean

Emit = Callable[[Event], None]
LEFT_LEASE = "lease revoked or expired"
LEFT_DELETED = "deleted"

log = logging.getLogger("autoglm_tui.discovery")


@dataclass(frozen=True, slots=True)
class _Entry:
    """What one registry key held when last seen."""

    node_id: str
    value: bytes
    lease: int
    registration: Registration | None
    reason: str | None = None


class RegistryWatcher:
    """Lists and watches ``config.prefix``; keeps the last known set while etcd is away.

    `on_listed(revision)` (optional) is awaited after every full list, before the watch starts.
    """

    def __init__(
        self,
        config: EtcdConfig,
        emit: Emit | None = None,
        *,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
        on_listed: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config
        self._emit_fn = emit
        self.clock = clock
        self.backoff = backoff or Backoff(base=0.5, cap=5.0)
        self.on_listed = on_listed
        self._prefix = config.prefix.encode()
        self._entries: dict[bytes, _Entry] = {}
        self._client: EtcdClient | None = None
        self._ok: bool | None = None
        self._closed = False
        self.revision = 0
        self.lists = 0  # full lists done (first one, reconnects, compactions)

    # ------------------------------------------------------------------ views

    def known(self) -> dict[str, Registration]:
        """The valid registrations now known, by node id."""
        return {
            e.node_id: e.registration for e in self._entries.values() if e.registration is not None
        }

    def invalid(self) -> dict[str, str]:
        """Registry entries that do not validate: node id -> reason."""
        return {e.node_id: e.reason or "" for e in self._entries.values() if e.reason is not None}

    @property
    def degraded(self) -> bool:
        """True while etcd is unreachable (the last known nodes are kept)."""
        return self._ok is False

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
        while True:
            revision = await self._relist(client)
            self._set_ok(True, None)
            self.backoff.reset()
            if self.on_listed is not None:
                await self.on_listed(revision)
            try:
                async for event in client.watch_prefix(self._prefix, revision + 1):
                    if event.kind == "put":
                        self._put(KeyValue(event.key, event.value, event.mod_revision, event.lease))
                    else:
                        self._delete(event.key)
                    self.revision = max(self.revision, event.mod_revision)
            except EtcdCompacted as exc:
                log.info("registry watch: %s; listing again", exc)
                continue

    async def _relist(self, client: EtcdClient) -> int:
        """Read the whole prefix and emit what differs from the last known set."""
        revision, kvs = await client.get_prefix(self._prefix)
        self.lists += 1
        present = {kv.key for kv in kvs}
        for key in sorted(k for k in self._entries if k not in present):
            self._delete(key)
        for kv in sorted(kvs, key=lambda kv: kv.key):
            self._put(kv)
        self.revision = revision
        return revision

    # ------------------------------------------------------------------ state changes

    def _put(self, kv: KeyValue) -> None:
        old = self._entries.get(kv.key)
        if old is not None and old.value == kv.value:
            if old.lease != kv.lease:  # the agent re-registered on a new lease: no visible change
                self._entries[kv.key] = _Entry(
                    old.node_id, old.value, kv.lease, old.registration, old.reason
                )
            return
        now = self.clock()
        try:
            reg = parse_registration(kv.key, kv.value, self.config.prefix)
        except RegistrationError as exc:
            self._entries[kv.key] = _Entry(exc.node_id, kv.value, kv.lease, None, exc.reason)
            self._emit(NodeInvalid(now, exc.node_id, exc.reason))
            return
        self._entries[kv.key] = _Entry(reg.node_id, kv.value, kv.lease, reg)
        if old is not None and old.registration == reg:
            return  # same fields, different bytes (key order, spacing)
        self._emit(
            NodeJoined(
                now,
                reg.node_id,
                address=reg.address,
                ssh_port=reg.ssh_port,
                labels=dict(reg.labels),
                source="etcd",
                registration=reg.to_dict(),
            )
        )

    def _delete(self, key: bytes) -> None:
        old = self._entries.pop(key, None)
        if old is None:
            return
        reason = LEFT_LEASE if old.lease else LEFT_DELETED
        self._emit(NodeLeft(self.clock(), old.node_id, reason))

    def _set_ok(self, ok: bool, reason: str | None) -> None:
        if self._ok is ok:
            return
        self._ok = ok
        text = None
        if not ok:
            text = clean(f"etcd {self.config.describe()} unreachable: {reason}", 300)
            log.warning("registry degraded: %s; keeping %d known nodes", text, len(self._entries))
        self._emit(RegistryChanged(self.clock(), ok, text))

    def _emit(self, event: Event) -> None:
        assert self._emit_fn is not None
        try:
            self._emit_fn(event)
        except Exception:  # a consumer's bug must not stop discovery
            log.exception("registry event handler failed")


async def list_registry(config: EtcdConfig) -> dict[str, Registration]:
    """The valid registrations now in the registry, read once (scripts, snapshots); raises
    EtcdError."""
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
