"""The etcd adapter: the only module that imports the etcd client library (aetcd, asyncio).

The rest of the code sees plain values (``KeyValue``, ``WatchEvent``, lease ids as ints) and
three errors: ``EtcdUnavailable`` (cannot reach etcd: retry later), ``EtcdCompacted`` (a watch
asked for history that was compacted: list again) and ``EtcdError`` (anything else).

aetcd 1.0.0 opens only plaintext channels and talks to one endpoint; ``_Client`` replaces its
``connect()`` so the channel can be TLS (CA, client certificate) with password auth, and
``EtcdClient.connect()`` tries each configured endpoint in turn. Secrets (the password, key
files' contents) never appear in messages or reprs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aetcd
import aetcd.exceptions as aetcd_errors
import grpc
from aetcd import rpc
from aetcd import watcher as aetcd_watcher

from autoglm_tui.cluster.etcd_args import DEFAULT_PORT, DEFAULT_PREFIX

PAGE_SIZE = 200  # keys per Range page when listing a prefix
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# gRPC keepalive: a silently dead etcd (cut link, frozen host) is noticed in about 15 s.
# etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time).
_CHANNEL_OPTIONS: dict[str, Any] = {
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.max_pings_without_data": 0,
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    "grpc.enable_retries": 0,
}


class EtcdError(Exception):
    """An etcd request failed for a reason other than reachability."""


class EtcdUnavailable(EtcdError):
    """etcd cannot be reached (refused, timed out, connection lost): retry later."""


class EtcdCompacted(EtcdError):
    """The requested revision was compacted away: list again."""

    def __init__(self, compacted_revision: int) -> None:
        super().__init__(f"revision compacted (etcd keeps history from {compacted_revision})")
        self.compacted_revision = compacted_revision


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class EtcdConfig:
    """How to reach the registry. Made by ``etcd_args.etcd_config_from_args``."""

    endpoints: tuple[Endpoint, ...]
    prefix: str = DEFAULT_PREFIX
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 5.0

    def describe(self) -> str:
        """The endpoints (and TLS/user), for log lines; never the password."""
        text = ",".join(str(e) for e in self.endpoints)
        if self.tls:
            text += " (TLS)"
        if self.user:
            text += f" as {self.user}"
        return text


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    value: bytes
    mod_revision: int
    lease: int  # 0: no lease


@dataclass(frozen=True, slots=True)
class WatchEvent:
    kind: str  # "put" or "delete"
    key: bytes
    value: bytes  # empty for "delete"
    mod_revision: int
    lease: int


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise EtcdError(f"cannot read {path}: {exc.strerror or exc}") from None


def _credentials(config: EtcdConfig) -> grpc.ChannelCredentials | None:
    if not config.tls:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=_read(config.ca_file),
        private_key=_read(config.key_file),
        certificate_chain=_read(config.cert_file),
    )


def _translate(exc: BaseException) -> EtcdError:
    """Map an aetcd/gRPC error onto this module's errors (messages carry no secrets)."""
    if isinstance(exc, EtcdError):
        return exc
    if isinstance(exc, aetcd_errors.RevisionCompactedError):
        return EtcdCompacted(int(exc.compacted_revision))
    if isinstance(
        exc,
        (
            aetcd_errors.ConnectionFailedError,
            aetcd_errors.ConnectionTimeoutError,
            aetcd_errors.WatchTimeoutError,
            asyncio.TimeoutError,
            OSError,
        ),
    ):
        return EtcdUnavailable(_message(exc) or "etcd unreachable")
    if isinstance(exc, grpc.aio.AioRpcError):
        code = exc.code()
        if code in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.CANCELLED,
        ):
            return EtcdUnavailable(_message(exc))
        if code == grpc.StatusCode.OUT_OF_RANGE and "compacted" in (exc.details() or ""):
            return EtcdCompacted(0)
        return EtcdError(f"{code.name}: {exc.details()}")
    if isinstance(exc, aetcd_errors.UnauthenticatedError):
        return EtcdError(f"authentication failed: {_message(exc)}")
    cause = exc.__cause__
    if isinstance(cause, grpc.aio.AioRpcError):
        return _translate(cause)
    return EtcdError(_message(exc) or type(exc).__name__)


