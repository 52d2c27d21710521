"""Pushing alerts to a real Alertmanager (v2 API), started by the test on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
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
        assert client.sent >= 2 and client.queued == 0 and client.last_error is None
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


def test_endpoint_validation() -> None:
    assert alerts_endpoint("http://127.0.0.1:9093") == "http://127.0.0.1:9093/api/v2/alerts"
    assert alerts_endpoint("http://am:9093/prefix/") == "http://am:9093/prefix/api/v2/alerts"
    assert alerts_endpoint("https://am/api/v2/alerts") == "https://am/api/v2/alerts"
    for bad in ("ftp://x", "127.0.0.1:9093", "http://", "http://a:b@h", "http://h?x=1",
                "http://h:99999"):
        with pytest.raises(ValueError):
            alerts_endpoint(bad)


__all__ = ["alertmanager"]
