"""Pushing alerts to a real Alertmanager (v2 API), started by the test on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import pytest

from autoglm_tui.alerting.alertmanager import AlertmanagerClient, alerts_endpoint
from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.analysis.alerts import AlertEngine, parse_rules
from autoglm_tui.cluster.backoff import Backoff
from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived
from autoglm_tui.monitor import Monitor
from tests.integration.alertmanager_fixture import (
    AlertmanagerServer,
    alertmanager,
    alertmanager_missing,
    free_port,
)
from tests.unit.alertseries import _Counters, build_sample
from tests.unit.samples import hello

pytestmark = pytest.mark.integration

RULES = """
[[rule]]
name = "cpu_burner"
metric = "proc.cpu_pct"
threshold = 50
for = "2s"
severity = "critical"
labels = { team = "infra" }
summary = "pid {pid} ({command}) on {node} burns {value:.0f}% CPU"
"""


class Fleet:
    """A monitor fed by hand: one node with one process whose CPU we set."""

    def __init__(self, pipeline: AlertPipeline) -> None:
        self.monitor = Monitor()
        pipeline.install(self.monitor)
        self.counters = _Counters()
        self.t = time.time() - 100
        self.monitor.apply(NodeJoined(self.t, "gpu-node-1"))
        self.monitor.apply(HelloReceived(self.t, "gpu-node-1", hello("gpu-node-1", gpus=0)))

    def step(self, cpu: str) -> None:
        self.t += 1
        values = {("proc.cpu_pct", 4242): cpu} if cpu != "-" else {}
        sample = build_sample(self.t, self.counters, values, 1.0)
        self.monitor.apply(SampleReceived(self.t, "gpu-node-1", sample))
        self.monitor.tick(self.t)


async def _until(check, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def _ours(alerts: list[dict]) -> list[dict]:  # type: ignore[type-arg]
    return [a for a in alerts if a["labels"].get("alertname") == "cpu_burner"]


async def test_firing_and_resolved_reach_alertmanager(alertmanager: AlertmanagerServer) -> None:
    client = AlertmanagerClient(alertmanager.url, backoff=Backoff(0.1, 0.5, 0.1))
    pipeline = AlertPipeline(AlertEngine(parse_rules(RULES)[0]), alertmanager=client)
    fleet = Fleet(pipeline)
    task = asyncio.create_task(pipeline.run())
    try:
        for cpu in ("10", "99", "99", "99"):
            fleet.step(cpu)
        assert pipeline.engine.firing()
        got = await asyncio.to_thread(alertmanager.wait_alerts, lambda a: bool(_ours(a)))
        (alert,) = _ours(got)
        assert alert["labels"] == {"alertname": "cpu_burner", "severity": "critical",
                                   "node": "gpu-node-1", "pid": "4242", "team": "infra"}
        assert alert["annotations"]["summary"] == \
            "pid 4242 (python job4242.py) on gpu-node-1 burns 99% CPU"
        assert alert["annotations"]["value"] == "99"
        assert alert["status"]["state"] == "active"
        # the process stops: resolved, and Alertmanager no longer lists it as active
        fleet.step("-")
        await asyncio.to_thread(alertmanager.wait_alerts, lambda a: not _ours(a))
        # Alertmanager has it; the client counts the post once the reply is read (a moment
        # later, in its own task)
        await _until(lambda: client.sent >= 2 and client.queued == 0)
        assert client.last_error is None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_alerts_queue_while_alertmanager_is_down(tmp_path: Path) -> None:
    why = alertmanager_missing()
    if why:
        pytest.skip(why)
    port = free_port()  # nothing listens here yet
    server = AlertmanagerServer(tmp_path / "am", port=port)
    client = AlertmanagerClient(server.url, backoff=Backoff(0.1, 0.3, 0.1), timeout_s=2)
    pipeline = AlertPipeline(AlertEngine(parse_rules(RULES)[0]), alertmanager=client)
    fleet = Fleet(pipeline)
    task = asyncio.create_task(pipeline.run())
    try:
        for cpu in ("99", "99", "99"):
            fleet.step(cpu)
        await _until(lambda: client.failures >= 2)
        assert client.queued == 1 and client.sent == 0
        assert "cannot reach Alertmanager" in (client.last_error or "")
        assert "alertmanager:" in pipeline.status_line()
        await asyncio.to_thread(server.start)
        got = await asyncio.to_thread(server.wait_alerts, lambda a: bool(_ours(a)))
        assert _ours(got)[0]["labels"]["pid"] == "4242"
        await _until(lambda: client.queued == 0 and client.last_error is None)
        # down again: the resolve waits in the queue and is delivered after a restart
        await asyncio.to_thread(server.stop)
        fleet.step("-")
        await _until(lambda: client.failures >= 3 and client.queued == 1)
        await asyncio.to_thread(server.start)
        await asyncio.to_thread(server.wait_alerts, lambda a: not _ours(a))
        await _until(lambda: client.queued == 0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        server.stop()


async def test_flush_delivers_before_exit(alertmanager: AlertmanagerServer) -> None:
    client = AlertmanagerClient(alertmanager.url)
    pipeline = AlertPipeline(AlertEngine(parse_rules(RULES)[0]), alertmanager=client)
    fleet = Fleet(pipeline)
    for cpu in ("99", "99", "99"):
        fleet.step(cpu)
    assert client.queued == 1
    await pipeline.aclose(flush_s=5)  # no run() task: the flush itself delivers
    assert client.queued == 0
    assert _ours(await asyncio.to_thread(alertmanager.alerts))


DIAGNOSIS_RULES = """
[[rule]]
name = "cpu_bound_node"
finding = "cpu_bound"
severity = "critical"
"""


async def test_a_diagnosis_finding_reaches_alertmanager_with_its_verdict(
        alertmanager: AlertmanagerServer, tmp_path: Path) -> None:
    """The real diagnosis runner (installed after the pipeline, as the live views do) finds
    cpu_bound in a node's history; the `kind = "diagnosis"` rule raises it in the alert log
    and in Alertmanager with the finding's verdict and next steps, and resolves it with
    "finding cleared" once the finding is gone."""
    from autoglm_tui.alerting.alert_log import AlertLog
    from autoglm_tui.analysis.diagnosis import DiagnosisRunner

    client = AlertmanagerClient(alertmanager.url, backoff=Backoff(0.1, 0.5, 0.1))
    log = AlertLog(tmp_path / "alerts.jsonl")
    pipeline = AlertPipeline(AlertEngine(parse_rules(DIAGNOSIS_RULES)[0]), alertmanager=client,
                             log=log)
    monitor = Monitor()
    pipeline.install(monitor)
    runner = DiagnosisRunner().install(monitor)
    counters = _Counters()
    # Simulated time that ends near the real clock: Alertmanager reads startsAt and endsAt.
    t = time.time() - 150
    monitor.apply(NodeJoined(t, "gpu-node-1"))
    monitor.apply(HelloReceived(t, "gpu-node-1", hello("gpu-node-1", gpus=0)))

    def step(cpu: str) -> None:
        nonlocal t
        t += 1
        values = {("cpu.util_pct", None): cpu, ("gpu.util_pct", 0): "20"}
        monitor.apply(SampleReceived(t, "gpu-node-1", build_sample(t, counters, values, 1.0)))
        monitor.tick(t)

    def ours(alerts: list[dict]) -> list[dict]:  # type: ignore[type-arg]
        return [a for a in alerts if a["labels"].get("alertname") == "cpu_bound_node"]

    task = asyncio.create_task(pipeline.run())
    try:
        for _ in range(60):  # a saturated CPU and an idle GPU
            step("97")
            if pipeline.engine.firing():
                break
        # (the GPU's memory held by no listed process is a finding too, not watched here)
        (cpu,) = [f for f in runner.findings if f.name == "cpu_bound"]
        (firing,) = pipeline.engine.firing()
        assert firing.target.finding == "cpu_bound"
        verdict = cpu.verdict
        got = await asyncio.to_thread(alertmanager.wait_alerts, lambda a: bool(ours(a)))
        (alert,) = ours(got)
        assert alert["labels"] == {"alertname": "cpu_bound_node", "severity": "critical",
                                   "node": "gpu-node-1", "finding": "cpu_bound"}
        assert alert["annotations"]["summary"] == verdict
        assert verdict.startswith("GPUs wait for the host CPU: GPU util 20% while CPU is at 97%")
        assert "data-loader workers" in alert["annotations"]["next_steps"]
        assert "CPU util 97%" in alert["annotations"]["evidence"]
        for _ in range(120):  # the CPU calms down: the finding clears a minute later
            step("20")
            if not pipeline.engine.firing():
                break
        assert "cpu_bound" not in {f.name for f in runner.findings}
        assert not pipeline.engine.firing()
        await asyncio.sleep(max(0.0, t - time.time()))  # its endsAt must not be ahead
        await asyncio.to_thread(alertmanager.wait_alerts, lambda a: not ours(a))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        pipeline.close()
    lines = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    mine = [x for x in lines if x.get("rule") == "cpu_bound_node"]
    assert [x["state"] for x in mine] == ["firing", "resolved"]
    assert mine[0]["summary"] == verdict and mine[0]["finding"] == "cpu_bound"
    assert mine[1]["reason"] == "finding cleared"


def test_endpoint_validation() -> None:
    assert alerts_endpoint("http://127.0.0.1:9093") == "http://127.0.0.1:9093/api/v2/alerts"
    assert alerts_endpoint("http://am:9093/prefix/") == "http://am:9093/prefix/api/v2/alerts"
    assert alerts_endpoint("https://am/api/v2/alerts") == "https://am/api/v2/alerts"
    for bad in ("ftp://x", "127.0.0.1:9093", "http://", "http://a:b@h", "http://h?x=1",
                "http://h:99999"):
        with pytest.raises(ValueError):
            alerts_endpoint(bad)


__all__ = ["alertmanager"]
