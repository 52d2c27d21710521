"""Deterministic scenes of the main screens, for the snapshot tests and the README screenshots.

Each scene builds an app over fixed data on a stopped clock, then presses the keys that lead to
its screen: the local view over ``tui/demo.py``'s recording (4 GPUs, one lost, a hostile
command line), the cluster view over ``cluster/synthetic.py``'s seeded fleet (12 nodes x 8
GPUs, five minutes of history, alert rules that fire and pend on it), the same fleet in
trouble (``troubled.py``: a FAILED node, a lost agent, a LEFT node, GPU health faults; and an
alert log on a full disk), and replays of two recordings of the diagnosis corpus
(tests/scenarios/), paused 30 s before their end with the default alert rules and the diagnosis
computed as they were then. Times are shown in UTC.

    .venv/bin/python scripts/snapshots.py      # rewrite tests/tui/snapshots/ (then review the diff)
    .venv/bin/python scripts/screenshots.py    # rewrite screenshots/ (the README's SVGs)
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from textual.pilot import Pilot

from autoglm_tui.alerting.health import SinkHealth, sink_health
from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.alerting.write_queue import QueueHealth
from autoglm_tui.analysis.alerts import AlertEngine
from autoglm_tui.analysis.rules import parse_rules
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.sources import ScriptedSource
from autoglm_tui.cluster.synthetic import SyntheticFleet
from autoglm_tui.commands.replay import replay_monitor
from autoglm_tui.events import SampleReceived
from autoglm_tui.monitor import Monitor
from autoglm_tui.recording.feed import feed
from autoglm_tui.recording.reader import Recording
from autoglm_tui.recording.replay import ReplayController
from autoglm_tui.tui.app import MonitorApp
from autoglm_tui.tui.cluster_app import ClusterApp
from autoglm_tui.tui.demo import demo_end, demo_events
from autoglm_tui.tui.intents import OpenNode
from autoglm_tui.tui.replay_app import ReplayClusterApp, ReplayMonitorApp
from autoglm_tui.tui.themes import resolve_theme
from autoglm_tui.tui.widgets.process_table import ProcessTable

from .troubled import troubled_ticks

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
NODE = "gpu-node-01"
CLUSTER_T0 = 1_763_980_000.0
CLUSTER_HISTORY_S = 300
LOCAL_RULES = """
[[rule]]
name = "train_cpu"
metric = "proc.cpu_pct"
threshold = 90
for = "5s"
summary = "pid {pid} ({command}) at {value:.0f}% CPU"

[[rule]]
name = "gpu_util_high"
metric = "gpu.util_pct"
threshold = 85
for = "30s"
summary = "GPU {gpu} on {node} busy: {value:.0f}%"
"""
CLUSTER_RULES = """
[[rule]]
name = "gpu_mem_high"
metric = "gpu.mem_used_pct"
threshold = 80
for = "1m"
summary = "GPU {gpu} on {node} memory at {value:.0f}%"

[[rule]]
name = "gpu_util_high"
metric = "gpu.util_pct"
threshold = 85
for = "3m"
summary = "GPU {gpu} on {node} busy: {value:.0f}%"

[[rule]]
name = "gpu_util_low"
metric = "gpu.util_pct"
op = "<"
threshold = 40
for = "1m"
severity = "critical"
summary = "GPU {gpu} on {node} idles at {value:.0f}% while its peers work"

[[rule]]
name = "node_not_up"
kind = "node"
for = "30s"
"""

Steps = Callable[[Pilot], Awaitable[None]]


@contextmanager
def utc() -> Iterator[None]:
    """Clock times on screen in UTC, whatever the machine's zone."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def pipeline_for(rules: str) -> AlertPipeline:
    """Alerting with these rules, no log, no Alertmanager, silences in memory only."""
    return AlertPipeline(AlertEngine(parse_rules(rules)[0]))


def local_app(theme: str = "dark", services: bool = False) -> MonitorApp:
    """The local view over the demo recording, with its alerts evaluated sample by sample
    (`services`: its vLLM process serves metrics)."""
    monitor = Monitor()
    pipeline_for(LOCAL_RULES).install(monitor)
    for event in demo_events(NODE, services=services):
        monitor.apply(event)
        if isinstance(event, SampleReceived):
            monitor.tick(event.t)
    end = demo_end()
    return MonitorApp(monitor, [ScriptedSource([])], OpenNode(NODE),
                      theme=resolve_theme(theme), clock=lambda: end)


