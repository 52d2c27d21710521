"""Inference services in the UI: the node screen's Services pane, the Service screen, the
fleet's `:services` table and the cluster table's Queue and KV% columns, read off the terminal."""

from __future__ import annotations

from dataclasses import replace

import pytest

from autoglm_tui.events import SampleReceived
from autoglm_tui.model import Histogram, ServiceSample
from autoglm_tui.tui.demo import demo_events
from autoglm_tui.tui.render import Palette
from autoglm_tui.tui.screens.gpu import GpuScreen
from autoglm_tui.tui.screens.help import HelpScreen
from autoglm_tui.tui.screens.node import NodeScreen
from autoglm_tui.tui.screens.process import ProcessScreen
from autoglm_tui.tui.screens.service import ServiceScreen
from autoglm_tui.tui.screens.services import ServicesScreen
from autoglm_tui.tui.widgets.node_row import tokens_text
from autoglm_tui.tui.widgets.process_table import ProcessTable
from autoglm_tui.tui.widgets.service_row import quantile_text
from autoglm_tui.tui.widgets.services_pane import ServicesPane

from . import cluster_kit
from .helpers import NODE, make_app, screen_text, settle
from .terminal import capture, style_of

SIZE = (120, 40)
EVIL = "\x1b]0;pwned\x07[red]x[/red]"


def line_with(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


def with_services(events: list, make: object) -> list:
    """The demo events, each sample's services replaced by make(seq, t, sample)."""
    out = []
    seq = 0
    for e in events:
        if isinstance(e, SampleReceived):
            svcs = make(seq, e.t, e.sample)  # type: ignore[operator]
            e = SampleReceived(e.t, e.node_id, replace(e.sample, services=svcs))
            seq += 1
        out.append(e)
    return out


async def test_pane_row_shows_the_service_figures_the_state_derived() -> None:
    app = make_app(demo_events(services=True))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.monitor.state.nodes[NODE].services["vllm:8000"]
        p95 = quantile_text(view.e2e.p95, view.e2e)
        assert view.e2e.p95 is not None and not view.e2e.few
        text = screen_text(pilot)
        header = line_with(text, "TTFT")
        for title in ("Service", "P95", "TTFT", "tok/s", "Queue", "KV%", "Err%"):
            assert title in header
        row = line_with(text, "vllm Llama-3-70B")
        assert p95 in row
        assert f"{view.kv_cache_pct:.0f}%" in row
        assert quantile_text(view.ttft.p95, view.ttft) in row
        assert view.e2e.p95.value > 1.0  # over 1 s: the P95 is drawn in the warning colour
        ttft = quantile_text(view.ttft.p95, view.ttft)
        assert style_of(app, p95).fg != style_of(app, ttft).fg


async def test_enter_on_a_service_opens_its_screen_then_its_process_and_gpu() -> None:
    app = make_app(demo_events(services=True))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("S", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ServiceScreen)
        assert (screen.node_id, screen.service_id) == (NODE, "vllm:8000")
        text = screen_text(pilot)
        assert "source http://127.0.0.1:8000/metrics (discovered)" in text
        assert "/models/Llama-3-70B" in text and "UP" in text
        for title in ("latency", "tokens/s", "requests", "KV cache %", "TTFT / ITL P95",
                      "its GPUs: util %"):
            assert title in text
        assert "pid 4121" in text and "GPU 0" in text and "GPU 1" in text
        assert "GPU 3" not in text  # the trainer's GPU is not the service's

        await pilot.press("enter")  # first row: the server's process
        await settle(pilot)
        assert isinstance(app.screen, ProcessScreen) and app.screen.pid == 4121
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ServiceScreen)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, GpuScreen) and app.screen.index == 0
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert isinstance(app.screen, NodeScreen)


async def test_help_lists_the_service_keys() -> None:
    app = make_app(demo_events(services=True))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(pilot)
        assert "Services: to the Services pane and back" in text
        assert "Fold / unfold the Services pane" in text
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("S", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ServiceScreen)
        await pilot.press("question_mark")
        await settle(pilot)
        text = screen_text(pilot)
        assert "Service screen" in text and "esc  Back" in text
        assert "Open the highlighted row" in text  # Enter on a GPU or process row


async def test_fold_and_unfold_the_pane() -> None:
    app = make_app(demo_events(services=True))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("z")
        await settle(pilot)
        text = screen_text(pilot)
        assert "▸ Services (1)" in text and "worst P95" in text
        assert "vllm Llama-3-70B" not in text
        await pilot.press("z")
        await settle(pilot)
        assert "vllm Llama-3-70B" in screen_text(pilot)


async def test_no_pane_without_services() -> None:
    app = make_app(demo_events())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.screen.query_one(ServicesPane).display
        assert "TTFT" not in screen_text(pilot)


