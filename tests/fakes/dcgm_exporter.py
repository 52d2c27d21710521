"""A dcgm-exporter-shaped /metrics page on loopback (dcgm-exporter needs NVIDIA's DCGM and a GPU,
so it cannot run here).

Names, types, help texts and units are those of dcgm-exporter's default counters file
(etc/default-counters.csv): FB in MiB, power in W, temperatures in C, utilisations in %; the
labels are those of its GPU template, in its order: gpu, UUID, pci_bus_id, device, modelName,
Hostname, then attributes such as DCGM_FI_DRIVER_VERSION. Counters keep their names without a
``_total`` suffix, as dcgm-exporter writes them; that is why the page is written as text here
and not with prometheus_client (which would rename them).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (field, type, help) in the order of the default counters file; commented-out rows left out.
DEFAULT_COUNTERS = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter",
     "Total energy consumption since boot (in mJ)."),
    ("DCGM_FI_DEV_PCIE_TX_THROUGHPUT", "counter",
     "Total number of bytes transmitted through PCIe TX (in KB) via NVML."),
    ("DCGM_FI_DEV_PCIE_RX_THROUGHPUT", "counter",
     "Total number of bytes received through PCIe RX (in KB) via NVML."),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries."),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %)."),
    ("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %)."),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "counter",
     "Total number of NVLink bandwidth counters for all lanes"),
    ("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU License status"),
    ("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter",
     "Number of remapped rows for uncorrectable errors"),
    ("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter",
     "Number of remapped rows for correctable errors"),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed"),
)


@dataclass
class DcgmGpu:
    index: int
    util: float = 0.0
    fb_used_mib: int = 1024
    fb_free_mib: int = 80_000
    temp: float = 40.0
    power: float = 100.0
    sm_clock: float = 1980.0
    mem_copy_util: float = 5.0
    xid: int = 0
    model: str = "NVIDIA H100 80GB HBM3"
    uuid: str = ""
    fields: dict[str, float] = field(default_factory=dict)  # any other field's value

    def value(self, name: str) -> float:
        known = {
            "DCGM_FI_DEV_GPU_UTIL": self.util, "DCGM_FI_DEV_FB_USED": self.fb_used_mib,
            "DCGM_FI_DEV_FB_FREE": self.fb_free_mib, "DCGM_FI_DEV_GPU_TEMP": self.temp,
            "DCGM_FI_DEV_POWER_USAGE": self.power, "DCGM_FI_DEV_SM_CLOCK": self.sm_clock,
            "DCGM_FI_DEV_MEM_COPY_UTIL": self.mem_copy_util, "DCGM_FI_DEV_XID_ERRORS": self.xid,
        }
        return self.fields.get(name, known.get(name, 0.0))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def page(gpus: list[DcgmGpu], hostname: str, driver: str = "550.54.15") -> str:
    """The text of one scrape, as dcgm-exporter's GPU template lays it out."""
    out = []
    for name, kind, help_text in DEFAULT_COUNTERS:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        for g in gpus:
            uuid = g.uuid or f"GPU-{g.index:08x}-aaaa-bbbb-cccc-{hostname[:12]:>012}"
            labels = (f'gpu="{g.index}",UUID="{_escape(uuid)}",'
                      f'pci_bus_id="00000000:{0x18 + g.index:02X}:00.0",'
                      f'device="nvidia{g.index}",modelName="{_escape(g.model)}",'
                      f'Hostname="{_escape(hostname)}",DCGM_FI_DRIVER_VERSION="{driver}"')
            value = g.value(name)
            text = f"{value:.6f}" if name == "DCGM_FI_DEV_POWER_USAGE" else f"{value:g}"
            out.append(f"{name}{{{labels}}} {text}")
    return "\n".join(out) + "\n"


class DcgmExporter(ThreadingHTTPServer):
    """Serves `page(self.gpus, self.hostname)` at /metrics on (host, port 0 = any free)."""

    daemon_threads = True

    def __init__(self, host: str, gpus: list[DcgmGpu], hostname: str = "gpu-node") -> None:
        self.gpus = gpus
        self.hostname = hostname
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = page(server.gpus, server.hostname).encode()
                self.send_response(200 if self.path.startswith("/metrics") else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        super().__init__((host, 0), Handler)
        threading.Thread(target=self.serve_forever, name="fake-dcgm", daemon=True).start()

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host}:{port}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