def cluster_app() -> ClusterApp:
    """The cluster view over 12 synthetic nodes x 8 GPUs with five minutes of history."""
    fleet = SyntheticFleet(nodes=12, gpus=8, seed=7, clock=lambda: CLUSTER_T0)
    monitor = Monitor(FleetState())
    pipeline_for(CLUSTER_RULES).install(monitor)
    start = CLUSTER_T0 - CLUSTER_HISTORY_S
    for event in fleet.join_events(start):
        monitor.apply(event)
    for k in range(1, CLUSTER_HISTORY_S + 1):
        for event in fleet.tick_events(start + k):
            monitor.apply(event)
        monitor.tick(start + k)
    return ClusterApp(monitor, [ScriptedSource([])], clock=lambda: CLUSTER_T0,
                      theme=resolve_theme("dark"), gc_tuning=False)


class ForgetRecorder:
    """A source that takes operator requests and keeps them (the real one, the SSH runner's,
    is tested against a real etcd in tests/integration/test_forget_ui.py)."""

    takes: tuple[type, ...]

    def __init__(self) -> None:
        from autoglm_tui.requests import ForgetNode

        self.takes = (ForgetNode,)
        self.requests: list[object] = []

    def request(self, req: object) -> None:
        self.requests.append(req)

    async def run(self, emit: object) -> None:
        return None


class FullDiskPipeline(AlertPipeline):
    """Alerting whose log reports a full disk (a stand-in for the picture: the banner's test
    fills a real disk)."""

    def sink_health(self) -> SinkHealth:
        return sink_health("/var/lib/autoglm-tui/alerts.jsonl",
                           QueueHealth(queued=12, dropped=0, written=340, error="disk full",
                                       error_since=CLUSTER_T0 - 20, failures=9, rejected=0),
                           None)


def troubled_app(full_disk: bool = False) -> ClusterApp:
    """The synthetic fleet in trouble (troubled.py) over five minutes, alerts evaluated."""
    fleet = SyntheticFleet(nodes=12, gpus=8, seed=7, clock=lambda: CLUSTER_T0)
    monitor = Monitor(FleetState())
    rules = parse_rules(CLUSTER_RULES)[0]
    (FullDiskPipeline if full_disk else AlertPipeline)(AlertEngine(rules)).install(monitor)
    start = CLUSTER_T0 - CLUSTER_HISTORY_S
    for event in fleet.join_events(start):
        monitor.apply(event)
    for t, events in troubled_ticks(fleet, start, CLUSTER_HISTORY_S):
        for event in events:
            monitor.apply(event)
        monitor.tick(t)
    return ClusterApp(monitor, [ScriptedSource([]), ForgetRecorder()],
                      clock=lambda: CLUSTER_T0, theme=resolve_theme("dark"), gc_tuning=False)


def replay_app(scenario: str, before_end_s: float = 30.0,
               warmup_s: float | None = None) -> MonitorApp:
    """`autoglm-tui replay tests/scenarios/SCENARIO.jsonl.gz`, fed synchronously up to
    `before_end_s` before the end and paused there (one node: the local view); from the start,
    or only `warmup_s` before that point (``replay --at ... --warmup``)."""
    rec = Recording.open(SCENARIOS / f"{scenario}.jsonl.gz")
    monitor = replay_monitor([])  # the default rules only: no user file is read
    until = rec.end - before_end_s
    feed(rec, monitor, rec.start if warmup_s is None else max(rec.start, until - warmup_s), until)
    controller = ReplayController(rec, paused=True)
    controller.position, controller.target = until, None
    theme = resolve_theme("dark")
    app: MonitorApp
    if len(rec.nodes) == 1:
        app = ReplayMonitorApp(monitor, [ScriptedSource([])], OpenNode(rec.nodes[0]), theme=theme,
                               clock=lambda: until)
    else:
        app = ReplayClusterApp(monitor, [ScriptedSource([])], theme=theme, clock=lambda: until,
                               gc_tuning=False)
    app.replay = controller  # type: ignore[attr-defined]
    return app


