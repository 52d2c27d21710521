"""The per-GPU health summary (analysis/gpu_health.py) and the health metrics (pure data)."""

from __future__ import annotations

from dataclasses import replace

from autoglm_tui.analysis.derive import derive
from autoglm_tui.analysis.gpu_health import Health, gpu_health, node_health, worst
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.gpu_codes import (
    REASON_HW_POWER_BRAKE,
    REASON_HW_SLOWDOWN,
    REASON_IDLE,
    REASON_SW_POWER_CAP,
    clock_reason_words,
    xid_info,
)
from autoglm_tui.metrics import METRICS, NO_HISTORY, Scope
from autoglm_tui.model import GpuSample, NvLinkErrors, XidEvent

from .samples import sample

HEALTHY = GpuSample(
    index=0, uuid="GPU-0", state="ok", util_pct=50.0, clock_reasons=0, xid_total=0,
    remap_correctable=0, remap_uncorrectable=0, remap_pending=0, remap_failed=0,
    pcie_gen=5, pcie_gen_max=5, pcie_width=16, pcie_width_max=16, pcie_replay=0,
    nvlink_links=18,
)


def test_a_healthy_gpu_is_ok_with_its_facts_in_words() -> None:
    h = gpu_health(HEALTHY)
    assert h.state == Health.OK and h.badge == "OK" and h.reasons == ()
    assert h.pcie == "Gen5 x16" and not h.pcie_degraded
    assert h.memory == "rows remapped: 0 correctable, 0 uncorrectable"
    assert h.nvlink == "18 links up"
    assert h.clock_reasons == () and h.xids == () and h.xid_total == 0


def test_an_idle_gpu_at_gen1_is_not_degraded() -> None:
    g = replace(HEALTHY, clock_reasons=REASON_IDLE, pcie_gen=1)
    h = gpu_health(g)
    assert h.state == Health.OK
    assert h.clock_reasons == ("idle",)
    assert h.pcie == "Gen1 x16 (max Gen5 x16)"  # the generation drops at idle: not a fault


def test_hardware_slowdown_and_a_downtrained_link_degrade() -> None:
    g = replace(HEALTHY, clock_reasons=REASON_SW_POWER_CAP | REASON_HW_SLOWDOWN
                | REASON_HW_POWER_BRAKE, pcie_width=8)
    h = gpu_health(g)
    assert h.state == Health.DEGRADED and h.badge == "SLOW"
    assert h.clock_reasons == ("SW power cap", "HW slowdown", "HW power brake")
    assert "HW power brake" in h.reasons and "HW slowdown" in h.reasons
    assert "PCIe link downtrained: Gen5 x8 (max Gen5 x16)" in h.reasons
    assert h.pcie_degraded


def test_a_pending_remap_needs_a_reset_and_xids_are_named() -> None:
    xids = (XidEvent(100.0, 13), XidEvent(160.0, 48))
    g = replace(HEALTHY, remap_pending=1, xids=xids, xid_total=5, xid=48)
    h = gpu_health(g)
    assert h.state == Health.RESET_NEEDED and h.badge == "RESET"
    assert h.reasons[0] == "Xid 48: double-bit ECC error"
    assert "row remap pending: reset the GPU" in h.reasons
    assert [(n.xid, n.t) for n in h.xids] == [(48, 160.0), (13, 100.0)]  # newest first
    assert h.xids[1].severity == "app" and "application" in h.xids[1].meaning
    assert "rows remapped" in (h.memory or "") and "remap pending" in (h.memory or "")


def test_an_application_xid_alone_leaves_the_gpu_ok() -> None:
    g = replace(HEALTHY, xids=(XidEvent(1.0, 31),), xid_total=1)
    assert gpu_health(g).state == Health.OK
    assert gpu_health(replace(g, xids=(XidEvent(1.0, 92),))).state == Health.DEGRADED


def test_lost_is_the_worst_and_node_health_takes_the_worst_gpu() -> None:
    lost = GpuSample(index=1, uuid="GPU-1", state="lost", error="Xid 79: GPU has fallen off "
                     "the bus", xids=(XidEvent(5.0, 79),), xid_total=1, xid=79)
    h = gpu_health(lost)
    assert h.state == Health.LOST and h.reasons[0].startswith("Xid 79")
    s = replace(sample(1.0, 1, gpus=0), gpus=(HEALTHY, lost))
    assert node_health(s) == Health.LOST
    assert node_health(replace(s, gpus=(HEALTHY,))) == Health.OK
    assert node_health(None) is None
    assert worst([Health.DEGRADED, Health.OK, Health.RESET_NEEDED]) == Health.RESET_NEEDED


