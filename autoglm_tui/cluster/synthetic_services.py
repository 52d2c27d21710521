"""Invented inference servers for the synthetic fleet (demos and benchmarks only).

A ``SyntheticService`` is scraped every ``scrape_s`` seconds like a real one: between scrapes
the same ServiceSample is repeated, as the real sampler repeats its newest scrape. Its counters
only grow and its histograms use vLLM V1's bucket bounds; requests are spread over the buckets
by a log-normal latency law whose median follows the node's load, so P95 and TTFT move with it.
Deterministic for a given random generator.
"""

from __future__ import annotations

import math
import random

from autoglm_tui.model import Histogram, ServiceSample

# vLLM V1's bounds (vllm/v1/metrics/loggers.py).
E2E_BOUNDS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
              120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)
TTFT_BOUNDS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
               7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
ITL_BOUNDS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
              10.0, 20.0, 40.0, 80.0)
MODELS = ("meta-llama/Llama-3.1-70B-Instruct", "Qwen/Qwen2.5-72B-Instruct",
          "mistralai/Mixtral-8x22B-Instruct-v0.1")


def _lognormal_cdf(x: float, median: float, sigma: float) -> float:
    return 0.5 * (1.0 + math.erf(math.log(x / median) / (sigma * math.sqrt(2.0))))


class _Hist:
    """A cumulative histogram that grows by n observations of a log-normal law at a time."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0.0] * (len(bounds) + 1)
        self.total = 0.0

    def add(self, n: int, median: float, sigma: float) -> None:
        if n <= 0:
            return
        below = 0
        for i, b in enumerate(self.bounds):
            k = round(n * _lognormal_cdf(b, median, sigma))
            below = max(below, min(n, k))
            self.counts[i] += below
        self.counts[-1] += n
        self.total += n * median * math.exp(sigma * sigma / 2.0)  # the law's mean

    def snapshot(self) -> Histogram:
        return Histogram(self.bounds, tuple(self.counts), round(self.total, 6))


class SyntheticService:
    """One vLLM-like server on an inference node."""

    def __init__(self, rng: random.Random, index: int, scrape_s: float = 5.0,
                 port: int = 8000) -> None:
        self.rng = rng
        self.scrape_s = scrape_s
        self.port = port
        self.model = MODELS[index % len(MODELS)]
        self.pid = 3999  # the parent of the node's GPU processes
        self.prompt = self.generation = 0.0
        self.finished = self.failed = self.aborted = 0.0
        self.e2e = _Hist(E2E_BOUNDS)
        self.ttft = _Hist(TTFT_BOUNDS)
        self.itl = _Hist(ITL_BOUNDS)
        self.queue = _Hist(E2E_BOUNDS)
        self._last_t: float | None = None
        self._sample: ServiceSample | None = None

    def sample(self, t: float, load: float) -> ServiceSample:
        """The newest scrape at time `t` (a new one every `scrape_s`); `load` is 0..100."""
        if self._sample is not None and self._last_t is not None and t - self._last_t < (
            self.scrape_s - 1e-9
        ):
            return self._sample
        dt = self.scrape_s if self._last_t is None else t - self._last_t
        self._last_t = t
        rng = self.rng
        requests = max(0, round((12.0 + 0.2 * load) * dt * rng.uniform(0.8, 1.2)))
        out_tokens = requests * rng.uniform(180.0, 260.0)
        self.generation += out_tokens
        self.prompt += requests * rng.uniform(600.0, 900.0)
        failed = 1 if rng.random() < 0.01 * dt else 0
        aborted = 1 if rng.random() < 0.03 * dt else 0
        self.finished += requests
        self.failed += failed
        self.aborted += aborted
        median = 0.4 + load / 150.0  # P95 about 1.2-1.6 s: under the default 2 s alert
        self.e2e.add(requests, median, 0.35)
        self.ttft.add(requests, 0.04 + load / 1500.0, 0.6)
        self.itl.add(int(out_tokens), 0.018 + load / 6000.0, 0.3)
        self.queue.add(requests, 0.02 + load / 400.0, 0.9)
        running = float(rng.randrange(4, 32))
        self._sample = ServiceSample(
            url=f"http://127.0.0.1:{self.port}/metrics",
            kind="vllm",
            ok=True,
            model=self.model,
            pid=self.pid,
            port=self.port,
            t=t,
            running=running,
            waiting=float(rng.randrange(0, 6)) if load > 40 else 0.0,
            kv_cache_usage=round(min(1.0, 0.25 + load / 150.0 + rng.uniform(0, 0.05)), 4),
            prompt_tokens=round(self.prompt),
            generation_tokens=round(self.generation),
            requests_finished=self.finished,
            requests_error=self.failed,
            requests_aborted=self.aborted,
            e2e=self.e2e.snapshot(),
            ttft=self.ttft.snapshot(),
            itl=self.itl.snapshot(),
            queue=self.queue.snapshot(),
        )
        return self._sample


__all__ = ["SyntheticService"]
