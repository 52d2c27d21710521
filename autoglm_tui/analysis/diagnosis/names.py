"""The metric names diagnosis reads, in one place (values come from history, never raw samples,
except the per-GPU split of process memory and host memory totals).

Service figures are the derived ``svc.*`` values: keyed ``(metric, service_id)`` per service,
``(metric, None)`` for the node as a whole. GPU health names (throttle reasons, PCIe link) are
the sampler's once it reports them; until then the findings that need them stay silent.
"""

from __future__ import annotations

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
# PCIe link in use (generation 1-6 and lane count); the limit falls back to a default without.
PCIE_GEN = "gpu.pcie_link_gen"
PCIE_WIDTH = "gpu.pcie_link_width"
# GB/s per lane and direction after encoding, by PCIe generation
PCIE_LANE_BPS = {1: 0.25e9, 2: 0.5e9, 3: 0.985e9, 4: 1.969e9, 5: 3.938e9, 6: 7.563e9}

# Throttling. Either one bitmask of NVML clock-event reasons, or one 0/1 metric per reason.
THROTTLE_MASK = "gpu.clock_event_reasons"
THROTTLE_BITS = {  # nvmlClocksEventReason* bits that hold clocks down for power or heat
    "SW power cap": 0x4,
    "HW slowdown": 0x8,
    "SW thermal slowdown": 0x20,
    "HW thermal slowdown": 0x40,
    "HW power brake": 0x80,
}
THROTTLE_FLAGS = {
    "SW power cap": "gpu.throttle_sw_power_cap",
    "HW slowdown": "gpu.throttle_hw_slowdown",
    "SW thermal slowdown": "gpu.throttle_sw_thermal",
    "HW thermal slowdown": "gpu.throttle_hw_thermal",
    "HW power brake": "gpu.throttle_hw_power_brake",
}

# processes
PROC_GPU_MEM = "proc.gpu_mem_bytes"
PROC_RSS = "proc.rss_bytes"

# services (derived svc.* values)
SVC_LATENCY = ("svc.latency_p95_s", "svc.latency_mean_s")  # the first one present is used
SVC_TOKENS = "svc.tokens_per_s"
SVC_QUEUE = "svc.queue_len"
SVC_KV = "svc.kv_cache_pct"
SVC_RUNNING = "svc.requests_running"
