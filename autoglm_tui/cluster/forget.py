"""An operator's forget, asked from the UI (``requests.ForgetNode``), done on the cluster side.

The UI never talks to etcd: it confirms with the user and hands a ``ForgetNode`` to the sources;
the SSH runner's source (``commands/cluster.py:RunnerSource``) calls :func:`forget_node`, which
does what ``autoglm-tui members forget`` does (``member_ops.forget``: the member record marked
forgotten, then deleted, guarded against an agent coming back meanwhile). The registry watcher
then sees the mark and every monitor, this one included, drops the node with the reason
"forgotten by operator".

- A node listed by ``--hosts`` or ``--hosts-file`` stays a member until it leaves that list, as
  in the hosts-file mode everywhere else: the forget is refused with what to do.
- A node the registry does not know (a LEFT node whose records are gone, or one from a source
  without a registry) is forgotten by this monitor only (a ``NodeForgotten`` for its state).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from autoglm_tui.aio import within
from autoglm_tui.cluster.etcd_config import EtcdConfig
from autoglm_tui.cluster.members import FORGOTTEN_BY_OPERATOR
from autoglm_tui.events import Event, NodeForgotten
from autoglm_tui.text import clean

ETCD_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class ForgetResult:
    done: bool
    message: str  # one line for the user


async def forget_in_registry(config: EtcdConfig, node_id: str, force: bool) -> bool:
    """Forget `node_id` in etcd as ``members forget`` does; False when the registry has no
    record of it. Raises MembershipError (still heartbeats, changed meanwhile) or EtcdError."""
    from autoglm_tui.cluster.etcd_client import EtcdClient
    from autoglm_tui.cluster.member_ops import forget, read_member

    client = EtcdClient(config)
    try:
        await client.connect()
        if await read_member(client, config, node_id) is None:
            return False
        await forget(client, config, node_id, force=force)
        return True
    finally:
        await client.close()


async def forget_node(
    node_id: str,
    *,
    etcd: EtcdConfig | None,
    listed: Callable[[str], str | None],
    emit: Callable[[Event], None],
    clock: Callable[[], float],
    force: bool = False,
) -> ForgetResult:
    """Forget one node for the operator. `listed(node_id)` names the host list that holds it
    (None: none); `emit` takes the local ``NodeForgotten`` when the registry has no record."""
    from autoglm_tui.cluster.etcd_client import EtcdError
    from autoglm_tui.cluster.member_ops import MembershipError

    name = clean(node_id, 64)
    where = listed(node_id)
    if where is not None:
        return ForgetResult(False, f"{name} is listed in {where}: a listed host stays a member; "
                                   f"remove it from there and it leaves the table")
    if etcd is not None:
        try:
            known = await within(forget_in_registry(etcd, node_id, force),
                                           ETCD_TIMEOUT_S)
        except MembershipError as exc:
            return ForgetResult(False, clean(str(exc), 300))
        except (EtcdError, OSError, asyncio.TimeoutError) as exc:
            reason = clean(str(exc), 200) or type(exc).__name__
            return ForgetResult(False, f"etcd {etcd.describe()}: {reason}; nothing was "
                                       f"forgotten, try again when etcd answers")
        if known:
            return ForgetResult(True, f"forgot {name} in the registry: every monitor drops it "
                                      f"and ends its alerts")
    emit(NodeForgotten(clock(), node_id, FORGOTTEN_BY_OPERATOR))
    return ForgetResult(True, f"{name} has no record in a registry: removed from this monitor")


__all__ = ["ForgetResult", "forget_in_registry", "forget_node"]
