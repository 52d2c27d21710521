"""The registry watcher against a real etcd: list + watch, updates, leaves, garbage, scale,
compaction, an etcd outage, and TLS."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import signal
from pathlib import Path

import pytest

from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.discovery import LEFT_DELETED, LEFT_LEASE, list_registry
from autoglm_tui.cluster.etcd_client import EtcdConfig
from autoglm_tui.cluster.etcd_config import Endpoint
from autoglm_tui.cluster.members import FAILED_LEASE
from autoglm_tui.events import NodeJoined
from tests.integration.discovery_helpers import AgentPool, Recorder, etcd, registration
from tests.integration.etcd_fixture import EtcdServer, free_port

pytestmark = pytest.mark.integration
PREFIX = "/autoglm/nodes/"


def key(node_id: str) -> bytes:
    return (PREFIX + node_id).encode()


async def test_list_then_watch_join_update_and_leave(etcd_server: EtcdServer) -> None:
    config = etcd_server.config()
    async with etcd(config) as client:
        lease = await client.grant(30)
        await client.put(key("early"), registration("early", labels={"role": "a"}), lease=lease)
        await client.put(b"/other/prefix/x", b"not ours")
        async with Recorder(config) as rec:
            assert await rec.until(lambda: rec.known_ids() == {"early"}), rec.describe()
            assert rec.health() == [True]
            first = rec.joined("early")[0]
            assert first.source == "etcd"
            assert first.labels == {"role": "a"}
            assert first.registration is not None
            assert first.registration["resources"]["cpu_cores"] == 4

            await client.put(key("late"), registration("late", ssh_port=2222))
            assert await rec.until(lambda: rec.joined("late")), rec.describe()
            assert (rec.joined("late")[0].address, rec.joined("late")[0].ssh_port) == (
                "127.0.0.1",
                2222,
            )

            # Update: the labels change -> NodeJoined again with the new labels.
            new_value = registration("late", ssh_port=2222, labels={"role": "b", "rack": "r1"})
            await client.put(key("late"), new_value)
            assert await rec.until(lambda: len(rec.joined("late")) == 2), rec.describe()
            assert rec.joined("late")[1].labels == {"role": "b", "rack": "r1"}
            assert rec.watcher.known()["late"].labels == {"role": "b", "rack": "r1"}
            # The same value written again is no change at all.
            await client.put(key("late"), new_value)
            await client.put(key("marker"), registration("marker"))
            assert await rec.until(lambda: rec.joined("marker")), rec.describe()
            assert len(rec.joined("late")) == 2

            await client.delete(key("late"))
            await client.revoke(lease)
            assert await rec.until(lambda: rec.known_ids() == {"marker"}), rec.describe()
            assert [e.reason for e in rec.left("late")] == [LEFT_DELETED]
            assert [e.reason for e in rec.left("early")] == [LEFT_LEASE]
            assert not rec.invalid()
            assert all(isinstance(t, float) for t in (e.t for e in rec.events))


GARBAGE: dict[str, bytes] = {
    "notjson": b"{this is not json",
    "notobject": b'["a", "b"]',
    "notutf8": b"\xff\xfe\x00garbage",
    "porttext": registration("porttext", ssh_port="22"),
    "portbool": registration("portbool", ssh_port=True),
    "portrange": registration("portrange", ssh_port=70000),
    "labelsnotdict": registration("labelsnotdict", labels=["a"]),
    "cmdaddress": registration("cmdaddress", address="$(touch {canary})"),
    "optaddress": registration("optaddress", address="-oProxyCommand=touch {canary}"),
    "eschost": registration("eschost", hostname="evil\x1b]0;pwned\x07\x1b[2J"),
    "esclabel": registration("esclabel", labels={"role": "\x1b[31mred"}),
    "cmdlabel": registration("cmdlabel", labels={"role": "`touch {canary}`"}),
    "wrongid": registration("someone-else"),
    "nan": b'{"node_id": "nan", "ssh_port": NaN}',
    "deep": b"[" * 50_000,
    "huge": b'{"node_id": "huge", "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}',
}


async def test_garbage_values_are_invalid_and_affect_no_other_node(
    etcd_server: EtcdServer, tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    config = etcd_server.config()
    async with etcd(config) as client:
        await client.put(key("good1"), registration("good1"))
        for node_id, value in GARBAGE.items():
            await client.put(key(node_id), value.replace(b"{canary}", str(canary).encode()))
        await client.put(PREFIX.encode() + b"bad$(id)\x1b[2J", registration("x"))
        async with Recorder(config) as rec:
            await client.put(key("good2"), registration("good2", labels={"ok": "yes"}))
            expected = set(GARBAGE) | {"bad$(id) [2J"}
            assert await rec.until(
                lambda: (
                    {e.node_id for e in rec.invalid()} == expected
                    and rec.known_ids() == {"good1", "good2"}
                )
            ), rec.describe()
            reasons = {e.node_id: e.reason for e in rec.invalid()}
            assert "not JSON" in reasons["notjson"]
            assert "not a JSON object" in reasons["notobject"]
            assert "UTF-8" in reasons["notutf8"]
            assert "ssh_port" in reasons["porttext"] and "ssh_port" in reasons["portbool"]
            assert "out of range" in reasons["portrange"]
            assert "address" in reasons["cmdaddress"] and "address" in reasons["optaddress"]
            assert "hostname" in reasons["eschost"]
            assert "labels.role" in reasons["esclabel"] and "labels.role" in reasons["cmdlabel"]
            assert "does not match" in reasons["wrongid"]
            assert "too large" in reasons["huge"]
            assert "key suffix" in reasons["bad$(id) [2J"]
            for event in rec.invalid():
                assert "\x1b" not in event.reason and "\x07" not in event.reason
                assert "\x1b" not in event.node_id
            assert not canary.exists()

            # A bad value for a known node makes only that node invalid; a fix makes it valid.
            await client.put(key("good1"), b"oops")
            assert await rec.until(lambda: rec.invalid("good1")), rec.describe()
            assert rec.known_ids() == {"good2"}
            await client.put(key("notjson"), registration("notjson"))
            assert await rec.until(lambda: rec.joined("notjson")), rec.describe()
            assert rec.known_ids() == {"good2", "notjson"}
            assert "notjson" not in rec.watcher.invalid()
            # Deleting an invalid entry clears it too.
            await client.delete(key("huge"))
            assert await rec.until(lambda: rec.left("huge")), rec.describe()
            assert "huge" not in rec.watcher.invalid()


async def test_500_registrations_listed_then_watched(etcd_server: EtcdServer) -> None:
    config = etcd_server.config()
    async with etcd(config) as client:
        for n in range(250):
            await client.put(key(f"node{n:03d}"), registration(f"node{n:03d}"))
        async with Recorder(config) as rec:
            assert await rec.until(lambda: len(rec.known_ids()) == 250), rec.describe()
            for n in range(250, 500):
                await client.put(key(f"node{n:03d}"), registration(f"node{n:03d}"))
            assert await rec.until(lambda: len(rec.known_ids()) == 500), len(rec.known_ids())
            assert rec.known_ids() == {f"node{n:03d}" for n in range(500)}
            assert len(rec.of(NodeJoined)) == 500
            assert not rec.invalid()
            for n in range(0, 500, 2):
                await client.delete(key(f"node{n:03d}"))
            assert await rec.until(lambda: len(rec.known_ids()) == 250), len(rec.known_ids())
    assert len(await list_registry(config)) == 250


async def test_compaction_during_a_watch_lists_again(etcd_server: EtcdServer) -> None:
    config = etcd_server.config()
    async with etcd(config) as client:
        await client.put(key("a"), registration("a"))
        await client.put(key("b"), registration("b"))
        hooked = asyncio.Event()

        async def compact_after_first_list(revision: int) -> None:
            # Between the list and the watch: changes, then their history is compacted away,
            # so the watch from revision+1 fails and the watcher must list again.
            if hooked.is_set():
                return
            hooked.set()
            await client.put(key("c"), registration("c"))
            await client.put(key("a"), registration("a", labels={"v": "2"}))
            now = await client.put(key("b"), registration("b", labels={"v": "2"}))
            await client.delete(key("b"))
            await client.compact(now)

        async with Recorder(config, on_listed=compact_after_first_list) as rec:
            assert await rec.until(lambda: rec.known_ids() == {"a", "c"} and rec.left("b")), (
                rec.describe()
            )
            assert rec.watcher.lists >= 2
            assert rec.watcher.known()["a"].labels == {"v": "2"}

            # Compaction while the watch is live and in sync does not disturb it.
            lists = rec.watcher.lists
            now = await client.put(key("d"), registration("d"))
            await client.compact(now)
            await client.put(key("e"), registration("e"))
            await client.delete(key("c"))
            assert await rec.until(lambda: rec.known_ids() == {"a", "d", "e"}), rec.describe()
            assert rec.watcher.lists == lists


async def test_etcd_outage_keeps_nodes_and_misses_no_change(
    etcd_server: EtcdServer, agents: AgentPool
) -> None:
    """etcd down for 10 s while one agent leaves and one joins, then back on the same data dir."""
    config = etcd_server.config()
    ep = etcd_server.endpoint
    stay = agents.start(ep, "stay", ttl=5)  # margin: it must not lapse while reconnecting
    leave = agents.start(ep, "leave")
    async with etcd(config) as client:
        await client.put(key("static-gone"), registration("static-gone"))
    async with Recorder(config) as rec:
        assert await rec.until(lambda: rec.known_ids() == {"stay", "leave", "static-gone"}, 20), (
            rec.describe()
        )
        loop = asyncio.get_running_loop()
        down_at = loop.time()
        etcd_server.stop()
        assert await rec.until(lambda: rec.watcher.degraded), rec.describe()
        assert rec.health() == [True, False]
        assert rec.known_ids() == {"stay", "leave", "static-gone"}  # last known set kept

        leave.signal(signal.SIGTERM)  # cannot revoke: etcd is down; its lease must lapse
        join = agents.start(ep, "join")
        assert leave.wait(10) == 0
        await asyncio.sleep(max(0.0, 10.0 - (loop.time() - down_at)))
        assert rec.known_ids() == {"stay", "leave", "static-gone"}
        assert rec.watcher.degraded

        etcd_server.start()
        async with etcd(config) as client:  # changed while the watcher is still away
            await client.delete(key("static-gone"))
            await client.put(key("static-new"), registration("static-new"))
        assert await rec.until(lambda: rec.known_ids() == {"stay", "join", "static-new"}, 20), (
            rec.describe()
        )
        assert rec.health() == [True, False, True]
        assert not rec.watcher.degraded
        # Its SIGTERM came while etcd was down, so it could not leave: its lease lapsed and it
        # is a failed member (kept), not a node that left.
        assert await rec.until(lambda: rec.failed_ids() == {"leave"}, 20), rec.describe()
        assert [e.reason for e in rec.lost("leave")] == [FAILED_LEASE]
        assert not rec.left("leave")
        assert [e.reason for e in rec.left("static-gone")] == [LEFT_DELETED]
        assert not rec.left("stay") and not rec.lost("stay"), (
            "a live agent's node must survive the outage"
        )
    assert "could not leave the registry" in leave.stderr()
    assert "retrying" in join.stderr()
    assert stay.proc.poll() is None and join.proc.poll() is None


def _make_certs(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test-ca"))
        .issuer_name(name("test-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    out = {"ca": directory / "ca.pem"}
    out["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for role, usage in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(f"test-{role}"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        out[role] = directory / f"{role}.pem"
        out[role].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        out[f"{role}-key"] = write_key(key, directory / f"{role}-key.pem")
    return out


async def test_tls_with_client_certificates(tmp_path: Path) -> None:
    pytest.importorskip("cryptography", reason="cryptography (an asyncssh dependency) is needed")
    certs = _make_certs(tmp_path)
    server = EtcdServer(
        tmp_path / "etcd",
        extra_args=(
            f"--cert-file={certs['server']}",
            f"--key-file={certs['server-key']}",
            f"--trusted-ca-file={certs['ca']}",
            "--client-cert-auth",
        ),
    )
    server.scheme = "https"
    with server:
        base = server.config()
        tls = EtcdConfig(
            endpoints=base.endpoints,
            tls=True,
            ca_file=str(certs["ca"]),
            cert_file=str(certs["client"]),
            key_file=str(certs["client-key"]),
        )
        async with etcd(tls) as client:
            await client.put(key("secure"), registration("secure"))
        async with Recorder(tls) as rec:
            assert await rec.until(lambda: rec.known_ids() == {"secure"}), rec.describe()
        # Without a client certificate the server refuses: the registry reads as degraded.
        no_cert = EtcdConfig(endpoints=base.endpoints, tls=True, ca_file=str(certs["ca"]))
        async with Recorder(no_cert) as rec:
            assert await rec.until(lambda: rec.watcher.degraded), rec.describe()
            assert not rec.known_ids()
            # the reason says what to try, not gRPC's words for it
            assert rec.reasons()[0].endswith(
                "(TLS) unreachable: TLS refused by the server (does it want a client "
                "certificate? --etcd-cert, --etcd-key)"), rec.describe()
        # Plain text to a TLS port: the server hangs up, and the reason says why it may have.
        plain = EtcdConfig(endpoints=base.endpoints, timeout_s=2.0)
        async with Recorder(plain) as rec:
            assert await rec.until(lambda: rec.reasons()), rec.describe()
            assert rec.reasons()[0].endswith(
                "unreachable: the server closed the connection (does it want TLS? --etcd-ca)"
            ), rec.describe()


async def test_an_etcd_address_nobody_listens_on_says_connection_refused() -> None:
    """The reason a user reads (cluster's empty table, the registry banner, the agent's log)
    is the cause in a few words, not gRPC's paragraph about subchannels."""
    port = free_port()  # bound and released: nothing listens there
    config = EtcdConfig(endpoints=(Endpoint("127.0.0.1", port),), timeout_s=2.0)
    async with Recorder(config) as rec:
        assert await rec.until(lambda: rec.reasons()), rec.describe()
        reason = rec.reasons()[0]
        assert reason == (f"etcd 127.0.0.1:{port} unreachable: connection refused (is etcd "
                          "running there, on that port?)"), reason


