"""Histogram servers that cannot run here (vLLM V1 and V0, SGLang, TGI, Triton, TensorRT-LLM
in Triton, trtllm-serve, NIM): their pages, made with prometheus_client under each server's
own names, labels and buckets (tests/fakes/service_pages.py), are served over HTTP on
loopback and driven by a request stream with a known latency law. The real scraper, parser and
name tables read them; the service tracker derives the figures; the test compares with what it
told the fake server. Time is simulated (a scrape every 5 s of a made-up clock), so two minutes
of traffic take a moment; everything else is real."""

from __future__ import annotations

import dataclasses
import math
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from autoglm_tui import wire
from autoglm_tui.analysis.services import ServiceTracker, ServiceView
from autoglm_tui.model import Sample
from autoglm_tui.sampler.services import sockets
from autoglm_tui.sampler.services.monitor import ServiceMonitor
from autoglm_tui.sampler.services.targets import parse_spec
from tests.fakes import metrics_http as mh
from tests.fakes.service_pages import KINDS, RECOGNISED, FakeServer
from tests.integration.test_sampler_cli import CLI, env
from tests.unit.samples import sample

pytestmark = pytest.mark.integration
STEP_S = 5.0


@pytest.fixture
def http() -> Iterator[mh.MetricsHttp]:
    server = mh.MetricsHttp()
    try:
        yield server
    finally:
        server.close()


@dataclass
class Run:
    """A driven fake server, what the monitor made of it, and the truth per scrape step."""

    server: FakeServer
    tracker: ServiceTracker
    t: float = 0.0
    steps: list[dict[str, float]] = field(default_factory=list)  # per step: what happened
    rates: list[float] = field(default_factory=list)  # tokens/s seen after each scrape

    @property
    def view(self) -> ServiceView:
        (v,) = self.tracker.views.values()
        return v

    def window(self, seconds: float) -> list[dict[str, float]]:
        return [s for s in self.steps if s["t"] > self.t - seconds]

    def true_e2e(self, seconds: float = 60.0) -> list[float]:
        return sorted(v for t, v in self.server.truth.e2e if t > self.t - seconds)


def drive(server: FakeServer, http: mh.MetricsHttp, *, steps: int = 26, seed: int = 1,
          mu: float = 0.0, sigma: float = 0.5, restart_at: int | None = None,
          engines: int = 1) -> Run:
    """`steps` scrape steps of made-up traffic: requests finish, then the monitor scrapes."""
    url = http.route(f"/{server.kind}-{seed}/metrics", server.page)
    clock = [0.0]
    monitor = ServiceMonitor([parse_spec(url)], discover=False, clock=lambda: clock[0])
    run = Run(server, ServiceTracker(window_s=60.0, rate_window_s=15.0))
    rng = random.Random(seed)
    for i in range(steps):
        t = i * STEP_S
        if i == restart_at:
            server.restart()
        step = {"t": t, "finished": 0.0, "errors": 0.0, "generated": 0.0}
        if i > 0:
            for k in range(rng.randrange(20, 40)):
                outcome = "error" if rng.random() < 0.03 else (
                    "abort" if rng.random() < 0.02 else "ok")
                before = (server.truth.generated, server.truth.finished, server.truth.errors)
                server.request(t, rng.lognormvariate(mu, sigma),
                               ttft=rng.lognormvariate(-2.5, 0.4),
                               itl=rng.lognormvariate(-3.8, 0.3),
                               queue=rng.lognormvariate(-3.0, 0.8),
                               prompt=rng.randrange(50, 500), generated=rng.randrange(20, 300),
                               outcome=outcome, engine=k % engines)
                step["generated"] += server.truth.generated - before[0]
                step["finished"] += server.truth.finished - before[1]
                step["errors"] += server.truth.errors - before[2]
        for e in range(engines):
            server.load(4 + e, 2, 0.37, engine=e)
        run.steps.append(step)
        clock[0] = run.t = t
        monitor.run_round()
        s = dataclasses.replace(sample(t, i + 1), services=monitor.services())
        # Through the wire, as from a remote sampler.
        decoded = wire.decode(wire.encode(s))
        assert isinstance(decoded, Sample)
        values, _ = run.tracker.update(decoded, t)
        rate = values.get(("svc.tokens_per_s", None))
        if rate is not None:
            run.rates.append(rate)
    monitor.close()
    return run


