"""The exporter's metric names, units and labels: one table, read by the exporter (to write
them), the InfluxDB writer, the Prometheus source (to read them back) and the dashboard test.

Names follow Prometheus conventions: an ``autoglm_`` prefix, base units in the name
(``_bytes``, ``_seconds``, ``_celsius``, ``_watts``, ``_hertz``, ``_ratio`` for 0..1),
counters end in ``_total``. Every series has a ``node`` label; GPU series add ``gpu`` (index),
``uuid`` and ``model``; process series add ``pid`` and ``name``; inference-service series add
``service``, ``kind`` and ``model``. A figure the node does not report is left out
(Prometheus then has no series: N/A), never written as 0.

Pure data: no prometheus_client here, so the monitor side can import it.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "autoglm_"
NODE_LABEL = "node"
GPU_LABELS = ("node", "gpu", "uuid", "model")
PROC_LABELS = ("node", "pid", "name")


@dataclass(frozen=True, slots=True)
class Field:
    """One exported figure: where it comes from on the sample, its name and its scale."""

    attr: str  # attribute of the sample part (or a key the exporter computes)
    name: str  # full Prometheus name (counters end in _total)
    kind: str  # "gauge", "counter" or "histogram"
    scale: float  # multiply the sample's value by this (percent -> ratio, MHz -> Hz, ms -> s)
    help: str


def _g(attr: str, name: str, help: str, scale: float = 1.0) -> Field:
    return Field(attr, PREFIX + name, "gauge", scale, help)


def _c(attr: str, name: str, help: str, scale: float = 1.0) -> Field:
    return Field(attr, PREFIX + name, "counter", scale, help)


NODE_INFO = PREFIX + "node_info"
GPU_INFO = PREFIX + "gpu_info"
GPU_STATE = PREFIX + "gpu_state"
PROC_INFO = PREFIX + "process_info"
NVML_AVAILABLE = PREFIX + "nvml_available"
SAMPLE_TIME = PREFIX + "sample_timestamp_seconds"
SAMPLE_INTERVAL = PREFIX + "sample_interval_seconds"
CPU_CORES = PREFIX + "cpu_cores"
CORE_UTIL = PREFIX + "cpu_core_utilization_ratio"
BOOT_TIME = PREFIX + "boot_time_seconds"
SAMPLER_ERRORS = PREFIX + "sampler_errors"

CPU = (
    _g("util_pct", "cpu_utilization_ratio", "Share of CPU time busy (not idle or iowait), all "
       "cores, over the last sampling interval.", 0.01),
    _g("iowait_pct", "cpu_iowait_ratio", "Share of CPU time waiting on IO.", 0.01),
    _c("ctx_switches", "context_switches_total", "Context switches since boot."),
)
LOAD = (
    Field("load1", PREFIX + "load1", "gauge", 1.0, "1-minute load average."),
    Field("load5", PREFIX + "load5", "gauge", 1.0, "5-minute load average."),
    Field("load15", PREFIX + "load15", "gauge", 1.0, "15-minute load average."),
)
MEM = (
    _g("total_bytes", "memory_total_bytes", "Physical memory."),
    _g("used_bytes", "memory_used_bytes", "Physical memory in use."),
    _g("available_bytes", "memory_available_bytes", "Memory available without swapping."),
    _g("swap_total_bytes", "swap_total_bytes", "Swap space."),
    _g("swap_used_bytes", "swap_used_bytes", "Swap space in use."),
)
DISK = (
    _c("read_bytes", "disk_read_bytes_total", "Bytes read from physical disks."),
    _c("write_bytes", "disk_written_bytes_total", "Bytes written to physical disks."),
    _c("read_count", "disk_reads_completed_total", "Reads completed on physical disks."),
    _c("write_count", "disk_writes_completed_total", "Writes completed on physical disks."),
    _c("read_time_ms", "disk_read_time_seconds_total", "Time spent on reads.", 0.001),
    _c("write_time_ms", "disk_write_time_seconds_total", "Time spent on writes.", 0.001),
    _c("busy_time_ms", "disk_io_time_seconds_total", "Time the disks were busy.", 0.001),
)
NET = (
    _c("rx_bytes", "network_receive_bytes_total", "Bytes received (non-loopback NICs)."),
    _c("tx_bytes", "network_transmit_bytes_total", "Bytes sent (non-loopback NICs)."),
    _c("rx_packets", "network_receive_packets_total", "Packets received."),
    _c("tx_packets", "network_transmit_packets_total", "Packets sent."),
    _c("errors", "network_errors_total", "Receive and transmit errors."),
    _c("drops", "network_drops_total", "Receive and transmit drops."),
    _g("link_speed_mbps", "network_speed_bytes", "Sum of the link speeds of up NICs, in "
       "bytes per second.", 1e6 / 8),
)
GPU = (
    _g("util_pct", "gpu_utilization_ratio", "Share of time a kernel ran on the GPU.", 0.01),
    _g("mem_util_pct", "gpu_memory_utilization_ratio",
       "Share of time GPU memory was read or written.", 0.01),
    _g("mem_used_bytes", "gpu_memory_used_bytes", "GPU memory in use."),
    _g("mem_total_bytes", "gpu_memory_total_bytes", "GPU memory."),
    _g("temp_c", "gpu_temperature_celsius", "GPU temperature."),
    _g("power_w", "gpu_power_watts", "GPU power draw."),
    _g("power_limit_w", "gpu_power_limit_watts", "GPU power limit."),
    _g("fan_pct", "gpu_fan_ratio", "GPU fan speed, share of its maximum.", 0.01),
    _g("sm_clock_mhz", "gpu_sm_clock_hertz", "SM clock.", 1e6),
    _g("pcie_rx_bps", "gpu_pcie_receive_bytes_per_second", "PCIe receive throughput."),
    _g("pcie_tx_bps", "gpu_pcie_transmit_bytes_per_second", "PCIe transmit throughput."),
    _c("ecc_errors", "gpu_ecc_errors_total", "Volatile uncorrected ECC errors."),
    _g("xid", "gpu_last_xid", "The last Xid error code seen on this GPU."),
)
GPU_HEALTH = (  # schema 1.1 health fields (None where the GPU or driver does not report them)
    _g("clock_reasons", "gpu_clock_event_reasons", "Clock-event reason bits (NVML "
       "nvmlClocksEventReason*; autoglm_tui/gpu_codes.py names them)."),
    _g("throttle_power_pct", "gpu_power_throttle_ratio",
       "Share of the last interval held at a power limit.", 0.01),
    _g("throttle_thermal_pct", "gpu_thermal_throttle_ratio",
       "Share of the last interval held back by a thermal limit.", 0.01),
    _c("xid_total", "gpu_xid_errors_total", "Xid errors seen since the sampler started."),
    _g("remap_correctable", "gpu_remapped_rows_correctable",
       "Memory rows remapped after correctable errors."),
    _g("remap_uncorrectable", "gpu_remapped_rows_uncorrectable",
       "Memory rows remapped after uncorrectable errors."),
    _g("remap_pending", "gpu_remap_pending", "1 when a row remap waits for a GPU reset."),
    _g("remap_failed", "gpu_remap_failed", "1 when a row remap has failed."),
    _g("retired_pages", "gpu_retired_pages", "Pages retired (pre-Ampere GPUs)."),
    _g("retired_pending", "gpu_retired_pages_pending",
       "1 when a page retirement waits for a reset."),
    _g("pcie_gen", "gpu_pcie_link_generation", "PCIe link generation now."),
    _g("pcie_gen_max", "gpu_pcie_link_generation_max", "Highest PCIe link generation."),
    _g("pcie_width", "gpu_pcie_link_width", "PCIe lanes now."),
    _g("pcie_width_max", "gpu_pcie_link_width_max", "Most PCIe lanes."),
    _c("pcie_replay", "gpu_pcie_replays_total", "PCIe replays."),
    _g("nvlink_links", "gpu_nvlink_links_active", "NVLink links up."),
)
PROC = (
    _g("cpu_pct", "process_cpu_utilization_ratio", "CPU used, in cores (1 = one core).", 0.01),
    _g("rss_bytes", "process_resident_memory_bytes", "Resident memory."),
    _g("create_time", "process_start_time_seconds", "Start time (unix seconds)."),
    _g("num_threads", "process_threads", "Threads."),
)
PROC_GPU = (
    _g("mem_bytes", "process_gpu_memory_bytes", "GPU memory used by the process on this GPU."),
    _g("sm_pct", "process_gpu_sm_utilization_ratio",
       "Share of the GPU's SMs used by the process.", 0.01),
)
SELF = (
    _c("cpu_time_s", "sampler_cpu_seconds_total",
       "CPU time used by the sampler (this exporter process)."),
    _g("rss_bytes", "sampler_resident_memory_bytes", "Resident memory of the sampler."),
)

# Inference services (model.ServiceSample), passed through raw: gauges as read, counters and
# histogram buckets cumulative (summed over the server's label sets), so Prometheus' own
# rate() and histogram_quantile() work on them. Labels: node, service (the service id), kind
# (vllm, sglang, ...), model.
SERVICE_LABELS = ("node", "service", "kind", "model")
SERVICE_INFO = PREFIX + "service_info"
SERVICE_UP = PREFIX + "service_up"
SERVICE_SCRAPE_TIME = PREFIX + "service_scrape_timestamp_seconds"
SERVICE = (
    _g("running", "service_requests_running", "Requests being processed."),
    _g("waiting", "service_requests_waiting", "Requests waiting in the queue."),
    _g("kv_cache_usage", "service_kv_cache_usage_ratio", "KV cache in use, 0..1."),
    _c("prompt_tokens", "service_prompt_tokens_total", "Prompt (prefill) tokens processed."),
    _c("generation_tokens", "service_generation_tokens_total", "Tokens generated."),
    _c("requests_finished", "service_requests_finished_total",
       "Requests finished, every outcome."),
    _c("requests_error", "service_requests_errors_total", "Requests finished with an error."),
    _c("requests_aborted", "service_requests_aborted_total", "Requests aborted or cancelled."),
)
SERVICE_HISTOGRAMS = (  # kind "histogram": _bucket{le}, _sum, _count
    Field("e2e", PREFIX + "service_e2e_latency_seconds", "histogram", 1.0,
          "End-to-end request latency."),
    Field("ttft", PREFIX + "service_ttft_seconds", "histogram", 1.0, "Time to first token."),
    Field("itl", PREFIX + "service_itl_seconds", "histogram", 1.0,
          "Inter-token latency (time per output token where the server exports that)."),
    Field("queue", PREFIX + "service_queue_time_seconds", "histogram", 1.0,
          "Time requests waited in the queue."),
)
