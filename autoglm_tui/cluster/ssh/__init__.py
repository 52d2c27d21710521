"""SSH: the only package that imports asyncssh.

- ``options.py``: :class:`SshOptions`, one set for the whole fleet.
- ``host_keys.py``: :class:`HostKeyStore`, known_hosts and accept-new.
- ``connect.py``: :func:`connect`, the one way to open a verified connection to a node
  (ProxyJump hops, bounded handshakes, keepalives), used by the stream and remote actions.
- ``session.py``: one sampler run on a channel, decoded as packets arrive.
- ``source.py``: :class:`SshSource`, a node's stream with its retries.
"""

from __future__ import annotations

from autoglm_tui.cluster.ssh.connect import (
    PREFERRED_CIPHERS,
    ConnectFailed,
    Connection,
    SshTarget,
    connect,
    describe_error,
)
from autoglm_tui.cluster.ssh.host_keys import HostKeyStore
from autoglm_tui.cluster.ssh.options import PUSH_MODES, SshOptions
from autoglm_tui.cluster.ssh.source import SshSource

__all__ = [
    "PREFERRED_CIPHERS",
    "PUSH_MODES",
    "ConnectFailed",
    "Connection",
    "HostKeyStore",
    "SshOptions",
    "SshSource",
    "SshTarget",
    "connect",
    "describe_error",
]
