"""The SSH data path: one connection per node, the sampler run on it, its JSON lines into events.

``SshSource`` connects to one node with asyncssh (honouring ~/.ssh/config, ssh-agent and
known_hosts), starts the sampler there, decodes its stdout with the wire module and emits events
(events.py). It owns its retries: a failed connect or a lost link is ``NodeUnreachable`` with the
reason and the next retry (capped exponential backoff with jitter); a sampler that dies is
restarted on the same connection. Closing the connection closes the sampler's stdin, which
stops it: no sampler outlives the monitor.

Host keys are always verified (``HostKeyStore``): an unknown or changed key fails the handshake
before anything is sent. The remote command is fixed by the monitor; no data from etcd or a
host list is ever put into it.

Cost per node matters (256 nodes at 1 Hz must stay under 10% of a core): the sampler's stdout
is handled in the channel's data callback as packets arrive, with no reader task to wake, and
AES-GCM is offered before chacha20-poly1305 unless ssh_config names its own Ciphers.

This is the only module (besides tests) that imports asyncssh.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shlex
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from autoglm_tui.cluster.backoff import Backoff
from autoglm_tui.cluster.hosts import HostSpec, HostSpecError, split_destination
from autoglm_tui.cluster.push import build_bundle, push_command
from autoglm_tui.cluster.stream import LineSplitter, SamplerStream, StderrTail
from autoglm_tui.events import Event, NodeUnreachable
from autoglm_tui.text import clean

Emit = Callable[[Event], None]

DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")
PUSH_MODES = ("auto", "always", "never")
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


@dataclass(frozen=True, slots=True)
class SshOptions:
    """How the monitor reaches nodes; one set for the whole fleet."""

    username: str | None = None  # for hosts without user@ (else ssh_config User, else local)
    client_keys: tuple[str, ...] = ()  # () = ssh-agent, ssh_config IdentityFile, ~/.ssh/id_*
    known_hosts: tuple[str, ...] = ()  # () = ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts
    config: tuple[str, ...] | None = None  # None = ~/.ssh/config
    accept_new_host_keys: bool = False
    remote_command: str | None = None  # None = `<remote_python> -m autoglm_tui sample ...`
    remote_python: str = "python3"
    push: str = "auto"  # "auto": push when the node lacks the package; "always"; "never"
    interval_s: float = 1.0
    connect_timeout_s: float = 10.0
    keepalive_interval_s: float | None = None  # None: 1.5 x interval, within 1..3 s
    keepalive_count_max: int = 2
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 30.0
    backoff_jitter: float = 0.2
    stall_timeout_s: float | None = None  # no line for this long: restart the sampler

    def sampler_command(self, push: bool) -> str:
        """The command line the node runs (a constant of the monitor's options)."""
        if push:
            return push_command(self.remote_python, self.interval_s)
        if self.remote_command is not None:
            return self.remote_command
        python = shlex.quote(self.remote_python)
        return f"{python} -m autoglm_tui sample --interval {self.interval_s:g}"

    def keepalive(self) -> float:
        """Seconds of silence before a keepalive is sent. Any received data restarts the timer,
        so a value above the sample interval sends none while samples flow; a cut link is
        declared after (count_max + 1) silent periods: 4.5 s at a 1 s interval."""
        if self.keepalive_interval_s is not None:
            return self.keepalive_interval_s
        return min(3.0, max(1.0, 1.5 * self.interval_s))

    def stall_limit(self) -> float:
        if self.stall_timeout_s is not None:
            return self.stall_timeout_s
        return max(15.0, 10 * self.interval_s)


def _display_host(host: str, port: int | None) -> str:
    if port in (None, 22):
        return host
    return f"[{host}]:{port}"


@dataclass
class _Cached:
    stamp: tuple[int, int]
    hosts: Any  # asyncssh.SSHKnownHosts


@dataclass
class HostKeyStore:
    """known_hosts files (re-read when they change) plus, with accept-new, keys learnt here."""

    files: tuple[str, ...] = ()
    accept_new: bool = False
    _cache: dict[str, _Cached] = field(default_factory=dict)
    _learnt: dict[tuple[str, int | None], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.explicit = bool(self.files)
        paths = self.files or DEFAULT_KNOWN_HOSTS
        self.paths = tuple(os.path.expanduser(p) for p in paths)
        self.write_path = self.paths[0]

    def _loaded(self) -> list[Any]:
        out = []
        for path in self.paths:
            try:
                st = os.stat(path)
            except OSError:
                self._cache.pop(path, None)
                continue
            stamp = (st.st_mtime_ns, st.st_size)
            cached = self._cache.get(path)
            if cached is None or cached.stamp != stamp:
                try:
                    hosts = asyncssh.read_known_hosts(path)
                except (OSError, ValueError, asyncssh.KeyImportError):
                    continue  # unreadable or malformed: trusts nothing from it
                cached = _Cached(stamp, hosts)
                self._cache[path] = cached
            out.append(cached.hosts)
        return out

    def match(
        self, host: str, addr: str, port: int | None
    ) -> tuple[list[Any], list[Any], list[Any]]:
        """Trusted host keys, CA keys and revoked keys for a host (asyncssh's known_hosts hook)."""
        keys: list[Any] = []
        cas: list[Any] = []
        revoked: list[Any] = []
        for hosts in self._loaded():
            result = hosts.match(host, addr, port)
            keys.extend(result[0])
            cas.extend(result[1])
            revoked.extend(result[2])
        learnt = self._learnt.get((host, port))
        if learnt is not None:
            keys.append(learnt)
        return _unique(keys), _unique(cas), _unique(revoked)

    def judge(self, host: str, addr: str, port: int | None, key: Any) -> tuple[bool, str | None]:
        """Called for a key that known_hosts does not trust: accept it (accept-new, host not
        known at all) or say why not."""
        name = _display_host(host, port)
        fingerprint = key.get_fingerprint("sha256")
        where = ", ".join(self.paths)
        keys, cas, _ = self.match(host, addr, port)
        if keys or cas:
            return False, (
                f"HOST KEY CHANGED for {name}: it offered {fingerprint}, which does not match "
                f"known_hosts ({where}); nothing was sent. If the change is expected, remove the "
                f"old entry (ssh-keygen -R '{name}')"
            )
        if not self.accept_new:
            return False, (
                f"unknown host key for {name} ({fingerprint}), not in known_hosts ({where}); "
                "nothing was sent. Add it to known_hosts, or allow new hosts with "
                "--accept-new-host-keys"
            )
        try:
            self._append(name, key)
        except OSError as exc:
            return False, f"cannot record the new host key for {name} in {self.write_path}: {exc}"
        self._learnt[(host, port)] = key
        return True, None

    def _append(self, name: str, key: Any) -> None:
        alg, b64 = key.export_public_key("openssh").decode("ascii").split()[:2]
        path = Path(self.write_path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            prefix = b""
            size = os.fstat(fd).st_size
            if size:
                with open(path, "rb") as fh:
                    fh.seek(size - 1)
                    prefix = b"" if fh.read(1) == b"\n" else b"\n"
            os.write(fd, prefix + f"{name} {alg} {b64}\n".encode("ascii"))
        finally:
            os.close(fd)


def _unique(keys: list[Any]) -> list[Any]:
    """Keys without repeats (a host and its address often match the same known_hosts line)."""
    seen: set[bytes] = set()
    out = []
    for key in keys:
        data = key.public_data
        if data not in seen:
            seen.add(data)
            out.append(key)
    return out


class _Client(asyncssh.SSHClient):
    """Per-connection hooks: host-key judgement and the reason a connection ended."""

    def __init__(self, keys: HostKeyStore) -> None:
        self._keys = keys
        self.host_key_problem: str | None = None
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)

    def validate_host_public_key(self, host: str, addr: str, port: int, key: Any) -> bool:
        ok, problem = self._keys.judge(host, addr, port if port != 22 else None, key)
        self.host_key_problem = problem
        return ok


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


class _ConnectFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _SamplerOutcome:
    samples: int = 0
    invalid: bool = False
    reason: str = ""
    missing_package: bool = False
    lost: str | None = None  # the connection failed under the sampler


class _SamplerSession(asyncssh.SSHClientSession[bytes]):
    """One sampler run's channel: stdout turned into events as packets arrive (no reader task
    and no wake-up per packet), stderr kept as a tail. ``done`` resolves when the run is over:
    end of output, a stream that cannot be used, a lost channel, or ``finish()``."""

    def __init__(self, source: SshSource, emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        self._time = loop.time
        self._clock = source.clock
        self._backoff = source.backoff
        self._emit = emit
        self.stream = SamplerStream(source.node_id)
        self.splitter = LineSplitter()
        self.stderr = StderrTail()
        self.last_line = loop.time()
        self.done: asyncio.Future[None] = loop.create_future()
        self.lost: str | None = None  # why the channel failed under the sampler
        self.error: Exception | None = None  # raised by this process while handling a line

    def data_received(self, data: bytes, datatype: Any) -> None:
        if datatype == asyncssh.EXTENDED_DATA_STDERR:
            self.stderr.feed(data)  # kept until the channel closes: it may say why it ended
            return
        if self.done.done():
            return
        try:
            lines = self.splitter.feed(data)
            if not lines:
                return
            self.last_line = self._time()
            stream = self.stream
            for line in lines:
                event = stream.feed(line, self._clock())
                if event is not None:
                    self._emit(event)
                    if stream.stats.samples == 1 and stream.hello is not None:
                        self._backoff.reset()
            if stream.invalid is not None:
                self.finish()
        except Exception as exc:  # kept for _run_sampler: asyncssh would drop the connection
            self.error = exc
            self.finish()

    def eof_received(self) -> bool:
        self.finish()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self.lose(exc)
        self.finish()

    def lose(self, exc: BaseException) -> None:
        """The connection failed under the sampler."""
        if self.lost is None:
            self.lost = describe_error(exc)
        self.finish()

    def finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class SshSource:
    """One node over SSH: ``await run(emit)`` until cancelled (retrying on its own)."""

    def __init__(
        self,
        spec: HostSpec,
        options: SshOptions,
        *,
        keys: HostKeyStore,
        slots: asyncio.Semaphore,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if options.push not in PUSH_MODES:
            raise ValueError(f"push must be one of {PUSH_MODES}")
        self.spec = spec
        self.options = options
        self.keys = keys
        self.slots = slots
        self.clock = clock
        self.node_id = spec.node_id
        self.push = options.push == "always"
        self.backoff = Backoff(
            options.backoff_base_s,
            options.backoff_cap_s,
            options.backoff_jitter,
            rng or random.Random(),
        )
        self._past_bad_lines = 0
        self._stream: SamplerStream | None = None
        self._splitter: LineSplitter | None = None
        self.stderr: StderrTail = StderrTail()
        self.cipher: str | None = None  # the cipher negotiated on the current connection

    @property
    def bad_lines(self) -> int:
        """Lines from this node's samplers that did not decode (each skipped)."""
        now = 0
        if self._stream is not None and self._splitter is not None:
            now = self._stream.stats.bad_lines + self._splitter.dropped
        return self._past_bad_lines + now

    # ------------------------------------------------------------------ main loop

    async def run(self, emit: Emit) -> None:
        while True:
            reason = await self._connection(emit)
            delay = self.backoff.next()
            emit(NodeUnreachable(self.clock(), self.node_id, reason, retry_in_s=round(delay, 2)))
            await asyncio.sleep(delay)

    async def _connection(self, emit: Emit) -> str:
        """Connect, run samplers until the connection fails; return why it failed."""
        jumps: list[Any] = []
        try:
            try:
                async with self.slots:
                    conn, client = await self._connect(jumps)
            except _ConnectFailed as exc:
                return exc.reason
            self.cipher = conn.get_extra_info("recv_cipher")
            try:
                while True:
                    outcome = await self._run_sampler(conn, emit)
                    if client.lost.done():
                        lost = client.lost.result()
                        return describe_error(lost) if lost else "connection closed by the node"
                    if outcome.lost is not None:
                        return outcome.lost
                    if outcome.missing_package and self.options.push == "auto" and not self.push:
                        self.push = True  # the node lacks autoglm_tui: send the sampler along
                        continue
                    delay = self.backoff.next()
                    if outcome.samples == 0 and not outcome.invalid:
                        emit(
                            NodeUnreachable(
                                self.clock(), self.node_id, outcome.reason, round(delay, 2)
                            )
                        )
                    await asyncio.sleep(delay)
            finally:
                conn.close()  # the node's sshd closes the sampler's stdin: it exits
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.wait_closed(), 2.0)
        finally:
            for jump in reversed(jumps):
                jump.close()

    async def run_once(self, command: str, timeout: float) -> tuple[int | None, str]:
        """Run one command, fixed by the caller, on a fresh connection made like the stream's
        (verified host keys, ProxyJump, bounded handshakes); (exit status, stdout).

        Raises ``asyncio.TimeoutError`` when the node does not answer in `timeout` seconds and
        ``ConnectionError`` (with the reason) when it cannot be reached."""
        jumps: list[Any] = []
        conn = None
        try:
            try:
                async with self.slots:
                    conn, _client = await asyncio.wait_for(self._connect(jumps), timeout)
            except _ConnectFailed as exc:
                raise ConnectionError(exc.reason) from None
            try:
                result = await asyncio.wait_for(conn.run(command, check=False), timeout)
            except (asyncssh.Error, OSError) as exc:
                raise ConnectionError(describe_error(exc)) from None
            stdout = result.stdout if isinstance(result.stdout, str) else ""
            return result.exit_status, stdout
        finally:
            if conn is not None:
                conn.close()
            for jump in reversed(jumps):
                jump.close()

    # ------------------------------------------------------------------ connecting

    def _connect_kwargs(self, keys_client: _Client, host_config: Any) -> dict[str, Any]:
        opts = self.options
        kwargs: dict[str, Any] = {
            "known_hosts": self.keys.match,
            "client_factory": lambda: keys_client,
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
        return kwargs

    def _host_config(self, host: str, port: int | None, username: str | None) -> Any:
        """What ssh_config says for one host (asyncssh options that are only read, never used
        to connect)."""
        config: Any = list(self.options.config) if self.options.config is not None else ()
        probe = asyncssh.SSHClientConnectionOptions(
            config=config,
            host=host,
            port=port if port is not None else (),
            username=username if username is not None else (),
            client_keys=None,
            # This options object only reads ssh_config and never connects; the connection
            # itself always verifies host keys through HostKeyStore.
            known_hosts=None,
        )
        return probe

    @staticmethod
    def _proxy_jump(host_config: Any) -> str | None:
        """The ProxyJump that ssh_config gives a host (None when there is none)."""
        tunnel = host_config.tunnel
        return tunnel if isinstance(tunnel, str) and tunnel else None

    async def _connect(self, jumps: list[Any]) -> tuple[Any, _Client]:
        username = self.spec.user or self.options.username
        try:
            host_config = self._host_config(self.spec.host, self.spec.port, username)
        except (OSError, ValueError, asyncssh.Error) as exc:
            raise _ConnectFailed(f"cannot read ssh_config: {describe_error(exc)}") from None
        proxy_jump = self._proxy_jump(host_config)
        tunnel: Any = None  # None: no tunnel (ProxyJump, when set, is opened here, verified)
        if proxy_jump:
            for hop in proxy_jump.split(","):
                hop = hop.strip()
                hop = hop[len("ssh://"):] if hop.lower().startswith("ssh://") else hop
                try:
                    hop_user, hop_host, hop_port = split_destination(hop)
                except HostSpecError as exc:
                    raise _ConnectFailed(f"bad ProxyJump in ssh_config: {exc}") from None
                try:
                    hop_config = self._host_config(hop_host, hop_port, hop_user)
                except (OSError, ValueError, asyncssh.Error) as exc:
                    reason = f"cannot read ssh_config: {describe_error(exc)}"
                    raise _ConnectFailed(f"via jump host {hop_host}: {reason}") from None
                client = _Client(self.keys)
                hop_kwargs = self._connect_kwargs(client, hop_config)
                if hop_user:
                    hop_kwargs["username"] = hop_user
                try:
                    tunnel = await asyncssh.connect(
                        hop_host,
                        hop_port if hop_port is not None else (),
                        tunnel=tunnel,
                        **hop_kwargs,
                    )
                except Exception as exc:  # every failure is a reason on the node's row
                    reason = client.host_key_problem or describe_error(exc)
                    raise _ConnectFailed(f"via jump host {hop_host}: {reason}") from None
                jumps.append(tunnel)
        client = _Client(self.keys)
        kwargs = self._connect_kwargs(client, host_config)
        if username:
            kwargs["username"] = username
        try:
            conn = await asyncssh.connect(
                self.spec.host,
                self.spec.port if self.spec.port is not None else (),
                tunnel=tunnel,
                **kwargs,
            )
        except Exception as exc:  # every failure is a reason on the node's row
            raise _ConnectFailed(client.host_key_problem or describe_error(exc)) from None
        return conn, client

    # ------------------------------------------------------------------ the sampler

    async def _run_sampler(self, conn: Any, emit: Emit) -> _SamplerOutcome:
        outcome = _SamplerOutcome()
        push = self.push
        session = _SamplerSession(self, emit)
        try:
            chan, _ = await conn.create_session(
                lambda: session,
                self.options.sampler_command(push),
                encoding=None,
                request_pty=False,
                term_type=None,
            )
        except Exception as exc:  # channel refused, connection gone
            outcome.reason = describe_error(exc)
            if isinstance(exc, (asyncssh.DisconnectError, OSError)):
                outcome.lost = outcome.reason
            return outcome
        self.stderr = session.stderr
        self._stream, self._splitter = session.stream, session.splitter
        stalled = [False]
        watchdog = asyncio.ensure_future(self._watchdog(session, stalled))
        try:
            if push:  # once; stdin stays open: its EOF stops the sampler
                try:
                    chan.write(build_bundle())
                except (asyncssh.Error, OSError) as exc:
                    session.lose(exc)
            await session.done
        finally:
            self._past_bad_lines += session.stream.stats.bad_lines + session.splitter.dropped
            self._stream = self._splitter = None
            watchdog.cancel()
            chan.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(chan.wait_closed(), 2.0)
        if session.error is not None:
            raise session.error  # a bug in this process, not the node's fault: see Runner._guard
        stream = session.stream
        self.stderr.finish()
        outcome.lost = session.lost
        outcome.samples = stream.stats.samples
        outcome.invalid = stream.invalid is not None
        outcome.missing_package = (
            stream.hello is None and not push and self.stderr.missing_package()
        )
        outcome.reason = self._exit_reason(chan, stalled[0], stream)
        return outcome

    async def _watchdog(self, session: _SamplerSession, stalled: list[bool]) -> None:
        limit = self.options.stall_limit()
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.05, session.last_line + limit - loop.time()))
            if loop.time() - session.last_line >= limit:
                stalled[0] = True
                session.finish()
                return

    def _exit_reason(self, chan: Any, stalled: bool, stream: SamplerStream) -> str:
        if stalled:
            return f"sampler sent nothing for {self.options.stall_limit():g}s; restarting it"
        status = chan.get_exit_status()
        signal = chan.get_exit_signal()
        if signal:
            how = f"killed by signal {clean(signal[0], 20)}"
        elif status is not None and status >= 0:
            how = f"exit status {status}"
        else:
            how = "no exit status"
        said = self.stderr.summary()
        if stream.hello is None:
            if said:
                return f"sampler failed: {said} ({how})"
            return f"sampler exited before sending anything ({how})"
        return f"sampler stopped ({how})" + (f": {said}" if said else "")


__all__ = ["HostKeyStore", "SshOptions", "SshSource", "describe_error"]
