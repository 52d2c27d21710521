"""Silences, acks, the Alertmanager queue and the pipeline that wires them (no network)."""

from __future__ import annotations

import json
from pathlib import Path

from autoglm_tui.alerting.alertmanager import AlertmanagerClient
from autoglm_tui.alerting.pipeline import AlertPipeline
from autoglm_tui.alerting.silences import SilenceStore
from autoglm_tui.analysis.alerts import AlertEngine, AlertState, Target, parse_rules
from autoglm_tui.events import HelloReceived, NodeJoined, SampleReceived
from autoglm_tui.monitor import Monitor

from .alertseries import _Counters, build_sample
from .samples import hello

RULES = """
[[rule]]
name = "hot"
metric = "gpu.util_pct"
threshold = 85
"""


class Rig:
    """A monitor with the pipeline installed, fed GPU utilisation by hand."""

    def __init__(self, pipeline: AlertPipeline, gpus: int = 2) -> None:
        self.pipeline = pipeline
        self.monitor = Monitor()
        pipeline.install(self.monitor)
        self.c = _Counters()
        self.t = 1000.0
        self.gpus = gpus
        self.monitor.apply(NodeJoined(self.t, "n1"))
        self.monitor.apply(HelloReceived(self.t, "n1", hello("n1", gpus=0)))

    def step(self, *utils: str) -> None:
        self.t += 1
        values = {("gpu.util_pct", i): u for i, u in enumerate(utils)}
        self.monitor.apply(SampleReceived(self.t, "n1", build_sample(self.t, self.c, values, 1)))
        self.monitor.tick(self.t)


def _pipeline(**kw: object) -> AlertPipeline:
    return AlertPipeline(AlertEngine(parse_rules(RULES)[0]), **kw)  # type: ignore[arg-type]


def test_install_exposes_the_pipeline_on_the_monitor() -> None:
    rig = Rig(_pipeline())
    assert rig.monitor.alerts is rig.pipeline
    rig.step("90", "10")
    rows = rig.pipeline.rows()
    assert [(r.alert.rule.name, str(r.alert.target), r.alert.state) for r in rows] == [
        ("hot", "n1 gpu0", AlertState.FIRING)]
    assert rig.pipeline.recent[-1].state == AlertState.FIRING


def test_ack_lasts_one_episode_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "state" / "silences.json"
    rig = Rig(_pipeline(silences=SilenceStore(path)))
    rig.step("90", "10")
    alert = rig.pipeline.rows()[0].alert
    rig.pipeline.ack(alert)
    assert rig.pipeline.rows()[0].acked
    rig.pipeline.silences.flush()  # saved by the writer thread
    assert SilenceStore(path).is_acked(alert.fingerprint)  # survives a restart
    rig.step("10", "10")  # resolved: the ack is spent
    rig.pipeline.silences.flush()
    assert not SilenceStore(path).is_acked(alert.fingerprint)
    rig.step("90", "10")
    assert not rig.pipeline.rows()[0].acked


