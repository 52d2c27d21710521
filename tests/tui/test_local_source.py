"""The local view over the real sampler (LocalSource: psutil and /proc, in-process)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

from autoglm_tui.cli import main
from autoglm_tui.cluster.sources import LocalSource
from autoglm_tui.monitor import Monitor
from autoglm_tui.tui.app import MonitorApp
from autoglm_tui.tui.intents import OpenNode
from autoglm_tui.tui.screens.node import NodeScreen

from .helpers import screen_text, table_pids

MARKER = "autoglm-local-source-test-marker"


async def test_real_local_source_shows_this_machine() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time, sys; time.sleep(60)", MARKER]
    )
    try:
        source = LocalSource(interval_s=0.5, top_n=100000)
        app = MonitorApp(
            Monitor(), [source], OpenNode(source.node_id), interval=0.5, top=0
        )
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            assert isinstance(screen, NodeScreen)
            for _ in range(300):  # the first samples arrive within seconds (longer under load)
                await pilot.pause(0.1)
                if child.pid in table_pids(pilot):
                    break
            assert child.pid in table_pids(pilot)
            text = screen_text(pilot)
            assert text.splitlines()[0].strip().startswith(socket.gethostname()[:20])
            assert "UP" in text.splitlines()[0]
            assert "CPU" in text and "Mem" in text and "Disk" in text
            assert "No GPU:" in text or " 0 " in text  # a GPU line, or why there is none
            await pilot.press("slash")
            await pilot.press(*MARKER)
            for _ in range(50):  # typed into the filter box, one key at a time (slower under load)
                await pilot.pause(0.1)
                if table_pids(pilot) == [child.pid]:
                    break
            assert table_pids(pilot) == [child.pid]
            # issue 15 item 7: the sampler's own cost and, apart, the TUI process's
            for _ in range(100):
                await pilot.pause(0.1)
                if "TUI " in screen_text(pilot).splitlines()[0]:
                    break
            header = screen_text(pilot).splitlines()[0]
            assert re.search(r"sampler \d+\.\d% CPU\s+│\s+TUI \d+\.\d% CPU \S+ RSS", header)
            state = app.monitor.state
            node = state.nodes[source.node_id]
            assert node.sampler_cpu_pct is not None and state.monitor_cost.cpu_pct is not None
            assert state.monitor_cost.rss_bytes and state.monitor_cost.rss_bytes > 10 << 20
    finally:
        child.kill()
        child.wait(timeout=5)


def test_cli_help_lists_the_options(capsys) -> None:  # type: ignore[no-untyped-def]
    try:
        main(["local", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    out = " ".join(out.split())
    for option in ("--interval", "--theme", "--top", "--no-mouse",
                   "? lists every key of the current screen", "k send a signal"):
        assert option in out


def test_cli_refuses_an_unknown_theme(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--theme", "no-such-theme"]) == 2
    assert "no theme 'no-such-theme'" in capsys.readouterr().err
