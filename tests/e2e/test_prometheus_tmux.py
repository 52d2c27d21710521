"""The real `autoglm-tui cluster --prometheus` in tmux, over Debian's real Prometheus scraping two
real exporters (fake NVML: no GPU here) and a real node_exporter.

Both nodes show UP; Enter drills to a node, a GPU (its process listed) and the process; Esc
comes back; stopping one exporter turns its node FAILED (scrape failed, up=0) while the
other stays UP.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.test_local_tmux import CLI, Tmux, tmux
from tests.integration.exporter_fleet import ExporterFleet, fleet
from tests.integration.prometheus_fixture import (
    NODE_EXPORTER,
    PROMETHEUS,
    Job,
    NodeExporter,
    PrometheusServer,
    missing,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.integration,
    pytest.mark.skipif(missing(PROMETHEUS, NODE_EXPORTER) is not None,
                       reason=str(missing(PROMETHEUS, NODE_EXPORTER))),
]

__all__ = ["fleet", "tmux"]


def row(screen: str, node_id: str) -> list[str]:
    line = next((ln for ln in screen.splitlines() if f" {node_id} " in ln), "")
    return line.split()


def test_cluster_view_from_prometheus(tmux: Tmux, fleet: ExporterFleet, tmp_path: Path) -> None:
    me = os.getpid()
    a = fleet.start("127.0.0.2", gpus=[{"name": "NVIDIA H100", "util": 91,
                                        "processes": [{"pid": me, "mem": 3 << 30}]}, {}])
    b = fleet.start("127.0.0.3", gpus=[{"util": 7}])
    node = NodeExporter(tmp_path / "ne", host="127.0.0.2").start()
    prom = PrometheusServer(tmp_path / "prom", [
        Job("gpu", [a.address, b.address], labels={"zone": "z1"}),
        Job("node", [node.address]),
    ])
    try:
        prom.start()
        prom.wait_up("gpu", 2)
        tmux.start(160, 45, [
            str(CLI), "cluster", "--prometheus", prom.url, "--alert-log",
            str(tmp_path / "alerts.jsonl"), "--prometheus-refresh", "1",
        ])
        screen = tmux.wait_for(
            lambda s: row(s, "127.0.0.2")[:1] == ["UP"] and row(s, "127.0.0.3")[:1] == ["UP"],
            "both nodes UP", timeout=40,
        )
        assert "nodes 2/2 up" in screen and "registry ok" in screen
        assert "zone=z1" in screen
        tmux.keys("Enter")  # 127.0.0.2 sorts first
        screen = tmux.wait_for(
            lambda s: "cluster › 127.0.0.2" in s and "driver 550.54.15" in s and "91%" in s,
            "the node screen with its GPUs")
        assert "H100 80GB HBM3" in screen  # GPU 1: the fake's default model name
        tmux.keys("0")
        screen = tmux.wait_for(
            lambda s: "cluster › 127.0.0.2 › GPU 0" in s and str(me) in s,
            "GPU 0 with its process", timeout=30,
        )
        assert "GPU util %" in screen
        tmux.keys("Enter")
        tmux.wait_for(lambda s: f"› pid {me}" in s, "the process screen")
        for _ in range(3):
            tmux.keys("Escape")
        tmux.wait_for(lambda s: row(s, "127.0.0.3")[:1] == ["UP"], "back on the cluster table")

        b.stop()  # its scrapes fail: up == 0
        screen = tmux.wait_for(
            lambda s: row(s, "127.0.0.3")[:1] == ["FAILED"], "the stopped node fails",
            timeout=30,
        )
        assert row(screen, "127.0.0.2")[:1] == ["UP"]
        tmux.keys("q")
        tmux.wait_for(lambda s: "autoglm-exit=0" in s, "a clean exit")
    finally:
        prom.stop()
        node.stop()


def test_hostile_label_values_render_literally(tmux: Tmux, tmp_path: Path) -> None:
    """Markup and escape sequences in label values (a model name, a target label) come back
    from Prometheus and show as the literal text, control characters removed."""
    from tests.fakes.dcgm_exporter import DcgmExporter, DcgmGpu

    dcgm = DcgmExporter("127.0.0.6", [DcgmGpu(0, util=64, model="[b]X[/b]\x1b[2J\x07")],
                        hostname="h")
    prom = PrometheusServer(tmp_path / "prom", [
        Job("dcgm", [dcgm.address], labels={"zone": "\x1b]0;pwn\x07[red]z"})])
    try:
        prom.start()
        prom.wait_scrapes(2)
        tmux.start(160, 40, [str(CLI), "cluster", "--prometheus", prom.url, "--no-alerts",
                             "--prometheus-refresh", "1"])
        screen = tmux.wait_for(lambda s: row(s, "127.0.0.6")[:1] == ["UP"], "the node UP",
                               timeout=40)
        tmux.keys("g")  # group by the first label (job), then the next (zone)
        tmux.wait_for(lambda s: "dcgm" in s and "group" in s.lower(), "grouped by job")
        tmux.keys("g")
        screen = tmux.wait_for(lambda s: "pwn" in s, "grouped by zone")
        assert "]0;pwn [red]z" in screen  # ESC and BEL gone, the markup as text
        tmux.keys("g")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "cluster › 127.0.0.6" in s and "64%" in s
                      and "[b]X[/b] [2J" in s, "the node screen with the model name as text")
        assert tmux.pane("#{pane_title}") != "pwn"  # no OSC sequence reached the terminal
    finally:
        prom.stop()
        dcgm.close()
