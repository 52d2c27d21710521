"""The NVML gateway against the fake binding: init failures, error mapping, the watchdog."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from autoglm_tui.sampler.gpu import GpuReader
from autoglm_tui.sampler.nvml import MODULE_ENV, NvmlGateway, NvmlHung

FAKE = Path(__file__).resolve().parents[1] / "fakes" / "fake_nvml.py"


@pytest.fixture
def scenario(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, object]], None]:
    """Point the gateway at the fake NVML with the given scenario."""
    monkeypatch.setenv(MODULE_ENV, str(FAKE))

    def use(data: dict[str, object]) -> None:
        monkeypatch.setenv("AUTOGLM_FAKE_NVML", json.dumps(data))

    use({})
    return use


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def test_library_missing_gives_no_gpus_and_a_human_reason(scenario) -> None:
    scenario({"library_missing": True})
    gateway = NvmlGateway()
    info, gpus = GpuReader(gateway).static()
    assert info.available is False
    assert info.reason == "NVML library not found (no NVIDIA driver)"
    assert gpus == ()
    assert GpuReader(gateway).read().gpus == ()


def test_driver_not_loaded_is_named(scenario) -> None:
    scenario({"init_error": "DRIVER_NOT_LOADED"})
    info = NvmlGateway().info
    assert not info.available
    assert "driver not loaded" in (info.reason or "").lower()


def test_a_binding_that_does_not_import_is_a_reason_not_a_crash(monkeypatch) -> None:
    monkeypatch.setenv(MODULE_ENV, "autoglm_no_such_nvml_module")
    info = NvmlGateway().info
    assert not info.available
    assert "autoglm_no_such_nvml_module" in (info.reason or "")


def test_the_real_binding_on_a_machine_without_a_driver(monkeypatch) -> None:
    """On this machine (no NVIDIA driver) the real pynvml must give the same clean answer."""
    monkeypatch.delenv(MODULE_ENV, raising=False)
    if Path("/proc/driver/nvidia").exists():
        pytest.skip("an NVIDIA driver is present: the library-missing path cannot be shown here")
    info = NvmlGateway().info
    assert not info.available
    assert info.reason == "NVML library not found (no NVIDIA driver)"


def test_versions_are_reported(scenario) -> None:
    scenario(
        {
            "driver_version": "550.54.15",
            "nvml_version": "12.550.54.15",
            "cuda_driver_version": 12040,
        }
    )
    info = NvmlGateway().info
    assert info.available and info.reason is None
    assert (info.driver_version, info.nvml_version, info.cuda_driver_version) == (
        "550.54.15",
        "12.550.54.15",
        12040,
    )


def test_query_gives_the_default_and_a_reason_on_error(scenario) -> None:
    scenario({"gpus": [{"not_supported": ["nvmlDeviceGetFanSpeed"]}]})
    gateway = NvmlGateway()
    assert gateway.query("nvmlDeviceGetCount") == 1
    assert gateway.last_error is None
    handle = gateway.query("nvmlDeviceGetHandleByIndex", 0)
    assert gateway.query("nvmlDeviceGetFanSpeed", handle) is None
    assert gateway.last_error == "nvmlDeviceGetFanSpeed: not supported"
    assert gateway.query("nvmlDeviceGetFanSpeed", handle, default=-1) == -1
    assert gateway.query("nvmlDeviceGetHandleByIndex", 7) is None
    assert "Invalid Argument" in (gateway.last_error or "")
    assert gateway.query("nvmlNoSuchFunction") is None


def test_a_hung_init_is_reported_not_waited_for(scenario) -> None:
    scenario({"init_hang_s": 3})
    gateway = NvmlGateway(init_timeout_s=0.2)
    info = gateway.info
    assert not info.available
    assert "nvmlInit did not return" in (info.reason or "")


def test_a_hung_call_marks_only_its_gpu_and_the_gpu_recovers(scenario) -> None:
    scenario({"gpu_count": 4, "gpus": [{}, {"hang_once": {"nvmlDeviceGetPowerUsage": 1.0}}]})
    gateway = NvmlGateway(timeout_s=0.3)
    reader = GpuReader(gateway)
    first = reader.read().gpus
    assert [g.state for g in first] == ["ok", "error", "ok", "ok"]
    assert "nvmlDeviceGetPowerUsage" in (first[1].error or "")
    assert "hung" in (first[1].error or "")
    assert first[1].util_pct is None
    assert all(g.util_pct is not None for i, g in enumerate(first) if i != 1)
    # While the call is stuck its lane refuses work; the other GPUs keep reporting.
    second = reader.read().gpus
    assert [g.state for g in second] == ["ok", "error", "ok", "ok"]
    # Once the stuck call returns, the GPU reports again.
    assert wait_until(lambda: gateway.lane_stuck("gpu1") is None)
    third = reader.read().gpus
    assert [g.state for g in third] == ["ok"] * 4
    assert third[1].power_w is not None


def test_nvml_hung_names_the_call() -> None:
    exc = NvmlHung("nvmlDeviceGetFanSpeed", 2.0)
    assert str(exc) == "nvmlDeviceGetFanSpeed did not return within 2 s (NVML hung)"
