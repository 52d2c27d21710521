"""Metrics pages of inference servers that cannot run here, made with prometheus_client.

Each ``FakeServer(kind)`` registers the server's own metric names, types, labels and bucket
boundaries (taken from the server's source, the same files autoglm_tui/sampler/services/kinds.py
names) in a private registry, and ``request(...)`` records one finished request the way that
server would. ``page()`` is the text exposition, as the server's /metrics would return it.
Counters that the real server exports without ``_total`` (TGI's Rust `metrics` crate, Triton's
C++ core) are written that way. ``restart()`` starts every counter from zero again, as a
restarted server does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# vLLM V1: vllm/v1/metrics/loggers.py
VLLM_E2E = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
            120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0]
VLLM_TTFT = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
             7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]
VLLM_ITL = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
            10.0, 20.0, 40.0, 80.0]
# vLLM V0: vllm/engine/metrics.py
VLLM0_E2E = [1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0]
VLLM0_TTFT = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
              7.5, 10.0]
VLLM0_TPOT = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5]
# SGLang: python/sglang/srt/metrics/collector.py
SGLANG_TTFT = [0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400]
SGLANG_E2E = [0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400, 600,
              1200, 1800, 2400]
SGLANG_ITL = [0.002, 0.004, 0.006, 0.008, 0.010, 0.015, 0.020, 0.025, 0.030, 0.035, 0.040,
              0.060, 0.080, 0.100, 0.200, 0.400, 0.600, 0.800, 1.000, 2.000, 4.000, 6.000, 8.000]
SGLANG_QUEUE = [0.0, 0.1, 0.2, 0.5, 1, 2, 3, 4, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100,
                200, 300, 400, 500, 600, 700, 800, 900, 1000, 1200, 1400, 1600, 1800, 2000, 2500,
                3000]
# TGI: router/src/server.rs: 35 duration buckets, 0.0001 * 1.5^k for k = 1..35
TGI_DURATION = [0.0001 * 1.5 ** k for k in range(1, 36)]
TGI_MAX_INPUT = 1024
TGI_INPUT = [TGI_MAX_INPUT / 100.0 * (x + 1) for x in range(100)]
TGI_TOTAL_TOKENS = 2048
TGI_GENERATED = [TGI_TOTAL_TOKENS / 100.0 * (x + 1) for x in range(100)]

KINDS = ("vllm", "vllm0", "sglang", "tgi", "triton", "trtllm", "trtllm-serve", "nim")
# The kind each page is recognised as (vLLM V0 is vLLM).
RECOGNISED = {"vllm0": "vllm"}


@dataclass
class Truth:
    """What the fake server was told, for comparing against what the monitor derives."""

    e2e: list[tuple[float, float]] = field(default_factory=list)  # (time recorded, seconds)
    ttft: list[tuple[float, float]] = field(default_factory=list)
    prompt: int = 0
    generated: int = 0
    finished: int = 0
    errors: int = 0
    aborted: int = 0


class FakeServer:
    """One inference server's /metrics, driven by the requests a test makes up."""

    def __init__(self, kind: str, *, engines: int = 1, model: str = "org/model-7b",
                 buckets: dict[str, list[float]] | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(kind)
        self.kind = kind
        self.engines = engines
        self.model = model
        self.buckets = dict(buckets or {})
        self.truth = Truth()
        self.restarts = 0
        self._make()

    # ------------------------------------------------------------------ registry

    def _b(self, role: str, default: list[float]) -> list[float]:
        return self.buckets.get(role, default)

    def _make(self) -> None:
        r = self.registry = CollectorRegistry()
        k = self.kind
        self.m: dict[str, Any] = {}
        m = self.m
        if k in ("vllm", "vllm0", "nim"):
            p = "" if k == "nim" else "vllm:"
            labels = ["model_name", "engine"] if k == "vllm" else ["model_name"]
            m["running"] = Gauge(p + "num_requests_running", "running", labels, registry=r)
            m["waiting"] = Gauge(p + "num_requests_waiting", "waiting", labels, registry=r)
            if k == "vllm":
                m["kv"] = Gauge(p + "kv_cache_usage_perc", "kv", labels, registry=r)
            m["kv_old"] = Gauge(p + "gpu_cache_usage_perc", "kv (V0)", labels, registry=r)
            m["prompt"] = Counter(p + "prompt_tokens", "prompt", labels, registry=r)
            m["gen"] = Counter(p + "generation_tokens", "gen", labels, registry=r)
            m["success"] = Counter(p + "request_success", "finished",
                                   [*labels, "finished_reason"], registry=r)
            v1 = k == "vllm"
            m["e2e"] = Histogram(p + "e2e_request_latency_seconds", "e2e", labels, registry=r,
                                 buckets=self._b("e2e", VLLM_E2E if v1 else VLLM0_E2E))
            m["ttft"] = Histogram(p + "time_to_first_token_seconds", "ttft", labels, registry=r,
                                  buckets=self._b("ttft", VLLM_TTFT if v1 else VLLM0_TTFT))
            m["tpot"] = Histogram(p + "time_per_output_token_seconds", "tpot", labels,
                                  registry=r,
                                  buckets=self._b("itl", VLLM_ITL if v1 else VLLM0_TPOT))
            if v1:
                m["itl"] = Histogram(p + "inter_token_latency_seconds", "itl", labels,
                                     registry=r, buckets=self._b("itl", VLLM_ITL))
                m["queue"] = Histogram(p + "request_queue_time_seconds", "queue", labels,
                                       registry=r, buckets=self._b("queue", VLLM_E2E))
        elif k == "sglang":
            labels = ["model_name"]
            m["running"] = Gauge("sglang:num_running_reqs", "running", labels, registry=r)
            m["waiting"] = Gauge("sglang:num_queue_reqs", "queue", labels, registry=r)
            m["kv"] = Gauge("sglang:token_usage", "token usage", labels, registry=r)
            m["prompt"] = Counter("sglang:prompt_tokens", "prompt", labels, registry=r)
            m["gen"] = Counter("sglang:generation_tokens", "gen", labels, registry=r)
            m["requests"] = Counter("sglang:num_requests", "requests", labels, registry=r)
            m["aborted"] = Counter("sglang:num_aborted_requests", "aborted", labels, registry=r)
            m["e2e"] = Histogram("sglang:e2e_request_latency_seconds", "e2e", labels, registry=r,
                                 buckets=self._b("e2e", SGLANG_E2E))
            m["ttft"] = Histogram("sglang:time_to_first_token_seconds", "ttft", labels,
                                  registry=r, buckets=self._b("ttft", SGLANG_TTFT))
            m["itl"] = Histogram("sglang:inter_token_latency_seconds", "itl", labels, registry=r,
                                 buckets=self._b("itl", SGLANG_ITL))
            m["queue"] = Histogram("sglang:queue_time_seconds", "queue", labels, registry=r,
                                   buckets=self._b("queue", SGLANG_QUEUE))
        elif k == "tgi":
            m["running"] = Gauge("tgi_batch_current_size", "batch", registry=r)
            m["waiting"] = Gauge("tgi_queue_size", "queue", registry=r)
            m["success"] = Counter("tgi_request_success", "ok", registry=r)
            m["failure"] = Counter("tgi_request_failure", "failed", ["err"], registry=r)
            m["e2e"] = Histogram("tgi_request_duration", "e2e", registry=r,
                                 buckets=self._b("e2e", TGI_DURATION))
            m["queue"] = Histogram("tgi_request_queue_duration", "queue", registry=r,
                                   buckets=self._b("queue", TGI_DURATION))
            m["itl"] = Histogram("tgi_request_mean_time_per_token_duration", "tpot", registry=r,
                                 buckets=self._b("itl", TGI_DURATION))
            m["input"] = Histogram("tgi_request_input_length", "input", registry=r,
                                   buckets=TGI_INPUT)
            m["generated"] = Histogram("tgi_request_generated_tokens", "gen", registry=r,
                                       buckets=TGI_GENERATED)
        elif k in ("triton", "trtllm"):
            labels = ["model", "version"]
            m["success"] = Counter("nv_inference_request_success", "ok", labels, registry=r)
            m["failure"] = Counter("nv_inference_request_failure", "failed",
                                   [*labels, "reason"], registry=r)
            m["count"] = Counter("nv_inference_count", "inferences", labels, registry=r)
            m["exec"] = Counter("nv_inference_exec_count", "executions", labels, registry=r)
            m["duration"] = Counter("nv_inference_request_duration_us", "e2e us", labels,
                                    registry=r)
            m["queue_us"] = Counter("nv_inference_queue_duration_us", "queue us", labels,
                                    registry=r)
            m["pending"] = Gauge("nv_inference_pending_request_count", "pending", labels,
                                 registry=r)
            if "ttft_ms" in self.buckets:
                m["first"] = Histogram("nv_inference_first_response_histogram_ms", "first",
                                       labels, registry=r, buckets=self.buckets["ttft_ms"])
            if k == "trtllm":
                m["req"] = Gauge("nv_trt_llm_request_metrics", "requests",
                                 ["model", "request_type", "version"], registry=r)
                m["kvb"] = Gauge("nv_trt_llm_kv_cache_block_metrics", "kv blocks",
                                 ["kv_cache_block_type", "model", "version"], registry=r)
        elif k == "trtllm-serve":
            labels = ["model_name", "engine_type"]
            m["success"] = Counter("trtllm_request_success", "ok",
                                   [*labels, "finished_reason"], registry=r)
            m["error"] = Counter("trtllm_request_error", "errors", [*labels, "http_code"],
                                 registry=r)
            m["prompt"] = Counter("trtllm_prompt_tokens", "prompt", labels, registry=r)
            m["kv"] = Gauge("trtllm_kv_cache_utilization", "kv", labels, registry=r)
            m["running"] = Gauge("trtllm_num_active_requests", "active", labels, registry=r)
            m["waiting"] = Gauge("trtllm_server_queue_length", "queued", labels, registry=r)
            m["e2e"] = Histogram("trtllm_e2e_request_latency_seconds", "e2e", labels,
                                 registry=r, buckets=self._b("e2e", VLLM_E2E))
            m["ttft"] = Histogram("trtllm_time_to_first_token_seconds", "ttft", labels,
                                  registry=r, buckets=self._b("ttft", VLLM_TTFT))
            m["itl"] = Histogram("trtllm_time_per_output_token_seconds", "tpot", labels,
                                 registry=r, buckets=self._b("itl", VLLM_ITL))
            m["queue"] = Histogram("trtllm_request_queue_time_seconds", "queue", labels,
                                   registry=r, buckets=self._b("queue", VLLM_E2E))

    def _lv(self, engine: int = 0) -> list[str]:
        k = self.kind
        if k == "vllm":
            return [self.model, str(engine)]
        if k in ("vllm0", "nim", "sglang"):
            return [self.model]
        if k == "trtllm-serve":
            return [self.model, "trtllm"]
        return []

    # ------------------------------------------------------------------ driving it

    def request(self, t: float, e2e: float, *, ttft: float = 0.05, itl: float = 0.02,
                queue: float = 0.01, prompt: int = 100, generated: int = 50,
                outcome: str = "ok", engine: int = 0) -> None:
        """One finished request (`outcome`: ok, error or abort), recorded at time `t`. The
        truth counts it the way the server does (TGI does not count a cancelled request)."""
        m, k, lv = self.m, self.kind, self._lv(engine)
        tr = self.truth
        if k == "tgi" and outcome == "abort":
            return
        tr.finished += 1
        tr.errors += outcome == "error"
        tr.aborted += outcome == "abort"
        counted_tokens = True
        if k in ("vllm", "vllm0", "nim"):
            reason = {"ok": "stop", "error": "error", "abort": "abort"}[outcome]
            m["success"].labels(*lv, reason).inc()
            m["prompt"].labels(*lv).inc(prompt)
            m["gen"].labels(*lv).inc(generated)
            m["e2e"].labels(*lv).observe(e2e)
            m["ttft"].labels(*lv).observe(ttft)
            m["tpot"].labels(*lv).observe(itl)
            if "itl" in m:
                m["itl"].labels(*lv).observe(itl)
                m["queue"].labels(*lv).observe(queue)
        elif k == "sglang":
            m["requests"].labels(*lv).inc()
            if outcome == "abort":
                m["aborted"].labels(*lv).inc()
            m["prompt"].labels(*lv).inc(prompt)
            m["gen"].labels(*lv).inc(generated)
            m["e2e"].labels(*lv).observe(e2e)
            m["ttft"].labels(*lv).observe(ttft)
            m["itl"].labels(*lv).observe(itl)
            m["queue"].labels(*lv).observe(queue)
        elif k == "tgi":
            m["input"].observe(prompt)
            m["queue"].observe(queue)
            if outcome == "ok":
                m["success"].inc()
                m["e2e"].observe(e2e)
                m["itl"].observe(itl)
                m["generated"].observe(generated)
            else:  # TGI records a failure and no latency
                m["failure"].labels("generation").inc()
                counted_tokens = False
        elif k in ("triton", "trtllm"):
            models = (["ensemble", "preprocessing", "tensorrt_llm", "postprocessing"]
                      if k == "trtllm" else ["llm"])
            for model in models:
                if outcome == "ok":
                    m["success"].labels(model, "1").inc()
                    m["count"].labels(model, "1").inc()
                    m["exec"].labels(model, "1").inc()
                    m["duration"].labels(model, "1").inc(e2e * 1e6)
                    m["queue_us"].labels(model, "1").inc(queue * 1e6)
                    if "first" in m:
                        m["first"].labels(model, "1").observe(ttft * 1e3)
                else:
                    reason = "CANCELED" if outcome == "abort" else "BACKEND"
                    m["failure"].labels(model, "1", reason).inc()
            counted_tokens = False
        elif k == "trtllm-serve":
            if outcome == "error":
                m["error"].labels(*lv, "500").inc()
            else:
                reason = "cancelled" if outcome == "abort" else "stop"
                m["success"].labels(*lv, reason).inc()
                m["prompt"].labels(*lv).inc(prompt)
                m["e2e"].labels(*lv).observe(e2e)
                m["ttft"].labels(*lv).observe(ttft)
                m["itl"].labels(*lv).observe(itl)
                m["queue"].labels(*lv).observe(queue)
        if counted_tokens:
            tr.prompt += prompt
            tr.generated += generated
        # Which requests the server's latency figures include.
        if k in ("tgi", "triton", "trtllm"):
            recorded = outcome == "ok"
        else:
            recorded = k != "trtllm-serve" or outcome != "error"
        if recorded:
            tr.e2e.append((t, e2e))
            tr.ttft.append((t, ttft))

    def load(self, running: float, waiting: float, kv: float, engine: int = 0) -> None:
        """Set the gauges: requests running and waiting, KV cache used (0..1)."""
        m, k, lv = self.m, self.kind, self._lv(engine)
        if k in ("vllm", "vllm0", "nim", "sglang", "trtllm-serve"):
            m["running"].labels(*lv).set(running)
            m["waiting"].labels(*lv).set(waiting)
            for key in ("kv", "kv_old"):
                if key in m:
                    m[key].labels(*lv).set(kv)
        elif k == "tgi":
            m["running"].set(running)
            m["waiting"].set(waiting)
        elif k in ("triton", "trtllm"):
            m["pending"].labels("tensorrt_llm" if k == "trtllm" else "llm", "1").set(waiting)
            if k == "trtllm":
                req = m["req"]
                for rtype, v in (("active", running), ("waiting", waiting), ("max", 512),
                                 ("scheduled", running), ("context", 1)):
                    req.labels("tensorrt_llm", rtype, "1").set(v)
                kvb = m["kvb"]
                for btype, v in (("max", 6000), ("used", round(6000 * kv)),
                                 ("free", 6000 - round(6000 * kv)), ("tokens_per", 64)):
                    kvb.labels(btype, "tensorrt_llm", "1").set(v)

    def restart(self) -> None:
        """Counters, histograms and gauges start again from zero (a restarted server)."""
        self.restarts += 1
        self._make()

    def page(self) -> str:
        text = generate_latest(self.registry).decode()
        if self.kind in ("tgi", "triton", "trtllm"):
            # These servers write counters without the _total suffix prometheus_client adds.
            text = re.sub(r"^(# (?:HELP|TYPE) )(tgi_|nv_inference_)(\w+)_total\b",
                          r"\1\2\3", text, flags=re.M)
            text = re.sub(r"^(tgi_|nv_inference_)(\w+)_total([{ ])", r"\1\2\3", text,
                          flags=re.M)
            text = re.sub(r"^.*_created[{ ].*\n", "", text, flags=re.M)
            text = re.sub(r"^# (?:HELP|TYPE) \w+_created .*\n", "", text, flags=re.M)
        return text


__all__ = ["KINDS", "RECOGNISED", "FakeServer", "Truth"]


def _one_two_five(limit: int) -> list[float]:
    out: list[float] = []
    exp = 0
    while True:
        for mant in (1, 2, 5):
            v = mant * 10 ** exp
            if v > limit:
                return out
            out.append(float(v))
        exp += 1


def vllm_page(engines: int = 1, seed: int = 0, requests: int = 200) -> str:
    """A real-size vLLM V1 page: every family its PrometheusStatLogger registers (token-count
    histograms, prefix cache, preemptions, ...) for `engines` engines, with `_created` lines
    and the Python process collectors. One engine is about 40 KB, four about 130 KB."""
    import random

    from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR

    rng = random.Random(seed)
    srv = FakeServer("vllm", engines=engines)
    r, labels = srv.registry, ["model_name", "engine"]
    for c in (GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR):
        r.register(c)
    extra_counters = ["num_preemptions", "prefix_cache_queries", "prefix_cache_hits",
                      "gpu_prefix_cache_queries", "gpu_prefix_cache_hits"]
    counters = [Counter("vllm:" + n, n, labels, registry=r) for n in extra_counters]
    token_hists = [
        Histogram("vllm:" + n, n, labels, registry=r, buckets=_one_two_five(32768))
        for n in ("request_prompt_tokens", "request_generation_tokens",
                  "request_max_num_generation_tokens", "request_params_max_tokens")
    ]
    token_hists.append(Histogram("vllm:iteration_tokens_total", "iter", labels, registry=r,
                                 buckets=[1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096,
                                          8192, 16384]))
    token_hists.append(Histogram("vllm:request_params_n", "n", labels, registry=r,
                                 buckets=[1, 2, 5, 10, 20]))
    time_hists = [
        Histogram("vllm:" + n, n, labels, registry=r, buckets=VLLM_E2E)
        for n in ("request_inference_time_seconds", "request_prefill_time_seconds",
                  "request_decode_time_seconds")
    ]
    time_hists.append(Histogram("vllm:time_per_prefill_token_request_seconds", "pp", labels,
                                registry=r, buckets=[0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                                     0.1, 0.2, 0.5, 1.0]))
    Gauge("vllm:cache_config_info", "cache config",
          ["block_size", "cache_dtype", "enable_prefix_caching", "engine", "gpu_memory_utilization",
           "num_gpu_blocks", "swap_space"], registry=r).labels(
        "16", "auto", "True", "0", "0.9", "27000", "4").set(1)
    for i in range(requests):
        e = i % engines
        lv = [srv.model, str(e)]
        srv.request(float(i), rng.lognormvariate(0.0, 0.6), ttft=rng.lognormvariate(-3, 0.5),
                    itl=rng.lognormvariate(-4, 0.3), queue=rng.lognormvariate(-3, 1.0),
                    prompt=rng.randrange(50, 2000), generated=rng.randrange(10, 800), engine=e)
        for c in counters:
            c.labels(*lv).inc(rng.randrange(0, 50))
        for h in token_hists:
            h.labels(*lv).observe(rng.randrange(1, 4000))
        for h in time_hists:
            h.labels(*lv).observe(rng.lognormvariate(-1, 1))
    for e in range(engines):
        srv.load(rng.randrange(0, 64), rng.randrange(0, 16), rng.random(), engine=e)
    return srv.page()
