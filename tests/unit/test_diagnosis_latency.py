"""Latency vs resources: a regression said in words, and silence when it cannot be supported."""

from __future__ import annotations

import math
import random
import re

import pytest

from autoglm_tui.analysis.diagnosis import DiagnosisConfig
from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.config import LatencyConfig
from autoglm_tui.analysis.diagnosis.latency import FACTORS, quoted_step, regress
from autoglm_tui.analysis.diagnosis.stats import ridge
from autoglm_tui.analysis.services import ServiceView
from tests.unit.diag_kit import const, make_node, run

P95 = (M.SVC_LATENCY[0], None)


def wave(mid: float, amp: float, period: float, phase: float = 0.0):
    return lambda s: mid + amp * math.sin(2 * math.pi * s / period + phase)


def noisy(f, sd: float, seed: int):
    rng = random.Random(seed)
    cache: dict[float, float] = {}

    def g(s: float) -> float:
        if s not in cache:
            cache[s] = f(s) + rng.gauss(0.0, sd)
        return cache[s]

    return g


def test_latency_following_cpu_is_said_in_words_with_its_fit() -> None:
    cpu = wave(60.0, 25.0, 240.0)
    # P95 = 0.2 s + 1.8 ms per CPU point: +10% CPU -> +18 ms
    series = {(M.CPU, None): cpu, (M.MEM, None): wave(40.0, 5.0, 333.0, 1.0),
              P95: noisy(lambda s: 0.2 + 0.0018 * cpu(s), 0.004, 1),
              (M.SVC_QUEUE, None): noisy(const(3.0), 0.8, 2)}
    found = run(make_node(series, 900))
    assert [f.name for f in found] == ["latency_factors"]
    f = found[0]
    assert f.verdict.startswith("latency follows CPU")
    assert "+10% CPU -> +18 ms P95" in f.verdict
    effects = {e["factor"]: e for e in f.data["effects"]}
    assert effects["cpu"]["effect_s"] == pytest.approx(0.018, rel=0.1)
    assert f.data["r2"] > 0.8 and f.data["points"] >= 300
    assert next(iter(effects)) == "cpu"  # strongest first
    assert "queue" not in effects  # noise has no weight worth naming


def test_two_factors_are_ordered_by_strength() -> None:
    cpu = wave(50.0, 20.0, 300.0)
    queue = wave(10.0, 8.0, 170.0, 0.5)
    series = {(M.CPU, None): cpu, (M.SVC_QUEUE, None): queue,
              P95: noisy(lambda s: 0.5 + 0.006 * cpu(s) + 0.04 * queue(s), 0.01, 3)}
    f = run(make_node(series, 900))[0]
    factors = [e["factor"] for e in f.data["effects"]]
    assert factors == ["queue", "cpu"]
    words = r"\+1 queued request -> \+(39|40|41) ms P95, \+10% CPU -> \+(59|60|61) ms"
    assert re.search(words, f.verdict)
    effects = {e["factor"]: e["effect_s"] for e in f.data["effects"]}
    assert effects == {"queue": pytest.approx(0.04, rel=0.05),
                       "cpu": pytest.approx(0.06, rel=0.05)}


def test_flat_latency_makes_no_claim() -> None:
    series = {(M.CPU, None): wave(60.0, 25.0, 240.0), P95: const(0.35)}
    assert run(make_node(series, 900)) == []


def test_latency_unrelated_to_the_inputs_makes_no_claim() -> None:
    series = {(M.CPU, None): wave(60.0, 25.0, 240.0),
              P95: noisy(const(0.4), 0.05, 4)}
    assert run(make_node(series, 900)) == []


def test_too_few_points_make_no_claim() -> None:
    cpu = wave(60.0, 25.0, 40.0)
    series = {(M.CPU, None): cpu, P95: lambda s: 0.2 + 0.002 * cpu(s)}
    assert run(make_node(series, 40)) == []


def test_collinear_inputs_get_no_absurd_coefficients() -> None:
    cpu = wave(60.0, 25.0, 240.0)
    rng = random.Random(5)
    twin = {}

    def gpu(s: float) -> float:  # GPU util moves with CPU almost exactly
        twin.setdefault(s, cpu(s) + rng.gauss(0.0, 0.05))
        return twin[s]

    series = {(M.CPU, None): cpu, **{(M.GPU_UTIL, g): gpu for g in range(4)},
              P95: noisy(lambda s: 0.2 + 0.0018 * cpu(s), 0.004, 6)}
    f = run(make_node(series, 900))[0]
    effects = f.data["effects"]
    assert len(effects) == 1  # the twin is dropped, not given a huge opposite weight
    assert effects[0]["effect_s"] == pytest.approx(0.018, rel=0.1)
    assert "moves with" in " ".join(f.data["dropped"].values())


