"""GPU health through the gateway against the fake NVML: clock-event reasons, throttled time,
Xid events on their own thread, row remapping, retired pages, PCIe links, NVLink errors, and
the per-process utilisation timestamps. Every field is None where unsupported, never 0."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autoglm_tui import wire
from autoglm_tui.gpu_codes import REASON_HW_POWER_BRAKE, REASON_HW_SLOWDOWN, REASON_SW_POWER_CAP
from autoglm_tui.model import GpuSample
from autoglm_tui.sampler.gpu import GpuReader
from autoglm_tui.sampler.nvml import MODULE_ENV, NvmlGateway

FAKE = Path(__file__).resolve().parents[1] / "fakes" / "fake_nvml.py"
HEALTH_FIELDS = (
    "clock_reasons", "throttle_power_pct", "throttle_thermal_pct", "remap_correctable",
    "remap_uncorrectable", "remap_pending", "remap_failed", "retired_pages", "retired_pending",
    "pcie_gen", "pcie_gen_max", "pcie_width", "pcie_width_max", "pcie_replay", "nvlink_links",
)


@pytest.fixture
def scenario(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, Any]], None]:
    monkeypatch.setenv(MODULE_ENV, str(FAKE))

    def use(data: dict[str, Any]) -> None:
        monkeypatch.setenv("AUTOGLM_FAKE_NVML", json.dumps(data))

    return use


@pytest.fixture
def readers() -> Any:
    made: list[GpuReader] = []

    def make(**kw: Any) -> GpuReader:
        reader = GpuReader(NvmlGateway(), **kw)
        made.append(reader)
        return reader

    yield make
    for reader in made:
        reader.close()
        reader.gateway.shutdown()


def fake(reader: GpuReader) -> Any:
    """The fake binding the reader's gateway loaded (for its call counters)."""
    module = reader.gateway.module
    assert module is not None
    return module


