"""The ``--etcd`` options shared by ``agent``, ``cluster`` and ``snapshot``, and their parsing.

The password is read from the environment (``AUTOGLM_ETCD_PASSWORD``), never from argv, so it
does not show in ``ps`` or shell history. This module imports only the standard library (argparse
help must stay cheap); the config type is ``etcd_config.EtcdConfig`` (no grpc either).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from collections.abc import Mapping

from autoglm_tui.cluster.etcd_config import (
    DEFAULT_PORT,
    DEFAULT_PREFIX,
    Endpoint,
    EtcdConfig,
    check_prefix,
    check_prefixes,
    default_members_prefix,
)

PASSWORD_ENV = "AUTOGLM_ETCD_PASSWORD"

_HOST = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")


def add_etcd_args(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """Add --etcd, --prefix, --etcd-ca/--etcd-cert/--etcd-key and --etcd-user to `parser`."""
    group = parser.add_argument_group(
        "etcd registry",
        f"TLS is used when --etcd-ca or --etcd-cert is given or an endpoint starts with "
        f"https://. With --etcd-user, the password is read from ${PASSWORD_ENV}.",
    )
    group.add_argument(
        "--etcd",
        metavar="HOST:PORT[,HOST:PORT...]",
        required=required,
        help=f"etcd endpoints, tried in order (default port {DEFAULT_PORT}; IPv6 as [addr]:port)",
    )
    group.add_argument(
        "--prefix",
        default=DEFAULT_PREFIX,
        metavar="PREFIX",
        help=f"key prefix of node heartbeats (default {DEFAULT_PREFIX})",
    )
    group.add_argument(
        "--members-prefix",
        metavar="PREFIX",
        help=f"key prefix of membership records, which outlive a heartbeat (default: beside "
        f"the node prefix, {default_members_prefix(DEFAULT_PREFIX)})",
    )
    group.add_argument("--etcd-ca", metavar="FILE", help="CA certificate(s) to verify etcd with")
    group.add_argument("--etcd-cert", metavar="FILE", help="client certificate for etcd (PEM)")
    group.add_argument("--etcd-key", metavar="FILE", help="client private key for etcd (PEM)")
    group.add_argument(
        "--etcd-user", metavar="USER", help=f"etcd user name (password from ${PASSWORD_ENV})"
    )


def parse_endpoint(text: str) -> tuple[str, int, bool]:
    """``[scheme://]host[:port]`` into (host, port, https); raises ValueError."""
    raw = text.strip()
    https = False
    for scheme in ("http://", "https://"):
        if raw.lower().startswith(scheme):
            https = scheme == "https://"
            raw = raw[len(scheme) :]
    raw = raw.rstrip("/")
    if not raw:
        raise ValueError(f"--etcd: empty endpoint in {text!r}")
    port_text = ""
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"--etcd: bad IPv6 endpoint {text!r}")
        port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"--etcd: not an IPv6 address: {host!r}") from None
    elif raw.count(":") > 1:
        raise ValueError(f"--etcd: write IPv6 endpoints as [addr]:port, got {text!r}")
    else:
        host, _, port_text = raw.partition(":")
        if not _HOST.fullmatch(host):
            raise ValueError(f"--etcd: not a host name or address: {host!r}")
    port = DEFAULT_PORT
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"--etcd: bad port in {text!r}")
        port = int(port_text)
    return host, port, https


def _file(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    if not os.path.isfile(value):
        raise ValueError(f"{option}: no such file: {value}")
    return value


def etcd_config_from_args(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> EtcdConfig:
    """An ``EtcdConfig`` from parsed options; raises ValueError with the reason."""
    env = os.environ if environ is None else environ
    text = getattr(args, "etcd", None) or ""
    endpoints: list[Endpoint] = []
    https = False
    for part in text.split(","):
        if not part.strip():
            continue
        host, port, is_https = parse_endpoint(part)
        https = https or is_https
        endpoints.append(Endpoint(host, port))
    if not endpoints:
        raise ValueError("--etcd: give at least one HOST:PORT")
    prefix = check_prefix(getattr(args, "prefix", None) or DEFAULT_PREFIX)
    members = getattr(args, "members_prefix", None)
    if members is not None:
        check_prefix(members, "--members-prefix")
    check_prefixes(prefix, members or default_members_prefix(prefix))
    ca = _file(getattr(args, "etcd_ca", None), "--etcd-ca")
    cert = _file(getattr(args, "etcd_cert", None), "--etcd-cert")
    key = _file(getattr(args, "etcd_key", None), "--etcd-key")
    if (cert is None) != (key is None):
        raise ValueError("--etcd-cert and --etcd-key go together")
    user = getattr(args, "etcd_user", None)
    password = None
    if user is not None:
        if not _USER.fullmatch(user):
            raise ValueError(f"--etcd-user: not a plain user name: {user!r}")
        password = env.get(PASSWORD_ENV)
        if not password:
            raise ValueError(f"--etcd-user needs the password in ${PASSWORD_ENV}")
    return EtcdConfig(
        endpoints=tuple(endpoints),
        prefix=prefix,
        tls=https or ca is not None or cert is not None,
        ca_file=ca,
        cert_file=cert,
        key_file=key,
        user=user,
        password=password,
        members_prefix=members,
    )


__all__ = ["PASSWORD_ENV", "add_etcd_args", "etcd_config_from_args", "parse_endpoint"]
