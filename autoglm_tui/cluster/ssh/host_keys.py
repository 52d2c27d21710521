"""Host-key verification: known_hosts files (re-read when they change) and, with
--accept-new-host-keys, keys learnt here. An unknown or changed key fails the handshake
before anything is sent."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")


def display_host(host: str, port: int | None) -> str:
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
        name = display_host(host, port)
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