def bucket(value: float, bounds: tuple[float, ...]) -> int:
    return next((i for i, b in enumerate(bounds) if value <= b), len(bounds))


def true_quantile(values: list[float], q: float) -> float:
    return values[max(0, math.ceil(q * len(values)) - 1)]


def assert_within_one_bucket(run: Run, q: float = 0.95) -> None:
    e2e = run.view.e2e
    assert e2e is not None and e2e.p95 is not None
    truth = run.true_e2e()
    bounds = run.tracker._tracks[run.view.service_id].last_ok.e2e.bounds
    got = {0.5: e2e.p50, 0.95: e2e.p95, 0.99: e2e.p99}[q]
    assert e2e.count == len(truth)
    assert abs(bucket(got.value, bounds) - bucket(true_quantile(truth, q), bounds)) <= 1, (
        got, true_quantile(truth, q))


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_read_right(kind: str, http: mh.MetricsHttp) -> None:
    run = drive(FakeServer(kind, model="acme/llm-13b"), http, seed=KINDS.index(kind) + 1)
    v = run.view
    assert v.up and v.error is None
    assert v.kind == RECOGNISED.get(kind, kind)
    recent, minute = run.window(15.0), run.window(60.0)
    finished = sum(s["finished"] for s in minute)
    errors = sum(s["errors"] for s in minute)
    if kind in ("triton", "trtllm"):  # averages only: no quantile, the mean is exact
        assert v.e2e.p95 is None and v.e2e.p50 is None
        truth = run.true_e2e()
        assert v.e2e.avg == pytest.approx(sum(truth) / len(truth), rel=1e-9)
        assert v.tokens_per_s is None  # Triton exports no token counters
    else:
        assert_within_one_bucket(run, 0.95)
        assert_within_one_bucket(run, 0.5)
    if kind not in ("triton", "trtllm", "trtllm-serve"):
        gen = sum(s["generated"] for s in recent)
        assert v.tokens_per_s == pytest.approx(gen / 15.0)
    else:
        assert v.tokens_per_s is None  # not exported: unknown, never 0
    assert v.requests_per_s == pytest.approx(sum(s["finished"] for s in recent) / 15.0)
    if kind == "sglang":
        assert v.error_rate_pct is None  # SGLang counts aborts, not errors
    else:
        assert v.error_rate_pct == pytest.approx(100.0 * errors / finished)
    assert v.waiting == 2.0
    if kind == "triton":
        assert v.running is None and v.kv_cache_pct is None and v.model == "llm"
    elif kind == "tgi":
        assert v.running == 4.0 and v.kv_cache_pct is None and v.model is None
    else:
        assert v.running == 4.0 and v.kv_cache_pct == pytest.approx(37.0, abs=0.1)
        assert v.model == ("tensorrt_llm" if kind == "trtllm" else "acme/llm-13b")


def test_engine_labels_are_summed(http: mh.MetricsHttp) -> None:
    run = drive(FakeServer("vllm", engines=2), http, engines=2, seed=11)
    v = run.view
    assert v.running == 4.0 + 5.0  # both engines' gauges
    assert v.kv_cache_pct == pytest.approx(37.0)  # a ratio: the worst engine, not a sum
    assert_within_one_bucket(run)
    assert v.tokens_per_s == pytest.approx(sum(s["generated"] for s in run.window(15.0)) / 15)


def test_a_counter_reset_mid_stream(http: mh.MetricsHttp) -> None:
    run = drive(FakeServer("vllm"), http, seed=12, restart_at=18)
    # Never negative, never more than the most the generator made in one rate window.
    most = max(sum(s["generated"] for s in run.steps[max(0, i - 2): i + 1])
               for i in range(len(run.steps))) / 15.0
    assert run.rates and min(run.rates) >= 0 and max(run.rates) <= most + 1e-6
    v = run.view
    assert v.tokens_per_s == pytest.approx(sum(s["generated"] for s in run.window(15.0)) / 15)
    # The quantile window straddles the restart: the steps after it count what was new.
    assert v.e2e.count == len(run.true_e2e())
    assert_within_one_bucket(run)


