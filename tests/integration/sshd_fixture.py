"""Real OpenSSH servers for tests: keys, config, known_hosts, start/stop by PID.

``SshdSet(workdir)`` makes one client key and starts any number of ``Sshd`` servers (each
with its own host key and port, on loopback or inside a network namespace); ``close()``
stops all of them. Every server writes its log to ``<dir>/sshd.log``. A test contacts only the
servers it made.

Usage::

    with SshdSet(tmp_path) as servers:
        node = servers.start()                 # 127.0.0.1, a free port, PATH with this venv
        options = servers.ssh_options(interval_s=0.5)
        spec = node.spec()                     # HostSpec for the monitor
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
VENV_BIN = str(Path(sys.executable).parent)


def sshd_missing() -> str | None:
    """Why real sshd tests cannot run here, or None when they can."""
    if not os.path.isfile(SSHD) or not os.access(SSHD, os.X_OK):
        return "openssh-server is not installed (scripts/test.sh installs it)"
    if not os.path.isfile(SSH_KEYGEN):
        return "ssh-keygen is not installed"
    return None


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def keygen(path: Path) -> str:
    """Make an ed25519 key pair at `path`; return the public key line."""
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "autoglm-test", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path.with_suffix(".pub").read_text().strip()


def _children(pid: int) -> list[int]:
    """Direct and indirect children of `pid` (from /proc, no psutil needed)."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _kill(pid: int, sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