async def test_a_healthy_quiet_etcd_is_never_called_degraded(etcd_server: EtcdServer) -> None:
    """The watch's liveness probe follows the heartbeat intervals as nodes appear: a node with a
    1 s heartbeat joining a watch that began with none (5 s probes) shortens both the probe
    period and the allowed silence; the probes must keep up with that, and an idle but healthy
    etcd answers each of them."""
    config = etcd_server.config()
    async with Recorder(config) as rec, etcd(config) as client:
        assert await rec.until(lambda: rec.health() == [True]), rec.describe()
        assert rec.watcher.probe_period() == 5.0
        await client.put(key("quick"), registration("quick", heartbeat_interval=1.0))
        assert await rec.until(lambda: rec.known_ids() == {"quick"}), rec.describe()
        assert rec.watcher.probe_period() == 1.0
        # Eight allowed silences (3 s each) pass with no change in the registry.
        await asyncio.sleep(8.0)
        assert rec.health() == [True], rec.describe()
        assert rec.watcher.lists == 1


async def test_a_bad_services_entry_leaves_only_itself_out(etcd_server: EtcdServer) -> None:
    """One bad entry in a registration's `services` (here a javascript: URL) is left out and
    named; the node joins with its good service (it used to be INVALID as a whole)."""
    config = etcd_server.config()
    good = {"url": "http://127.0.0.1:8000/metrics", "name": "chat"}
    async with etcd(config) as client:
        await client.put(key("svc"), registration(
            "svc", services=[good, {"url": "javascript:alert(1)"}]))
        async with Recorder(config) as rec:
            assert await rec.until(lambda: rec.joined("svc")), rec.describe()
            assert not rec.invalid()
            joined = rec.joined("svc")[0]
    assert joined.registration is not None
    assert [s["url"] for s in joined.registration["services"]] == [good["url"]]  # type: ignore[union-attr]
    state = FleetState()
    state.apply(joined)
    [problem] = state.nodes["svc"].registration_problems()
    assert problem.startswith("services[1]: ") and "javascript" in problem
