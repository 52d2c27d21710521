"""Why did latency go up: a real llama-server under real load, with the host's CPU taken away
and given back, and `autoglm-tui diagnose` watching this host.

llama.cpp exports no end-to-end latency, only the time it spends per output token; with one
thread on a host whose every core is made busy by other processes, that time grows. The
diagnosis must say the server's time per token follows the CPU. The busy processes run in
pytest's own session (the kernel's autogroup would otherwise shield the server from them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.integration.llama_fixture import LlamaServer, LoadGenerator
from tests.integration.test_sampler_cli import CLI, env

pytestmark = pytest.mark.integration
COLLECT_S = 150
BUSY = "while True: pass\n"



def busy_for(seconds: float) -> None:
    """Every core busy for `seconds` (processes stopped by PID after)."""
    hogs = [subprocess.Popen([sys.executable, "-c", BUSY], stdin=subprocess.DEVNULL)
            for _ in range(os.cpu_count() or 2)]
    try:
        time.sleep(seconds)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_diagnose_says_the_servers_time_per_token_follows_the_cpu(llama: LlamaServer) -> None:
    load = LoadGenerator(llama.url, clients=2, max_tokens=48)
    load.start()
    diagnose = subprocess.Popen([*CLI[:-1], "diagnose", "--for", f"{COLLECT_S}s", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(),
                                stdin=subprocess.DEVNULL)
    try:
        start = time.monotonic()
        for quiet_s, busy_s in ((35, 40), (35, 35)):  # off, on, off, on: 145 s
            time.sleep(quiet_s)
            busy_for(busy_s)
        out, err = diagnose.communicate(timeout=COLLECT_S + 60 - (time.monotonic() - start))
    finally:
        load.stop()
        if diagnose.poll() is None:
            diagnose.kill()
            diagnose.wait()
    assert diagnose.returncode == 0, err
    doc = json.loads(out)
    sid = f"llamacpp:{llama.port}"
    found = [f for f in doc["findings"]
             if f["name"] == "latency_factors" and f["data"]["service"] == sid]
    assert found, [f["verdict"] for f in doc["findings"]]
    (f,) = found
    print(f["verdict"])  # shown with -s
    assert f["data"]["metric"] == "svc.itl_avg_s"
    assert f["verdict"].startswith(f"{sid} time per token follows")
    effects = {e["factor"]: e["effect_s"] for e in f["data"]["effects"]}
    assert effects.get("cpu", 0.0) > 0, f["verdict"]  # more CPU in use, slower tokens
    assert f["data"]["r2"] >= 0.3 and f["data"]["points"] >= 60
    assert f["next"][0].startswith("the server computes on the host CPU")  # no GPU here