@dataclass
class Sshd:
    """One sshd listening on `host:port`; `dir` holds its key, config, pid file and log."""

    name: str
    dir: Path
    host: str
    port: int
    authorized_keys: Path
    path_dirs: tuple[str, ...]
    netns: str | None = None
    extra_config: str = ""
    proc: subprocess.Popen[bytes] | None = None
    host_key_line: str = ""
    _log: Any = None

    @property
    def config_path(self) -> Path:
        return self.dir / "sshd_config"

    @property
    def log_path(self) -> Path:
        return self.dir / "sshd.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        key = self.dir / "host_ed25519"
        if not key.exists():
            self.host_key_line = keygen(key)
        else:
            self.host_key_line = key.with_suffix(".pub").read_text().strip()
        path = ":".join([*self.path_dirs, "/usr/local/bin", "/usr/bin", "/bin"])
        self.config_path.write_text(
            f"Port {self.port}\n"
            f"ListenAddress {self.host}\n"
            f"HostKey {key}\n"
            f"PidFile {self.dir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.authorized_keys}\n"
            "StrictModes no\n"
            "UsePAM no\n"
            "PermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "AllowTcpForwarding yes\n"
            "X11Forwarding no\n"
            "PrintMotd no\n"
            "PrintLastLog no\n"
            "UseDNS no\n"
            "LogLevel VERBOSE\n"
            # A clean node: HOME in the server's dir keeps this machine's ~/.bashrc (pyenv, ...)
            # out of the sessions, so PATH below decides which python3 the node runs.
            f"SetEnv PATH={path} HOME={self.dir}\n"
            f"{self.extra_config}"
        )

    def start(self, timeout: float = 10.0) -> None:
        """Start sshd (again, on the same port with the same host key) and wait until it listens."""
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.prepare()
        cmd = [SSHD, "-D", "-e", "-f", str(self.config_path)]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log_path.read_text()[-2000:]}")
            if b"Server listening" in self.log_path.read_bytes()[offset:]:
                return
            time.sleep(0.02)
        raise RuntimeError(f"sshd did not start: {self.log_path.read_text()[-2000:]}")

    def session_pids(self) -> list[int]:
        """PIDs of everything running under this sshd (per-connection sshd and their commands)."""
        return _children(self.proc.pid) if self.proc is not None else []

    def sampler_pids(self) -> list[int]:
        """Sampler processes running under this sshd (python processes running autoglm_tui)."""
        out = []
        for pid in self.session_pids():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                comm = Path(f"/proc/{pid}/comm").read_text()
            except OSError:
                continue
            if comm.startswith("python") and b"autoglm_tui" in cmdline:
                out.append(pid)
        return out

    def stop(self) -> None:
        """Stop the listener and its per-connection sshd processes (the commands they ran see
        their pipes close)."""
        if self.proc is None:
            return
        pid = self.proc.pid
        sessions = [p for p in self.session_pids() if _comm(p) == "sshd"]
        _kill(pid)
        for child in sessions:
            _kill(child)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            _kill(pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill_all(self) -> None:
        """Teardown: stop sshd and kill anything still running under it."""
        leftovers = self.session_pids()
        self.stop()
        for child in leftovers:
            _kill(child, signal.SIGKILL)

    def known_hosts_line(self) -> str:
        host = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        alg, b64 = self.host_key_line.split()[:2]
        return f"{host} {alg} {b64}"

    def spec(self, name: str | None = None, user: str | None = None, **labels: str) -> Any:
        from autoglm_tui.cluster.hosts import HostSpec, default_node_id

        return HostSpec(
            node_id=name or default_node_id(self.host, self.port),
            host=self.host,
            port=self.port,
            user=user or getpass.getuser(),
            labels=dict(labels),
        )

    def entry(self) -> str:
        """This server as a --hosts entry."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{getpass.getuser()}@{host}:{self.port}"


@dataclass
class SshdSet:
    """A client key, a known_hosts file and an empty ssh_config shared by the servers made."""

    workdir: Path
    servers: list[Sshd] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.client_key = self.workdir / "client_ed25519"
        self.authorized_keys = self.workdir / "authorized_keys"
        self.known_hosts = self.workdir / "known_hosts"
        self.ssh_config = self.workdir / "ssh_config"
        if not self.client_key.exists():
            self.authorized_keys.write_text(keygen(self.client_key) + "\n")
        self.known_hosts.touch()
        self.ssh_config.touch()

    def __enter__(self) -> SshdSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        path_dirs: tuple[str, ...] = (VENV_BIN,),
        netns: str | None = None,
        extra_config: str = "",
        trust: bool = True,
    ) -> Sshd:
        """Start a server; with `trust`, its host key goes into the shared known_hosts."""
        name = f"sshd{len(self.servers)}"
        server = Sshd(
            name=name,
            dir=self.workdir / name,
            host=host,
            port=port or free_port(host if netns is None else "127.0.0.1"),
            authorized_keys=self.authorized_keys,
            path_dirs=path_dirs,
            netns=netns,
            extra_config=extra_config,
        )
        self.servers.append(server)
        server.start()
        if trust:
            with self.known_hosts.open("a") as fh:
                fh.write(server.known_hosts_line() + "\n")
        return server

    def ssh_options(self, **overrides: Any) -> Any:
        """SshOptions that use this set's key, known_hosts and (empty) ssh_config."""
        from autoglm_tui.cluster.ssh import SshOptions

        values: dict[str, Any] = {
            "client_keys": (str(self.client_key),),
            "known_hosts": (str(self.known_hosts),),
            "config": (str(self.ssh_config),),
            "interval_s": 0.5,
            "connect_timeout_s": 5.0,
            "backoff_base_s": 0.2,
            "backoff_cap_s": 1.0,
        }
        values.update(overrides)
        return SshOptions(**values)

    def cli_args(self) -> list[str]:
        """The same settings as command-line options."""
        return [
            "--ssh-key", str(self.client_key),
            "--known-hosts", str(self.known_hosts),
            "--ssh-config", str(self.ssh_config),
        ]

    def close(self) -> None:
        for server in self.servers:
            server.kill_all()


def processes_matching(text: str) -> list[int]:
    """PIDs whose command line contains `text` (this test's own marker), excluding this one."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmdline:
            out.append(int(entry))
    return out


def pid_alive(pid: int) -> bool:
    """True while `pid` is a running (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def async_wait_for(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    """Like `wait_for`, but yields to the event loop so the monitor keeps running meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return bool(value)
        await asyncio.sleep(step)


def wait_for(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return bool(value)
        time.sleep(step)
