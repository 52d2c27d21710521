"""The etcd adapter: the only module that imports the etcd client library (aetcd, asyncio).

The rest of the code sees plain values (``KeyValue``, ``WatchBatch``, lease ids as ints) and
three errors: ``EtcdUnavailable`` (cannot reach etcd: retry later), ``EtcdCompacted`` (a watch
asked for history that was compacted: list again) and ``EtcdError`` (anything else).

The watch is this module's own (``EtcdClient.watch``): aetcd's drops etcd's progress replies,
which are what tells a live but quiet etcd from a silent one.

aetcd 1.0.0 opens only plaintext channels and talks to one endpoint; ``_Client`` replaces its
``connect()`` so the channel can be TLS (CA, client certificate) with password auth, and
``EtcdClient.connect()`` tries each configured endpoint in turn. Secrets (the password, key
files' contents) never appear in messages or reprs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aetcd
import aetcd.exceptions as aetcd_errors
import grpc
from aetcd import rpc
from aetcd import watcher as aetcd_watcher

from autoglm_tui.aio import within
from autoglm_tui.cluster.etcd_config import DEFAULT_PORT, DEFAULT_PREFIX, Endpoint, EtcdConfig

PAGE_SIZE = 200  # keys per Range page when listing a prefix
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# gRPC keepalive, the backstop under the watch's own progress probes (etcd_watch.py), which
# notice a silently dead etcd within two probe periods. etcd 3.4 enforces a minimum ping interval
# (--grpc-keepalive-min-time, default 5 s) and refuses pings on a connection with no open call
# (its policy has PermitWithoutStream off): three offending pings and it closes the connection
# with GOAWAY "too_many_pings" (seen here at 1 s; 5 s on an idle watch ran clean). So: ping every
# 5 s, only while a call (the watch) is open, and allow pings without data (an idle watch).
_CHANNEL_OPTIONS: dict[str, Any] = {
    "grpc.keepalive_time_ms": 5_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 0,
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
class KeyValue:
    key: bytes
    value: bytes
    mod_revision: int
    lease: int  # 0: no lease


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


# What gRPC's long connection errors come down to, in the words an operator acts on (the
# first phrase found in the error's text, lower case, wins); any other error keeps its text.
_CAUSES = (
    ("connection refused", "connection refused (is etcd running there, on that port?)"),
    ("dns resolution failed", "host name could not be resolved (DNS)"),
    ("errors resolving", "host name could not be resolved (DNS)"),
    ("name or service not known", "host name could not be resolved (DNS)"),
    ("handshake failed", "TLS handshake failed (check --etcd-ca, --etcd-cert, --etcd-key)"),
    ("certificate verify failed", "TLS certificate not trusted (check --etcd-ca)"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("tsi_data_corrupted", "TLS refused by the server (does it want a client certificate? "
                           "--etcd-cert, --etcd-key)"),
    ("socket closed", "the server closed the connection (does it want TLS? --etcd-ca)"),
    ("connection reset", "connection reset by the server"),
    ("deadline exceeded", "no answer in time"),
)


def _message(exc: BaseException) -> str:
    """The error in a few words: a known connection failure's cause, else its own text."""
    if isinstance(exc, grpc.aio.AioRpcError):
        text = f"{exc.code().name}: {exc.details()}"
    else:
        text = " ".join(str(exc).split())[:300]
    return plain_cause(text)


def plain_cause(text: str) -> str:
    """`text` (a gRPC or socket error) as its cause in a few words, when it is a known one."""
    low = text.lower()
    return next((words for phrase, words in _CAUSES if phrase in low), text)


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


@dataclass(frozen=True, slots=True)
class WatchEvent:
    kind: str  # "put" or "delete"
    key: bytes
    value: bytes  # empty for "delete"
    mod_revision: int  # for "delete": the revision of the deletion
    lease: int