def test_ridge_shares_weight_between_near_collinear_inputs() -> None:
    rng = random.Random(7)
    x = [rng.uniform(0, 100) for _ in range(400)]
    z = [v + rng.gauss(0, 1.0) for v in x]  # r about 0.9999
    y = [0.002 * v + rng.gauss(0, 0.01) for v in x]
    fit = ridge([x, z], y, alpha=0.05)
    assert fit is not None
    assert all(0 < b < 1 for b in fit.beta)  # no +50 / -49 pair
    assert sum(fit.slope) == pytest.approx(0.002, rel=0.1)


def test_regress_refuses_inputs_with_too_few_values() -> None:
    y = [0.1 + 0.001 * k for k in range(100)]
    xs = {"cpu": [float(k) for k in range(100)], "kv": [math.nan] * 90 + [1.0] * 10}
    reg = regress(y, xs, LatencyConfig())
    assert reg is not None and reg.dropped == {"kv": "too few values"}


def test_window_and_thresholds_come_from_the_config() -> None:
    cpu = wave(60.0, 25.0, 240.0)
    series = {(M.CPU, None): cpu, P95: noisy(lambda s: 0.2 + 0.0018 * cpu(s), 0.004, 8)}
    strict = DiagnosisConfig(latency=LatencyConfig(min_points=2000))
    assert run(make_node(series, 900), config=strict) == []


def test_each_service_gets_its_own_regression() -> None:
    cpu = wave(60.0, 25.0, 240.0)
    series = {(M.CPU, None): cpu,
              ("svc.latency_p95_s", "a"): noisy(lambda s: 0.2 + 0.0018 * cpu(s), 0.004, 9),
              ("svc.latency_p95_s", "b"): noisy(const(0.5), 0.05, 10)}
    found = run(make_node(series, 900))
    assert [(f.subject.kind, f.subject.service) for f in found] == [("service", "a")]
    assert found[0].verdict.startswith("a latency follows CPU")


def served(f, span: int = 60):
    """A latency as a server's figures give it: the mean over the trailing `span` seconds of
    the latency at each second (the diagnosis puts its inputs on the same footing)."""
    cache: dict[float, float] = {}

    def g(s: float) -> float:
        if s not in cache:
            pts = [f(s - k) for k in range(span) if s - k >= 0]
            cache[s] = math.fsum(pts) / len(pts)
        return cache[s]

    return g


def test_a_server_with_only_time_per_token_is_diagnosed_on_it() -> None:
    """llama.cpp reports no end-to-end latency, only the mean time per output token: the
    regression follows that, and says so."""
    sid = "llamacpp:8080"
    cpu = wave(55.0, 30.0, 240.0)
    # 15 ms per token + 0.3 ms per CPU point: +10% CPU -> +3 ms per token
    series = {(M.CPU, None): cpu, (M.MEM, None): wave(40.0, 5.0, 333.0, 1.0),
              ("svc.itl_avg_s", sid): served(noisy(lambda s: 0.015 + 0.0003 * cpu(s), 0.0005, 4)),
              ("svc.tokens_per_s", sid): noisy(const(80.0), 2.0, 5)}
    node = make_node(series, 600)
    node.service_tracker.views = {sid: ServiceView(sid, "llamacpp", "http://127.0.0.1:8080",
                                                   True, None, pid=4242, gpus=())}
    found = run(node)
    assert [f.name for f in found] == ["latency_factors"]
    f = found[0]
    assert f.verdict.startswith(f"{sid} time per token follows CPU")
    # its process uses no GPU: the CPU is what it computes on, not tokenisation overhead
    assert f.next_steps[0].startswith("the server computes on the host CPU")
    assert "+10% CPU -> +3 ms time per token" in f.verdict
    assert "mean time per token" in f.evidence[0].text
    assert f.data["metric"] == "svc.itl_avg_s" and f.data["service"] == sid
    assert f.window[1] - f.window[0] == 600.0  # the 10 minutes of data, not the 15 looked at


def test_each_service_follows_the_latency_it_reports() -> None:
    """On one node, a vLLM server with P95 and a llama.cpp server with time per token only:
    each is diagnosed on its own figure (not only the services of the first one found)."""
    cpu = wave(55.0, 30.0, 240.0)
    series = {(M.CPU, None): cpu,
              ("svc.latency_p95_s", "vllm:8000"): served(noisy(lambda s: 0.2 + 0.002 * cpu(s),
                                                               0.004, 6)),
              ("svc.itl_avg_s", "llamacpp:8080"): served(noisy(lambda s: 0.015 + 0.0003 * cpu(s),
                                                               0.0005, 7))}
    found = {f.data["service"]: f for f in run(make_node(series, 600))
             if f.name == "latency_factors"}
    assert set(found) == {"vllm:8000", "llamacpp:8080"}
    assert found["vllm:8000"].data["metric"] == "svc.latency_p95_s"
    assert "+10% CPU -> +20 ms P95" in found["vllm:8000"].verdict
    assert found["llamacpp:8080"].data["metric"] == "svc.itl_avg_s"
    assert found["vllm:8000"].next_steps[0].startswith("host CPU drives latency")


