"""Which metric names each inference server exports: one name table per server kind.

Each table names, for the figures a ServiceSample carries, the sample names (as written on the
server's /metrics page) to read them from, and the source file the names were taken from.
A field lists alternatives (newer names first); the first alternative with any of its samples
on the page is used. A ``Sel`` reads the sum over the matching label sets (``where`` narrows
them: ``("finished_reason", "error")``, or ``("reason", "!CANCELED")`` for "not"), or their
maximum with ``agg="max"`` (a ratio such as KV-cache usage is not summed over engines).
``Hist`` reads a Prometheus histogram (``_bucket``/``_sum``/``_count``); ``Avg`` builds an
averages-only histogram from a cumulative time counter and a count.

To add a server kind: write one ``KindTable`` below and add it to ``KINDS`` (the order is the
order in which pages are tried, most specific first). docs/architecture.md says more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Sel:
    """Samples called `name` whose labels match `where`, summed (or their max), times `scale`."""

    name: str
    where: tuple[tuple[str, str], ...] = ()
    scale: float = 1.0
    agg: str = "sum"  # "sum" or "max"


@dataclass(frozen=True, slots=True)
class Ratio:
    """One selection divided by another (e.g. used / max KV-cache blocks)."""

    num: Sel
    den: Sel


Term = Sel | Ratio
Alternative = tuple[Term, ...]  # terms added together


@dataclass(frozen=True, slots=True)
class Hist:
    """A Prometheus histogram called `base` (scale converts its unit to seconds)."""

    base: str
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class Avg:
    """Averages only: a cumulative time counter over a count of what it timed."""

    total: Sel
    count: tuple[Sel, ...]


Latency = Hist | Avg


@dataclass(frozen=True, slots=True)
class KindTable:
    """Where one server kind keeps each figure."""

    kind: str
    title: str  # for people: "vLLM", "Triton"
    source: str  # the file of the server's own code or docs the names come from
    markers: tuple[str, ...]  # sample names that identify the kind
    all_markers: bool = False  # True: every marker must be on the page (generic names)
    hints: tuple[str, ...] = ()  # words in a command line that suggest this server
    model_labels: tuple[str, ...] = ("model_name",)
    running: tuple[Alternative, ...] = ()
    waiting: tuple[Alternative, ...] = ()
    kv_cache: tuple[Alternative, ...] = ()
    prompt_tokens: tuple[Alternative, ...] = ()
    generation_tokens: tuple[Alternative, ...] = ()
    finished: tuple[Alternative, ...] = ()
    errors: tuple[Alternative, ...] = ()
    aborted: tuple[Alternative, ...] = ()
    e2e: tuple[Latency, ...] = ()
    ttft: tuple[Latency, ...] = ()
    itl: tuple[Latency, ...] = ()
    queue: tuple[Latency, ...] = ()
    # Count only the label sets whose `restrict[0]` label has a value seen on `restrict[1]`,
    # for samples whose name starts with `restrict[2]` (TRT-LLM in Triton: the request
    # counters of the TensorRT-LLM model, not of every model of its ensemble).
    restrict: tuple[str, str, str] | None = None
    names: frozenset[str] = field(default=frozenset(), compare=False)


def one(*sels: Term) -> Alternative:
    return tuple(sels)


def _vllm_style(prefix: str) -> dict[str, object]:
    """The fields vLLM names (V1 first, then V0), with a name prefix: "vllm:" or "" (NIM)."""
    p = prefix
    return dict(
        model_labels=("model_name",),
        running=(one(Sel(p + "num_requests_running")),),
        waiting=(one(Sel(p + "num_requests_waiting")),),
        kv_cache=(
            one(Sel(p + "kv_cache_usage_perc", agg="max")),
            one(Sel(p + "gpu_cache_usage_perc", agg="max")),  # V0, deprecated in V1
        ),
        prompt_tokens=(one(Sel(p + "prompt_tokens_total")),),
        generation_tokens=(one(Sel(p + "generation_tokens_total")),),
        finished=(one(Sel(p + "request_success_total")),),  # every finished_reason
        errors=(one(Sel(p + "request_success_total", (("finished_reason", "error"),))),),
        aborted=(one(Sel(p + "request_success_total", (("finished_reason", "abort"),))),),
        e2e=(Hist(p + "e2e_request_latency_seconds"),),
        ttft=(Hist(p + "time_to_first_token_seconds"),),
        itl=(Hist(p + "inter_token_latency_seconds"), Hist(p + "time_per_output_token_seconds")),
        queue=(Hist(p + "request_queue_time_seconds"),),
    )


# vLLM V1: vllm/v1/metrics/loggers.py (PrometheusStatLogger); V0: vllm/engine/metrics.py.
# Labels model_name and (V1) engine; request_success_total{finished_reason} is one of
# stop, length, abort, error, repetition (vllm/v1/engine/__init__.py FINISH_REASON_STRINGS).
VLLM = KindTable(
    kind="vllm",
    title="vLLM",
    source="vllm/v1/metrics/loggers.py, vllm/engine/metrics.py",
    markers=("vllm:num_requests_running", "vllm:generation_tokens_total",
             "vllm:e2e_request_latency_seconds_count"),
    hints=("vllm",),
    **_vllm_style("vllm:"),  # type: ignore[arg-type]
)

# SGLang: python/sglang/srt/metrics/collector.py (SchedulerMetricsCollector gauges,
# TokenizerMetricsCollector counters and histograms; needs --enable-metrics). Its
# inter-token histogram counts tokens, not requests.
SGLANG = KindTable(
    kind="sglang",
    title="SGLang",
    source="python/sglang/srt/metrics/collector.py",
    markers=("sglang:num_running_reqs", "sglang:generation_tokens_total",
             "sglang:e2e_request_latency_seconds_count"),
    hints=("sglang",),
    running=(one(Sel("sglang:num_running_reqs")),),
    waiting=(one(Sel("sglang:num_queue_reqs")),),
    kv_cache=(one(Sel("sglang:token_usage", agg="max")),),
    prompt_tokens=(one(Sel("sglang:prompt_tokens_total")),),
    generation_tokens=(one(Sel("sglang:generation_tokens_total")),),
    finished=(one(Sel("sglang:num_requests_total")),),
    aborted=(one(Sel("sglang:num_aborted_requests_total")),),
    e2e=(Hist("sglang:e2e_request_latency_seconds"),),
    ttft=(Hist("sglang:time_to_first_token_seconds"),),
    itl=(Hist("sglang:inter_token_latency_seconds"),
         Hist("sglang:time_per_output_token_seconds")),
    queue=(Hist("sglang:queue_time_seconds"),),
)

# TGI: router/src/server.rs (histogram buckets: 35 durations from 0.00015 s, x1.5 each) and
# router/src/infer (counters). Exported through the Rust `metrics` crate, so its counters
# carry no _total suffix; the _total spellings are accepted too. No time-to-first-token
# histogram and no model label.
TGI = KindTable(
    kind="tgi",
    title="TGI",
    source="router/src/server.rs",
    markers=("tgi_queue_size", "tgi_request_duration_count", "tgi_batch_current_size"),
    hints=("text-generation-router", "text-generation-launcher", "text-generation-server"),
    model_labels=(),
    running=(one(Sel("tgi_batch_current_size")),),
    waiting=(one(Sel("tgi_queue_size")),),
    prompt_tokens=(one(Sel("tgi_request_input_length_sum")),),
    generation_tokens=(one(Sel("tgi_request_generated_tokens_sum")),),
    finished=(
        one(Sel("tgi_request_success"), Sel("tgi_request_failure")),
        one(Sel("tgi_request_success_total"), Sel("tgi_request_failure_total")),
    ),
    errors=(one(Sel("tgi_request_failure")), one(Sel("tgi_request_failure_total"))),
    e2e=(Hist("tgi_request_duration"),),
    itl=(Hist("tgi_request_mean_time_per_token_duration"),),
    queue=(Hist("tgi_request_queue_duration"),),
)

_TRITON_FINISHED = (
    one(Sel("nv_inference_request_success"), Sel("nv_inference_request_failure")),
)
_TRITON_ERRORS = (one(Sel("nv_inference_request_failure", (("reason", "!CANCELED"),))),)
_TRITON_ABORTED = (one(Sel("nv_inference_request_failure", (("reason", "CANCELED"),))),)
# Latency counters in microseconds, accumulated over successful requests.
_TRITON_E2E = (
    Avg(Sel("nv_inference_request_duration_us", scale=1e-6),
        (Sel("nv_inference_request_success"),)),
)
_TRITON_QUEUE = (
    Avg(Sel("nv_inference_queue_duration_us", scale=1e-6),
        (Sel("nv_inference_request_success"),)),
)
# Only with --metrics-config histogram_latencies=true: time to the first response, in ms.
_TRITON_TTFT = (Hist("nv_inference_first_response_histogram_ms", scale=1e-3),)

# TensorRT-LLM in Triton: tensorrtllm_backend (inflight_batcher_llm custom metrics:
# nv_trt_llm_request_metrics{request_type=active|waiting|scheduled|context|max},
# nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=used|free|max|tokens_per|fraction}),
# plus Triton's own request counters of the same model (docs/user_guide/metrics.md) and the
# ensemble's token-length histograms when present.
TRTLLM = KindTable(
    kind="trtllm",
    title="TensorRT-LLM (Triton)",
    source="tensorrtllm_backend inflight_batcher_llm metrics; docs/user_guide/metrics.md",
    markers=("nv_trt_llm_request_metrics", "nv_trt_llm_kv_cache_block_metrics"),
    hints=("tritonserver",),
    model_labels=("model",),
    running=(one(Sel("nv_trt_llm_request_metrics", (("request_type", "active"),))),),
    waiting=(
        one(Sel("nv_trt_llm_request_metrics", (("request_type", "waiting"),))),
        one(Sel("nv_inference_pending_request_count")),
    ),
    kv_cache=(
        one(Sel("nv_trt_llm_kv_cache_block_metrics", (("kv_cache_block_type", "fraction"),),
                agg="max")),
        one(Ratio(Sel("nv_trt_llm_kv_cache_block_metrics", (("kv_cache_block_type", "used"),)),
                  Sel("nv_trt_llm_kv_cache_block_metrics", (("kv_cache_block_type", "max"),)))),
    ),
    prompt_tokens=(one(Sel("nv_llm_input_token_len_sum")),),
    generation_tokens=(one(Sel("nv_llm_output_token_len_sum")),),
    finished=_TRITON_FINISHED,
    errors=_TRITON_ERRORS,
    aborted=_TRITON_ABORTED,
    e2e=_TRITON_E2E,
    ttft=_TRITON_TTFT,
    queue=_TRITON_QUEUE,
    restrict=("model", "nv_trt_llm_request_metrics", "nv_inference_"),
)

# Triton Inference Server: docs/user_guide/metrics.md. Averages only by default; the request
# counters are per model (an ensemble counts a request once per model it passes through).
TRITON = KindTable(
    kind="triton",
    title="Triton",
    source="docs/user_guide/metrics.md (triton-inference-server/server)",
    markers=("nv_inference_request_success", "nv_inference_count"),
    hints=("tritonserver",),
    model_labels=("model",),
    waiting=(one(Sel("nv_inference_pending_request_count")),),
    finished=_TRITON_FINISHED,
    errors=_TRITON_ERRORS,
    aborted=_TRITON_ABORTED,
    e2e=_TRITON_E2E,
    ttft=_TRITON_TTFT,
    queue=_TRITON_QUEUE,
)

# trtllm-serve: tensorrt_llm/metrics/collector.py (MetricsCollector, prefix trtllm_). Older
# releases named the gauges trtllm_num_requests_running / _waiting. No generation-token
# counter. Errors are counted by HTTP status apart from the finished requests.
TRTLLM_SERVE = KindTable(
    kind="trtllm-serve",
    title="trtllm-serve",
    source="tensorrt_llm/metrics/collector.py",
    markers=("trtllm_request_success_total", "trtllm_e2e_request_latency_seconds_count",
             "trtllm_kv_cache_utilization", "trtllm_num_active_requests"),
    hints=("trtllm-serve",),
    running=(one(Sel("trtllm_num_active_requests")), one(Sel("trtllm_num_requests_running"))),
    waiting=(one(Sel("trtllm_server_queue_length")), one(Sel("trtllm_num_requests_waiting"))),
    kv_cache=(one(Sel("trtllm_kv_cache_utilization", agg="max")),),
    prompt_tokens=(one(Sel("trtllm_prompt_tokens_total")),),
    finished=(one(Sel("trtllm_request_success_total"), Sel("trtllm_request_error_total")),),
    errors=(one(Sel("trtllm_request_error_total")),),
    aborted=(one(Sel("trtllm_request_success_total", (("finished_reason", "cancelled"),))),),
    e2e=(Hist("trtllm_e2e_request_latency_seconds"),),
    ttft=(Hist("trtllm_time_to_first_token_seconds"),),
    itl=(Hist("trtllm_time_per_output_token_seconds"),),
    queue=(Hist("trtllm_request_queue_time_seconds"),),
)

# NVIDIA NIM for LLMs: the vLLM names without the "vllm:" prefix, served at /v1/metrics
# (docs.nvidia.com/nim/large-language-models/latest/observability.html).
NIM = KindTable(
    kind="nim",
    title="NIM",
    source="docs.nvidia.com/nim/large-language-models/latest/observability.html",
    markers=("num_requests_running", "num_requests_waiting", "generation_tokens_total"),
    all_markers=True,
    hints=("nim", "nvidia-nim"),
    **_vllm_style(""),  # type: ignore[arg-type]
)

# llama.cpp's llama-server with --metrics: tools/server/server.cpp (to_metrics in
# server-task.cpp in newer trees). Counters only, no histograms, no request counters, no
# model label: the generation time counter over the generated tokens gives the mean time per
# output token.
LLAMACPP = KindTable(
    kind="llamacpp",
    title="llama.cpp",
    source="tools/server/server.cpp (server-task.cpp to_metrics)",
    markers=("llamacpp:requests_processing", "llamacpp:tokens_predicted_total"),
    hints=("llama-server", "llama.cpp", "llama_cpp"),
    model_labels=(),
    running=(one(Sel("llamacpp:requests_processing")),),
    waiting=(one(Sel("llamacpp:requests_deferred")),),
    kv_cache=(one(Sel("llamacpp:kv_cache_usage_ratio", agg="max")),),
    prompt_tokens=(one(Sel("llamacpp:prompt_tokens_total")),),
    generation_tokens=(one(Sel("llamacpp:tokens_predicted_total")),),
    itl=(Avg(Sel("llamacpp:tokens_predicted_seconds_total"),
             (Sel("llamacpp:tokens_predicted_total"),)),),
)

# Tried in this order: the more specific tables first.
KINDS: tuple[KindTable, ...] = (VLLM, SGLANG, TGI, TRTLLM, TRITON, TRTLLM_SERVE, NIM, LLAMACPP)
BY_KIND: dict[str, KindTable] = {k.kind: k for k in KINDS}


def _sample_names(table: KindTable) -> frozenset[str]:
    """Every sample name `table` reads."""
    out: set[str] = set(table.markers)
    for alts in (table.running, table.waiting, table.kv_cache, table.prompt_tokens,
                 table.generation_tokens, table.finished, table.errors, table.aborted):
        for alt in alts:
            for term in alt:
                sels = (term.num, term.den) if isinstance(term, Ratio) else (term,)
                out.update(s.name for s in sels)
    for lat in (*table.e2e, *table.ttft, *table.itl, *table.queue):
        if isinstance(lat, Hist):
            out.update((lat.base + "_bucket", lat.base + "_sum", lat.base + "_count"))
        else:
            out.add(lat.total.name)
            out.update(s.name for s in lat.count)
    if table.restrict:
        out.add(table.restrict[1])
    return frozenset(out)


for _t in KINDS:
    object.__setattr__(_t, "names", _sample_names(_t))
MARKERS: frozenset[str] = frozenset(m for t in KINDS for m in t.markers)
ALL_NAMES: frozenset[str] = frozenset(n for t in KINDS for n in t.names)


def recognise(present: set[str] | frozenset[str]) -> KindTable | None:
    """The first table whose markers are on a page holding the samples `present`."""
    for table in KINDS:
        hits = [m in present for m in table.markers]
        if all(hits) if table.all_markers else any(hits):
            return table
    return None


def _program_names(cmdline: str) -> list[str]:
    """What a command line runs: the executable's name and, for an interpreter, the module
    (``-m``) or script it runs. Arguments and paths elsewhere on the line do not count."""
    args = cmdline.split()
    if not args:
        return []
    exe = args[0].rsplit("/", 1)[-1].lower()
    out = [exe]
    if exe.startswith(("python", "pypy")) or exe in ("uv", "uvx", "torchrun"):
        rest = args[1:]
        for i, arg in enumerate(rest):
            if arg == "-m" and i + 1 < len(rest):
                out.append(rest[i + 1].lower())
                break
            if not arg.startswith("-"):
                out.append(arg.rsplit("/", 1)[-1].lower())
                break
    return out


def hinted_kind(cmdline: str) -> str | None:
    """The kind a command line suggests (a table's hint word in the program it runs)."""
    names = _program_names(cmdline)
    for table in KINDS:
        for h in table.hints:
            pattern = rf"(?<![a-z0-9]){re.escape(h)}(?![a-z0-9])"
            if any(re.search(pattern, n) for n in names):
                return table.kind
    return None


__all__ = ["BY_KIND", "KINDS", "Avg", "Hist", "KindTable", "Ratio", "Sel", "hinted_kind",
           "recognise"]
