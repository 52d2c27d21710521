"""Opening a connection to a node: the one way the monitor does it (:func:`connect`).

The node's data stream (:class:`~autoglm_tui.cluster.ssh.source.SshSource`) and remote actions
(:mod:`autoglm_tui.cluster.remote_actions`) both come through here, so both honour
~/.ssh/config (ProxyJump hops included, each one verified), ssh-agent and known_hosts, verify
host keys (:class:`~autoglm_tui.cluster.ssh.host_keys.HostKeyStore`), bound concurrent
handshakes (sshd drops parallel ones past MaxStartups), set keepalives and a connect timeout,
and offer AES-GCM first unless ssh_config names its own Ciphers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncssh

from autoglm_tui.aio import within
from autoglm_tui.cluster.hosts import HostSpec, HostSpecError, split_destination
from autoglm_tui.cluster.ssh.host_keys import HostKeyStore
from autoglm_tui.cluster.ssh.options import SshOptions
from autoglm_tui.text import clean

# Offered first when ssh_config sets no Ciphers for a host (the rest of asyncssh's default list
# follows, so a server without them still connects). Both are OpenSSH defaults; asyncssh decrypts
# an AES-GCM packet in one library call, a chacha20-poly1305 packet in four, which made the
# cipher a fifth of the monitor's CPU with 256 nodes streaming (benchmarks/bench_ssh.py).
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def _cipher_preference() -> str | None:
    """PREFERRED_CIPHERS as asyncssh's "put these first" syntax (None if it has none of them)."""
    try:
        from asyncssh.encryption import get_encryption_algs

        known = {alg.decode("ascii") for alg in get_encryption_algs()}
    except (ImportError, AttributeError, UnicodeDecodeError):
        return None
    usable = [name for name in PREFERRED_CIPHERS if name in known]
    return "^" + ",".join(usable) if usable else None


_CIPHER_PREFERENCE = _cipher_preference()


@dataclass(frozen=True)
class SshTarget:
    """Everything needed to reach one node: where, with which options, trusting which keys,
    and the semaphore that bounds concurrent handshakes (None: unbounded)."""

    spec: HostSpec
    options: SshOptions
    keys: HostKeyStore
    slots: asyncio.Semaphore | None = None
    full_lines: bool = False  # this node's sampler sends full lines only (see compression_algs)