def replay_mixed() -> MonitorApp:
    """Two nodes: a GPU memory leak (critical) on mix-0, a straggling GPU on mix-1."""
    return replay_app("mixed_leak_and_straggler")


def replay_rise() -> MonitorApp:
    """One serving node whose P95 doubled when a batch job took the host CPU."""
    return replay_app("latency_rise_with_cpu")


def replay_leak() -> MonitorApp:
    """One node whose serving process leaks GPU memory: the local view."""
    return replay_app("gpu_memory_leak")


async def nothing(pilot: Pilot) -> None:
    return None


def keys(*pressed: str) -> Steps:
    async def press(pilot: Pilot) -> None:
        for key in pressed:
            await pilot.press(key)
            await pilot.pause()

    return press


async def open_vllm(pilot: Pilot) -> None:
    pilot.app.screen.query_one(ProcessTable).select_pid(4121)
    await pilot.press("enter")


@dataclass(frozen=True)
class Scene:
    """An app and the keys that lead to one screen."""

    app: Callable[[], MonitorApp]
    steps: Steps = nothing


SCENES: dict[str, Scene] = {
    "local": Scene(local_app),
    "local-gpu": Scene(local_app, keys("0")),
    "local-process": Scene(local_app, open_vllm),
    "local-tree": Scene(local_app, keys("t")),
    "local-help": Scene(local_app, keys("question_mark")),
    "local-light": Scene(lambda: local_app("light")),
    "cluster": Scene(cluster_app),
    "cluster-node": Scene(cluster_app, keys("down", "enter")),
    "cluster-gpu": Scene(cluster_app, keys("down", "enter", "1")),
    "cluster-gpus": Scene(cluster_app, keys("G")),
    "cluster-alerts": Scene(cluster_app, keys("colon", *"alerts", "enter")),
    "cluster-help": Scene(cluster_app, keys("question_mark")),
    "replay-cluster": Scene(replay_mixed),
    "replay-diagnosis": Scene(replay_mixed, keys("d")),
    "replay-evidence": Scene(replay_mixed, keys("d", "enter")),
    "replay-node": Scene(replay_leak),
    "replay-rise": Scene(replay_rise, keys("d", "enter")),
    "local-services": Scene(lambda: local_app(services=True)),
    "local-service": Scene(lambda: local_app(services=True), keys("S", "enter")),
    "cluster-service-node": Scene(cluster_app, keys("down", "down", "down", "enter")),
    "cluster-service": Scene(cluster_app, keys("down", "down", "down", "enter", "S", "enter")),
    "cluster-services": Scene(cluster_app, keys("colon", *"services", "enter")),
    "members": Scene(troubled_app),
    "members-failed": Scene(troubled_app, keys("down", "down", "down", "enter")),
    "members-forget": Scene(troubled_app, keys("down", "down", "down", "ctrl+d")),
    "health-node": Scene(troubled_app, keys("down", "down", "enter")),
    "health-gpu": Scene(troubled_app, keys("down", "down", "enter", "3")),
    "health-gpus": Scene(troubled_app, keys("G")),
    "sink-full": Scene(lambda: troubled_app(full_disk=True)),
}
# The main screens at the two sizes the snapshot tests hold: 80x24 and 160x50.
SNAPSHOTS = ("local", "cluster-node", "cluster-gpu", "cluster", "cluster-gpus", "cluster-alerts",
             "cluster-help", "local-services", "local-service", "cluster-service-node",
             "cluster-service", "cluster-services", "members", "members-failed",
             "members-forget", "health-gpu", "health-gpus", "sink-full", "replay-cluster",
             "replay-diagnosis", "replay-evidence", "replay-node", "replay-rise")
SNAPSHOT_SIZES = ((80, 24), (160, 50))


async def settle(pilot: Pilot) -> None:
    """Let events land and the screen draw everything."""
    await pilot.pause()
    pilot.app.repaint(force=True)  # type: ignore[attr-defined]
    await pilot.pause()
    await pilot.pause()


async def shoot(name: str, size: tuple[int, int], on_screen: Callable[[MonitorApp], object]
                ) -> object:
    """Run scene `name` at `size` and return `on_screen(app)` once its screen is drawn."""
    scene = SCENES[name]
    with utc():
        app = scene.app()
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await scene.steps(pilot)
            await settle(pilot)
            return on_screen(app)