def test_custom_bucket_boundaries(http: mh.MetricsHttp) -> None:
    # SGLang's --bucket-e2e-request-latency and Triton's histogram_latencies buckets (in ms).
    sg = drive(FakeServer("sglang", buckets={"e2e": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]}), http,
               seed=13)
    assert sg.tracker._tracks[sg.view.service_id].last_ok.e2e.bounds == (
        0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    assert_within_one_bucket(sg)
    tr = drive(FakeServer("triton", buckets={"ttft_ms": [10, 25, 50, 100, 250, 1000]}), http,
               seed=14)
    ttft = tr.view.ttft
    bounds = (0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
    truth = sorted(v for t, v in tr.server.truth.ttft if t > tr.t - 60.0)
    assert ttft is not None and ttft.p95 is not None
    assert ttft.count == len(truth)  # one first response per successful request
    assert abs(bucket(ttft.p95.value, bounds) - bucket(true_quantile(truth, 0.95), bounds)) <= 1


def test_broken_endpoints_each_cost_only_their_own_service(http: mh.MetricsHttp) -> None:
    good = FakeServer("vllm")
    good.request(0.0, 0.5)
    hostile = FakeServer("vllm", model='\x1b[2J\x1b]0;pwned\x07[red]boom[/red] <b>x</b> "q"')
    hostile.request(0.0, 0.5)
    specs = {
        "good": http.route("/good/metrics", good.page),
        "hang": http.route("/hang/metrics", mh.HANG),
        "err": http.route("/err/metrics", mh.ERROR_500),
        "huge": http.route("/huge/metrics", mh.HUGE),
        "garbage": http.route("/garbage/metrics", mh.GARBAGE),
        "trickle": http.route("/trickle/metrics", mh.TRICKLE),
        "hostile": http.route("/hostile/metrics", hostile.page),
        "html": http.route("/html/metrics", lambda: "<html><body>hello</body></html>"),
        "other": http.route("/other/metrics", lambda: "# TYPE up gauge\nup 1\n"),
    }
    monitor = ServiceMonitor([parse_spec(f"{url},name={name}") for name, url in specs.items()],
                             discover=False, timeout_s=0.5)
    monitor.run_round()
    got = {s.name: s for s in monitor.services()}
    monitor.close()
    assert got["good"].ok and got["good"].kind == "vllm"
    assert not got["hang"].ok and got["hang"].error == "timed out after 0.5 s"
    assert not got["trickle"].ok and got["trickle"].error == "timed out after 0.5 s"
    assert got["err"].error == "HTTP 500 Internal Server Error"
    assert got["huge"].error.startswith("page too large (10 MiB")
    assert got["garbage"].error == "binary data, not a metrics page"
    assert got["html"].error == "not a Prometheus metrics page"
    assert got["other"].ok and got["other"].kind == "unknown"  # speaks Prometheus: listed
    h = got["hostile"]
    assert h.ok and "\x1b" not in h.model and "\x07" not in h.model
    assert "[red]boom[/red] <b>x</b>" in h.model  # kept as literal text, never markup
    back = wire.decode(wire.encode(dataclasses.replace(sample(1.0, 1),
                                                       services=monitor.services())))
    assert isinstance(back, Sample) and len(back.services) == len(specs)
    tr = ServiceTracker()
    tr.update(back, 1.0)
    assert {sid for sid, v in tr.views.items() if v.up} == {"good", "hostile", "other"}


def test_a_hanging_endpoint_never_delays_a_sample(http: mh.MetricsHttp) -> None:
    """The real sampler, told to wait 30 s for an endpoint that never answers, still writes
    its samples every interval and exits when done."""
    url = http.route("/hang/metrics", mh.HANG)
    done = subprocess.run(
        [*CLI, "--interval", "0.3", "--count", "8", "--no-service-discovery",
         "--service", f"{url},name=stuck", "--service-timeout", "30"],
        stdin=subprocess.DEVNULL, capture_output=True, env=env(), timeout=20,
    )
    assert done.returncode == 0, done.stderr.decode()
    samples = [m for m in map(wire.decode, done.stdout.splitlines()) if isinstance(m, Sample)]
    assert [s.seq for s in samples] == list(range(1, 9))
    assert all(s.services == () for s in samples)  # the scrape never finished: nothing yet
    assert sys.executable


def test_the_default_rules_fire_on_served_figures(http: mh.MetricsHttp) -> None:
    """P95 > 2 s for 10 s, error rate > 1%, KV cache > 95% for 1 min and a queue growing over
    the last minute, from a vLLM page
    scraped every 5 s and samples every second, through FleetState and the alert engine."""
    from autoglm_tui.alerting.rule_files import default_rules
    from autoglm_tui.analysis.alerts import AlertEngine
    from autoglm_tui.analysis.state import FleetState
    from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived
    from tests.unit.samples import hello

    server = FakeServer("vllm")
    url = http.route("/alerting/metrics", server.page)
    clock = [0.0]
    monitor = ServiceMonitor([parse_spec(url)], discover=False, clock=lambda: clock[0])
    state = FleetState()
    engine = AlertEngine(default_rules())
    state.apply(NodeJoined(0.0, "n1"))
    state.apply(HelloReceived(0.0, "n1", hello("n1")))
    rng = random.Random(5)
    fired: dict[str, float] = {}
    for second in range(1, 121):
        t = float(second)
        if second % 5 == 0:  # a scrape: the server did some work since the last one
            slow = second > 30
            for i in range(25):
                server.request(t, rng.uniform(2.6, 4.0) if slow else rng.uniform(0.2, 0.6),
                               outcome="error" if slow and i % 10 == 0 else "ok")
            # The queue grows by one request every 5 s (12 a minute) from 60 s on.
            server.load(8, 3 + max(0, second - 60) // 5, 0.97 if second > 40 else 0.5)
            clock[0] = t
            monitor.run_round()
        sample_ = dataclasses.replace(sample(t, second), services=monitor.services())
        changes = state.apply(SampleReceived(t, "n1", sample_))
        for event in engine.evaluate(state, t, changes):
            if event.state.value == "firing":
                fired.setdefault(event.rule, t)
    monitor.close()
    # Slow requests and errors start after 30 s: P95 (over 60 s) passes 2 s once they are
    # more than 5% of the window, then holds for 10 s; errors are 10% of them.
    assert 35 <= fired["latency_p95_high"] <= 60
    assert 35 <= fired["error_rate_high"] <= 40
    assert 100 <= fired["kv_cache_full"] <= 110  # over 95% from 45 s, for a minute
    # The trend needs 30 s of scrapes (so from 90 s), then holds for 30 s.
    assert 95 <= fired["queue_growing"] <= 125
    assert "gpu_util_high" not in fired


def test_discovery_finds_servers_and_leaves_other_processes_alone() -> None:
    """Real processes listening on loopback: two fake servers whose command lines name a
    server (one a NIM at /v1/metrics), and an unrelated web server that must get no request."""
    from tests.integration.etcd_fixture import free_port

    procs = []
    try:
        ports = {"vllm": free_port(), "nim": free_port()}
        for kind, port in ports.items():
            args = [sys.executable, "-m", "tests.fakes.vllm_page_server", kind, str(port)]
            if kind == "nim":
                args.append("/v1/metrics")
            p = subprocess.Popen(args, stdout=subprocess.PIPE, env=env())
            procs.append(p)
            assert p.stdout is not None and p.stdout.readline().strip() == b"ready"
        other_port = free_port()
        other = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(other_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env())
        procs.append(other)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
                lst.port == other_port for lst in sockets.listeners()):
            time.sleep(0.1)
        monitor = ServiceMonitor(discover=True, forget_after_s=0.5, listen_check_s=0.0)
        monitor.run_round()
        found = {s.port: s for s in monitor.services()}
        v, n = found[ports["vllm"]], found[ports["nim"]]
        assert (v.kind, v.pid, v.source, v.ok) == ("vllm", procs[0].pid, "discovered", True)
        assert (n.kind, n.pid, n.ok) == ("nim", procs[1].pid, True)
        assert n.url.endswith(f":{ports['nim']}/v1/metrics")
        assert other_port not in found
        assert monitor.pids() >= {procs[0].pid, procs[1].pid}  # the sampler lists them
        # A discovered server that goes away is down with its reason, then forgotten.
        procs[0].kill()
        procs[0].wait()
        monitor.run_round()
        gone = {s.port: s for s in monitor.services()}[ports["vllm"]]
        assert not gone.ok and gone.error == "connection refused (nothing listening)"
        assert gone.pid is None and gone.kind == "vllm"
        time.sleep(0.6)
        monitor.run_round()
        assert ports["vllm"] not in {s.port for s in monitor.services()}
        assert ports["nim"] in {s.port for s in monitor.services()}
        monitor.close()
        other.terminate()
        assert b"GET" not in other.communicate(timeout=10)[1]  # never asked anything
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
