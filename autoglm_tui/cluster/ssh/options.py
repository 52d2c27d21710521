"""How the monitor reaches nodes over SSH: one set of options for the whole fleet."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from autoglm_tui.cluster.push import push_command

PUSH_MODES = ("auto", "always", "never")
COMPRESSION_MODES = ("auto", "on", "off")


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
    delta: bool = True  # ask samplers that offer it for compact lines (docs/wire.md)
    compression: str = "auto"  # SSH zlib: "auto" (see compression_algs), "on", "off"

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSION_MODES:
            raise ValueError(f"compression must be one of {COMPRESSION_MODES}")

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