def test_an_old_sampler_gpu_has_no_health_values() -> None:
    old = sample(1.0, 1).gpus[0]  # no schema 1.1 fields
    assert gpu_health(old).state == Health.OK
    assert gpu_health(old).pcie is None and gpu_health(old).nvlink is None
    values = derive(replace(sample(1.0, 1), gpus=(old,)), None)
    assert ("gpu.hw_slowdown", 0) not in values and ("gpu.xid_critical", 0) not in values


def test_nvlink_words_sum_the_links() -> None:
    g = replace(HEALTHY, nvlink_links=2, nvlink_errors=(
        NvLinkErrors(0, crc_flit=3, crc_data=None, replay=1, recovery=0),
        NvLinkErrors(1, crc_flit=0, crc_data=2, replay=0, recovery=4)))
    assert gpu_health(g).nvlink == "2 links up, CRC errors 5, replays 1, recoveries 4"


def test_health_metrics_are_derived_and_only_clock_reasons_keep_history() -> None:
    g = replace(HEALTHY, clock_reasons=REASON_HW_SLOWDOWN, remap_pending=1, pcie_width=4,
                xids=(XidEvent(1.0, 95),), xid_total=1)
    values = derive(replace(sample(1.0, 1, gpus=0), gpus=(g,)), None)
    assert values[("gpu.hw_slowdown", 0)] == 1 and values[("gpu.power_brake", 0)] == 0
    assert values[("gpu.remap_pending", 0)] == 1 and values[("gpu.pcie_width_degraded", 0)] == 1
    assert values[("gpu.xid_critical", 0)] == 1 and values[("gpu.xid_recent", 0)] == 1
    assert values[("gpu.clock_reasons", 0)] == REASON_HW_SLOWDOWN
    for name, m in METRICS.items():
        if m.scope == Scope.GPU:
            assert (name, 0) in values, name
    hist = FleetState()._new_history()  # the history a node gets
    hist.append(1.0, values)
    keys = hist.keys()
    kept = {k[0] for k in keys}
    assert "gpu.clock_reasons" in kept and "gpu.util_pct" in kept
    assert not kept & NO_HISTORY
    assert "gpu.hw_slowdown" in NO_HISTORY and "gpu.clock_reasons" not in NO_HISTORY


def test_code_tables() -> None:
    assert clock_reason_words(None) == () and clock_reason_words(0) == ()
    assert clock_reason_words(0x1000 | REASON_IDLE) == ("idle", "unknown 0x1000")
    assert xid_info(79).name == "GPU has fallen off the bus" and xid_info(79).reset_needed
    unknown = xid_info(999)
    assert unknown.name == "Xid 999" and unknown.severity == "warn"


def test_fleet_state_gives_each_gpus_health_as_plain_data() -> None:
    from autoglm_tui.analysis.state import FleetState
    from autoglm_tui.events import SampleReceived

    state = FleetState()
    state.apply(SampleReceived(1.0, "n1", sample(1.0, 1)))
    node = state.nodes["n1"]
    assert [h.state for h in node.gpu_health()] == [Health.OK, Health.OK]
    pending = replace(HEALTHY, index=1, remap_pending=1)
    state.apply(SampleReceived(2.0, "n1", replace(sample(2.0, 2, gpus=0),
                                                  gpus=(HEALTHY, pending))))
    assert node.worst_gpu_health() == Health.RESET_NEEDED
    assert node.gpu_health()[1].reasons == ("row remap pending: reset the GPU",)
    assert FleetState().nodes.get("x") is None


def test_clock_reason_shares_count_whole_masks_and_leave_benign_reasons_out() -> None:
    from autoglm_tui.analysis.gpu_health import clock_reason_shares
    from autoglm_tui.gpu_codes import REASON_HW_SLOWDOWN, REASON_IDLE, REASON_SW_POWER_CAP

    both = float(REASON_HW_SLOWDOWN | REASON_SW_POWER_CAP)
    points = [(1.0, both), (2.0, float(REASON_HW_SLOWDOWN)), (3.0, float(REASON_IDLE)),
              (4.0, None), (5.0, 0.0), (6.0, 2.5)]  # a gap and a mixed bucket's mean: skipped
    n, shares = clock_reason_shares(points)
    assert n == 4
    assert shares == [("HW slowdown", 0.5), ("SW power cap", 0.25)]  # idle is not a limit
    assert clock_reason_shares([]) == (0, [])
