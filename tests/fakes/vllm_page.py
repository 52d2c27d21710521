"""A vLLM-shaped /metrics page (vLLM cannot run here): prometheus_client with vLLM V1's names,
labels (model_name, engine) and histogram buckets (vllm/v1/metrics/loggers.py), fed requests
whose latencies come from a known list, so quantiles can be checked."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0,
                   60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
                5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
LABELS = ("model_name", "engine")


class VllmPage:
    def __init__(self, model: str = "meta-llama/Llama-3.1-8B-Instruct") -> None:
        self.registry = r = CollectorRegistry()
        self.labels = {"model_name": model, "engine": "0"}
        self.running = Gauge("vllm:num_requests_running", "Number of requests in model "
                             "execution batches.", LABELS, registry=r)
        self.waiting = Gauge("vllm:num_requests_waiting", "Number of requests waiting to be "
                             "processed.", LABELS, registry=r)
        self.kv = Gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent "
                        "usage.", LABELS, registry=r)
        self.gen = Counter("vllm:generation_tokens", "Number of generation tokens processed.",
                           LABELS, registry=r)
        self.prompt = Counter("vllm:prompt_tokens", "Number of prefill tokens processed.",
                              LABELS, registry=r)
        self.success = Counter("vllm:request_success", "Count of successfully processed "
                               "requests.", (*LABELS, "finished_reason"), registry=r)
        self.e2e = Histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request "
                             "latency in seconds.", LABELS, buckets=LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("vllm:time_to_first_token_seconds", "Histogram of time to first "
                              "token in seconds.", LABELS, buckets=TTFT_BUCKETS, registry=r)
        self.server: ThreadingHTTPServer | None = None

    def serve(self, host: str) -> int:
        """Serve /metrics on (host, a free port) in the classic text format; returns the port.

        The text format, whatever the scraper asks for: prometheus_client 0.26 answers an
        OpenMetrics request (as Prometheus sends) with `vllm_...` sample names, colons replaced;
        the `vllm:` names here are what dashboards and vLLM's own docs use."""
        registry = self.registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = generate_latest(registry)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer((host, 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return int(self.server.server_address[1])

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def requests(self, latencies: list[float], tokens_each: int = 100, reason: str = "stop"
                 ) -> None:
        """Finish one request per latency."""
        for latency in latencies:
            self.e2e.labels(**self.labels).observe(latency)
            self.ttft.labels(**self.labels).observe(latency / 10)
            self.gen.labels(**self.labels).inc(tokens_each)
            self.prompt.labels(**self.labels).inc(tokens_each // 2)
            self.success.labels(**self.labels, finished_reason=reason).inc()

    def set_load(self, running: int, waiting: int, kv: float) -> None:
        self.running.labels(**self.labels).set(running)
        self.waiting.labels(**self.labels).set(waiting)
        self.kv.labels(**self.labels).set(kv)
