"""`autoglm-tui agent`: register this node in etcd under a lease and keep it alive.

Runs on each node (usually as a systemd service: ``--print-systemd-unit``). Logs go to stderr
and never hold the etcd password, which is read from $AUTOGLM_ETCD_PASSWORD.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autoglm_tui.cluster.registration import RegisteredService

DEFAULT_INTERVAL_S = 5.0


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or not 0.2 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be 0.2..3600 seconds, got {text}")
    return value


def _ttl(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if not 2 <= value <= 86400:
        raise argparse.ArgumentTypeError(
            f"must be 2..86400 seconds (etcd's minimum is 2), got {text}"
        )
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a port (1-65535): {text!r}")
    return int(text)


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"want KEY=VALUE, got {text!r}")
    return key, value


def add_parser(sub: argparse._SubParsersAction) -> None:
    from autoglm_tui.cluster.etcd_args import add_etcd_args

    parser = sub.add_parser(
        "agent",
        help="register this node in etcd and keep its lease alive (run on each node)",
        description=(
            "Register this node in etcd under a lease and refresh it every --interval seconds, "
            "so that 'autoglm-tui cluster --etcd ...' finds it. The key is PREFIX+NODE_ID; the "
            "value is JSON with the node's address, SSH port, labels and resources (CPU cores, "
            "memory, GPUs, link speed). Beside it the agent keeps a member record (MEMBERS_PREFIX"
            "+NODE_ID, on no lease), so a node whose agent dies reads as FAILED, not as gone. On "
            "SIGTERM or SIGINT the agent leaves gracefully (record marked leaving, lease revoked, "
            "record deleted): monitors show it LEFT at once. If the agent dies, the heartbeat "
            "lapses after --ttl and monitors show the node FAILED until it returns or an "
            "operator forgets it ('autoglm-tui members forget NODE'). While etcd is unreachable "
            "the agent retries with backoff and never exits."
        ),
    )
    add_etcd_args(parser, required=False)
    node = parser.add_argument_group("this node")
    node.add_argument("--node-id", metavar="ID", help="node id (default: the host name)")
    node.add_argument(
        "--address",
        metavar="ADDR",
        help="address the monitor reaches this node at over SSH "
        "(default: the address of the interface with the default route)",
    )
    node.add_argument(
        "--ssh-port", type=_port, default=22, metavar="PORT", help="SSH port (default 22)"
    )
    node.add_argument(
        "--label",
        action="append",
        type=_label,
        default=[],
        metavar="KEY=VALUE",
        help="a label (repeatable), e.g. --label role=infer --label rack=a1",
    )
    node.add_argument(
        "--service-url",
        metavar="URL",
        help="this node's inference server metrics, e.g. http://127.0.0.1:8000/metrics",
    )
    from autoglm_tui.sampler.services.options import service_spec

    node.add_argument(
        "--service", action="append", type=service_spec, default=[],
        metavar="URL[,name=N][,kind=K]",
        help="an inference server to name in the registration (repeatable; the syntax of "
        "`autoglm-tui sample --service`): the cluster view hands it to this node's sampler, "
        "which scrapes it even without discovery when its host is this node (loopback or one "
        "of its addresses)",
    )
    beat = parser.add_argument_group("heartbeat")
    beat.add_argument(
        "--interval",
        type=_interval,
        default=DEFAULT_INTERVAL_S,
        metavar="S",
        help=f"seconds between lease refreshes (default {DEFAULT_INTERVAL_S:g})",
    )
    beat.add_argument(
        "--ttl",
        type=_ttl,
        metavar="S",
        help="lease TTL in whole seconds (default 3 x interval, at least 2); a dead agent's "
        "node leaves after this long",
    )
    once = parser.add_mutually_exclusive_group()
    once.add_argument(
        "--leave",
        action="store_true",
        help="leave gracefully without running: mark this node leaving, drop its heartbeat, "
        "delete its member record, and exit (for shutdown scripts; a running agent does this "
        "itself on SIGTERM)",
    )
    once.add_argument(
        "--deregister",
        action="store_true",
        help="remove this node from the registry for good (decommissioning), and exit: "
        "monitors drop it at once with the reason 'deregistered'",
    )
    once.add_argument(
        "--print-systemd-unit",
        action="store_true",
        help="print a systemd unit file that runs this agent with these options, and exit",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every heartbeat")
    from autoglm_tui.exporter.options import add_output_args  # this node's metrics (issue 14)

    add_output_args(parser, listen_option="--metrics-listen", listen_default=None,
                    interval_option="--metrics-interval", service_option=False)


def _unit_args(args: argparse.Namespace) -> list[str]:
    """The options to repeat in the unit file (defaults that depend on the host are left out)."""
    out = ["--etcd", args.etcd, "--prefix", args.prefix]
    for option, value in (
        ("--members-prefix", args.members_prefix),
        ("--etcd-ca", args.etcd_ca),
        ("--etcd-cert", args.etcd_cert),
        ("--etcd-key", args.etcd_key),
        ("--etcd-user", args.etcd_user),
        ("--node-id", args.node_id),
        ("--address", args.address),
        ("--service-url", args.service_url),
    ):
        if value is not None:
            out += [option, value]
    for target in getattr(args, "service", []):
        out += ["--service", target.spec]
    out += ["--ssh-port", str(args.ssh_port), "--interval", f"{args.interval:g}"]
    if args.ttl is not None:
        out += ["--ttl", str(args.ttl)]
    for key, value in args.label:
        out += ["--label", f"{key}={value}"]
    from autoglm_tui.exporter.options import output_unit_args

    return out + output_unit_args(args)


def _unscraped(services: Iterable[RegisteredService]) -> list[str]:
    """Why this node's sampler would refuse registered services (it checks each entry as the
    agent cannot: the path's characters, the host being this node), one line each."""
    from autoglm_tui.sampler.services import local
    from autoglm_tui.sampler.services.targets import TargetError, from_registration

    out = []
    for svc in services:
        try:
            reason = local.refuse(from_registration(svc.to_dict()).host)
        except TargetError as exc:
            reason = str(exc)
        if reason is not None:
            out.append(f"--service {svc.url}: this node's sampler will not scrape it: {reason}")
    return out


