"""The real `autoglm-tui` in tmux on a node running a real llama.cpp server under load, with
no option given: discovery finds the server, the Services pane lists it, and the Service
screen's tokens/s agrees with what the load generator got back over the same stretch."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from autoglm_tui.sampler.nvml import MODULE_ENV
from tests.e2e.test_local_tmux import CLI, Tmux, tmux  # noqa: F401 (tmux: a fixture)
from tests.integration.llama_fixture import (  # noqa: F401 (llama: a fixture)
    LlamaServer,
    LoadGenerator,
    llama,
)

pytestmark = pytest.mark.e2e



def tok_s(screen: str) -> float | None:
    """The Service screen's "tok/s N" figure (N may read 1.2k)."""
    m = re.search(r"(?<!prompt )tok/s (\d+(?:\.\d+)?)(k?)", screen)
    if m is None:
        return None
    return float(m.group(1)) * (1000.0 if m.group(2) else 1.0)


def test_local_view_shows_the_discovered_llama_server_under_load(
    tmux: Tmux, llama: LlamaServer,  # noqa: F811
) -> None:
    # The fake NVML lists llama-server as GPU 0's process, as a real GPU node would.
    scenario = {"gpu_count": 1, "gpus": [{"processes": [
        {"pid": llama.pid, "mem": 600 << 20, "sm": 40, "type": "compute"}]}]}
    fake = Path(__file__).resolve().parents[1] / "fakes" / "fake_nvml.py"
    tmux.start(120, 40, ["env", f"{MODULE_ENV}={fake}", f"AUTOGLM_FAKE_NVML={json.dumps(scenario)}",
                         str(CLI), "local", "--interval", "1"])  # no --service
    load = LoadGenerator(llama.url, clients=4, max_tokens=48)
    load.start()
    try:
        started = time.time()
        screen = tmux.wait_for(lambda s: "Services" in s and "SmolLM2" in s,
                               "the discovered server in the Services pane", timeout=90)
        assert "llama" in next(ln for ln in screen.splitlines() if "SmolLM2" in ln)
        tmux.keys("S")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "llamacpp  SmolLM2" in s and "scraped" in s,
                      "the Service screen", 30)
        # Past the first rate window under load, the figure settles; compare it with what
        # the generator counted over the 15 s window that ends now (within 30%: the screen
        # shows a rate over the scrapes of the last 15 s, which lag the answers a little).
        while time.time() - started < 40:
            time.sleep(1)
        rates = []
        for _ in range(5):
            screen = tmux.screen()
            shown = tok_s(screen)
            now = time.time()
            got = load.tokens_between(now - 15.0, now) / 15.0
            if shown is not None and got > 0:
                rates.append(shown / got)
            time.sleep(2)
        assert rates, screen
        ratio = sorted(rates)[len(rates) // 2]
        assert 0.7 <= ratio <= 1.3, f"screen/generator tokens/s: {rates}"
        assert f"pid {llama.pid}" in screen or str(llama.pid) in screen
    finally:
        load.stop()
    tmux.keys("q")
    assert tmux.wait_exit() == 0
