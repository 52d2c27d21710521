"""How to reach the etcd registry and where its keys live (plain data, standard library only).

``EtcdConfig`` is built by ``etcd_args.etcd_config_from_args`` (or by tests) and read by the etcd
adapter (``etcd_client.py``), the registry watcher, the agent and the ``members`` command.
Nothing here imports grpc or aetcd, so parsing options and building a config stay cheap.

Two key prefixes:

- ``prefix`` (default ``/autoglm/nodes/``): heartbeat keys, one per live node, on the agent's
  lease; a key goes when the lease is revoked (graceful leave) or lapses (the agent died).
- ``members_prefix`` (default: the sibling ``members/`` of the node prefix, so
  ``/autoglm/members/``): membership records, not on a lease, removed only by a graceful leave,
  a deregistration or an operator's ``members forget``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEFAULT_PREFIX = "/autoglm/nodes/"
DEFAULT_PORT = 2379
MEMBERS_DIR = "members/"

_PREFIX = re.compile(r"/[A-Za-z0-9_./-]{0,126}/")


def check_prefix(prefix: str, option: str = "--prefix") -> str:
    """Return `prefix` when it starts and ends with '/' and holds only A-Z a-z 0-9 _ . - /;
    else raise ValueError naming `option`."""
    if not _PREFIX.fullmatch(prefix) or "//" in prefix:
        raise ValueError(
            f"{option}: must start and end with '/' and hold only A-Z a-z 0-9 _ . - /, "
            f"got {prefix!r}"
        )
    return prefix


def default_members_prefix(prefix: str) -> str:
    """The members prefix beside a node prefix: ``/autoglm/nodes/`` -> ``/autoglm/members/``."""
    parent = prefix.rstrip("/").rpartition("/")[0]
    return f"{parent}/{MEMBERS_DIR}"


def check_prefixes(prefix: str, members_prefix: str) -> None:
    """Raise ValueError when one prefix holds the other (their keys would mix)."""
    if prefix.startswith(members_prefix) or members_prefix.startswith(prefix):
        raise ValueError(
            f"the node prefix {prefix!r} and the members prefix {members_prefix!r} overlap; "
            f"pass --members-prefix with a prefix of its own"
        )


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
    members_prefix: str | None = None  # None: default_members_prefix(prefix)

    @property
    def member_prefix(self) -> str:
        """The prefix of membership records (given, or the sibling of the node prefix)."""
        return self.members_prefix or default_members_prefix(self.prefix)

    def describe(self) -> str:
        """The endpoints (and TLS/user), for log lines; never the password."""
        text = ",".join(str(e) for e in self.endpoints)
        if self.tls:
            text += " (TLS)"
        if self.user:
            text += f" as {self.user}"
        return text


__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_PREFIX",
    "Endpoint",
    "EtcdConfig",
    "check_prefix",
    "check_prefixes",
    "default_members_prefix",
]
