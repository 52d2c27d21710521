"""A steady request stream on a fake inference server page, with a known latency
distribution: the true P95 lies in one bucket of vLLM's e2e histogram whatever part of the
cycle a window cuts, so a quantile computed anywhere (our monitor, Prometheus, the InfluxDB
writer) can be checked against it."""

from __future__ import annotations

import itertools
import threading
import time

from tests.fakes.service_pages import VLLM_E2E, FakeServer

# One cycle of 20 requests: 18 at or under 2 s, 2 in (2.5, 5]: the true P95 (the 19th of 20)
# lies in vLLM's bucket (2.5, 5.0], whatever part of the cycle a window cuts.
CYCLE = [0.4, 0.45, 0.6, 0.7, 0.9, 0.95, 1.1, 1.2, 1.3, 1.4, 1.6, 1.7, 1.8, 1.9, 0.35, 0.55,
         1.05, 1.95, 3.1, 4.2]
RATE = 20.0  # requests a second
TOKENS = 40  # generated per request
P95_BUCKET = (2.5, 5.0)


def in_bucket(value: float | None, bucket: tuple[float, float] = P95_BUCKET) -> bool:
    return value is not None and bucket[0] < value <= bucket[1]


def true_p95() -> float:
    ordered = sorted(CYCLE)
    return ordered[round(0.95 * len(ordered)) - 1]


def bucket_of(value: float) -> tuple[float, float]:
    lower = 0.0
    for bound in VLLM_E2E:
        if value <= bound:
            return lower, bound
        lower = bound
    return lower, float("inf")


class Load:
    """Finishes RATE requests a second on the fake server, latencies from CYCLE."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        latencies = itertools.cycle(CYCLE)
        i = 0
        while not self.stop.wait(1 / RATE):
            i += 1
            self.server.request(time.time(), next(latencies), ttft=0.05, itl=0.02,
                                generated=TOKENS, outcome="error" if i % 50 == 0 else "ok")
            self.server.load(running=3, waiting=2, kv=0.61)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