async def test_hostile_service_strings_show_literally() -> None:
    def evil(seq: int, t: float, sample: object) -> tuple[ServiceSample, ...]:
        return (ServiceSample(url=f"http://127.0.0.1:8000/{EVIL}", kind="vllm", ok=True,
                              name=f"chat{EVIL}", model=f"org/{EVIL}", pid=4121, port=8000,
                              t=t, running=3.0, waiting=0.0),)

    app = make_app(with_services(demo_events(), evil))
    title_before = app.title
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(pilot)
        assert "[red]x[/red]" in line_with(text, "chat")
        await pilot.press("S", "enter")
        await settle(pilot)
        text = screen_text(pilot)
        assert isinstance(app.screen, ServiceScreen)
        assert "[red]x[/red]" in line_with(text, "source http://127.0.0.1:8000/")
        assert "\x1b" not in text and "\x07" not in text and "pwned" in text
        assert app.title == title_before


async def test_down_service_shows_its_reason_in_red() -> None:
    def down(seq: int, t: float, sample: object) -> tuple[ServiceSample, ...]:
        return (ServiceSample(url="http://127.0.0.1:8000/metrics", kind="vllm", ok=False,
                              error="connection refused", pid=4121, port=8000, t=t),)

    app = make_app(with_services(demo_events(), down))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        row = line_with(screen_text(pilot), "DOWN connection refused")
        assert row.split()[1] == "vllm"
        assert style_of(app, "DOWN connection").bold


