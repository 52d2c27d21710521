"""The real `autoglm-tui` at 80x24 in tmux, its sampler scraping a vLLM page made with
prometheus_client under vLLM's own names and buckets (tests/fakes/service_pages.py), served on
loopback while requests keep finishing: the Services pane's row shows the P95 the monitor
computed from the bucket deltas, and Enter opens the service's screen."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.e2e.test_local_tmux import CLI, Tmux, tmux  # noqa: F401 (tmux: a fixture)
from tests.fakes import metrics_http as mh
from tests.fakes.service_pages import FakeServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def vllm() -> Iterator[tuple[str, FakeServer]]:
    """A vLLM page on loopback; 10 requests a second finish, every one in the (0.5, 0.8] s
    bucket of e2e latency, so histogram_quantile puts the P95 at 0.5 + 0.3 x 0.95 = 785 ms."""
    http = mh.MetricsHttp()
    server = FakeServer("vllm", model="acme/chat-8b")
    server.load(3, 0, 0.42)
    url = http.route("/metrics", server.page)
    stop = threading.Event()

    def traffic() -> None:
        k = 0
        while not stop.wait(0.1):
            server.request(0.0, 0.55 + 0.02 * (k % 10), ttft=0.03)  # 0.55 .. 0.73 s
            k += 1

    feeder = threading.Thread(target=traffic, daemon=True)
    feeder.start()
    try:
        yield url, server
    finally:
        stop.set()
        feeder.join(timeout=5)
        http.close()


def test_services_pane_row_and_screen_at_80x24(tmux: Tmux,  # noqa: F811
                                               vllm: tuple[str, FakeServer]) -> None:
    url, _ = vllm
    tmux.start(80, 24, [str(CLI), "local", "--service", f"{url},name=chat",
                        "--no-service-discovery", "--service-interval", "1"])
    # Under 20 requests in the window the P95 shows as "~785ms" (few); then plain.
    screen = tmux.wait_for(lambda s: " 785ms" in s and "chat chat-8b" in s,
                           "the service row with its P95", timeout=40)
    row = next(line for line in screen.splitlines() if "chat chat-8b" in line)
    assert len(row) <= 80
    assert " 785ms" in row and "42%" in row  # P95 from the buckets; KV cache
    header = next(line for line in screen.splitlines() if "Services (1)" in line)
    assert "P95" in header and "KV%" in header
    for pane in ("Host", "Processes"):
        assert pane in screen

    tmux.keys("S")
    tmux.keys("Enter")
    screen = tmux.wait_for(lambda s: f"source {url}" in s and "P95 785ms" in s,
                           "the service screen", timeout=20)
    assert "chat (vllm)  acme/chat-8b  UP" in screen
    assert "latency" in screen and "tokens/s" in screen and "requests" in screen
    tmux.keys("Escape")
    tmux.wait_for(lambda s: "Services (1)" in s and "Processes" in s, "the node screen again")
    tmux.keys("q")
    assert tmux.wait_exit() == 0
