"""Latency vs resources: a regression said in words, and silence when it cannot be supported."""

from __future__ import annotations

import math
import random
import re

import pytest

from autoglm_tui.analysis.diagnosis import DiagnosisConfig
from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.config import LatencyConfig
from autoglm_tui.analysis.diagnosis.latency import regress
from autoglm_tui.analysis.diagnosis.stats import ridge
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