async def test_kv_cache_near_full_and_a_growing_queue_are_flagged() -> None:
    def busy(seq: int, t: float, sample: object) -> tuple[ServiceSample, ...]:
        return (ServiceSample(url="http://127.0.0.1:8000/metrics", kind="vllm", ok=True,
                              model="m", pid=4121, port=8000, t=t, running=8.0,
                              waiting=float(seq // 5), kv_cache_usage=0.97),)

    app = make_app(with_services(demo_events(), busy))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(pilot)
        row = line_with(text, "vllm m")
        assert "97%" in row and "17↑" in row
        p = Palette.from_variables(app.theme_variables)
        assert style_of(app, "97%").fg.lower() == p.error.lower()
        assert style_of(app, "17↑").fg.lower() == p.warning.lower()
        await pilot.press("S", "enter")
        await settle(pilot)
        text = screen_text(pilot)
        assert "queue growing" in text and "KV cache 97%" in text


async def test_pane_fits_80x24_without_a_broken_line() -> None:
    app = make_app(demo_events(services=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = capture(app)
        row = line_with(screen.text, "vllm Llama-3-70B")
        assert len(row) <= 80
        view = app.monitor.state.nodes[NODE].services["vllm:8000"]
        assert quantile_text(view.e2e.p95, view.e2e) in row
        assert "Services (1)" in screen.text  # the compact pane's header doubles as title


# ------------------------------------------------------------------ cluster mode


async def test_services_command_lists_the_fleet_and_opens_a_service() -> None:
    app, fleet, clock = cluster_kit.make_app(nodes=8)
    async with app.run_test(size=(200, 44)) as pilot:  # Queue and KV% come last: wide enough
        await cluster_kit.start(pilot, app)
        for k in range(1, 13):  # two scrapes of each service (every 5 s): rates are known
            clock.t = cluster_kit.T0 + k
            await cluster_kit.feed(pilot, app, fleet.tick_events(clock.t))
        text = cluster_kit.screen_text(app)
        header = line_with(text, "Tok/s")
        assert "Queue" in header and "KV%" in header
        node = app.monitor.state.nodes["node-003"]
        kv = node.metrics[("svc.kv_cache_pct", None)]
        assert f"{kv:.0f}%" in line_with(text, "node-003")
        toks = sum(v.tokens_per_s or 0.0 for v in node.services.values())
        assert toks > 0 and node.metrics[("svc.tokens_per_s", None)] == toks  # the views' sum
        assert tokens_text(toks) in line_with(text, "node-003").split()

        await pilot.press("colon", *"services", "enter")
        await cluster_kit.settle(pilot, app)
        assert isinstance(app.screen, ServicesScreen)
        text = cluster_kit.screen_text(app)
        nodes = [line.split()[0] for line in text.splitlines()
                 if line.startswith(" node-")]
        assert nodes == ["node-003", "node-007"]
        assert "services 2" in text
        await pilot.press("r")  # reverse the node order
        await cluster_kit.settle(pilot, app)
        nodes = [line.split()[0] for line in cluster_kit.screen_text(app).splitlines()
                 if line.startswith(" node-")]
        assert nodes == ["node-007", "node-003"]
        await pilot.press("home", "enter")  # the cursor followed node-003 down: back to the top
        await cluster_kit.settle(pilot, app)
        assert isinstance(app.screen, ServiceScreen)
        assert app.screen.node_id == "node-007"
        assert cluster_kit.crumbs(app).endswith("services › node-007 vllm:8000")
        await pilot.press("escape")
        await cluster_kit.settle(pilot, app)
        assert isinstance(app.screen, ServicesScreen)


async def test_S_on_the_cluster_table_opens_the_fleets_services_and_esc_comes_back() -> None:
    app, fleet, clock = cluster_kit.make_app(nodes=8)
    async with app.run_test(size=(80, 24)) as pilot:
        await cluster_kit.start(pilot, app)
        for k in range(1, 7):
            clock.t = cluster_kit.T0 + k
            await cluster_kit.feed(pilot, app, fleet.tick_events(clock.t))
        await pilot.press("S")
        await cluster_kit.settle(pilot, app)
        text = cluster_kit.screen_text(app)
        assert text.splitlines()[0].strip() == "cluster › services"
        assert [line.split()[0] for line in text.splitlines()
                if line.startswith(" node-")] == ["node-003", "node-007"]
        await pilot.press("escape")
        await cluster_kit.settle(pilot, app)
        assert cluster_kit.screen_text(app).splitlines()[0].strip() == "cluster"
        await pilot.press("question_mark")
        await cluster_kit.settle(pilot, app)
        assert "S  Inference services of the fleet (:services)" in \
            cluster_kit.screen_text(app)


async def test_service_command_on_a_node_screen() -> None:
    app, _, _ = cluster_kit.make_app(nodes=4)
    async with app.run_test(size=cluster_kit.SIZE) as pilot:
        await cluster_kit.start(pilot, app)
        await pilot.press("colon", *"node node-003", "enter")
        await cluster_kit.settle(pilot, app)
        assert isinstance(app.screen, NodeScreen)
        assert "Service" in cluster_kit.screen_text(app)
        shown = cluster_kit.record_notifications(app)
        await pilot.press("colon", *"service nope", "enter")
        await cluster_kit.settle(pilot, app)
        assert any("has no service 'nope'" in s for s in shown)
        await pilot.press("colon", *"service vllm:8000", "enter")
        await cluster_kit.settle(pilot, app)
        assert isinstance(app.screen, ServiceScreen)
        assert (app.screen.node_id, app.screen.service_id) == ("node-003", "vllm:8000")


async def test_short_terminal_lists_two_services_and_the_cursor_reaches_every_one() -> None:
    def five(seq: int, t: float, sample: object) -> tuple[ServiceSample, ...]:
        return tuple(ServiceSample(url=f"http://127.0.0.1:{8000 + k}/metrics", kind="vllm",
                                   ok=True, name=f"svc{k}", model="m", port=8000 + k, t=t,
                                   running=float(k), waiting=0.0) for k in range(1, 6))

    app = make_app(with_services(demo_events(), five))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = screen_text(pilot)
        assert "1-2 of 5" in line_with(text, "Services (5)")
        assert "svc1 m" in text and "svc2 m" in text and "svc3 m" not in text
        await pilot.press("S", "down", "down", "down", "down")
        await settle(pilot)
        text = screen_text(pilot)
        assert "4-5 of 5" in text and "svc5 m" in text and "svc1 m" not in text
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ServiceScreen) and app.screen.service_id == "svc5"
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("S")  # the pane has the focus: S goes back to the processes
        await settle(pilot)
        assert isinstance(app.focused, ProcessTable)


def llamacpp(seq: int, t: float, sample: object) -> tuple[ServiceSample, ...]:
    """A llama.cpp server, scraped with every sample: averages only (a time counter and a
    count), no end-to-end latency and no TTFT; 9 ms a generated token."""
    tokens = 120.0 * seq
    return (ServiceSample(url="http://127.0.0.1:8080/metrics", kind="llamacpp", ok=True,
                          model="SmolLM2-135M", pid=4121, port=8080, t=t, running=1.0,
                          waiting=0.0, generation_tokens=tokens, prompt_tokens=7.0 * seq,
                          itl=Histogram((), (tokens,), 0.009 * tokens)),)


async def test_an_averages_only_server_shows_and_plots_its_means() -> None:
    """llama.cpp gives means, no quantiles: the screen says "ITL mean", not "ITL P95 -", and
    its first plot draws the ITL mean (the latency plot would stay empty)."""
    app = make_app(with_services(demo_events(), llamacpp))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        view = app.monitor.state.nodes[NODE].services["llamacpp:8080"]
        assert view.e2e is None and view.ttft is None and view.itl is not None
        assert view.itl.p95 is None and view.itl.avg == pytest.approx(0.009)
        await pilot.press("S", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ServiceScreen)
        text = screen_text(pilot)
        assert "ITL mean 9ms" in text and "P95" not in text
        assert "ITL mean ms" in text  # the first plot's title, in ms
        lines = text.splitlines()
        title_row = next(y for y, line in enumerate(lines) if "ITL mean ms" in line)
        assert "latency" not in lines[title_row]  # no empty latency plot in its place
        # the plot (left of the tokens/s plot) draws the mean: braille dots besides the legend's
        left = [line[:line.index("┤", 12)] if "┤" in line[12:] else line[:26]
                for line in lines[title_row + 2:title_row + 10]]
        assert any(0x2800 < ord(ch) <= 0x28FF and ch != "⢕" for line in left for ch in line)
