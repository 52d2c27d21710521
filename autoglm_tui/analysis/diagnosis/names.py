"""The metric names diagnosis reads, in one place (values come from history, never raw samples,
except the per-GPU split of process memory and host memory totals).

Service figures are the derived ``svc.*`` values: keyed ``(metric, service_id)`` per service,
``(metric, None)`` for the node as a whole. GPU health (clock-event reasons, PCIe link) comes
from the sampler where the driver reports it (wire schema 1.1); without it those findings stay
silent.
"""

from __future__ import annotations

from autoglm_tui.gpu_codes import (
    REASON_HW_POWER_BRAKE,
    REASON_HW_SLOWDOWN,
    REASON_HW_THERMAL,
    REASON_SW_POWER_CAP,
    REASON_SW_THERMAL,
)

# host
CPU = "cpu.util_pct"
IOWAIT = "cpu.iowait_pct"
MEM = "mem.used_pct"
SWAP = "swap.used_pct"
DISK_AWAIT = "disk.await_ms"
DISK_IOPS = "disk.iops"
DISK_READ = "disk.read_bps"
DISK_WRITE = "disk.write_bps"
NET_UTIL = "net.util_pct"

# GPU
GPU_UTIL = "gpu.util_pct"
GPU_MEM_PCT = "gpu.mem_used_pct"
GPU_MEM_USED = "gpu.mem_used_bytes"
GPU_MEM_TOTAL = "gpu.mem_total_bytes"
GPU_SM_CLOCK = "gpu.sm_clock_mhz"
GPU_POWER = "gpu.power_w"
GPU_POWER_LIMIT = "gpu.power_limit_w"
GPU_TEMP = "gpu.temp_c"
PCIE_RX = "gpu.pcie_rx_bps"
PCIE_TX = "gpu.pcie_tx_bps"
# PCIe link in use: the GpuSample's pcie_gen and pcie_width (not metrics); the limit falls back
# to a default without them. GB/s per lane and direction after encoding, by generation:
PCIE_LANE_BPS = {1: 0.25e9, 2: 0.5e9, 3: 0.985e9, 4: 1.969e9, 5: 3.938e9, 6: 7.563e9}

# Throttling: the NVML clock-event reason bits (gpu_codes), as a metric with history.
THROTTLE_MASK = "gpu.clock_reasons"
THROTTLE_BITS = {  # the reasons that hold clocks down for power or heat
    "SW power cap": REASON_SW_POWER_CAP,
    "HW slowdown": REASON_HW_SLOWDOWN,
    "SW thermal slowdown": REASON_SW_THERMAL,
    "HW thermal slowdown": REASON_HW_THERMAL,
    "HW power brake": REASON_HW_POWER_BRAKE,
}

# processes
PROC_GPU_MEM = "proc.gpu_mem_bytes"
PROC_RSS = "proc.rss_bytes"
PROC_CPU = "proc.cpu_pct"

# services (derived svc.* values)
# The latency a service's diagnosis follows: the first of these the service reports. End to end
# first; else time to first token; else time per output token (all llama.cpp reports).
SVC_LATENCY = ("svc.latency_p95_s", "svc.latency_avg_s", "svc.ttft_p95_s", "svc.ttft_avg_s",
               "svc.itl_p95_s", "svc.itl_avg_s")
PER_TOKEN = frozenset({"svc.itl_p95_s", "svc.itl_avg_s"})  # milliseconds, not seconds
END_TO_END = frozenset({"svc.latency_p95_s", "svc.latency_avg_s"})
SVC_TOKENS = "svc.tokens_per_s"
SVC_QUEUE = "svc.queue_len"
SVC_KV = "svc.kv_cache_pct"
SVC_RUNNING = "svc.requests_running"
SVC_REQUESTS = "svc.requests_per_s"
SVC_PROMPT_TOKENS = "svc.prompt_tokens_per_s"
