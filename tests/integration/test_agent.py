"""`autoglm-tui agent` as a real process against a real etcd, seen through the watcher."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import urllib.request

import psutil
import pytest

from autoglm_tui.cluster.etcd_args import PASSWORD_ENV
from autoglm_tui.cluster.etcd_client import EtcdConfig, prefix_end
from autoglm_tui.cluster.members import FAILED_LEASE, LEFT_GRACEFUL
from autoglm_tui.events import RegistryChanged
from tests.integration.discovery_helpers import AgentPool, Recorder, etcd
from tests.integration.etcd_fixture import EtcdServer

pytestmark = pytest.mark.integration


async def test_two_agents_join_with_labels_and_resources_then_leave_on_sigterm(
    etcd_server: EtcdServer, agents: AgentPool
) -> None:
    ep = etcd_server.endpoint
    # A long TTL: leaving within the wait below can only come from revoking the lease.
    gpu = agents.start(
        ep,
        "gpu-a",
        "--label",
        "role=infer",
        "--label",
        "rack=r1",
        "--ssh-port",
        "2222",
        "--service-url",
        "http://127.0.0.1:8000/metrics",
        ttl=30,
    )
    cpu = agents.start(ep, "cpu-b", "--label", "role=train", ttl=30)
    async with Recorder(etcd_server.config()) as rec:
        assert await rec.until(lambda: rec.known_ids() == {"gpu-a", "cpu-b"}, 20), rec.describe()
        a = rec.joined("gpu-a")[-1]
        assert a.labels == {"role": "infer", "rack": "r1"}
        assert (a.address, a.ssh_port) == ("127.0.0.1", 2222)
        reg = a.registration
        assert reg is not None
        assert reg["service_url"] == "http://127.0.0.1:8000/metrics"
        assert reg["heartbeat_interval"] == 1.0 and reg["agent_version"]
        resources = reg["resources"]
        assert resources["cpu_cores"] == psutil.cpu_count(logical=True)
        total_mb = psutil.virtual_memory().total // (1024 * 1024)
        assert resources["memory_mb"] == total_mb
        assert isinstance(resources["gpus"], list)
        assert rec.joined("cpu-b")[-1].labels == {"role": "train"}

        gpu.signal(signal.SIGTERM)
        assert gpu.wait(10) == 0
        assert await rec.until(lambda: rec.known_ids() == {"cpu-b"}, 10), rec.describe()
        assert [e.reason for e in rec.left("gpu-a")] == [LEFT_GRACEFUL]
        cpu.signal(signal.SIGINT)
        assert cpu.wait(10) == 0
        assert await rec.until(lambda: not rec.known_ids(), 10), rec.describe()
        assert not rec.failed_ids() and not rec.lost("gpu-a") and not rec.lost("cpu-b")
        # A graceful leave takes the member record along: nothing is left in the registry.
        async with etcd(etcd_server.config()) as client:
            _, left_over = await client.get_prefix(b"/autoglm/")
            assert left_over == []
    assert "revoked" in gpu.stderr()


async def test_killed_agent_is_a_failed_member_when_its_lease_expires(
    etcd_server: EtcdServer, agents: AgentPool
) -> None:
    doomed = agents.start(etcd_server.endpoint, "doomed", ttl=2)
    agents.start(etcd_server.endpoint, "survivor", ttl=2)
    async with Recorder(etcd_server.config()) as rec:
        assert await rec.until(lambda: rec.known_ids() == {"doomed", "survivor"}, 20), (
            rec.describe()
        )
        doomed.signal(signal.SIGKILL)
        doomed.wait(5)
        assert await rec.until(lambda: rec.lost("doomed"), 15), rec.describe()
        assert rec.lost("doomed")[0].reason == FAILED_LEASE
        assert not rec.left("doomed")
        assert rec.known_ids() == {"survivor"}
        assert rec.failed_ids() == {"doomed"}
        assert rec.watcher.failed()["doomed"].address == "127.0.0.1"
        assert not rec.left("survivor") and not rec.lost("survivor")


async def test_agent_registers_again_when_its_lease_is_gone(
    etcd_server: EtcdServer, agents: AgentPool
) -> None:
    config = etcd_server.config()
    agent = agents.start(etcd_server.endpoint, "phoenix", ttl=5)
    async with Recorder(config) as rec:
        assert await rec.until(lambda: rec.known_ids() == {"phoenix"}, 20), rec.describe()
        async with etcd(config) as client:
            kv = await client.get(b"/autoglm/nodes/phoenix")
            assert kv is not None and kv.lease != 0
            await client.revoke(kv.lease)  # as if the lease had expired during a network cut
            assert await rec.until(lambda: rec.lost("phoenix"), 10), rec.describe()
            assert await rec.until(lambda: len(rec.joined("phoenix")) == 2, 10), rec.describe()
            assert rec.known_ids() == {"phoenix"} and not rec.left("phoenix")
            again = await client.get(b"/autoglm/nodes/phoenix")
            assert again is not None and again.lease not in (0, kv.lease)
    assert "registering again" in agent.stderr()
    assert agent.proc.poll() is None


def _gateway(server: EtcdServer, path: str, body: dict[str, object]) -> None:
    """One call to etcd's JSON gateway (admin set-up on the test's own server)."""
    request = urllib.request.Request(
        f"http://{server.endpoint}/v3/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        reply.read()


def _enable_auth(
    server: EtcdServer, user: str, password: str, prefixes: tuple[bytes, ...] = (b"/autoglm/",)
) -> None:
    """Root user, a user allowed to read and write `prefixes` (by default /autoglm/: the
    heartbeats, the member records and the keys between them, which the monitor's one watch
    spans), then auth on."""
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    _gateway(server, "auth/role/add", {"name": "root"})
    _gateway(server, "auth/user/add", {"name": "root", "password": "root-secret"})
    _gateway(server, "auth/user/grant", {"user": "root", "role": "root"})
    _gateway(server, "auth/role/add", {"name": "nodes"})
    for prefix in prefixes:
        _gateway(
            server,
            "auth/role/grant",
            {
                "name": "nodes",
                "perm": {
                    "permType": "READWRITE",
                    "key": b64(prefix),
                    "range_end": b64(prefix_end(prefix)),
                },
            },
        )
    _gateway(server, "auth/user/add", {"name": user, "password": password})
    _gateway(server, "auth/user/grant", {"user": user, "role": "nodes"})
    _gateway(server, "auth/enable", {})


async def test_password_auth_and_no_secret_in_argv_or_logs(
    etcd_server: EtcdServer, agents: AgentPool
) -> None:
    secret = "Pw-7f3k-do-not-leak"
    _enable_auth(etcd_server, "agent1", secret)
    ep = etcd_server.endpoint
    good = agents.start(ep, "authed", "--etcd-user", "agent1", env={PASSWORD_ENV: secret})
    bad = agents.start(ep, "rejected", "--etcd-user", "agent1", env={PASSWORD_ENV: "wrong-pw-x9"})
    base = etcd_server.config()
    authed = EtcdConfig(endpoints=base.endpoints, user="agent1", password=secret)
    async with Recorder(authed) as rec:
        assert await rec.until(lambda: rec.known_ids() == {"authed"}, 20), rec.describe()
        assert await rec.until(lambda: "authentication failed" in bad.stderr(), 10), bad.stderr()
        assert secret not in repr(authed)
    # An unauthenticated monitor cannot read the registry: degraded, not a crash.
    async with Recorder(base) as rec:
        assert await rec.until(lambda: rec.watcher.degraded, 10), rec.describe()
    for agent in (good, bad):
        cmdline = " ".join(psutil.Process(agent.pid).cmdline())
        assert secret not in cmdline and "wrong-pw-x9" not in cmdline
    good.signal(signal.SIGTERM)
    assert good.wait(10) == 0
    assert bad.proc.poll() is None, "a refused agent keeps retrying"
    bad.signal(signal.SIGTERM)
    assert bad.wait(10) == 0
    for agent in (good, bad):
        log = agent.stderr()
        assert secret not in log and "wrong-pw-x9" not in log
    assert "revoked" in good.stderr()


async def test_a_monitor_allowed_only_the_two_prefixes_says_what_to_grant(
    etcd_server: EtcdServer,
) -> None:
    """The watch spans both prefixes; an ACL that grants them one by one refuses it. The
    registry stays degraded (no ok/degraded flapping) and the reason says what to grant."""
    _enable_auth(etcd_server, "narrow", "pw-narrow",
                 prefixes=(b"/autoglm/nodes/", b"/autoglm/members/"))
    config = EtcdConfig(endpoints=etcd_server.config().endpoints, user="narrow",
                        password="pw-narrow")
    async with Recorder(config) as rec:
        assert await rec.until(lambda: rec.watcher.degraded, 10), rec.describe()
        await asyncio.sleep(2.0)  # several reconnect rounds (backoff 0.2-0.5 s)
        assert rec.health() == [False], rec.describe()
        assert rec.watcher.lists >= 2
    reason = rec.of(RegistryChanged)[0].reason
    assert "permission denied" in reason and "grant it read on a prefix holding both" in reason
