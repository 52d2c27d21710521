"""Mapping tables: which Prometheus series give which figure, one table per exporter kind.

A table row (``Entry``) names a canonical key (``gpu.util_pct``, ``mem.total``,
``rate.disk_read_bytes``...; see ``KEYS``), its scope (one value per node, per GPU, per core,
per process, per process and GPU) and either a gauge to read as it is (``metric`` x ``scale``,
batched with the other gauges of its kind and scope into one ``__name__=~`` query) or a PromQL
expression (batched with ``or``). Expressions are templates: ``{S}`` the target selector
(``job=~"..."`` and, for details, the nodes on screen), ``{N}`` the label(s) a node is grouped
by (``instance`` by default), ``{W}`` the rate window. Rates are computed by Prometheus
(``irate``), aggregates by ``sum``/``max by`` on the server: only one series per node, GPU or
process comes back.

``tier`` says when a row is queried: "fleet" rows every refresh for every node (what the
cluster and all-GPUs tables show and the alert rules read), "static" rows (totals, link
speeds, boot time) with the infos every 30 s, "detail" rows each refresh but only for the nodes
whose screens are open (or every node while the fleet is small). A figure no row gives stays
None (N/A).

Kinds are tried in order (ours, then dcgm-exporter, then node_exporter): for one node and key
the first kind with a value wins. README.md ("The cluster view from Prometheus") prints these
tables; a unit test holds the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoglm_tui.exporter.names import GPU_HEALTH as GPU_HEALTH_NAMES

SCOPES = {  # scope -> labels a value is keyed by, besides the node
    "node": (),
    "gpu": ("gpu",),
    "core": ("core",),
    "proc": ("pid",),
    "proc_gpu": ("pid", "gpu"),
}


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    scope: str = "node"
    metric: str | None = None  # a gauge, read as is (max by node and scope labels)
    expr: str | None = None  # or a PromQL expression giving one value per node/scope
    scale: float = 1.0
    tier: str = "fleet"

    def source(self) -> str:
        """What the README shows for this row."""
        if self.metric is not None:
            return self.metric if self.scale == 1.0 else f"{self.metric} × {self.scale:g}"
        return self.expr or ""


@dataclass(frozen=True, slots=True)
class Info:
    """A query whose result labels (not values) describe a node or its GPUs."""

    key: str  # "node", "gpu", "nvml", "os", "cores", "processes", "gpu_state"
    expr: str
    scope: str = "node"
    tier: str = "fleet"


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    title: str
    probe: str  # a metric only this kind exports: a target exposing it is of this kind
    entries: tuple[Entry, ...]
    infos: tuple[Info, ...] = ()


def _rate(metric: str, extra: str = "") -> str:
    sel = "{S}" + (f",{extra}" if extra else "")
    return f"sum by ({{N}}) (irate({metric}{{{{{sel}}}}}[{{W}}]))"


# ---------------------------------------------------------------- ours (autoglm-tui exporter)
# Its inference services travel raw (exporter/service_families.py): per node the rows below
# take rates and sums over its services, and the worst service's quantile, error rate and KV
# cache, as the monitor does over a node's services; the services themselves (node.services)
# come from the raw series of the nodes on screen (services.py).


# The raw service series services.py reads for the nodes whose details are read (it files
# the names exporter/names.py lists and skips the rest, such as the histograms' _count).
SERVICE_SELECTOR = '{{__name__=~"autoglm_service_.+",{S}}}'


def _svc_rate(counter: str) -> str:
    return f"sum by ({{N}}) (rate(autoglm_service_{counter}{{{{{{S}}}}}}[{{L}}]))"


def _svc_worst(inner: str) -> str:
    """The worst service of a node: `inner` is per (node, service)."""
    return f"max by ({{N}}) ({inner})"


def _svc_quantile(q: float, hist: str) -> str:
    return _svc_worst(f"histogram_quantile({q:g}, sum by ({{N}}, service, le) (rate("
                      f"autoglm_service_{hist}_bucket{{{{{{S}}}}}}[{{L}}])))")


def _svc_mean(hist: str) -> str:
    per = "sum by ({N}, service) (rate(autoglm_service_%s_%s{{{S}}}[{L}]))"
    return _svc_worst(f"{per % (hist, 'sum')} / {per % (hist, 'count')}")


_SVC_ERRORS = ("100 * sum by ({N}, service) (rate(autoglm_service_requests_errors_total"
               "{{{S}}}[{L}])) / sum by ({N}, service) (rate(autoglm_service_requests_"
               "finished_total{{{S}}}[{L}]))")


AUTOGLM = Kind(
    name="autoglm",
    title="autoglm-tui exporter",
    probe="autoglm_node_info",
    entries=(
        Entry("cpu.util_pct", metric="autoglm_cpu_utilization_ratio", scale=100),
        Entry("cpu.iowait_pct", metric="autoglm_cpu_iowait_ratio", scale=100),
        Entry("load.1", metric="autoglm_load1"),
        Entry("load.5", metric="autoglm_load5", tier="detail"),
        Entry("load.15", metric="autoglm_load15", tier="detail"),
        Entry("mem.total", metric="autoglm_memory_total_bytes", tier="static"),
        Entry("mem.used", metric="autoglm_memory_used_bytes"),
        Entry("mem.available", metric="autoglm_memory_available_bytes"),
        Entry("swap.total", metric="autoglm_swap_total_bytes", tier="static"),
        Entry("swap.used", metric="autoglm_swap_used_bytes"),
        Entry("net.speed_bytes", metric="autoglm_network_speed_bytes", tier="static"),
        Entry("sample.time", metric="autoglm_sample_timestamp_seconds"),
        Entry("sample.interval", metric="autoglm_sample_interval_seconds", tier="static"),
        Entry("cpu.cores", metric="autoglm_cpu_cores", tier="static"),
        Entry("boot.time", metric="autoglm_boot_time_seconds", tier="static"),
        Entry("self.cpu_s", metric="autoglm_sampler_cpu_seconds_total"),
        Entry("self.rss", metric="autoglm_sampler_resident_memory_bytes"),
        Entry("rate.disk_read_bytes", expr=_rate("autoglm_disk_read_bytes_total")),
        Entry("rate.disk_write_bytes", expr=_rate("autoglm_disk_written_bytes_total")),
        Entry("rate.disk_reads", expr=_rate("autoglm_disk_reads_completed_total")),
        Entry("rate.disk_writes", expr=_rate("autoglm_disk_writes_completed_total")),
        Entry("rate.disk_read_time_s", expr=_rate("autoglm_disk_read_time_seconds_total")),
        Entry("rate.disk_write_time_s", expr=_rate("autoglm_disk_write_time_seconds_total")),
        Entry("rate.net_rx_bytes", expr=_rate("autoglm_network_receive_bytes_total")),
        Entry("rate.net_tx_bytes", expr=_rate("autoglm_network_transmit_bytes_total")),
        Entry("gpu.util_pct", "gpu", metric="autoglm_gpu_utilization_ratio", scale=100),
        Entry("gpu.mem_used", "gpu", metric="autoglm_gpu_memory_used_bytes"),
        Entry("gpu.mem_total", "gpu", metric="autoglm_gpu_memory_total_bytes",
              tier="static"),
        Entry("gpu.temp_c", "gpu", metric="autoglm_gpu_temperature_celsius"),
        Entry("gpu.power_w", "gpu", metric="autoglm_gpu_power_watts"),
        Entry("gpu.mem_util_pct", "gpu", metric="autoglm_gpu_memory_utilization_ratio",
              scale=100, tier="detail"),
        Entry("gpu.power_limit_w", "gpu", metric="autoglm_gpu_power_limit_watts",
              tier="detail"),
        Entry("gpu.fan_pct", "gpu", metric="autoglm_gpu_fan_ratio", scale=100, tier="detail"),
        Entry("gpu.sm_clock_mhz", "gpu", metric="autoglm_gpu_sm_clock_hertz", scale=1e-6,
              tier="detail"),
        Entry("gpu.pcie_rx_bps", "gpu", metric="autoglm_gpu_pcie_receive_bytes_per_second",
              tier="detail"),
        Entry("gpu.pcie_tx_bps", "gpu", metric="autoglm_gpu_pcie_transmit_bytes_per_second",
              tier="detail"),
        Entry("gpu.ecc", "gpu", metric="autoglm_gpu_ecc_errors_total", tier="detail"),
        Entry("gpu.xid", "gpu", metric="autoglm_gpu_last_xid", tier="detail"),
        *(Entry(f"health.{f.attr}", "gpu", metric=f.name, scale=1 / f.scale, tier="detail")
          for f in GPU_HEALTH_NAMES),
        Entry("core.util_pct", "core", metric="autoglm_cpu_core_utilization_ratio", scale=100,
              tier="detail"),
        Entry("proc.cpu_pct", "proc", metric="autoglm_process_cpu_utilization_ratio",
              scale=100, tier="detail"),
        Entry("proc.rss", "proc", metric="autoglm_process_resident_memory_bytes",
              tier="detail"),
        Entry("proc.start", "proc", metric="autoglm_process_start_time_seconds",
              tier="detail"),
        Entry("proc.threads", "proc", metric="autoglm_process_threads", tier="detail"),
        Entry("pgpu.mem", "proc_gpu", metric="autoglm_process_gpu_memory_bytes",
              tier="detail"),
        Entry("pgpu.sm_pct", "proc_gpu", metric="autoglm_process_gpu_sm_utilization_ratio",
              scale=100, tier="detail"),
        Entry("svc.up", expr="min by ({N}) (autoglm_service_up{{{S}}})"),
        Entry("svc.tokens_per_s", expr=_svc_rate("generation_tokens_total")),
        Entry("svc.prompt_tokens_per_s", expr=_svc_rate("prompt_tokens_total")),
        Entry("svc.requests_per_s", expr=_svc_rate("requests_finished_total")),
        Entry("svc.requests_running",
              expr="sum by ({N}) (autoglm_service_requests_running{{{S}}})"),
        Entry("svc.queue_len", expr="sum by ({N}) (autoglm_service_requests_waiting{{{S}}})"),
        Entry("svc.kv_cache_pct",
              expr="100 * max by ({N}) (autoglm_service_kv_cache_usage_ratio{{{S}}})"),
        Entry("svc.error_rate", expr=_svc_worst(_SVC_ERRORS)),
        Entry("svc.latency_p50_s", expr=_svc_quantile(0.5, "e2e_latency_seconds")),
        Entry("svc.latency_p95_s", expr=_svc_quantile(0.95, "e2e_latency_seconds")),
        Entry("svc.latency_p99_s", expr=_svc_quantile(0.99, "e2e_latency_seconds")),
        Entry("svc.latency_avg_s", expr=_svc_mean("e2e_latency_seconds")),
        Entry("svc.ttft_p95_s", expr=_svc_quantile(0.95, "ttft_seconds")),
        Entry("svc.itl_p95_s", expr=_svc_quantile(0.95, "itl_seconds")),
        Entry("svc.itl_avg_s", expr=_svc_mean("itl_seconds")),
        Entry("svc.queue_time_p95_s", expr=_svc_quantile(0.95, "queue_time_seconds")),
        Entry("svc.queue_growth_per_min", expr="60 * max by ({N}) (deriv("
              "autoglm_service_requests_waiting{{{S}}}[{L}]))"),
    ),
    infos=(
        Info("node", "autoglm_node_info{{{S}}}"),
        Info("nvml", "autoglm_nvml_available{{{S}}}"),
        Info("gpu", "autoglm_gpu_info{{{S}}}", scope="gpu"),
        Info("gpu_state", "autoglm_gpu_state{{{S}}} == 1", scope="gpu"),
        Info("processes", "autoglm_process_info{{{S}}}", scope="proc", tier="detail"),
    ),
)

# ---------------------------------------------------------------- dcgm-exporter

_MIB = 1024 * 1024

DCGM = Kind(
    name="dcgm",
    title="dcgm-exporter",
    probe="DCGM_FI_DEV_GPU_UTIL",
    entries=(
        Entry("gpu.util_pct", "gpu", metric="DCGM_FI_DEV_GPU_UTIL"),
        Entry("gpu.mem_used", "gpu", metric="DCGM_FI_DEV_FB_USED", scale=_MIB),
        Entry("gpu.mem_free", "gpu", metric="DCGM_FI_DEV_FB_FREE", scale=_MIB),
        Entry("gpu.mem_reserved", "gpu", metric="DCGM_FI_DEV_FB_RESERVED", scale=_MIB,
              tier="static"),
        Entry("gpu.mem_total", "gpu", metric="DCGM_FI_DEV_FB_TOTAL", scale=_MIB,
              tier="static"),
        Entry("gpu.temp_c", "gpu", metric="DCGM_FI_DEV_GPU_TEMP"),
        Entry("gpu.power_w", "gpu", metric="DCGM_FI_DEV_POWER_USAGE"),
        Entry("gpu.mem_util_pct", "gpu", metric="DCGM_FI_DEV_MEM_COPY_UTIL", tier="detail"),
        Entry("gpu.sm_clock_mhz", "gpu", metric="DCGM_FI_DEV_SM_CLOCK", tier="detail"),
        Entry("gpu.xid", "gpu", metric="DCGM_FI_DEV_XID_ERRORS", tier="detail"),
        Entry("gpu.power_limit_w", "gpu", metric="DCGM_FI_DEV_POWER_MGMT_LIMIT",
              tier="detail"),
        Entry("gpu.fan_pct", "gpu", metric="DCGM_FI_DEV_FAN_SPEED", tier="detail"),
        Entry("gpu.ecc", "gpu", metric="DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", tier="detail"),
        Entry("gpu.pcie_rx_bps", "gpu", metric="DCGM_FI_PROF_PCIE_RX_BYTES", tier="detail"),
        Entry("gpu.pcie_tx_bps", "gpu", metric="DCGM_FI_PROF_PCIE_TX_BYTES", tier="detail"),
        Entry("health.pcie_replay", "gpu", metric="DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
              tier="detail"),
        Entry("health.remap_correctable", "gpu", metric="DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
              tier="detail"),
        Entry("health.remap_uncorrectable", "gpu",
              metric="DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", tier="detail"),
        Entry("health.remap_failed", "gpu", metric="DCGM_FI_DEV_ROW_REMAP_FAILURE",
              tier="detail"),
    ),
    infos=(
        Info("gpu", "max by ({N}, gpu, UUID, modelName, pci_bus_id, Hostname, "
             "DCGM_FI_DRIVER_VERSION) (DCGM_FI_DEV_GPU_UTIL{{{S}}})", scope="gpu"),
    ),
)

# ---------------------------------------------------------------- node_exporter

DISKS = 'device!~"dm-.*|md.*|loop.*|ram.*|zram.*|sr.*|fd.*"'
NICS = ('device!~"lo|veth.*|docker.*|br-.*|virbr.*|cali.*|flannel.*|cni.*|vxlan.*|tun.*|'
        'tap.*|kube-.*|weave.*"')
_CPU = "irate(node_cpu_seconds_total{{{S}%s}}[{W}])"
_IDLE = _CPU % ',mode=~"idle|iowait"'
_ALL = _CPU % ""
_IOWAIT = _CPU % ',mode="iowait"'

NODE_EXPORTER = Kind(
    name="node",
    title="node_exporter",
    probe="node_uname_info",
    entries=(
        Entry("cpu.util_pct", expr=f"100 * (1 - sum by ({{N}}) ({_IDLE}) / "
              f"sum by ({{N}}) ({_ALL}))"),
        Entry("cpu.iowait_pct", expr=f"100 * sum by ({{N}}) ({_IOWAIT}) / "
              f"sum by ({{N}}) ({_ALL})"),
        Entry("load.1", metric="node_load1"),
        Entry("load.5", metric="node_load5", tier="detail"),
        Entry("load.15", metric="node_load15", tier="detail"),
        Entry("mem.total", metric="node_memory_MemTotal_bytes", tier="static"),
        Entry("mem.available", metric="node_memory_MemAvailable_bytes"),
        Entry("swap.total", metric="node_memory_SwapTotal_bytes", tier="static"),
        Entry("swap.free", metric="node_memory_SwapFree_bytes"),
        Entry("boot.time", metric="node_boot_time_seconds", tier="static"),
        Entry("net.speed_bytes", tier="static", expr=f"sum by ({{N}}) (node_network_speed_"
              f"bytes{{{{{{S}},{NICS}}}}} > 0)"),
        Entry("rate.disk_read_bytes", expr=_rate("node_disk_read_bytes_total", DISKS)),
        Entry("rate.disk_write_bytes", expr=_rate("node_disk_written_bytes_total", DISKS)),
        Entry("rate.disk_reads", expr=_rate("node_disk_reads_completed_total", DISKS)),
        Entry("rate.disk_writes", expr=_rate("node_disk_writes_completed_total", DISKS)),
        Entry("rate.disk_read_time_s", expr=_rate("node_disk_read_time_seconds_total", DISKS)),
        Entry("rate.disk_write_time_s",
              expr=_rate("node_disk_write_time_seconds_total", DISKS)),
        Entry("rate.net_rx_bytes", expr=_rate("node_network_receive_bytes_total", NICS)),
        Entry("rate.net_tx_bytes", expr=_rate("node_network_transmit_bytes_total", NICS)),
        Entry("core.util_pct", "core", tier="detail", expr=(
            'label_replace(100 * (1 - sum by ({N}, cpu) (' + _IDLE + ') / sum by ({N}, cpu) ('
            + _ALL + ')), "core", "$1", "cpu", "(.*)")')),
    ),
    infos=(
        Info("uname", "node_uname_info{{{S}}}"),
        Info("os", "node_os_info{{{S}}}"),
        Info("cores", 'count by ({N}) (node_cpu_seconds_total{{{S},mode="idle"}})'),
    ),
)

# ---------------------------------------------------------------- inference servers
# Scraped by Prometheus itself (any job): per node, the sum over its servers of rates and
# queues, the worst quantile. ``{L}`` is the longer window quantiles and request rates need.


def _sel(metric: str, extra: str = "") -> str:
    """A selector template for `metric`. A name with a colon also matches the name with an
    underscore: prometheus_client 0.26 writes `vllm_x` for `vllm:x` when a scraper asks for
    OpenMetrics, as Prometheus does."""
    if ":" in metric:
        name = metric.replace(":", "[:_]")
        return f'{{{{__name__=~"{name}",{{S}}{extra}}}}}'
    return f"{metric}{{{{{{S}}{extra}}}}}"


def _q95(bucket: str) -> str:
    return f"histogram_quantile(0.95, sum by ({{N}}, le) (rate({_sel(bucket)}[{{L}}])))"


def _sum(metric: str, fn: str = "", extra: str = "") -> str:
    inner = _sel(metric, extra)
    if fn:
        inner = f"{fn}({inner}[{{L}}])"
    return f"sum by ({{N}}) ({inner})"




VLLM = Kind(
    name="vllm", title="vLLM", probe="vllm:num_requests_running", entries=(
        Entry("svc.tokens_per_s", expr=_sum("vllm:generation_tokens_total", "rate")),
        Entry("svc.requests_per_s", expr=_sum("vllm:request_success_total", "rate")),
        Entry("svc.latency_p95_s", expr=_q95("vllm:e2e_request_latency_seconds_bucket")),
        Entry("svc.ttft_p95_s", expr=_q95("vllm:time_to_first_token_seconds_bucket")),
        Entry("svc.requests_running", expr=_sum("vllm:num_requests_running")),
        Entry("svc.queue_len", expr=_sum("vllm:num_requests_waiting")),
        Entry("svc.kv_cache_pct", expr='100 * max by ({N}) ({{__name__=~"vllm[:_]kv_cache_usage_'
              'perc|vllm[:_]gpu_cache_usage_perc",{S}}})'),
        Entry("svc.error_rate", expr="100 * " + _sum("vllm:request_success_total", "rate",
                                                    ',finished_reason="abort"')
              + " / " + _sum("vllm:request_success_total", "rate")),
    ))
SGLANG = Kind(
    name="sglang", title="SGLang", probe="sglang:num_running_reqs", entries=(
        Entry("svc.tokens_per_s", expr=_sum("sglang:generation_tokens_total", "rate")),
        Entry("svc.latency_p95_s", expr=_q95("sglang:e2e_request_latency_seconds_bucket")),
        Entry("svc.ttft_p95_s", expr=_q95("sglang:time_to_first_token_seconds_bucket")),
        Entry("svc.requests_running", expr=_sum("sglang:num_running_reqs")),
        Entry("svc.queue_len", expr=_sum("sglang:num_queue_reqs")),
        Entry("svc.kv_cache_pct", expr=f"100 * max by ({{N}}) ({_sel('sglang:token_usage')})"),
    ))
TGI = Kind(
    name="tgi", title="TGI", probe="tgi_queue_size", entries=(
        Entry("svc.tokens_per_s", expr=_sum("tgi_request_generated_tokens_sum", "rate")),
        Entry("svc.requests_per_s", expr=_sum("tgi_request_success", "rate")),
        Entry("svc.latency_p95_s", expr=_q95("tgi_request_duration_bucket")),
        Entry("svc.requests_running", expr=_sum("tgi_batch_current_size")),
        Entry("svc.queue_len", expr=_sum("tgi_queue_size")),
        Entry("svc.error_rate", expr=f"100 * {_sum('tgi_request_failure', 'rate')} / "
              f"({_sum('tgi_request_success', 'rate')} + {_sum('tgi_request_failure', 'rate')})"),
    ))
LLAMACPP = Kind(
    name="llamacpp", title="llama.cpp", probe="llamacpp:requests_processing", entries=(
        Entry("svc.tokens_per_s", expr=_sum("llamacpp:tokens_predicted_total", "rate")),
        Entry("svc.requests_running", expr=_sum("llamacpp:requests_processing")),
        Entry("svc.queue_len", expr=_sum("llamacpp:requests_deferred")),
    ))

NODE_KINDS: tuple[Kind, ...] = (AUTOGLM, DCGM, NODE_EXPORTER)
SERVICE_KINDS: tuple[Kind, ...] = (VLLM, SGLANG, TGI, LLAMACPP)
KINDS: tuple[Kind, ...] = NODE_KINDS + SERVICE_KINDS
PROBES = "|".join(k.probe for k in NODE_KINDS)  # a target exporting one is a node target

# ---------------------------------------------------------------- documentation

FIGURES = {  # canonical key -> what it becomes in the state (README tables)
    "cpu.util_pct": "cpu.util_pct", "cpu.iowait_pct": "cpu.iowait_pct",
    "load.1": "load.1m", "load.5": "load (5m)", "load.15": "load (15m)",
    "mem.total": "memory total", "mem.used": "memory used (mem.used_pct)",
    "mem.available": "memory available (mem.used_pct)", "swap.total": "swap total",
    "swap.used": "swap used (swap.used_pct)", "swap.free": "swap free (swap.used_pct)",
    "net.speed_bytes": "link speed (net.util_pct)", "sample.time": "sample time (staleness)",
    "sample.interval": "sampling interval", "cpu.cores": "CPU cores",
    "boot.time": "boot time", "self.cpu_s": "sampler CPU", "self.rss": "sampler RSS",
    "rate.disk_read_bytes": "disk.read_bps", "rate.disk_write_bytes": "disk.write_bps",
    "rate.disk_reads": "disk.iops (+ writes)", "rate.disk_writes": "disk.iops (+ reads)",
    "rate.disk_read_time_s": "disk.await_ms", "rate.disk_write_time_s": "disk.await_ms",
    "rate.net_rx_bytes": "net.rx_bps", "rate.net_tx_bytes": "net.tx_bps",
    "gpu.mem_used": "gpu.mem_used_bytes", "gpu.mem_total": "gpu.mem_total_bytes",
    "gpu.mem_free": "gpu.mem_total_bytes (used + free + reserved)",
    "gpu.mem_reserved": "gpu.mem_total_bytes (used + free + reserved)",
    "gpu.ecc": "gpu.ecc_errors", "core.util_pct": "CPU per core",
    "proc.cpu_pct": "proc.cpu_pct", "proc.rss": "proc.rss_bytes",
    "proc.start": "process start time", "proc.threads": "process threads",
    "pgpu.mem": "proc.gpu_mem_bytes", "pgpu.sm_pct": "proc.sm_util_pct",
    **{f"health.{f.attr}": f"GPU health: {f.attr}" for f in GPU_HEALTH_NAMES},
}


def markdown() -> str:
    """One table per exporter kind, as README.md prints them (a test holds the two equal).
    In the PromQL, $sel is the target selector, $node the node label (instance), $w the
    irate window (4 scrape intervals), $window the servers' window (--service-window)."""
    out = []
    for kind in KINDS:
        out.append(f"#### {kind.title} (found by `{kind.probe}`)\n")
        out.append("| figure | scope | when | series or PromQL |")
        out.append("| --- | --- | --- | --- |")
        for e in kind.entries:
            where = e.source() if e.metric else e.expr.format(  # type: ignore[union-attr]
                S="$sel", N="$node", W="$w", L="$window")
            where = where.replace("|", "\\|")
            figure = FIGURES.get(e.key, e.key)
            out.append(f"| {figure} | {e.scope.replace('_', ' ')} | {e.tier} | `{where}` |")
        for i in kind.infos:
            expr = i.expr.format(S="$sel", N="$node").replace("|", "\\|")
            out.append(f"| facts: {i.key} (labels) | {i.scope} | {i.tier} | `{expr}` |")
        if kind is AUTOGLM:
            expr = SERVICE_SELECTOR.format(S="$sel").replace("|", "\\|")
            out.append(f"| services: node.services and per-service svc.* (raw, derived by "
                       f"the monitor) | service | detail | `{expr}` |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