class ConnectFailed(ConnectionError):
    """The node cannot be reached; `reason` says why in words fit for its row."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Client(asyncssh.SSHClient):
    """Per-connection hooks: host-key judgement and the reason a connection ended."""

    def __init__(self, keys: HostKeyStore) -> None:
        self._keys = keys
        self.host_key_problem: str | None = None
        self.auto_compression = False
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)

    def validate_host_public_key(self, host: str, addr: str, port: int, key: Any) -> bool:
        ok, problem = self._keys.judge(host, addr, port if port != 22 else None, key)
        self.host_key_problem = problem
        return ok


class Connection:
    """An open, verified connection to a node (what :func:`connect` yields)."""

    def __init__(self, conn: Any, client: _Client) -> None:
        self.conn = conn  # the asyncssh connection, for sessions of one's own
        self._client = client
        self.cipher: str | None = conn.get_extra_info("recv_cipher")
        # What the node's data arrives compressed with ("none" when it is not).
        self.compression: str | None = conn.get_extra_info("recv_compression")
        # Whether compression was left to the "auto" rule (not ssh_config, not on/off).
        self.auto_compression = client.auto_compression

    def lost_reason(self) -> str | None:
        """Why the connection ended, once it has (None while it is up)."""
        if not self._client.lost.done():
            return None
        lost = self._client.lost.result()
        return describe_error(lost) if lost else "connection closed by the node"

    async def run(self, command: str, timeout: float) -> tuple[int | None, str]:
        """Run one command, fixed by the caller (never built from node data); returns (exit
        status, stdout). ConnectFailed when the channel fails, asyncio.TimeoutError after
        `timeout` seconds."""
        try:
            result = await within(self.conn.run(command, check=False), timeout)
        except (asyncssh.Error, OSError) as exc:
            raise ConnectFailed(describe_error(exc)) from None
        stdout = result.stdout if isinstance(result.stdout, str) else ""
        return result.exit_status, stdout


@contextlib.asynccontextmanager
async def connect(target: SshTarget, timeout: float | None = None) -> AsyncIterator[Connection]:
    """Open a verified connection to `target` (through its ProxyJump hops), closed on exit.

    Raises ConnectFailed with the reason (host key refused, authentication, refused, timed
    out...) and asyncio.TimeoutError when the handshake takes longer than `timeout`."""
    jumps: list[Any] = []
    conn = None
    try:
        if target.slots is not None:
            async with target.slots:
                conn, client = await within(_open(target, jumps), timeout)
        else:
            conn, client = await within(_open(target, jumps), timeout)
        yield Connection(conn, client)
    finally:
        if conn is not None:
            conn.close()  # the node's sshd closes a sampler's stdin: it exits
            with contextlib.suppress(Exception):
                await within(conn.wait_closed(), 2.0)
        for jump in reversed(jumps):
            jump.close()


def describe_error(exc: BaseException) -> str:
    """A short, printable reason for a failed or lost connection."""
    if isinstance(exc, asyncssh.PermissionDenied):
        return "authentication failed (permission denied)"
    if isinstance(exc, asyncssh.ConnectionLost):
        return f"connection lost: {clean(exc.reason, 200)}"
    if isinstance(exc, asyncssh.DisconnectError):
        return clean(exc.reason, 300) or "disconnected"
    if isinstance(exc, asyncssh.ChannelOpenError):
        return f"cannot open a session: {clean(exc.reason, 200)}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host: {clean(exc.strerror or exc, 200)}"
    if isinstance(exc, OSError):
        return clean(exc.strerror or exc, 300)
    return clean(f"{type(exc).__name__}: {exc}", 300)


def connect_kwargs(
    target: SshTarget, client: _Client | None, host_config: Any, hop: bool = False
) -> dict[str, Any]:
    """asyncssh.connect's options for one hop of `target` (what ssh_config says included).
    A ProxyJump `hop` carries the node's encrypted connection, which does not compress: it
    offers no compression unless ssh_config asks for it."""
    opts = target.options
    kwargs: dict[str, Any] = {
        "known_hosts": target.keys.match,
        "client_factory": lambda: client,
        "keepalive_interval": opts.keepalive(),
        "keepalive_count_max": opts.keepalive_count_max,
        "connect_timeout": opts.connect_timeout_s,
        "agent_forwarding": False,
        "x11_forwarding": False,
    }
    if opts.config is not None:
        kwargs["config"] = list(opts.config)
    if opts.client_keys:
        kwargs["client_keys"] = list(opts.client_keys)
    if _CIPHER_PREFERENCE and not host_config.config.get("Ciphers", ()):
        kwargs["encryption_algs"] = _CIPHER_PREFERENCE  # a Ciphers line in ssh_config wins
    by_config = host_config.config.get("Compression") is not None
    if hop:
        algs = None if by_config else "none"
    else:
        algs = compression_algs(opts.compression, target.full_lines or not opts.delta, by_config)
        if client is not None:
            client.auto_compression = opts.compression == "auto" and not by_config
    if algs is not None:
        kwargs["compression_algs"] = algs
    return kwargs


ZLIB = "zlib@openssh.com,zlib,none"


def compression_algs(mode: str, full_lines: bool, by_config: bool) -> str | None:
    """The compression to offer: "on" and "off" say; "auto" compresses a node whose sampler
    sends full lines only (about 18 KB a second become 0.5 KB for 6-8% more monitor CPU; compact
    lines shrink only from about 1 KB to 0.25 KB, README "SSH data path"), unless ssh_config has
    a Compression line for the host (None: asyncssh then follows it)."""
    if mode == "on":
        return ZLIB
    if mode == "off":
        return "none"
    if by_config:
        return None
    return ZLIB if full_lines else "none"


def host_config(target: SshTarget, host: str, port: int | None, username: str | None) -> Any:
    """What ssh_config says for one host (asyncssh options that are only read, never used to
    connect; they carry the target's host-key check all the same, so they could not connect
    unverified even if they were)."""
    options = target.options
    config: Any = list(options.config) if options.config is not None else ()
    return asyncssh.SSHClientConnectionOptions(
        config=config,
        host=host,
        port=port if port is not None else (),
        username=username if username is not None else (),
        client_keys=None,
        known_hosts=target.keys.match,
    )


def _proxy_jump(config: Any) -> str | None:
    """The ProxyJump that ssh_config gives a host (None when there is none)."""
    tunnel = config.tunnel
    return tunnel if isinstance(tunnel, str) and tunnel else None


async def _open(target: SshTarget, jumps: list[Any]) -> tuple[Any, _Client]:
    """The handshake: each ProxyJump hop (appended to `jumps`), then the node."""
    spec, options = target.spec, target.options
    username = spec.user or options.username
    try:
        node_config = host_config(target, spec.host, spec.port, username)
    except (OSError, ValueError, asyncssh.Error) as exc:
        raise ConnectFailed(f"cannot read ssh_config: {describe_error(exc)}") from None
    tunnel: Any = None  # None: no tunnel (ProxyJump, when set, is opened here, verified)
    for hop in (_proxy_jump(node_config) or "").split(","):
        hop = hop.strip()
        if not hop:
            continue
        hop = hop[len("ssh://"):] if hop.lower().startswith("ssh://") else hop
        try:
            hop_user, hop_host, hop_port = split_destination(hop)
        except HostSpecError as exc:
            raise ConnectFailed(f"bad ProxyJump in ssh_config: {exc}") from None
        try:
            hop_config = host_config(target, hop_host, hop_port, hop_user)
        except (OSError, ValueError, asyncssh.Error) as exc:
            reason = f"cannot read ssh_config: {describe_error(exc)}"
            raise ConnectFailed(f"via jump host {hop_host}: {reason}") from None
        client = _Client(target.keys)
        hop_kwargs = connect_kwargs(target, client, hop_config, hop=True)
        if hop_user:
            hop_kwargs["username"] = hop_user
        try:
            tunnel = await asyncssh.connect(
                hop_host, hop_port if hop_port is not None else (), tunnel=tunnel, **hop_kwargs
            )
        except Exception as exc:  # every failure is a reason on the node's row
            reason = client.host_key_problem or describe_error(exc)
            raise ConnectFailed(f"via jump host {hop_host}: {reason}") from None
        jumps.append(tunnel)
    client = _Client(target.keys)
    kwargs = connect_kwargs(target, client, node_config)
    if username:
        kwargs["username"] = username
    try:
        conn = await asyncssh.connect(
            spec.host, spec.port if spec.port is not None else (), tunnel=tunnel, **kwargs
        )
    except Exception as exc:  # every failure is a reason on the node's row
        raise ConnectFailed(client.host_key_problem or describe_error(exc)) from None
    return conn, client