def _fail(message: str) -> int:
    import sys

    from autoglm_tui.text import clean

    print(f"autoglm-tui agent: {clean(message, 500)}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal
    import socket
    import sys
    import time

    from autoglm_tui.cluster.agent import (
        Agent,
        RegistrationError,
        build_registration,
        default_route_address,
        default_ttl,
        host_static,
        leave_once,
        resources_from_static,
        systemd_unit,
    )
    from autoglm_tui.cluster.etcd_args import etcd_config_from_args
    from autoglm_tui.cluster.registration import check_labels, check_node_id

    if not args.etcd:
        return _fail("--etcd HOST:PORT is required")
    ttl = args.ttl if args.ttl is not None else default_ttl(args.interval)
    if ttl <= args.interval:
        return _fail(f"--ttl ({ttl} s) must be longer than --interval ({args.interval:g} s)")
    labels = dict(args.label)
    try:
        check_labels(labels)
        if args.node_id is not None:
            check_node_id(args.node_id)
    except ValueError as exc:
        return _fail(str(exc))
    if args.print_systemd_unit:
        print(systemd_unit(_unit_args(args)), end="")
        return 0
    try:
        etcd = etcd_config_from_args(args)
    except ValueError as exc:
        return _fail(str(exc))

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s autoglm-agent %(levelname)s %(message)s",
    )
    for noisy in ("grpc", "aetcd", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    log = logging.getLogger("autoglm_tui.agent")

    node_id = args.node_id or socket.gethostname()
    try:
        check_node_id(node_id)
    except ValueError as exc:
        return _fail(f"the host name is not a valid node id ({exc}); pass --node-id")
    if args.leave or args.deregister:
        from autoglm_tui.cluster.etcd_client import EtcdError
        from autoglm_tui.cluster.members import MemberState

        state = MemberState.DEREGISTERED if args.deregister else MemberState.LEAVING
        try:
            found = asyncio.run(leave_once(etcd, node_id, state))
        except EtcdError as exc:
            _fail(f"etcd {etcd.describe()}: {exc}")
            return 1
        if not found:
            print(f"{node_id} is not in the registry; nothing to do", file=sys.stderr)
            return 0
        what = "deregistered" if args.deregister else "left the registry"
        print(f"{node_id} {what}", file=sys.stderr)
        return 0
    address = args.address or default_route_address()
    if not address:
        return _fail("cannot tell this node's address (no default route); pass --address")
    started = time.time()
    try:
        static = host_static()
        resources = resources_from_static(static)
    except Exception as exc:  # resources are informative; registering matters more
        log.warning("could not read host resources (%r); registering without them", exc)
        resources = {}
    try:
        registration = build_registration(
            prefix=etcd.prefix,
            node_id=node_id,
            address=address,
            ssh_port=args.ssh_port,
            labels=labels,
            resources=resources,
            interval_s=args.interval,
            started_at=started,
            service_url=args.service_url,
            services=[{k: v for k, v in (("url", t.url), ("name", t.name), ("kind", t.kind))
                       if v is not None} for t in args.service],
        )
    except RegistrationError as exc:
        return _fail(f"this node's registration would be rejected: {exc.reason}")
    for problem in _unscraped(registration.services):
        log.warning("%s", problem)

    outputs = None
    if args.metrics_listen or args.influx:  # /metrics and InfluxDB beside the heartbeat
        from autoglm_tui.exporter.options import OutputArgsError, start_outputs

        try:
            outputs = start_outputs(args, args.metrics_node or node_id)
        except OutputArgsError as exc:
            return _fail(str(exc))
    agent = Agent(etcd, registration, args.interval, ttl)
    log.info(
        "agent %s for node %s: etcd %s, TTL %d s, heartbeat %g s",
        registration.agent_version,
        node_id,
        etcd.describe(),
        ttl,
        args.interval,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await agent.run(stop)

    try:
        asyncio.run(main())
    finally:
        if outputs is not None:
            outputs.stop()
    return 0
