"""Our exporter and Debian's node_exporter scraped by Debian's Prometheus (1 s), read back:
through the query API against what the exporter serves, and through the Prometheus source
into the fleet state (UP with the sampler's figures, history from range queries, UNREACHABLE
when the exporter stops, a banner when Prometheus is slow or gone, TLS and a bearer token)."""

from __future__ import annotations

import asyncio
import http.server
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.prometheus.client import ClientConfig, PromClient, PromError
from autoglm_tui.cluster.prometheus.source import PrometheusSource, PromSourceConfig
from autoglm_tui.events import (
    HelloReceived,
    HistoryBackfill,
    NodeStatus,
    NodeUnreachable,
    RegistryChanged,
    SampleReceived,
)
from autoglm_tui.requests import HistoryWanted
from tests.integration.exporter_fleet import ExporterFleet, fleet
from tests.integration.prometheus_fixture import (
    NODE_EXPORTER,
    PROMETHEUS,
    Job,
    NodeExporter,
    PrometheusServer,
    free_port,
    missing,
    wait_until,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing(PROMETHEUS, NODE_EXPORTER) is not None,
                       reason=str(missing(PROMETHEUS, NODE_EXPORTER))),
]

GPUS = [{"name": "NVIDIA H100", "util": 91, "mem_used": 7 << 30, "temp": 66, "power_mw": 350_000,
         "processes": [{"pid": 1, "mem": 1 << 30}]},
        {"util": 12, "mem_used": 1 << 30}]

__all__ = ["fleet"]  # a fixture used here, defined in exporter_fleet


@pytest.fixture
def stack(tmp_path: Path, fleet: ExporterFleet) -> Iterator[tuple[PrometheusServer, list]]:
    a = fleet.start("127.0.0.2", gpus=GPUS)
    b = fleet.start("127.0.0.3", gpus=[{"util": 5}])
    node = NodeExporter(tmp_path / "ne", host="127.0.0.2").start()
    prom = PrometheusServer(tmp_path / "prom", [Job("gpu", [a.address, b.address]),
                                                Job("node", [node.address])])
    try:
        prom.start()
        prom.wait_up("gpu", 2)
        prom.wait_up("node", 1)
        prom.wait_scrapes(3)
        yield prom, [a, b, node]
    finally:
        prom.stop()
        node.stop()


