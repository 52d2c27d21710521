"""Per-GPU reads through the gateway, against the fake NVML: units, None for unsupported
fields, lost GPUs, Xid events, processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autoglm_tui import wire
from autoglm_tui.model import Sample
from autoglm_tui.sampler.collector import Collector
from autoglm_tui.sampler.gpu import GpuReader
from autoglm_tui.sampler.nvml import MODULE_ENV, NvmlGateway
from autoglm_tui.sampler.procs import NOT_VISIBLE

FAKE = Path(__file__).resolve().parents[1] / "fakes" / "fake_nvml.py"


@pytest.fixture
def scenario(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, object]], None]:
    monkeypatch.setenv(MODULE_ENV, str(FAKE))

    def use(data: dict[str, object]) -> None:
        monkeypatch.setenv("AUTOGLM_FAKE_NVML", json.dumps(data))

    return use


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "gpu-child-marker"],
        stdin=subprocess.DEVNULL,
    )
    yield proc
    proc.kill()
    proc.wait()


def free_pid() -> int:
    """A pid that no process has now."""
    pid = 4_000_000
    while os.path.exists(f"/proc/{pid}"):
        pid -= 1
    return pid


def test_static_facts_and_units(scenario) -> None:
    scenario(
        {
            "gpu_count": 2,
            "gpus": [
                {
                    "name": "NVIDIA A100-SXM4-80GB",
                    "uuid": "GPU-aaaa",
                    "pci_bus_id": "00000000:07:00.0",
                    "mem_total": 85899345920,
                    "mem_used": 1073741824,
                    "util": 87,
                    "mem_util": 40,
                    "temp": 71,
                    "power_mw": 312600,
                    "power_limit_mw": 400000,
                    "fan": 55,
                    "sm_clock": 1410,
                    "pcie_rx_kbs": 1000,
                    "pcie_tx_kbs": 2000,
                    "ecc_uncorrected": 3,
                }
            ],
        }
    )
    reader = GpuReader(NvmlGateway())
    info, gpus = reader.static()
    assert info.available
    assert [g.index for g in gpus] == [0, 1]
    assert gpus[0].uuid == "GPU-aaaa"
    assert gpus[0].name == "NVIDIA A100-SXM4-80GB"
    assert gpus[0].mem_total_bytes == 85899345920
    assert gpus[0].pci_bus_id == "00000000:07:00.0"
    g = reader.read().gpus[0]
    assert g.state == "ok" and g.error is None
    assert g.util_pct == 87 and g.mem_util_pct == 40
    assert g.mem_used_bytes == 1073741824 and g.mem_total_bytes == 85899345920
    assert g.temp_c == 71 and g.fan_pct == 55 and g.sm_clock_mhz == 1410
    # Power travels in whole watts (what the UI shows): 312.6 W -> 313 W.
    assert g.power_w == 313.0 and g.power_limit_w == pytest.approx(400.0)
    # PCIe rates to 3 significant digits: 1000 KiB/s = 1,024,000 B/s -> 1.02e6.
    assert g.pcie_rx_bps == 1.02e6 and g.pcie_tx_bps == 2.05e6
    assert g.ecc_errors == 3
    assert g.xid is None


def test_not_supported_fields_are_null_not_zero(scenario) -> None:
    unsupported = [
        "nvmlDeviceGetFanSpeed",
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetEnforcedPowerLimit",
        "nvmlDeviceGetPcieThroughput",
        "nvmlDeviceGetTotalEccErrors",
        "nvmlDeviceGetTemperature",
    ]
    scenario({"gpus": [{"not_supported": unsupported}]})
    g = GpuReader(NvmlGateway()).read().gpus[0]
    assert g.state == "ok"
    assert g.error is None  # NOT_SUPPORTED is not an error
    for name in ("fan_pct", "power_w", "power_limit_w", "pcie_rx_bps", "pcie_tx_bps"):
        assert getattr(g, name) is None, name
    assert g.ecc_errors is None and g.temp_c is None
    assert g.util_pct is not None and g.mem_used_bytes is not None
    line = wire.to_dict(_sample_with(g))
    assert line["gpus"][0]["fan_pct"] is None
    assert line["gpus"][0]["power_w"] is None


def test_other_errors_leave_the_field_null_and_say_why(scenario) -> None:
    scenario({"gpus": [{"errors": {"nvmlDeviceGetTemperature": "NO_PERMISSION"}}]})
    g = GpuReader(NvmlGateway()).read().gpus[0]
    assert g.state == "ok"
    assert g.temp_c is None
    assert "nvmlDeviceGetTemperature" in (g.error or "")
    assert "Insufficient Permissions" in (g.error or "")


def test_gpu_is_lost_on_one_of_four_gpus(scenario) -> None:
    scenario({"gpu_count": 4, "gpus": [{}, {}, {"lost": True}]})
    reader = GpuReader(NvmlGateway())
    _, gpus = reader.static()
    assert len(gpus) == 4
    for _ in range(2):  # it stays lost; the others keep reporting
        read = reader.read().gpus
        assert [g.state for g in read] == ["ok", "ok", "lost", "ok"]
        lost = read[2]
        assert "GPU is lost" in (lost.error or "")
        assert lost.util_pct is None and lost.temp_c is None
        assert all(read[i].util_pct is not None for i in (0, 1, 3))


def test_gpu_lost_while_running(scenario) -> None:
    scenario({"gpu_count": 2, "gpus": [{}, {"lost_after_s": 0}]})
    read = GpuReader(NvmlGateway()).read().gpus
    assert [g.state for g in read] == ["ok", "lost"]


def test_gpu_lost_before_it_could_be_opened(scenario) -> None:
    scenario({"gpu_count": 2, "gpus": [{"lost_on_open": True}]})
    reader = GpuReader(NvmlGateway())
    _, gpus = reader.static()
    assert gpus[0].uuid == ""
    assert "lost" in gpus[0].name
    assert gpus[1].uuid
    assert [g.state for g in reader.read().gpus] == ["lost", "ok"]


def test_xid_events(scenario) -> None:
    scenario({"gpu_count": 3, "gpus": [{"xids": [13]}, {"xids": [79]}]})
    reader = GpuReader(NvmlGateway())
    read = reader.read().gpus
    assert read[0].state == "ok" and read[0].xid == 13
    assert read[1].state == "lost" and read[1].xid == 79
    assert "Xid 79" in (read[1].error or "")
    assert read[2].state == "ok" and read[2].xid is None
    again = reader.read().gpus
    assert again[0].xid == 13  # the last Xid seen stays reported
    assert again[1].state == "lost"


def test_processes_per_gpu(scenario) -> None:
    scenario(
        {
            "gpu_count": 2,
            "gpus": [
                {"processes": [{"pid": 4242, "mem": 1000, "sm": 30}]},
                {
                    "processes": [
                        {"pid": 4242, "mem": 2000, "sm": 50},
                        {"pid": 77, "mem": None, "type": "graphics"},
                    ]
                },
            ],
        }
    )
    procs = GpuReader(NvmlGateway()).read().procs
    assert sorted(procs) == [77, 4242]
    uses = sorted(procs[4242], key=lambda u: u.index)
    assert [(u.index, u.mem_bytes, u.sm_pct) for u in uses] == [(0, 1000, 30), (1, 2000, 50)]
    assert [(u.index, u.mem_bytes, u.sm_pct) for u in procs[77]] == [(1, None, None)]


def test_process_utilization_not_supported(scenario) -> None:
    scenario(
        {"process_utilization": False, "gpus": [{"processes": [{"pid": 5, "mem": 9, "sm": 1}]}]}
    )
    reader = GpuReader(NvmlGateway())
    for _ in range(2):
        [use] = reader.read().procs[5]
        assert use.mem_bytes == 9 and use.sm_pct is None


def test_collector_lists_gpu_processes_with_real_details(scenario, child) -> None:
    gone = free_pid()
    scenario(
        {
            "gpu_count": 4,
            "gpus": [
                {},
                {"processes": [{"pid": child.pid, "mem": 3 << 30, "sm": 42}]},
                {"processes": [{"pid": gone, "mem": 1 << 30}]},
            ],
        }
    )
    coll = Collector(top_n=0)
    hello = coll.hello(1.0)
    assert hello.static.nvml.available
    assert len(hello.static.gpus) == 4
    sample = coll.sample(2.0)
    by_pid = {p.pid: p for p in sample.procs}
    mine = by_pid[child.pid]
    assert "gpu-child-marker" in mine.cmdline
    assert mine.user  # a real user name from the process table
    assert mine.rss_bytes and mine.rss_bytes > 0
    assert mine.error is None
    assert [(u.index, u.mem_bytes, u.sm_pct) for u in mine.gpus] == [(1, 3 << 30, 42.0)]
    assert mine.gpu_mem_bytes == 3 << 30
    # A pid NVML reports but this namespace cannot see (exited, or a host pid in a container).
    ghost = by_pid[gone]
    assert ghost.error == NOT_VISIBLE
    assert ghost.gpus[0].mem_bytes == 1 << 30
    assert ghost.cpu_pct is None and ghost.rss_bytes is None
    decoded = wire.decode(wire.encode(sample))
    assert isinstance(decoded, Sample)
    assert decoded.gpus == sample.gpus
    assert decoded.procs == sample.procs
    coll.close()


def _sample_with(gpu) -> Sample:
    from autoglm_tui.model import CpuSample, DiskCounters, MemSample, NetCounters

    return Sample(
        t=1.0,
        seq=1,
        cpu=CpuSample(1.0, (1.0,), None, None),
        mem=MemSample(1, 1, 0, 100.0, 0, 0, None),
        disk=DiskCounters(0, 0, 0, 0, None, None, None),
        net=NetCounters(0, 0, 0, 0, 0, 0, None),
        gpus=(gpu,),
    )
