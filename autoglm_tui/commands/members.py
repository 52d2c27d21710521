"""`autoglm-tui members`: list the cluster's members, or forget one (etcd registry).

``members list`` shows every node that has a heartbeat or a member record: alive, failed (its
lease lapsed without a leave), left (a graceful leave under way) or invalid. ``members forget
NODE`` removes a member for every monitor (normally a FAILED node that will not come back); it
asks first unless --yes. Monitors only read the registry; this command and the agents write it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from autoglm_tui.cluster.etcd_args import add_etcd_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "members",
        help="list the cluster's members from etcd, or forget a failed one",
        description=(
            "Every node that runs 'autoglm-tui agent' has a heartbeat (on a lease) and a member "
            "record (on no lease) in etcd. A node whose heartbeat lapsed without a graceful "
            "leave is FAILED: monitors keep it, with its alerts, until it returns or someone "
            "forgets it here. Options without a subcommand list the members "
            "('members --etcd HOST:PORT' is 'members list --etcd HOST:PORT')."
        ),
    )
    msub = p.add_subparsers(dest="members_command", metavar="SUBCOMMAND")
    lst = msub.add_parser("list", help="every member: alive, failed, left or invalid")
    add_etcd_args(lst)
    lst.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    fgt = msub.add_parser(
        "forget",
        help="remove a member for every monitor (asks first)",
        description=(
            "Mark NODE forgotten, then delete its member record and any heartbeat key left "
            "without a lease. Every running monitor drops the node at once with the reason "
            "'forgotten by operator' and ends its alerts. A node that still heartbeats is "
            "refused unless --force (its agent would register it again at its next heartbeat)."
        ),
    )
    fgt.add_argument("node", metavar="NODE", help="the node id")
    add_etcd_args(fgt)
    fgt.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    fgt.add_argument(
        "--force", action="store_true", help="forget it even though it still heartbeats"
    )
    p.set_defaults(members_parser=p)


def _fail(message: str, code: int = 2) -> int:
    from autoglm_tui.text import clean

    print(f"autoglm-tui members: {clean(message, 500)}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    if args.members_command not in ("list", "forget"):
        args.members_parser.print_help()
        return 2
    from autoglm_tui.cluster.etcd_args import etcd_config_from_args

    if not args.etcd:
        return _fail("--etcd HOST:PORT is required")
    try:
        config = etcd_config_from_args(args)
    except ValueError as exc:
        return _fail(str(exc))
    if args.members_command == "list":
        return _list(config, args.json)
    return _forget(config, args.node, args.yes, args.force)


def _list(config: Any, as_json: bool) -> int:
    import asyncio
    import json

    from autoglm_tui.cluster.etcd_client import EtcdClient, EtcdError
    from autoglm_tui.cluster.member_ops import read_members

    async def read() -> list[Any]:
        client = EtcdClient(config)
        try:
            await client.connect()
            return await read_members(client, config)
        finally:
            await client.close()

    try:
        infos = asyncio.run(read())
    except EtcdError as exc:
        return _fail(f"etcd {config.describe()}: {exc}", 1)
    if as_json:
        print(json.dumps([i.to_dict() for i in infos], indent=2, ensure_ascii=False))
        return 0
    print(members_table(infos))
    return 0


def members_table(infos: list[Any]) -> str:
    """The member list as a plain-text table (every field cleaned of control characters)."""
    import time

    from autoglm_tui.text import clean

    header = ("NODE", "STATE", "ADDRESS", "SINCE", "LABELS", "REASON")
    rows = [header]
    for info in infos:
        reg = info.registration
        since = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.since))
            if info.since is not None
            else "-"
        )
        address = "-"
        if reg is not None:
            host = f"[{reg.address}]" if ":" in reg.address else reg.address
            address = f"{host}:{reg.ssh_port}"
        labels = " ".join(f"{k}={v}" for k, v in sorted(reg.labels.items())) if reg else ""
        rows.append(
            (
                info.node_id,
                info.view.value,
                address,
                since,
                labels or "-",
                info.reason or "",
            )
        )
    rows = [tuple(clean(str(c), 120) for c in row) for row in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows
    ]
    if len(rows) == 1:
        lines.append("(no members)")
    return "\n".join(line.rstrip() for line in lines)


def _forget(config: Any, node_id: str, yes: bool, force: bool) -> int:
    import asyncio

    from autoglm_tui.cluster.etcd_client import EtcdClient, EtcdError
    from autoglm_tui.cluster.member_ops import MembershipError, forget, read_member
    from autoglm_tui.cluster.registration import check_node_id
    from autoglm_tui.text import clean

    try:
        check_node_id(node_id)
    except ValueError as exc:
        return _fail(str(exc))

    async def work() -> int:
        client = EtcdClient(config)
        try:
            await client.connect()
            info = await read_member(client, config, node_id)
            if info is None:
                return _fail(f"{node_id} is not in the registry", 1)
            what = f"{node_id} ({info.view.value}"
            what += f": {clean(info.reason, 120)})" if info.reason else ")"
            if not yes:
                if not sys.stdin.isatty():
                    return _fail(f"not forgetting {what} without confirmation: stdin is not a "
                                 f"terminal; pass --yes")
                answer = await asyncio.to_thread(
                    input,
                    f"Forget {what}? Every monitor drops it at once and ends its alerts. [y/N] ",
                )
                if answer.strip().lower() not in ("y", "yes"):
                    print("not forgotten", file=sys.stderr)
                    return 1
            await forget(client, config, node_id, force=force)
            print(f"forgot {node_id}", file=sys.stderr)
            return 0
        except MembershipError as exc:
            return _fail(str(exc), 1)
        except EtcdError as exc:
            return _fail(f"etcd {config.describe()}: {exc}", 1)
        finally:
            await client.close()

    try:
        return asyncio.run(work())
    except EOFError:
        print("\nnot forgotten", file=sys.stderr)
        return 1
