"""The node agent: registers this node in etcd under a lease and keeps the lease alive.

``Agent(etcd, registration, interval_s, ttl_s).run(stop)`` grants a lease of `ttl_s` seconds and
puts, in one transaction, the heartbeat ``<prefix><node_id>`` on it and the member record
``<members_prefix><node_id>`` (state ``alive``, on no lease: it outlives the agent, so a crash
reads as FAILED, not as a leave); then it refreshes the lease every `interval_s`. A refresh that
answers TTL 0 (the lease expired, e.g. after a network cut) grants a new lease and puts both again.
While etcd is unreachable it retries with capped exponential backoff and jitter, logging each
failure, and never gives up. When `stop` is set it leaves gracefully: it marks its member record
``leaving``, revokes the lease (the heartbeat goes at once) and deletes the record; then returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import socket
import sys
import time
from typing import Any

from autoglm_tui import __version__
from autoglm_tui.aio import stop_tasks, within
from autoglm_tui.cluster.backoff import Backoff
from autoglm_tui.cluster.etcd_client import EtcdClient, EtcdConfig, EtcdError
from autoglm_tui.cluster.member_ops import leave
from autoglm_tui.cluster.members import MemberState, member_value
from autoglm_tui.cluster.registration import (
    GPU_UUID,
    HOSTNAME,
    MAX_GPU_NAME,
    Registration,
    RegistrationError,
    parse_registration,
)
from autoglm_tui.model import HostStatic
from autoglm_tui.text import clean

MIB = 1024 * 1024
MIN_TTL = 2  # etcd's minimum lease TTL
LEAVE_TIMEOUT_S = 2.0  # the whole graceful leave (mark, revoke, delete) on SIGTERM

log = logging.getLogger("autoglm_tui.agent")


def default_ttl(interval_s: float) -> int:
    """Three heartbeats, at least etcd's minimum of 2 s."""
    return max(MIN_TTL, int(-(-3 * interval_s // 1)))


def resources_from_static(static: HostStatic) -> dict[str, Any]:
    """The registration's ``resources`` object from the sampler's static host facts."""
    gpus = []
    for gpu in static.gpus:
        uuid = gpu.uuid if GPU_UUID.fullmatch(gpu.uuid or "") else None
        gpus.append(
            {
                "index": gpu.index,
                "uuid": uuid or f"gpu{gpu.index}",
                "name": clean(gpu.name, MAX_GPU_NAME).strip() or "GPU",
                "memory_mb": None if gpu.mem_total_bytes is None else gpu.mem_total_bytes // MIB,
            }
        )
    speeds = [s for s in static.net_links_mbps.values() if isinstance(s, int) and s > 0]
    return {
        "cpu_cores": static.cpu_cores_logical or None,
        "memory_mb": static.mem_total_bytes // MIB if static.mem_total_bytes > 0 else None,
        "gpus": gpus,
        "bandwidth_mbps": max(speeds) if speeds else None,
    }


def host_static() -> HostStatic:
    """This host's static facts, read once by the sampler's collector."""
    from autoglm_tui.sampler.collector import Collector

    collector = Collector()
    try:
        return collector.hello(time.time()).static
    finally:
        with contextlib.suppress(Exception):
            collector.close()


def default_route_address() -> str | None:
    """The first address of the interface that holds the default route (IPv4, else IPv6)."""
    for path, family, is_default in (
        ("/proc/net/route", socket.AF_INET, _ipv4_default),
        ("/proc/net/ipv6_route", socket.AF_INET6, _ipv6_default),
    ):
        iface = _default_iface(path, is_default)
        if iface is None:
            continue
        address = _iface_address(iface, family)
        if address is not None:
            return address
    return None


def _ipv4_default(fields: list[str]) -> str | None:
    # Iface Destination Gateway Flags ... Mask
    if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
        with contextlib.suppress(ValueError):
            if int(fields[3], 16) & 0x1:  # RTF_UP
                return fields[0]
    return None


def _ipv6_default(fields: list[str]) -> str | None:
    # dest dest_len src src_len next_hop metric refcnt use flags iface
    if len(fields) >= 10 and set(fields[0]) == {"0"} and fields[1] == "00" and fields[9] != "lo":
        return fields[9]
    return None


def _default_iface(path: str, pick: Any) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            for line in fh:
                iface = pick(line.split())
                if iface:
                    return str(iface)
    except OSError:
        return None
    return None


def _iface_address(iface: str, family: int) -> str | None:
    try:
        import psutil
    except ImportError:
        return None
    for addr in psutil.net_if_addrs().get(iface, []):
        if addr.family != family or not addr.address:
            continue
        if family == socket.AF_INET6 and addr.address.lower().startswith("fe80"):
            continue
        return str(addr.address).split("%")[0]
    return None


def build_registration(
    *,
    prefix: str,
    node_id: str,
    address: str,
    ssh_port: int,
    labels: dict[str, str],
    resources: dict[str, Any],
    interval_s: float,
    started_at: float,
    service_url: str | None = None,
    hostname: str | None = None,
    services: list[dict[str, str]] | None = None,
) -> Registration:
    """The registration this agent will write, validated exactly as the watcher will read it;
    raises RegistrationError when a field would be rejected."""
    host = hostname if hostname is not None else socket.gethostname()
    if not HOSTNAME.fullmatch(host):
        host = node_id
    value: dict[str, Any] = {
        "node_id": node_id,
        "hostname": host,
        "address": address,
        "ssh_port": ssh_port,
        "labels": labels,
        "resources": resources,
        "heartbeat_interval": interval_s,
        "agent_version": __version__,
        "started_at": round(started_at, 3),
    }
    if service_url is not None:
        value["service_url"] = service_url
    if services:
        value["services"] = services
    return parse_registration(prefix + node_id, json.dumps(value).encode(), prefix)


class Agent:
    """Heartbeats one registration into etcd until stopped."""

    def __init__(
        self,
        etcd: EtcdConfig,
        registration: Registration,
        interval_s: float,
        ttl_s: int,
        *,
        backoff: Backoff | None = None,
    ) -> None:
        if ttl_s < MIN_TTL:
            raise ValueError(f"ttl must be at least {MIN_TTL} s")
        # A request must fail well within one TTL, or the lease lapses while we wait on it.
        self.etcd = dataclasses.replace(etcd, timeout_s=min(etcd.timeout_s, max(1.0, ttl_s / 2)))
        self.registration = registration
        self.interval_s = interval_s
        self.ttl_s = ttl_s
        # Retry often enough to reach etcd again before a lease (TTL) runs out once it is back.
        cap = max(0.5, min(30.0, ttl_s / 3))
        self.backoff = backoff or Backoff(base=min(0.5, cap), cap=cap)
        self.key = (etcd.prefix + registration.node_id).encode()
        self.value = registration.to_json()
        self.member_key = (etcd.member_prefix + registration.node_id).encode()
        self.member = member_value(
            registration.node_id,
            MemberState.ALIVE,
            registration.started_at or time.time(),
            registration,
        )
        self.lease_id: int | None = None
        self.registrations = 0  # how many times the key was put (first time and re-grants)
        self._client: EtcdClient | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Heartbeat until `stop` is set; then revoke the lease and return."""
        work = asyncio.ensure_future(self._heartbeat())
        halt = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({work, halt}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await stop_tasks([work, halt])
            await self._leave()

    async def _heartbeat(self) -> None:
        registered = False
        while True:
            try:
                if self._client is None:
                    client = EtcdClient(self.etcd)
                    await client.connect()
                    self._client = client
                    log.info("connected to etcd %s", client.endpoint)
                if self.lease_id is not None:
                    ttl = await self._client.refresh(self.lease_id)
                    if ttl <= 0:
                        log.warning("lease expired (etcd answered TTL 0); registering again")
                        self.lease_id = None
                    else:
                        log.debug("lease %x refreshed (TTL %d s)", self.lease_id, ttl)
                if self.lease_id is None:
                    registered = False
                    self.lease_id = await self._client.grant(self.ttl_s)
                if not registered:
                    # One transaction: a monitor never sees a member without its heartbeat.
                    await self._client.txn(
                        puts=[
                            (self.key, self.value, self.lease_id),
                            (self.member_key, self.member, 0),
                        ]
                    )
                    registered = True
                    self.registrations += 1
                    log.info(
                        "registered %s as %s:%d (lease %x, TTL %d s, heartbeat %g s)",
                        self.key.decode(),
                        self.registration.address,
                        self.registration.ssh_port,
                        self.lease_id,
                        self.ttl_s,
                        self.interval_s,
                    )
                self.backoff.reset()
                await asyncio.sleep(self.interval_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # etcd errors and anything unexpected: never exit
                delay = self.backoff.next()
                reason = str(exc) if isinstance(exc, EtcdError) else repr(exc)
                log.warning(
                    "etcd %s: %s; retrying in %.1f s",
                    self.etcd.describe(),
                    clean(reason, 300),
                    delay,
                )
                await self._drop_client()
                await asyncio.sleep(delay)

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def _leave(self) -> None:
        """Leave gracefully: mark the member record leaving, revoke the lease, delete the
        record (best effort, bounded in time; if etcd cannot be reached the heartbeat lapses
        and monitors show the node FAILED, as for a crash)."""
        lease_id = self.lease_id
        try:
            if lease_id is None and self.registrations == 0 and self._client is None:
                return  # never reached etcd: nothing to take back
            try:
                await within(self._leave_registry(lease_id), LEAVE_TIMEOUT_S)
            except (EtcdError, asyncio.TimeoutError) as exc:
                log.warning(
                    "could not leave the registry (%s); without a leave the node reads as "
                    "FAILED once its lease expires (%d s)",
                    clean(str(exc) or "timed out", 200),
                    self.ttl_s,
                )
                return
            self.lease_id = None
            log.info(
                "left the registry: member %s marked leaving, lease %s revoked, record deleted",
                self.registration.node_id,
                "none" if lease_id is None else f"{lease_id:x}",
            )
        finally:
            await self._drop_client()

    async def _leave_registry(self, lease_id: int | None) -> None:
        if self._client is None:
            client = EtcdClient(self.etcd)
            await client.connect()
            self._client = client
        await leave(
            self._client,
            self.etcd,
            self.registration.node_id,
            registration=self.registration,
            lease_id=lease_id,
        )


async def leave_once(etcd: EtcdConfig, node_id: str, state: MemberState) -> bool:
    """``agent --leave`` / ``agent --deregister``: take a node out of the registry without a
    running agent; returns False when it was not there. Raises EtcdError."""
    client = EtcdClient(etcd)
    try:
        await client.connect()
        return await leave(client, etcd, node_id, state=state)
    finally:
        await client.close()


# ---------------------------------------------------------------------- systemd

_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")


def systemd_quote(arg: str) -> str:
    """Quote one ExecStart argument for systemd (which expands % and $ itself)."""
    text = arg.replace("%", "%%").replace("$", "$$")
    if _PLAIN.fullmatch(arg):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(agent_args: list[str], python: str | None = None) -> str:
    """A unit file that runs ``autoglm-tui agent`` with `agent_args` as a service."""
    command = [python or sys.executable, "-m", "autoglm_tui", "agent", *agent_args]
    exec_start = " ".join(systemd_quote(a) for a in command)
    return f"""\
# autoglm-tui agent: registers this node in etcd and keeps its lease alive.
# Install: save as /etc/systemd/system/autoglm-agent.service, then
#   systemctl daemon-reload && systemctl enable --now autoglm-agent
[Unit]
Description=autoglm-tui agent (etcd node registration)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart={exec_start}
# The etcd password (with --etcd-user) goes here, mode 0600: AUTOGLM_ETCD_PASSWORD=...
EnvironmentFile=-/etc/autoglm-tui/agent.env
# SIGTERM makes the agent leave gracefully (member record marked leaving, lease revoked,
# record deleted): monitors show the node LEFT at once. A crash shows it FAILED instead.
KillSignal=SIGTERM
TimeoutStopSec=15
Restart=always
RestartSec=5
NoNewPrivileges=yes
ProtectSystem=full
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"""


__all__ = [
    "Agent",
    "RegistrationError",
    "build_registration",
    "default_route_address",
    "default_ttl",
    "host_static",
    "leave_once",
    "resources_from_static",
    "systemd_quote",
    "systemd_unit",
]