def test_silence_hides_from_alertmanager_but_not_from_the_log(tmp_path: Path) -> None:
    from autoglm_tui.alerting.alert_log import AlertLog, read_log

    am = AlertmanagerClient("http://127.0.0.1:9/", resend_s=60)
    log = AlertLog(tmp_path / "alerts.jsonl")
    store = SilenceStore(tmp_path / "silences.json")
    rig = Rig(_pipeline(alertmanager=am, log=log, silences=store))
    rig.step("90", "10")
    assert am.queued == 1  # firing gpu0 queued
    alert = rig.pipeline.rows()[0].alert
    silence = rig.pipeline.silence(alert, 600)
    rig.step("90", "95")  # gpu1 fires; gpu0 stays firing but silenced
    queued = {q.fingerprint for q in am._queue.values()}
    assert queued == {"hot|n1|1|"}  # the silenced one was withdrawn, the new one queued
    rows = rig.pipeline.rows(include_silenced=False)
    assert [str(r.alert.target) for r in rows] == ["n1 gpu1"]
    assert rig.pipeline.rows()[0].silence == silence or rig.pipeline.rows()[1].silence
    # a restart keeps the silence
    store.flush()
    again = SilenceStore(tmp_path / "silences.json")
    assert again.silenced("hot", Target("n1", gpu=0), rig.t) is not None
    assert again.silenced("hot", Target("n1", gpu=1), rig.t) is None
    assert again.silenced("hot", Target("n1", gpu=0), rig.t + 601) is None
    # every state change is still in the log, marked
    rig.step("10", "10")
    log.close()
    lines = [r for r in read_log(tmp_path / "alerts.jsonl") if r["kind"] == "alert"]
    states = [(r["gpu"], r["state"], r.get("silenced", False)) for r in lines]
    assert states == [(0, "firing", False), (1, "firing", False), (0, "resolved", True),
                      (1, "resolved", False)]
    # the resolve goes to Alertmanager even for the silenced one (harmless, and correct)
    assert {q.state for q in am._queue.values()} == {AlertState.RESOLVED}


def test_whole_rule_silence_and_expiry() -> None:
    store = SilenceStore(None)
    s = store.silence("hot", None, 60, now=100.0)
    assert store.silenced("hot", Target("any", gpu=3), 150.0) == s
    assert store.silenced("other", Target("any"), 150.0) is None
    assert store.expire(161.0) == [s] and store.silences == []


def test_damaged_silences_file_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "silences.json"
    path.write_text("{not json")
    store = SilenceStore(path)
    assert store.load_error and "damaged" in store.load_error
    assert (tmp_path / "silences.json.bad").exists()
    store.ack("x", 1.0)
    store.flush()
    assert json.loads(path.read_text())["acks"] == {"x": 1.0}


def test_alertmanager_queue_is_bounded_and_coalesces() -> None:
    am = AlertmanagerClient("http://127.0.0.1:9", max_queue=2)
    rig = Rig(_pipeline(alertmanager=am))
    rig.step("90", "90")
    rig.step("10", "10")  # resolves replace the queued firings: still two entries
    assert am.queued == 2 and am.dropped == 0
    assert {q.state for q in am._queue.values()} == {AlertState.RESOLVED}
    rig.step("10", "10", "90")  # a third alert: the oldest queued entry is dropped
    assert am.queued == 2 and am.dropped == 1
    assert [q.fingerprint for q in am._queue.values()] == ["hot|n1|1|", "hot|n1|2|"]
    payload = next(q for q in am._queue.values() if q.state == AlertState.FIRING).payload
    assert payload["labels"]["alertname"] == "hot" and payload["labels"]["gpu"] == "2"
    assert payload["startsAt"] < payload["endsAt"]


def test_firing_alerts_are_resent() -> None:
    am = AlertmanagerClient("http://127.0.0.1:9", resend_s=10)
    pipeline = _pipeline(alertmanager=am, resend_check_s=1)
    rig = Rig(pipeline)
    rig.step("90", "10")
    am._queue.clear()  # as if delivered
    for _ in range(5):
        rig.step("90", "10")
    assert am.queued == 0
    for _ in range(6):
        rig.step("90", "10")
    assert am.queued == 1  # 10 s after the last send


def test_xdg_paths_follow_the_environment(tmp_path: Path) -> None:
    from autoglm_tui import paths

    env = {"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "st"),
           "XDG_DATA_HOME": "relative/ignored"}
    assert paths.silences_file(env) == tmp_path / "st" / "autoglm-tui" / "silences.json"
    assert paths.default_alert_log(env) == tmp_path / ".local/share/autoglm-tui/alerts.jsonl"
    assert paths.user_rules_file(env) == tmp_path / ".config/autoglm-tui/rules.toml"
