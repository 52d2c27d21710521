"""Untrusted strings (node ids, labels, host names, GPU names, command lines, reasons) with ESC,
C1 and markup characters are shown literally on every cluster-mode screen, and remote actions
are off unless asked for, and then always confirmed naming node, pid and command."""

from __future__ import annotations

import re
from dataclasses import replace

from autoglm_tui.actions import SignalResult
from autoglm_tui.cluster.remote_actions import SignalIntent
from autoglm_tui.cluster.synthetic import SyntheticFleet
from autoglm_tui.events import Event, HelloReceived, NodeJoined, SampleReceived
from autoglm_tui.tui.cluster_app import OFF_MESSAGE, RemoteSignalDialog
from autoglm_tui.tui.screens.gpu import GpuScreen
from autoglm_tui.tui.screens.gpus import GpusScreen
from autoglm_tui.tui.screens.node import NodeScreen
from autoglm_tui.tui.screens.process import ProcessScreen

from .cluster_kit import (
    SIZE,
    T0,
    Clock,
    crumbs,
    make_app,
    record_notifications,
    screen_text,
    settle,
    start,
)

EVIL_ID = "n[b]1\x1b[2J"
EVIL_LABELS = {"k[i]": "v\x9b[/]"}
EVIL_HOST = "h[red]x\x1b]0;t\x07"
EVIL_GPU = "GPU [blink]X\x85"
EVIL_CMD = "python3 \x1b]0;pwned\x07[red]x[/red] --serve\x85"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def evil_events() -> list[Event]:
    fleet = SyntheticFleet(nodes=1, gpus=2, seed=1, clock=Clock(T0))
    base = fleet.join_events(T0 - 3) + fleet.tick_events(T0 - 2) + fleet.tick_events(T0 - 1)
    out: list[Event] = []
    for e in base:
        if isinstance(e, NodeJoined):
            out.append(replace(e, node_id=EVIL_ID, labels=dict(EVIL_LABELS)))
        elif isinstance(e, HelloReceived):
            static = e.hello.static
            gpus = tuple(replace(g, name=EVIL_GPU) for g in static.gpus)
            static = replace(static, hostname=EVIL_HOST, gpus=gpus)
            out.append(replace(e, node_id=EVIL_ID, hello=replace(e.hello, host=EVIL_HOST,
                                                                   static=static)))
        elif isinstance(e, SampleReceived):
            procs = tuple(replace(p, cmdline=EVIL_CMD, user="u\x1b[0m[x]") for p in e.sample.procs)
            out.append(replace(e, node_id=EVIL_ID, sample=replace(e.sample, procs=procs)))
    return out


def check_literal(text: str, *expected: str) -> None:
    assert not CONTROL.search(text)
    for part in expected:
        assert part in text, part


async def test_hostile_strings_are_shown_literally_on_every_screen() -> None:
    app, _, _ = make_app(nodes=1, gpus=2, extra=evil_events())
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await settle(pilot, app)
        # "n[b]..." sorts before "node-000": the cursor is on it, and the detail line says so
        text = screen_text(app)
        check_literal(text, "n[b]1 [2J", "k[i]=v [/]", "h[red]x ]0;t")
        assert text.splitlines()[-2].startswith(" n[b]1 [2J  UP")

        await pilot.press("G")
        await settle(pilot, app)
        assert isinstance(app.screen, GpusScreen)
        check_literal(screen_text(app), "n[b]1 [2J", "GPU [blink]X")
        await pilot.press("escape")
        await settle(pilot, app)

        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, NodeScreen)
        check_literal(screen_text(app), "n[b]1 [2J", "[red]x[/red] --serve")

        await pilot.press("1")
        await settle(pilot, app)
        assert isinstance(app.screen, GpuScreen)
        check_literal(screen_text(app), "n[b]1 [2J", "GPU [blink]X", "[red]x[/red] --serve",
                      "u [0m[x]")

        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, ProcessScreen)
        check_literal(screen_text(app), "n[b]1 [2J", "python3  ]0;pwned [red]x[/red] --serve")

        await pilot.press("colon", *"node n", "tab")  # completion offers the id, cleaned
        await settle(pilot, app)
        check_literal(screen_text(app), "node 'n[b]1 [2J'")
        await pilot.press("enter")  # and the cleaned name opens that node
        await settle(pilot, app)
        assert isinstance(app.screen, NodeScreen)
        assert crumbs(app) == "cluster › n[b]1 [2J"


