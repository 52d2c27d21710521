"""No exporter of ours: dcgm-exporter-shaped pages (its default counters' names, units and labels)
and Debian's node_exporter, scraped by Debian's Prometheus and read by `snapshot --prometheus`:
GPU figures in the sampler's units, host figures from node_exporter, the rest N/A."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.dcgm_exporter import DcgmExporter, DcgmGpu
from tests.integration.prometheus_fixture import (
    NODE_EXPORTER,
    PROMETHEUS,
    Job,
    NodeExporter,
    PrometheusServer,
    missing,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing(PROMETHEUS, NODE_EXPORTER) is not None,
                       reason=str(missing(PROMETHEUS, NODE_EXPORTER))),
]


def test_dcgm_and_node_exporter_only(tmp_path: Path) -> None:
    dcgm = DcgmExporter("127.0.0.4", [
        DcgmGpu(0, util=97, fb_used_mib=70_000, fb_free_mib=11_559, temp=81, power=650.25,
                sm_clock=1755, mem_copy_util=44, xid=79),
        DcgmGpu(1, util=3),
    ], hostname="dgx-04")
    dcgm_b = DcgmExporter("127.0.0.5", [DcgmGpu(0, util=50)], hostname="dgx-05")
    node = NodeExporter(tmp_path / "ne", host="127.0.0.4").start()
    prom = PrometheusServer(tmp_path / "prom", [
        Job("dcgm", [dcgm.address, dcgm_b.address]), Job("node", [node.address])])
    try:
        prom.start()
        prom.wait_up("dcgm", 2)
        prom.wait_up("node", 1)
        prom.wait_scrapes(3)
        out = subprocess.run(
            [sys.executable, "-m", "autoglm_tui", "snapshot", "--prometheus", prom.url,
             "--wait", "20", "--compact"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        nodes = {n["node_id"]: n for n in json.loads(out.stdout)["nodes"]}
        assert set(nodes) == {"127.0.0.4", "127.0.0.5"}
        a = nodes["127.0.0.4"]
        g0, g1 = a["last_sample"]["gpus"]
        assert g0["util_pct"] == 97 and g1["util_pct"] == 3
        assert g0["mem_used_bytes"] == 70_000 << 20
        assert g0["mem_total_bytes"] == (70_000 + 11_559) << 20  # used + free
        assert g0["temp_c"] == 81 and g0["power_w"] == 650.25
        assert g0["sm_clock_mhz"] == 1755 and g0["mem_util_pct"] == 44 and g0["xid"] == 79
        # dcgm-exporter's defaults have no fan, power limit or ECC: N/A, never 0
        assert g0["fan_pct"] is None and g0["power_limit_w"] is None
        assert g0["ecc_errors"] is None and g0["pcie_rx_bps"] is None
        static = a["static"]
        assert [g["name"] for g in static["gpus"]] == ["NVIDIA H100 80GB HBM3"] * 2
        assert static["gpus"][0]["uuid"].startswith("GPU-")
        assert static["gpus"][1]["pci_bus_id"] == "00000000:19:00.0"
        assert static["nvml"]["available"] and static["nvml"]["driver_version"] == "550.54.15"
        # host figures come from node_exporter on the same host
        mem = a["last_sample"]["mem"]
        (total,) = prom.query(f'node_memory_MemTotal_bytes{{instance="{node.address}"}}')
        assert mem["total_bytes"] == int(float(total["value"][1]))
        assert 0 <= a["last_sample"]["cpu"]["util_pct"] <= 100
        assert static["cpu_cores_logical"] >= 1 and static["hostname"]
        assert a["last_sample"]["procs"] == []  # dcgm-exporter lists no processes
        # a GPU node with no node_exporter: GPU figures only, host N/A
        b = nodes["127.0.0.5"]["last_sample"]
        assert b["gpus"][0]["util_pct"] == 50
        assert b["cpu"]["util_pct"] is None and b["mem"]["total_bytes"] is None
    finally:
        prom.stop()
        node.stop()
        dcgm.close()
        dcgm_b.close()