def test_time_per_token_that_barely_moves_says_nothing() -> None:
    sid = "llamacpp:8080"
    cpu = wave(55.0, 30.0, 240.0)
    # a swing of 0.42 ms (standard deviation) on 15 ms: more than 2% of it, but under the
    # 0.5 ms floor for time per token
    series = {(M.CPU, None): cpu,
              ("svc.itl_avg_s", sid): lambda s: 0.015 + 0.0006 * math.sin(2 * math.pi * s / 240)}
    assert "latency_factors" not in [f.name for f in run(make_node(series, 600))]


def test_a_latency_over_a_window_is_fitted_on_resources_over_the_same_window() -> None:
    """A server's P95 covers the last minute: against CPU as sampled it lags (a weak fit);
    against CPU averaged over the same minute it fits, and the finding says so."""
    cpu = wave(55.0, 25.0, 160.0)
    series = {(M.CPU, None): cpu,
              P95: served(noisy(lambda s: 0.25 + 0.0025 * cpu(s), 0.004, 11))}
    (f,) = [f for f in run(make_node(series, 900)) if f.name == "latency_factors"]
    assert f.verdict.startswith("latency follows CPU")
    assert f.data["inputs_smoothed_s"] == 60.0
    assert any("averaged over the trailing 60 s" in e.text for e in f.evidence), f.evidence
    effects = {e["factor"]: e["effect_s"] for e in f.data["effects"]}
    assert effects["cpu"] == pytest.approx(0.025, rel=0.1)
    assert f.data["r2"] > 0.9


def test_an_effect_is_quoted_for_a_change_no_larger_than_the_input_made() -> None:
    """Memory that moved 2.4 points is not quoted for +10%: +2% (the largest step within what
    it moved), so the effect is not extrapolated four times past what was seen."""
    mem = wave(40.0, 1.2, 240.0)
    series = {(M.MEM, None): mem, P95: noisy(lambda s: 0.1 + 0.02 * (mem(s) - 38.0), 0.002, 12)}
    (f,) = run(make_node(series, 900))
    assert "+2% memory -> +40 ms P95" in f.verdict
    (effect,) = f.data["effects"]
    assert effect["per"] == "+2% memory"
    assert effect["effect_s"] == pytest.approx(0.04, rel=0.1)


def test_quoted_steps() -> None:
    cpu, queue = FACTORS["cpu"], FACTORS["queue"]
    assert quoted_step(cpu, 50.0) == (10.0, "+10% CPU")
    assert quoted_step(cpu, 10.0) == (10.0, "+10% CPU")
    assert quoted_step(cpu, 7.0) == (5.0, "+5% CPU")
    assert quoted_step(cpu, 0.3) == (0.2, "+0.2% CPU")
    assert quoted_step(cpu, 0.01) == (0.1, "+0.1% CPU")  # the smallest step
    assert quoted_step(FACTORS["await"], 3.0) == (2.0, "+2 ms disk await")
    assert quoted_step(queue, 0.4) == (1.0, "+1 queued request")  # whole requests only


def busy_cpu(s: float) -> float:
    """A host made busy for 40 s of every 75 (as the real-server test does), then quiet."""
    return 95.0 if s % 75.0 >= 35.0 else 10.0


def test_a_drift_beside_a_real_factor_is_left_out_not_named() -> None:
    """Memory creeping up by 1.3 points through the window matches any other drift; beside a
    CPU that rises and falls, the time per token is said to follow the CPU only (it named
    "+1% memory -> +5 ms" second before), and the evidence says why memory is left out."""
    sid = "llamacpp:8080"
    itl = ("svc.itl_avg_s", sid)
    series = {(M.CPU, None): noisy(busy_cpu, 3.0, 21),
              (M.MEM, None): noisy(lambda s: 40.0 + 1.3 * s / 150.0, 0.05, 22),
              itl: noisy(served(lambda s: 0.02 + 0.0002 * busy_cpu(s), 20), 0.002, 23)}
    node = make_node(series, 150)
    node.service_tracker.views = {sid: ServiceView(sid, "llamacpp", "http://127.0.0.1:8080",
                                                   True, None, pid=4242, gpus=())}
    (f,) = [f for f in run(node) if f.name == "latency_factors"]
    assert f.verdict.startswith(f"{sid} time per token follows CPU:"), f.verdict
    assert [e["factor"] for e in f.data["effects"]] == ["cpu"], f.verdict
    assert f.data["dropped"]["mem"] == "drifted steadily: it would match any other drift"
    assert any("memory (drifted steadily" in e.text for e in f.evidence), f.evidence


def test_when_every_input_drifts_the_drift_is_still_said() -> None:
    """A queue and a P95 that both climb all window: nothing else moved, so the finding is
    made (a regression shows what moves together, which it says)."""
    series = {(M.SVC_QUEUE, None): noisy(lambda s: 2.0 + 10.0 * s / 600.0, 0.3, 31),
              P95: noisy(lambda s: 0.3 + 0.05 * s / 60.0, 0.01, 32)}
    (f,) = [f for f in run(make_node(series, 600)) if f.name == "latency_factors"]
    assert f.verdict.startswith("latency follows queue"), f.verdict
    assert "queue" not in f.data["dropped"]