def read_until(reader: GpuReader, check: Callable[[tuple[GpuSample, ...]], bool],
               timeout: float = 5.0) -> tuple[GpuSample, ...]:
    """Read until `check` holds (Xids arrive on another thread) or the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        gpus = reader.read().gpus
        if check(gpus) or time.monotonic() > deadline:
            return gpus
        time.sleep(0.02)


def test_health_fields_of_a_healthy_h100(scenario, readers) -> None:
    scenario({"gpu_count": 1})
    g = readers().read().gpus[0]
    assert g.clock_reasons == 0 and g.hw_slowdown == 0 and g.power_brake == 0
    assert (g.pcie_gen, g.pcie_gen_max, g.pcie_width, g.pcie_width_max) == (5, 5, 16, 16)
    assert g.pcie_width_degraded == 0 and g.pcie_replay == 0
    assert (g.remap_correctable, g.remap_uncorrectable, g.remap_pending, g.remap_failed) == (
        0, 0, 0, 0)
    assert g.retired_pages is None and g.retired_pending is None  # Ampere and later: remaps
    assert g.nvlink_links == 18 and g.nvlink_errors == () and g.nvlink_crc_errors == 0
    assert g.xid_total == 0 and g.xids == () and g.xid_recent == 0 and g.xid_critical == 0
    assert g.throttle_power_pct is None  # the first reading only sets the baseline


def test_clock_event_reasons_as_bits_and_the_older_call_as_fallback(scenario, readers) -> None:
    bits = REASON_SW_POWER_CAP | REASON_HW_SLOWDOWN | REASON_HW_POWER_BRAKE
    scenario({"gpu_count": 1, "gpus": [{"clock_reasons": bits}]})
    reader = readers()
    g = reader.read().gpus[0]
    assert g.clock_reasons == bits and g.hw_slowdown == 1 and g.power_brake == 1
    assert g.thermal_slowdown == 0
    assert fake(reader).calls("nvmlDeviceGetCurrentClocksThrottleReasons") == 0
    # A driver older than 535 has no ...ClocksEventReasons: the throttle-reasons call answers.
    scenario({"gpu_count": 1, "clocks_event_api": False, "gpus": [{"clock_reasons": bits}]})
    reader = readers()
    for _ in range(3):
        g = reader.read().gpus[0]
        assert g.clock_reasons == bits and g.error is None
    assert fake(reader).calls("nvmlDeviceGetCurrentClocksEventReasons") == 1  # tried once
    assert fake(reader).calls("nvmlDeviceGetCurrentClocksThrottleReasons") == 3


def test_time_throttled_from_the_violation_counters(scenario, readers) -> None:
    scenario({"gpu_count": 1, "gpus": [{"throttle_power": 0.5, "throttle_thermal": 0.0}]})
    reader = readers()
    reader.read()
    time.sleep(0.3)
    g = reader.read().gpus[0]
    assert g.throttle_power_pct == pytest.approx(50.0, abs=1.0)
    assert g.throttle_thermal_pct == 0.0


def test_not_supported_is_null_and_not_asked_again(scenario, readers) -> None:
    unsupported = [
        "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons",
        "nvmlDeviceGetViolationStatus", "nvmlDeviceGetRemappedRows",
        "nvmlDeviceGetCurrPcieLinkGeneration", "nvmlDeviceGetMaxPcieLinkGeneration",
        "nvmlDeviceGetCurrPcieLinkWidth", "nvmlDeviceGetMaxPcieLinkWidth",
        "nvmlDeviceGetPcieReplayCounter", "nvmlDeviceGetFanSpeed",
    ]
    scenario({"gpu_count": 1, "gpus": [{"not_supported": unsupported, "nvlink": 0}]})
    reader = readers(health_interval_s=0.0)  # the slow fields every read, too
    for _ in range(3):
        g = reader.read().gpus[0]
        assert g.state == "ok" and g.error is None  # NOT_SUPPORTED is not an error
        for name in HEALTH_FIELDS:
            assert getattr(g, name) is None, name
        assert g.fan_pct is None and g.util_pct is not None
        for name in ("hw_slowdown", "power_brake", "pcie_width_degraded", "nvlink_crc_errors"):
            assert getattr(g, name) is None, name
    for fn in unsupported:
        assert fake(reader).calls(fn) == 1, fn
    line = wire.to_dict(_sample_of(g))
    assert line["gpus"][0]["clock_reasons"] is None and line["gpus"][0]["pcie_width"] is None


def test_a_gpu_lost_in_the_middle_of_a_read(scenario, readers) -> None:
    scenario({"gpu_count": 3, "gpus": [{}, {"lost_on": "nvmlDeviceGetRemappedRows"}]})
    reader = readers()
    first = reader.read().gpus
    assert [g.state for g in first] == ["ok", "lost", "ok"]
    assert "GPU is lost" in (first[1].error or "")
    assert first[1].util_pct is None and first[1].pcie_width is None
    assert all(first[i].pcie_width == 16 for i in (0, 2))
    assert [g.state for g in reader.read().gpus] == ["ok", "lost", "ok"]


def test_row_remapping_and_retired_pages(scenario, readers) -> None:
    scenario({"gpu_count": 2, "gpus": [
        {"remapped_rows": [3, 1, 1, 0]},
        {"retired_pages": [2, 1], "retired_pending": 1, "remapped_rows": [0, 0, 0, 1]},
    ]})
    a, b = readers().read().gpus
    assert (a.remap_correctable, a.remap_uncorrectable, a.remap_pending, a.remap_failed) == (
        3, 1, 1, 0)
    assert a.retired_pages is None
    assert b.remap_failed == 1 and b.retired_pages == 3 and b.retired_pending == 1


def test_pcie_downtraining_and_the_slow_cadence(scenario, readers) -> None:
    scenario({"gpu_count": 1, "gpus": [
        {"pcie_gen": 3, "pcie_gen_max": 5, "pcie_width": 8, "pcie_width_max": 16,
         "pcie_replay": 12}]})
    reader = readers()  # slow fields every 10 s
    for _ in range(3):
        g = reader.read().gpus[0]
        assert (g.pcie_gen, g.pcie_width, g.pcie_width_degraded, g.pcie_replay) == (3, 8, 1, 12)
    calls = fake(reader).calls
    assert calls("nvmlDeviceGetCurrPcieLinkWidth") == 1  # read once, then carried
    assert calls("nvmlDeviceGetRemappedRows") == 1
    assert calls("nvmlDeviceGetCurrentClocksEventReasons") == 3  # every tick
    reader.health_interval_s = 0.0
    reader.read()
    assert calls("nvmlDeviceGetCurrPcieLinkWidth") == 2


def test_nvlink_error_counters_per_link(scenario, readers) -> None:
    scenario({"gpu_count": 2, "gpus": [
        {"nvlink": 4, "nvlink_errors": {"2": {"crc_flit": 5, "crc_data": 1, "replay": 2}}},
        {"nvlink": 0},
    ]})
    a, b = readers().read().gpus
    assert a.nvlink_links == 4
    assert [(e.link, e.crc_flit, e.crc_data, e.replay, e.recovery) for e in a.nvlink_errors] == [
        (2, 5, 1, 2, 0)]
    assert (a.nvlink_crc_errors, a.nvlink_replay_errors, a.nvlink_recovery_errors) == (6, 2, 0)
    assert b.nvlink_links is None and b.nvlink_crc_errors is None  # no NVLink: null, not 0


def test_xids_arrive_on_their_own_thread_with_time_and_number(scenario, readers) -> None:
    scenario({"gpu_count": 3, "gpus": [{"xids": [13, 48]}, {}, {"xid_schedule": [[0.3, 94]]}]})
    reader = readers()
    t0 = time.time()
    gpus = read_until(reader, lambda gs: gs[0].xid_total == 2 and gs[2].xid_total == 1)
    a, b, c = gpus
    assert [e.xid for e in a.xids] == [13, 48] and a.xid == 48
    assert all(t0 - 1 <= e.t <= time.time() for e in a.xids)
    assert a.xid_recent == 2 and a.xid_critical == 1  # 48 (double-bit ECC) is critical
    assert b.xid_total == 0 and b.xids == ()
    assert [e.xid for e in c.xids] == [94] and c.xid_critical == 0  # contained: a warning
    assert c.state == "ok"
    watcher = reader.xid_watcher
    assert watcher is not None and watcher.running
    time.sleep(0.7)  # at least one wait timed out: a normal outcome, not an error
    assert watcher.error is None
    reader.close()
    assert not watcher.running


def test_xid_79_makes_the_gpu_lost(scenario, readers) -> None:
    scenario({"gpu_count": 2, "gpus": [{}, {"xid_schedule": [[0.2, 79]]}]})
    reader = readers()
    assert [g.state for g in reader.read().gpus] == ["ok", "ok"]
    gpus = read_until(reader, lambda gs: gs[1].state == "lost")
    assert gpus[1].state == "lost" and "Xid 79" in (gpus[1].error or "")
    assert gpus[1].xid_critical == 1 and gpus[0].state == "ok"
    assert reader.read().gpus[1].xid_critical == 1  # still on the lost GPU's samples


def test_old_xids_leave_the_sample(scenario, readers, monkeypatch) -> None:
    from autoglm_tui.sampler import gpu as gpu_mod

    monkeypatch.setattr(gpu_mod, "XID_KEEP_S", 0.3)
    scenario({"gpu_count": 1, "gpus": [{"xids": [31]}]})
    reader = readers()
    assert read_until(reader, lambda gs: gs[0].xid_total == 1)[0].xid_recent == 1
    time.sleep(0.4)
    g = reader.read().gpus[0]
    assert g.xids == () and g.xid_recent == 0 and g.xid_total == 1 and g.xid == 31


def test_no_event_sets_means_xids_are_unknown_not_zero(scenario, readers) -> None:
    scenario({"gpu_count": 1, "gpus": [{"not_supported": ["nvmlDeviceRegisterEvents"]}]})
    g = readers().read().gpus[0]
    assert g.xid_total is None and g.xid_recent is None and g.xid_critical is None
    assert g.state == "ok"


def test_process_utilization_uses_the_last_seen_timestamp(scenario, readers) -> None:
    scenario({"gpu_count": 1, "gpus": [{"processes": [{"pid": 4242, "mem": 10, "sm": 30}]}]})
    reader = readers()
    first = reader.read().procs[4242][0]
    time.sleep(0.01)
    second = reader.read().procs[4242][0]
    assert first.sm_pct == second.sm_pct == 30
    stamps = [ts for index, ts in fake(reader)._state["proc_util_ts"] if index == 0]
    assert stamps[0] == 0 and stamps[1] > 0  # the second call asks only for newer samples


def test_the_fake_names_match_nvidia_ml_py() -> None:
    """Every health call the sampler makes exists in the real binding (and in the fake)."""
    import pynvml

    sampler = Path(__file__).resolve().parents[2] / "autoglm_tui" / "sampler"
    text = "".join(p.read_text() for p in sampler.glob("*.py"))
    for name in ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetViolationStatus",
                 "nvmlEventSetWait_v2", "nvmlDeviceGetRemappedRows", "nvmlDeviceGetRetiredPages",
                 "nvmlDeviceGetNvLinkErrorCounter", "nvmlDeviceGetPcieReplayCounter"):
        assert f'"{name}"' in text
        assert hasattr(pynvml, name)
    assert sys.modules.get("pynvml") is pynvml


def _sample_of(g: GpuSample):  # type: ignore[no-untyped-def]
    from tests.unit.samples import replace, sample

    return replace(sample(1.0, 1, gpus=0), gpus=(g,))