async def test_remote_signals_are_off_by_default() -> None:
    sent: list[SignalIntent] = []

    async def deliver(intent: SignalIntent) -> SignalResult:
        sent.append(intent)
        return SignalResult(True, "sent")

    app, _, _ = make_app(remote_signaller=deliver)
    async with app.run_test(size=SIZE) as pilot:
        shown = record_notifications(app)
        await start(pilot, app)
        await pilot.press("enter", "k")
        await settle(pilot, app)
        assert not isinstance(app.screen, RemoteSignalDialog)
        assert shown[-1] == OFF_MESSAGE
        assert sent == []


async def test_remote_signal_is_confirmed_naming_node_pid_and_command() -> None:
    sent: list[SignalIntent] = []

    async def deliver(intent: SignalIntent) -> SignalResult:
        sent.append(intent)  # the UI's side ends at handing over the intent
        return SignalResult(True, f"sent SIG{intent.signal} to {intent.pid}")

    app, _, _ = make_app(allow_remote_actions=True, remote_signaller=deliver)
    async with app.run_test(size=SIZE) as pilot:
        shown = record_notifications(app)
        await start(pilot, app)
        await pilot.press("down", "enter")  # node-001
        await settle(pilot, app)
        proc = app.screen.table.selected  # type: ignore[attr-defined]
        await pilot.press("k")
        await settle(pilot, app)
        assert isinstance(app.screen, RemoteSignalDialog)
        text = screen_text(app)
        assert f"Send a signal to process {proc.pid} on node node-001?" in text
        assert f"node node-001  ·  pid {proc.pid}" in text
        assert "torch.distributed.run --node-rank 1" in text
        await pilot.press("escape")  # cancel: nothing sent
        await settle(pilot, app)
        assert sent == [] and isinstance(app.screen, NodeScreen)

        await pilot.press("k")
        await settle(pilot, app)
        await pilot.press("enter")  # Cancel has the focus: nothing sent
        await settle(pilot, app)
        assert sent == [] and isinstance(app.screen, NodeScreen)

        await pilot.press("k")
        await settle(pilot, app)
        await pilot.press("left", "left", "left", "enter")  # Cancel -> KILL -> INT -> TERM
        await settle(pilot, app)
        await pilot.pause(0.05)
        assert [(i.node_id, i.pid, i.signal) for i in sent] == [("node-001", proc.pid, "TERM")]
        assert sent[0].create_time == proc.create_time
        assert f"node-001: sent SIGTERM to {proc.pid}" in shown


async def test_a_left_out_services_entry_is_named_on_the_detail_line_and_header() -> None:
    """A registration's bad services entry (left out by the parser) is shown, literally, on the
    cluster's detail line and on the node's header; the node itself is watched as usual."""
    problem = "services[1]: bad URL 'javascript:[red]x[/red]\x1b[2J'"
    joined = NodeJoined(T0 - 2, "node-001", address="10.0.0.2", ssh_port=22,
                        source="etcd", registration={"problems": [problem]})
    app, _fleet, _clock = make_app(nodes=4, extra=[joined])
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await pilot.press("down")  # node-001
        await settle(pilot, app)
        text = screen_text(app)
        detail = next(ln for ln in text.splitlines() if "registration:" in ln)
        assert "node-001" in detail and "UP" in detail
        assert "services[1]: bad URL 'javascript:[red]x[/red] [2J' (left out)" in detail
        assert not CONTROL.search(text)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, NodeScreen)
        header = screen_text(app).splitlines()[1]
        assert "registration: services[1]:" in header and "UP" in header
