"""Command-line options that say which nodes to watch and how to reach them (shared by
``snapshot`` and ``cluster``): ``add_source_args(parser)`` and ``runner_config_from_args(args)``.

Cheap to import (argparse only); the SSH machinery is imported when the config is built.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from autoglm_tui.cluster.etcd_args import add_etcd_args, etcd_config_from_args
from autoglm_tui.cluster.etcd_config import EtcdConfig
from autoglm_tui.cluster.prometheus.args import add_prometheus_args

_PYTHON = re.compile(r"[A-Za-z0-9_./+][A-Za-z0-9_./+-]{0,255}")


class SourceArgsError(ValueError):
    """Options that do not make a usable configuration; the message says which and why."""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be > 0 and <= 3600, got {text}")
    return value


def _sampler_interval(text: str) -> float:
    value = _positive_float(text)
    if value < 0.2:  # sampler/control.py's MIN_INTERVAL_S (not imported: --help stays cheap)
        raise argparse.ArgumentTypeError(f"must be >= 0.2 and <= 3600, got {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= 4096:
        raise argparse.ArgumentTypeError(f"must be 1..4096, got {text}")
    return value


def add_source_args(parser: argparse.ArgumentParser) -> None:
    """--etcd / --hosts / --hosts-file / --prometheus and the SSH options."""
    add_etcd_args(parser)
    add_prometheus_args(parser)
    nodes = parser.add_argument_group("static node lists")
    nodes.add_argument(
        "--hosts",
        metavar="LIST",
        help="comma-separated nodes: [user@]host[:port] (IPv6 as [addr]:port)",
    )
    nodes.add_argument(
        "--hosts-file",
        metavar="FILE",
        help="one node per line: [user@]host[:port] [key=value ...] (name=ID sets its id); "
        "'#' starts a comment. Read again when it changes: a host removed from it has left",
    )
    ssh = parser.add_argument_group(
        "SSH", "Nodes are reached with your OpenSSH set-up: ~/.ssh/config (User, Port, "
        "IdentityFile, ProxyJump), ssh-agent and known_hosts. Host keys are always verified."
    )
    ssh.add_argument("--ssh-user", metavar="USER", help="login for nodes without user@")
    ssh.add_argument(
        "--ssh-key", metavar="FILE", action="append", default=[],
        help="private key to use (repeatable; default: agent, IdentityFile, ~/.ssh/id_*)",
    )
    ssh.add_argument(
        "--known-hosts", metavar="FILE", action="append", default=[],
        help="known_hosts file (repeatable; default: ~/.ssh/known_hosts and "
        "/etc/ssh/ssh_known_hosts)",
    )
    ssh.add_argument(
        "--ssh-config", metavar="FILE", action="append", default=[],
        help="ssh_config file to use instead of ~/.ssh/config (repeatable)",
    )
    ssh.add_argument(
        "--accept-new-host-keys", action="store_true",
        help="record the key of a host that known_hosts does not list yet (like OpenSSH's "
        "StrictHostKeyChecking=accept-new); a changed key is still refused",
    )
    ssh.add_argument(
        "--remote-command", metavar="CMD",
        help="command that runs the sampler on each node, used as given "
        "(default: PYTHON -m autoglm_tui sample --interval N)",
    )
    ssh.add_argument(
        "--remote-python", metavar="PATH", default="python3",
        help="the nodes' Python interpreter (default: python3)",
    )
    push = ssh.add_mutually_exclusive_group()
    push.add_argument(
        "--push-sampler", dest="push", action="store_const", const="always",
        help="always send the sampler's code over SSH (nodes need only Python 3)",
    )
    push.add_argument(
        "--no-push-sampler", dest="push", action="store_const", const="never",
        help="never send code; a node without autoglm_tui shows the error",
    )
    parser.set_defaults(push="auto")
    ssh.add_argument(
        "--max-connects", metavar="N", type=_count, default=16,
        help="SSH handshakes in flight at once (default: 16; sshd's MaxStartups is 10:30:100)",
    )
    ssh.add_argument(
        "--connect-timeout", metavar="S", type=_positive_float, default=10.0,
        help="seconds allowed for connecting and logging in (default: 10)",
    )
    ssh.add_argument(
        "--keepalive", metavar="S", type=_positive_float, default=None,
        help="seconds of silence from a node before an SSH keepalive is sent; 2 unanswered "
        "= link lost (default: 1.5 x --interval, within 1..3)",
    )
    ssh.add_argument(
        "--retry-max", metavar="S", type=_positive_float, default=30.0,
        help="longest wait between reconnect attempts (default: 30)",
    )
    ssh.add_argument(
        "--ssh-compression", choices=("auto", "on", "off"), default="auto",
        help="SSH (zlib) compression of the samplers' output: on, off, or auto (default): "
        "on for nodes whose sampler sends full lines only (older than schema 1.1 or "
        "--no-delta), off where compact lines already keep it small; a Compression line in "
        "ssh_config wins over auto",
    )
    ssh.add_argument(
        "--no-delta", dest="delta", action="store_false",
        help="do not ask samplers for compact (delta) lines: full lines only, about 16x the "
        "bytes",
    )
    parser.add_argument(
        "--interval", metavar="S", type=_positive_float, default=1.0,
        help="seconds between samples (default: 1)",
    )
    parser.add_argument(
        "--background-interval", metavar="S", type=_sampler_interval, default=None,
        help="seconds between samples for nodes that are not in focus (e.g. 5 for a large "
        "fleet); nodes in focus (the node on screen) sample at --interval. Default: every "
        "node at --interval. Samplers older than schema 1.1 keep --interval",
    )


def _hosts(args: argparse.Namespace) -> tuple[tuple[Any, ...], frozenset[str]]:
    """Every listed host, and the ids of those that came from the hosts file."""
    from autoglm_tui.cluster.hosts import (
        HostSpecError,
        parse_hosts_arg,
        read_hosts_file,
    )

    specs = []
    from_file: list[Any] = []
    try:
        if getattr(args, "hosts", None):
            specs.extend(parse_hosts_arg(args.hosts))
        if getattr(args, "hosts_file", None):
            from_file = read_hosts_file(args.hosts_file)
            specs.extend(from_file)
    except HostSpecError as exc:
        raise SourceArgsError(str(exc)) from None
    seen: set[str] = set()
    for spec in specs:
        if spec.node_id in seen:
            raise SourceArgsError(f"node {spec.node_id!r} is listed twice (--hosts and file)")
        seen.add(spec.node_id)
    return tuple(specs), frozenset(s.node_id for s in from_file)


def _etcd(args: argparse.Namespace) -> EtcdConfig | None:
    if not getattr(args, "etcd", None):
        return None
    try:
        return etcd_config_from_args(args)
    except ValueError as exc:
        raise SourceArgsError(str(exc)) from None


def runner_config_from_args(args: argparse.Namespace, local_default: bool = True) -> Any:
    """A runner.RunnerConfig from parsed options; raises SourceArgsError for bad values.

    With no --etcd/--hosts/--hosts-file and `local_default`, the config samples this host."""
    from autoglm_tui.cluster.hosts import HostSpecError, validate_user
    from autoglm_tui.cluster.runner import RunnerConfig
    from autoglm_tui.cluster.ssh import SshOptions

    hosts, from_file = _hosts(args)
    etcd = _etcd(args)
    if args.ssh_user is not None:
        try:
            validate_user(args.ssh_user)
        except HostSpecError as exc:
            raise SourceArgsError(f"--ssh-user: {exc}") from None
    if not _PYTHON.fullmatch(args.remote_python):
        raise SourceArgsError(f"--remote-python: not a plain path: {args.remote_python!r}")
    if args.remote_command is not None and not args.remote_command.strip():
        raise SourceArgsError("--remote-command: empty")
    options = SshOptions(
        username=args.ssh_user,
        client_keys=tuple(args.ssh_key),
        known_hosts=tuple(args.known_hosts),
        config=tuple(args.ssh_config) if args.ssh_config else None,
        accept_new_host_keys=args.accept_new_host_keys,
        remote_command=args.remote_command,
        remote_python=args.remote_python,
        push=args.push,
        interval_s=args.interval,
        connect_timeout_s=args.connect_timeout,
        keepalive_interval_s=args.keepalive,
        backoff_base_s=min(1.0, args.retry_max),
        backoff_cap_s=args.retry_max,
        delta=args.delta,
        compression=args.ssh_compression,
    )
    return RunnerConfig(
        hosts=hosts,
        etcd=etcd,
        ssh=options,
        max_connects=args.max_connects,
        local=local_default and not hosts and etcd is None,
        interval_s=args.interval,
        hosts_file=getattr(args, "hosts_file", None) or None,
        hosts_from_file=from_file,
        background_interval_s=args.background_interval,
    )


__all__ = ["SourceArgsError", "add_source_args", "runner_config_from_args"]