@dataclass(frozen=True, slots=True)
class WatchBatch:
    """One watch response: the events of one or more whole revisions, or none (a progress
    report, which says etcd is there and has reached `revision`)."""

    revision: int
    events: tuple[WatchEvent, ...]


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
        if len(errors) == 1:  # the message names the endpoint already ("etcd HOST:PORT ...")
            errors[0] = errors[0].split(": ", 1)[1]
        raise EtcdUnavailable("; ".join(errors) or "no endpoint answered")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await within(client.close(), 2.0)

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

    async def get_prefix(
        self, prefix: bytes, revision: int | None = None
    ) -> tuple[int, list[KeyValue]]:
        """Every key under `prefix` at one revision (the newest, or `revision`), read in pages;
        returns (revision, kvs). A compacted `revision` raises EtcdCompacted."""
        client = self._live()
        end = prefix_end(prefix)
        start = prefix
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

    async def txn(
        self,
        *,
        unchanged: Sequence[tuple[bytes, int]] = (),
        puts: Sequence[tuple[bytes, bytes, int]] = (),
        deletes: Sequence[bytes] = (),
    ) -> tuple[bool, int]:
        """Apply `puts` (key, value, lease or 0) and `deletes` at one revision, only if every key
        in `unchanged` still has the given mod revision (0: the key does not exist). Returns
        (applied, revision)."""
        client = self._live()
        request = rpc.TxnRequest(
            compare=[
                rpc.Compare(
                    key=key,
                    result=rpc.Compare.CompareResult.EQUAL,
                    target=rpc.Compare.CompareTarget.MOD,
                    mod_revision=mod_revision,
                )
                for key, mod_revision in unchanged
            ],
            success=[
                rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value, lease=lease))
                for key, value, lease in puts
            ]
            + [
                rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key))
                for key in deletes
            ],
        )
        reply = await self._call(
            client.kvstub.Txn(request, timeout=self.config.timeout_s, metadata=client.metadata)
        )
        return bool(reply.succeeded), int(reply.header.revision)

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

    async def watch(
        self,
        start: bytes,
        end: bytes,
        start_revision: int,
        probe_s: Callable[[], float] | float = 5.0,
    ) -> AsyncIterator[WatchBatch]:
        """Changes to keys in [`start`, `end`) from `start_revision` on, one ``WatchBatch`` per
        etcd response, in revision order; until etcd is lost (raises EtcdUnavailable) or the
        history was compacted (raises EtcdCompacted).

        Liveness: every `probe_s` seconds (a number, or a function read before each probe) a
        progress request goes down the stream and etcd answers with an empty batch that carries
        its current revision. When nothing at all arrives for `probe_s` + max(2, `probe_s`)
        seconds, etcd is taken as silently gone (a cut link drops packets without a reset) and
        EtcdUnavailable is raised: within two probe periods (three for periods under 2 s, so a
        busy host's hiccup is not an outage), where gRPC keepalive alone needs 10 s or more
        (etcd refuses pings more often than every 5 s).
        """
        client = self._live()
        period = probe_s if callable(probe_s) else (lambda: float(probe_s))  # type: ignore[misc]
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def requests() -> AsyncIterator[Any]:
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield item

        create = rpc.WatchCreateRequest(
            key=start, range_end=end, start_revision=start_revision, progress_notify=True
        )
        call = rpc.WatchStub(client.channel).Watch(requests(), metadata=client.metadata)
        queue.put_nowait(rpc.WatchRequest(create_request=create))

        async def probe() -> None:
            # The period may shrink while we wait (nodes with short heartbeats appear), so
            # wait in short steps and probe once a whole period has passed.
            loop = asyncio.get_running_loop()
            sent = loop.time()
            while True:
                await asyncio.sleep(min(0.25, max(0.05, period())))
                if loop.time() - sent >= period():
                    sent = loop.time()
                    queue.put_nowait(
                        rpc.WatchRequest(progress_request=rpc.WatchProgressRequest())
                    )

        prober: asyncio.Task[None] | None = None
        try:
            reply = await self._read(call, self.config.timeout_s, "creating the watch")
            if reply.canceled:
                raise EtcdError(f"watch refused by etcd: {reply.cancel_reason or '?'}")
            if not reply.created:
                raise EtcdError("watch not created")
            prober = asyncio.ensure_future(probe())
            while True:
                if reply.compact_revision:
                    raise EtcdCompacted(int(reply.compact_revision))
                if reply.canceled:
                    raise EtcdError(f"watch cancelled by etcd: {reply.cancel_reason or '?'}")
                yield WatchBatch(
                    int(reply.header.revision),
                    tuple(
                        WatchEvent(
                            "put" if e.type == e.PUT else "delete",
                            e.kv.key,
                            e.kv.value,
                            e.kv.mod_revision,
                            e.kv.lease,
                        )
                        for e in reply.events
                    ),
                )
                silence = period() + max(2.0, period())
                reply = await self._read(call, silence, "a progress request")
        finally:
            if prober is not None:
                prober.cancel()
            queue.put_nowait(None)
            call.cancel()

    async def _read(self, call: Any, timeout: float, waiting_for: str) -> Any:
        """The stream's next reply; EtcdUnavailable when it ends or stays silent `timeout` s."""
        try:
            reply = await within(call.read(), timeout)
        except asyncio.TimeoutError:
            raise EtcdUnavailable(
                f"no answer from etcd for {timeout:.1f} s to {waiting_for} (link or host silent)"
            ) from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise _translate(exc) from None
        if reply is grpc.aio.EOF:
            raise EtcdUnavailable("watch closed by etcd")
        return reply


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
    "WatchBatch",
    "WatchEvent",
    "prefix_end",
]