def exporter_value(text: str, metric: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise KeyError(metric)


def test_values_read_back_match_the_exporter(stack: tuple[PrometheusServer, list]) -> None:
    prom, (a, _b, node) = stack
    wait_until(lambda: prom.query('autoglm_gpu_utilization_ratio{gpu="0"}'), "GPU series")
    page = a.metrics()
    for metric, labels in (("autoglm_gpu_utilization_ratio", {"gpu": "0"}),
                           ("autoglm_gpu_memory_used_bytes", {"gpu": "0"}),
                           ("autoglm_gpu_temperature_celsius", {"gpu": "0"}),
                           ("autoglm_gpu_power_watts", {"gpu": "0"}),
                           ("autoglm_memory_total_bytes", {}),
                           ("autoglm_cpu_cores", {})):
        sel = ",".join([f'instance="{a.address}"', *(f'{k}="{v}"' for k, v in labels.items())])
        (got,) = prom.query(f"{metric}{{{sel}}}")
        assert float(got["value"][1]) == exporter_value(page, metric, **labels), metric
    assert exporter_value(page, "autoglm_gpu_utilization_ratio", gpu="0") == 0.91
    assert exporter_value(page, "autoglm_gpu_power_watts", gpu="0") == 350.0
    # node_exporter reads the same /proc/meminfo as our sampler
    (total,) = prom.query(f'node_memory_MemTotal_bytes{{instance="{node.address}"}}')
    assert float(total["value"][1]) == exporter_value(page, "autoglm_memory_total_bytes")
    labels = prom.query(f'autoglm_gpu_info{{instance="{a.address}",gpu="0"}}')[0]["metric"]
    assert labels["model"] == "NVIDIA H100" and labels["uuid"].startswith("GPU-")


def collect(source: PrometheusSource) -> tuple[list, FleetState]:
    events: list = []
    state = FleetState()

    def emit(event: object) -> None:
        events.append(event)
        state.apply(event)  # type: ignore[arg-type]

    asyncio.run(source.refresh(emit))
    return events, state


def source_for(prom: PrometheusServer, **kw: object) -> PrometheusSource:
    return PrometheusSource(PromSourceConfig(ClientConfig(prom.url, timeout_s=10), **kw))


def test_source_builds_the_fleet(stack: tuple[PrometheusServer, list]) -> None:
    prom, (a, b, _node) = stack
    source = source_for(prom)
    events, state = collect(source)
    assert source.jobs == {"gpu", "node"}  # found by their exporters' metrics
    assert {n: s.status for n, s in state.nodes.items()} == {
        "127.0.0.2": NodeStatus.UP, "127.0.0.3": NodeStatus.UP}
    na = state.nodes["127.0.0.2"]
    assert na.labels["job"] == "gpu,node"
    hello = next(e.hello for e in events if isinstance(e, HelloReceived)
                 and e.node_id == "127.0.0.2")
    assert [g.name for g in hello.static.gpus] == ["NVIDIA H100", "NVIDIA H100 80GB HBM3"]
    # the scrape interval, measured from `up`; the node's interval is the refresh period,
    # which is that interval or a multiple of it when refreshes are slow (a loaded machine)
    assert all(v == pytest.approx(1.0, abs=0.05) for v in source.intervals.values())
    assert hello.static.interval_s == source.refresh_s() and source.refresh_s() % 1.0 == 0
    s = na.last_sample
    assert s is not None
    page = a.metrics()
    assert s.gpus[0].util_pct == pytest.approx(91.0) and s.gpus[1].util_pct == 12.0
    assert s.gpus[0].mem_used_bytes == 7 << 30
    assert s.mem.total_bytes == exporter_value(page, "autoglm_memory_total_bytes")
    assert na.metric("gpu.util_pct", 0) == pytest.approx(91.0)
    assert na.metric("disk.read_bps") is not None  # irate by Prometheus, never client-side
    assert s.cpu.per_core_pct  # details: a small fleet gets every node's
    assert any(p.pid == 1 and p.gpu_mem_bytes == 1 << 30 for p in s.procs)
    # node 127.0.0.3 has no node_exporter: its host figures still come from our exporter
    assert state.nodes["127.0.0.3"].last_sample.gpus[0].util_pct == 5.0

    hist = asyncio.run(source.history(HistoryWanted("127.0.0.2", seconds=20)))
    assert isinstance(hist, HistoryBackfill) and len(hist.points) >= 3
    assert all(p[1].gpus[0].util_pct == pytest.approx(91.0) for p in hist.points)
    state.apply(hist)
    util = state.nodes["127.0.0.2"].history.values(("gpu.util_pct", 0))
    assert len(util) >= len(hist.points)
    assert all(v == pytest.approx(91.0, abs=1e-3) for v in util)

    b.stop()  # its scrapes now fail
    wait_until(lambda: prom.query(f'up{{instance="{b.address}"}} == 0'), "up == 0 for b")
    more: list = []
    asyncio.run(source.refresh(lambda e: (more.append(e), state.apply(e))))
    down = [e for e in more if isinstance(e, NodeUnreachable)]
    assert [e.node_id for e in down] == ["127.0.0.3"]
    gone = state.nodes["127.0.0.3"]
    assert gone.status == NodeStatus.FAILED  # Prometheus' heartbeat of the node: up == 0
    assert "scrape failed (up=0)" in gone.reason and b.address in gone.reason
    assert gone.last_sample is not None  # kept, with its last figures
    assert state.nodes["127.0.0.2"].status == NodeStatus.UP

    def healthy_node_samples() -> bool:  # the next refreshes still bring a's new scrapes
        if not any(isinstance(e, SampleReceived) and e.node_id == "127.0.0.2" for e in more):
            asyncio.run(source.refresh(lambda e: (more.append(e), state.apply(e))))
        return any(isinstance(e, SampleReceived) and e.node_id == "127.0.0.2" for e in more)

    wait_until(healthy_node_samples, "a sample of the healthy node after b stopped", 20.0, 0.5)
    assert state.nodes["127.0.0.2"].status == NodeStatus.UP


def test_job_filter_and_node_label(tmp_path: Path, fleet: ExporterFleet) -> None:
    a = fleet.start("127.0.0.2", gpus=[{"util": 40}])
    b = fleet.start("127.0.0.3", gpus=[{"util": 60}])
    node = NodeExporter(tmp_path / "ne", host="127.0.0.2").start()
    # a target label names the nodes (as a Kubernetes relabelling to `node` would)
    prom = PrometheusServer(tmp_path / "prom", [
        Job("gpu-a", [a.address], labels={"rack": "r1"}),
        Job("gpu-b", [b.address], labels={"rack": "r2"}),
        Job("node", [node.address], labels={"rack": "r1"}),
    ])
    try:
        prom.start()
        prom.wait_scrapes(2)
        events, state = collect(source_for(prom, jobs=("gpu-a", "gpu-b"), node_label="rack"))
        assert set(state.nodes) == {"r1", "r2"}
        assert state.nodes["r1"].last_sample.gpus[0].util_pct == 40.0
        assert state.nodes["r1"].labels["job"] == "gpu-a"  # the node job was not asked for
        assert not any(isinstance(e, RegistryChanged) and not e.ok for e in events)
    finally:
        prom.stop()
        node.stop()


class _Silent:
    """A TCP server that accepts and never answers (a hung Prometheus)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


def test_slow_or_missing_prometheus_is_a_banner() -> None:
    silent = _Silent()
    try:
        for url, words in ((f"http://127.0.0.1:{silent.port}", "no answer within 0.5 s"),
                           (f"http://127.0.0.1:{free_port()}", "refused")):
            source = PrometheusSource(PromSourceConfig(ClientConfig(url, timeout_s=0.5)))
            events: list = []

            async def run_briefly(src: PrometheusSource = source, out: list = events) -> None:
                task = asyncio.ensure_future(src.run(out.append))
                started = time.monotonic()
                while not out and time.monotonic() - started < 10:
                    await asyncio.sleep(0.05)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

            asyncio.run(run_briefly())
            assert events and isinstance(events[0], RegistryChanged)
            assert events[0].ok is False and words in (events[0].reason or "")
    finally:
        silent.close()


def _certificates(tmp: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 (made here, for this test only)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "autoglm test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def test_tls_with_a_ca_file(tmp_path: Path, fleet: ExporterFleet) -> None:
    ca, cert, key = _certificates(tmp_path)
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n")
    a = fleet.start("127.0.0.2", gpus=[{"util": 33}])
    prom = PrometheusServer(tmp_path / "prom", [Job("gpu", [a.address])],
                            extra_args=[f"--web.config.file={web}"])
    prom.url  # noqa: B018 - the fixture's url is http; this server speaks https only
    try:
        prom._spawn([PROMETHEUS, f"--config.file={prom.config}",
                     f"--storage.tsdb.path={prom.workdir / 'data'}",
                     f"--web.listen-address=127.0.0.1:{prom.port}", "--log.level=warn",
                     f"--web.config.file={web}"])
        url = f"https://127.0.0.1:{prom.port}"
        ok = PromClient(ClientConfig(url, ca_file=str(ca), timeout_s=5))
        wait_until(lambda: ok.query('autoglm_gpu_utilization_ratio{gpu="0"}'), "TLS query",
                   timeout=30)
        (got,) = ok.query('autoglm_gpu_utilization_ratio{gpu="0"}')
        assert float(got["value"][1]) == 0.33
        with pytest.raises(PromError, match="TLS"):
            PromClient(ClientConfig(url, timeout_s=5)).query("up")  # no CA: refused
    finally:
        prom.stop()


class _TokenGate(http.server.ThreadingHTTPServer):
    """An auth gateway in front of Prometheus (as oauth2-proxy or a Mimir gateway would be):
    forwards only requests with the right bearer token."""

    def __init__(self, upstream: str, token: str) -> None:
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Authorization") != f"Bearer {gate.token}":
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                req = urllib.request.Request(gate.upstream + self.path, data=body,
                                             headers={"Content-Type": self.headers.get(
                                                 "Content-Type", "")})
                with urllib.request.urlopen(req, timeout=10) as resp:
                    data = resp.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return

        self.upstream, self.token = upstream, token
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_bearer_token_from_a_file(stack: tuple[PrometheusServer, list], tmp_path: Path) -> None:
    prom, _ = stack
    gate = _TokenGate(prom.url, "s3cret-token")
    try:
        url = f"http://127.0.0.1:{gate.server_address[1]}"
        token = tmp_path / "token"
        token.write_text("s3cret-token\n")
        from autoglm_tui.cluster.prometheus.client import read_token

        good = PromClient(ClientConfig(url, token=read_token(str(token), None)))
        assert good.query("up")
        with pytest.raises(PromError, match="HTTP 401"):
            PromClient(ClientConfig(url, token="wrong")).query("up")
    finally:
        gate.shutdown()
        gate.server_close()


def test_snapshot_command(stack: tuple[PrometheusServer, list]) -> None:
    import subprocess
    import sys

    prom, _ = stack
    out = subprocess.run([sys.executable, "-m", "autoglm_tui", "snapshot", "--prometheus",
                          prom.url, "--wait", "20", "--compact"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    nodes = {n["node_id"]: n for n in doc["nodes"]}
    assert set(nodes) == {"127.0.0.2", "127.0.0.3"}
    gpu0 = nodes["127.0.0.2"]["last_sample"]["gpus"][0]
    assert gpu0["util_pct"] == pytest.approx(91.0) and gpu0["mem_used_bytes"] == 7 << 30
    assert nodes["127.0.0.2"]["source"] == "prometheus" and doc["registry"]["ok"] is True