def _message(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return " ".join(str(exc).split())[:300]


class _Client(aetcd.Client):
    """aetcd's client with a connect() that can open a TLS channel and authenticate."""

    def __init__(self, endpoint: Endpoint, config: EtcdConfig) -> None:
        super().__init__(
            host=endpoint.host,
            port=endpoint.port,
            timeout=config.timeout_s,  # type: ignore[arg-type]  # gRPC takes float seconds
            options=dict(_CHANNEL_OPTIONS),
        )
        self._target = str(endpoint)
        self._config = config

    async def connect(self) -> None:
        if self._connected.is_set():
            return
        creds = _credentials(self._config)
        options = list(self._options.items())
        if creds is None:
            channel = grpc.aio.insecure_channel(self._target, options=options)
        else:
            channel = grpc.aio.secure_channel(self._target, creds, options=options)
        self.channel = channel
        metadata = None
        try:
            if self._config.user:
                stub = rpc.AuthStub(channel)
                reply = await stub.Authenticate(
                    rpc.AuthenticateRequest(
                        name=self._config.user, password=self._config.password or ""
                    ),
                    timeout=self._config.timeout_s,
                )
                metadata = (("token", reply.token),)
            self.metadata = metadata
            self.kvstub = rpc.KVStub(channel)
            self.clusterstub = rpc.ClusterStub(channel)
            self.leasestub = rpc.LeaseStub(channel)
            self.maintenancestub = rpc.MaintenanceStub(channel)
            self._watcher = aetcd_watcher.Watcher(
                rpc.WatchStub(channel), timeout=self._config.timeout_s, metadata=metadata
            )
            # A cheap request proves the endpoint answers (gRPC channels connect lazily).
            await self.maintenancestub.Status(
                rpc.StatusRequest(), timeout=self._config.timeout_s, metadata=metadata
            )
        except BaseException:
            await channel.close()
            self._init_channel_attrs()
            raise
        self._connected.set()

    async def range_page(self, start: bytes, end: bytes, limit: int, revision: int | None) -> Any:
        """One page of a Range request (aetcd's get_prefix has neither limit nor revision)."""
        request = rpc.RangeRequest(key=start, range_end=end, limit=limit)
        if revision is not None:
            request.revision = revision
        return await self.kvstub.Range(
            request, timeout=self._config.timeout_s, metadata=self.metadata
        )


def prefix_end(prefix: bytes) -> bytes:
    """The range end that covers every key starting with `prefix`."""
    raw = bytearray(prefix)
    for i in reversed(range(len(raw))):
        if raw[i] < 0xFF:
            raw[i] += 1
            return bytes(raw[: i + 1])
    return b"\0"


class EtcdClient:
    """One connection to etcd (to the first endpoint that answers); reconnect by making anew."""

    def __init__(self, config: EtcdConfig) -> None:
        if not config.endpoints:
            raise ValueError("no etcd endpoint")
        self.config = config
        self._client: _Client | None = None
        self.endpoint: Endpoint | None = None

    async def connect(self) -> None:
        """Connect to the first endpoint that answers; raise EtcdUnavailable if none does."""
        await self.close()
        errors: list[str] = []
        for endpoint in self.config.endpoints:
            client = _Client(endpoint, self.config)
            try:
                await client.connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                err = _translate(exc)
                if not isinstance(err, EtcdUnavailable):
                    raise err from None
                errors.append(f"{endpoint}: {err}")
                continue
            self._client = client
            self.endpoint = endpoint
            return
        raise EtcdUnavailable("; ".join(errors) or "no endpoint answered")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 2.0)

    async def __aenter__(self) -> EtcdClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _live(self) -> _Client:
        if self._client is None:
            raise EtcdUnavailable("not connected")
        return self._client

    async def _call(self, coro: Any) -> Any:
        try:
            return await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise _translate(exc) from None

    # ------------------------------------------------------------------ keys

    async def get_prefix(self, prefix: bytes) -> tuple[int, list[KeyValue]]:
        """Every key under `prefix` at one revision (read in pages); returns (revision, kvs)."""
        client = self._live()
        end = prefix_end(prefix)
        start = prefix
        revision: int | None = None
        out: list[KeyValue] = []
        while True:
            reply = await self._call(client.range_page(start, end, PAGE_SIZE, revision))
            if revision is None:
                revision = int(reply.header.revision)
            out.extend(KeyValue(kv.key, kv.value, kv.mod_revision, kv.lease) for kv in reply.kvs)
            if not reply.more or not reply.kvs:
                return revision, out
            start = reply.kvs[-1].key + b"\0"

    async def get(self, key: bytes) -> KeyValue | None:
        kv = await self._call(self._live().get(key))
        return None if kv is None else KeyValue(kv.key, kv.value, kv.mod_revision, kv.lease)

    async def put(self, key: bytes, value: bytes, lease: int | None = None) -> int:
        """Store `value` at `key` (on `lease` when given); returns the new revision."""
        reply = await self._call(self._live().put(key, value, lease=lease or 0))
        return int(reply.header.revision)

    async def delete(self, key: bytes) -> bool:
        reply = await self._call(self._live().delete(key))
        return reply is not None and bool(reply.deleted)

    async def compact(self, revision: int) -> None:
        await self._call(self._live().compact(revision, physical=True))

    # ------------------------------------------------------------------ leases

    async def grant(self, ttl: int) -> int:
        """A new lease of `ttl` seconds; returns its id."""
        lease = await self._call(self._live().lease(ttl))
        return int(lease.id)

    async def refresh(self, lease_id: int) -> int:
        """Keep the lease alive; returns its TTL, 0 when it had already expired."""
        reply = await self._call(self._live().refresh_lease(lease_id))
        return int(reply.TTL) if reply is not None else 0

    async def revoke(self, lease_id: int) -> None:
        """Drop the lease and every key on it at once."""
        await self._call(self._live().revoke_lease(lease_id))

    # ------------------------------------------------------------------ watch

    async def watch_prefix(self, prefix: bytes, start_revision: int) -> AsyncIterator[WatchEvent]:
        """Events under `prefix` from `start_revision` on, until the connection fails (raises
        EtcdUnavailable) or the history is compacted (raises EtcdCompacted)."""
        client = self._live()
        watch = await self._call(
            client.watch(prefix, range_end=prefix_end(prefix), start_revision=start_revision)
        )
        try:
            iterator = watch.__aiter__()
            while True:
                try:
                    event = await iterator.__anext__()
                except StopAsyncIteration:
                    raise EtcdUnavailable("watch closed") from None
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    raise _translate(exc) from None
                kv = event.kv
                kind = "put" if event.kind == "PUT" else "delete"
                yield WatchEvent(kind, kv.key, kv.value, kv.mod_revision, kv.lease)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(watch.cancel(), 1.0)


__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_PREFIX",
    "Endpoint",
    "EtcdClient",
    "EtcdCompacted",
    "EtcdConfig",
    "EtcdError",
    "EtcdUnavailable",
    "KeyValue",
    "WatchEvent",
    "prefix_end",
]
