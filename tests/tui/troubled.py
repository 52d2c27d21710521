"""A synthetic fleet with trouble, for the scenes and Pilot tests of membership and GPU health.

Over ``cluster/synthetic.py``'s seeded fleet (the same path as every source: events into the
monitor): one node FAILED (heartbeat lost, samples stopped), one UP whose agent is lost
(samples still flow) and whose sampler was restarted twice, one LEFT, and GPUs with health
trouble taken from what NVML reports (the sampler's GpuSample fields): a pending row remap, a
hardware slowdown, a PCIe link trained down to x8, Xids 94 and 48.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from autoglm_tui.cluster.synthetic import SyntheticFleet
from autoglm_tui.events import (
    Event,
    HeartbeatLost,
    NodeLeft,
    SampleReceived,
    SamplerExited,
)
from autoglm_tui.gpu_codes import REASON_HW_SLOWDOWN, REASON_SW_POWER_CAP
from autoglm_tui.model import GpuSample, XidEvent

FAILED_NODE = "node-003"
AGENT_LOST_NODE = "node-005"
LEFT_NODE = "node-007"
REMAP_GPU = ("node-002", 3)
SLOW_GPU = ("node-004", 1)
PCIE_GPU = ("node-006", 5)
XID_GPU = ("node-008", 0)


def health_fields(node_id: str, index: int, t: float, t_end: float) -> dict[str, Any]:
    """What NVML says about this GPU at sample time `t` (the fleet's story ends at `t_end`)."""
    base: dict[str, Any] = {"clock_reasons": 0, "throttle_power_pct": 0.0,
                            "throttle_thermal_pct": 0.0, "xid_total": 0,
                            "remap_correctable": 0, "remap_uncorrectable": 0,
                            "remap_pending": 0, "remap_failed": 0,
                            "pcie_gen": 4, "pcie_gen_max": 4, "pcie_width": 16,
                            "pcie_width_max": 16, "pcie_replay": 0}
    key = (node_id, index)
    if key == REMAP_GPU and t >= t_end - 200:
        base.update(remap_uncorrectable=2, remap_pending=1)
    elif key == SLOW_GPU and t >= t_end - 150:
        base.update(clock_reasons=REASON_HW_SLOWDOWN | REASON_SW_POWER_CAP,
                    throttle_power_pct=35.0)
    elif key == PCIE_GPU:
        base.update(pcie_width=8, pcie_replay=12)
    elif key == XID_GPU:
        xids = tuple(XidEvent(at, x) for at, x in ((t_end - 100, 94), (t_end - 40, 48))
                     if at <= t)
        base.update(xids=xids, xid_total=len(xids))
    return base


def with_health(event: SampleReceived, t_end: float) -> SampleReceived:
    sample = event.sample
    gpus: list[GpuSample] = [
        replace(g, **health_fields(event.node_id, g.index, sample.t, t_end)) for g in sample.gpus
    ]
    return replace(event, sample=replace(sample, gpus=tuple(gpus)))


def troubled_ticks(fleet: SyntheticFleet, start: float, seconds: int) -> Iterator[
        tuple[float, list[Event]]]:
    """(time, events) for each second from `start`: the fleet's samples with GPU health, and
    the membership story (times relative to the end)."""
    end = start + seconds
    for k in range(1, seconds + 1):
        t = start + k
        out: list[Event] = []
        for e in fleet.tick_events(t):
            if e.node_id == FAILED_NODE and t > end - 90:
                continue  # its sampler went quiet with the node
            if e.node_id == LEFT_NODE and t > end - 30:
                continue
            out.append(with_health(e, end))
        if t == end - 90:
            out.append(HeartbeatLost(t, FAILED_NODE, "lost heartbeat (lease expired)"))
        if t == end - 60:
            out.append(HeartbeatLost(t, AGENT_LOST_NODE, "lost heartbeat (lease expired)"))
        if t in (end - 200, end - 50):
            out.append(SamplerExited(t, AGENT_LOST_NODE, "killed by SIGKILL"))
        if t == end - 30:
            out.append(NodeLeft(t, LEFT_NODE, "left gracefully"))
        yield t, out
