"""The built-in GPU health rules fire on what the sampler reads from the (fake) NVML, through
the alert engine's public API: samples from a real Collector, folded into a FleetState on a
hand-moved clock, evaluated by an AlertEngine holding the default rules."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from autoglm_tui.alerting.rule_files import default_rules
from autoglm_tui.analysis.alerts import AlertEngine
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.events import HelloReceived, SampleReceived
from autoglm_tui.gpu_codes import REASON_HW_POWER_BRAKE, REASON_SW_POWER_CAP
from autoglm_tui.sampler.collector import Collector
from autoglm_tui.sampler.nvml import MODULE_ENV

FAKE = Path(__file__).resolve().parents[1] / "fakes" / "fake_nvml.py"
T0 = 1_800_000_000.0
HEALTH_RULES = ("gpu_xid_critical", "gpu_remap_pending", "gpu_page_retirement_pending",
                "gpu_hw_slowdown", "gpu_pcie_downtrained")


def run(monkeypatch: pytest.MonkeyPatch, gpus: list[dict[str, Any]], seconds: int,
        wait_for_xids: int = 0) -> list[tuple[float, str, str, str]]:
    """(time since start, state, rule, target) of every alert event over `seconds` samples."""
    monkeypatch.setenv(MODULE_ENV, str(FAKE))
    monkeypatch.setenv("AUTOGLM_FAKE_NVML", json.dumps({"gpu_count": len(gpus), "gpus": gpus}))
    coll = Collector(top_n=0)
    try:
        state = FleetState()
        engine = AlertEngine([r for r in default_rules() if r.name in HEALTH_RULES])
        state.apply(HelloReceived(T0, "n1", coll.hello(T0)))
        deadline = time.monotonic() + 5
        while wait_for_xids:  # Xids arrive on the watcher thread: let them in first
            seen = sum(g.xid_total or 0 for g in coll.gpus.read().gpus)
            if seen >= wait_for_xids or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        out = []
        for k in range(seconds):
            t = T0 + 1 + k
            changes = state.apply(SampleReceived(t, "n1", coll.sample(t)))
            for ev in engine.evaluate(state, t, changes + state.tick(t)):
                out.append((t - T0 - 1, ev.state.value, ev.rule, str(ev.target)))
        return out
    finally:
        coll.close()


def test_a_critical_xid_fires_at_once_and_an_application_xid_does_not(monkeypatch) -> None:
    ev = run(monkeypatch, [{"xids": [48]}, {"xids": [13]}], 3, wait_for_xids=2)
    assert (0, "firing", "gpu_xid_critical", "n1 gpu0") in ev
    assert not [e for e in ev if e[3] == "n1 gpu1"]


def test_a_pending_remap_and_a_pending_retirement_fire(monkeypatch) -> None:
    ev = run(monkeypatch, [{"remapped_rows": [0, 1, 1, 0]},
                           {"retired_pages": [0, 1], "retired_pending": 1}, {}], 2)
    assert (0, "firing", "gpu_remap_pending", "n1 gpu0") in ev
    assert (0, "firing", "gpu_page_retirement_pending", "n1 gpu1") in ev
    assert not [e for e in ev if e[3] == "n1 gpu2"]


def test_a_power_brake_fires_after_one_minute_a_power_cap_never(monkeypatch) -> None:
    ev = run(monkeypatch, [{"clock_reasons": REASON_HW_POWER_BRAKE},
                           {"clock_reasons": REASON_SW_POWER_CAP}], 62)
    assert (0, "pending", "gpu_hw_slowdown", "n1 gpu0") in ev
    assert (60, "firing", "gpu_hw_slowdown", "n1 gpu0") in ev
    assert not [e for e in ev if e[3] == "n1 gpu1"]


def test_pcie_downtraining_fires_after_30_seconds(monkeypatch) -> None:
    ev = run(monkeypatch, [{"pcie_width": 8, "pcie_width_max": 16},
                           {"pcie_gen": 1, "pcie_gen_max": 5}], 32)
    assert (30, "firing", "gpu_pcie_downtrained", "n1 gpu0") in ev
    assert not [e for e in ev if e[3] == "n1 gpu1"]  # a low generation alone is power saving
