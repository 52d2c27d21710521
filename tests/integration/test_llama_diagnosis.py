"""Why did latency go up: a real llama-server under real load, with the host's CPU taken away
and given back, and `autoglm-tui diagnose` watching this host.

llama.cpp exports no end-to-end latency, only the time it spends per output token; with one
thread on a host whose every core is made busy by other processes, that time grows. The
diagnosis must say the server's time per token follows the CPU, and, when the CPU is taken and
not given back, that the time per token rose then, with the CPU and the processes that took it;
and when more clients come (on a server with four slots), that it rose with the requests
running, the load being what to look at.
The busy processes run in pytest's own session (the kernel's autogroup would otherwise shield
the server from them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from tests.integration.llama_fixture import LlamaServer, LoadGenerator
from tests.integration.test_sampler_cli import CLI, env

pytestmark = pytest.mark.integration
COLLECT_S = 150
RISE_QUIET_S, RISE_BUSY_S = 330, 150  # 5 min of history before the rise, which lasts > 1 min
BUSY = "while True: pass\n"



def busy_for(seconds: float, per_core: int = 1) -> list[int]:
    """Every core busy for `seconds`, `per_core` processes on each (stopped by PID after);
    their pids."""
    hogs = [subprocess.Popen([sys.executable, "-c", BUSY], stdin=subprocess.DEVNULL)
            for _ in range(per_core * (os.cpu_count() or 2))]
    try:
        time.sleep(seconds)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    return [hog.pid for hog in hogs]


def watch(llama: LlamaServer, seconds: int, story: Callable[[], object], clients: int = 2
          ) -> dict:
    """`autoglm-tui diagnose --for SECONDS --json` on this host while the server is under load
    (`clients` sending back to back) and `story` runs; its document."""
    load = LoadGenerator(llama.url, clients=clients, max_tokens=48)
    load.start()
    diagnose = subprocess.Popen([*CLI[:-1], "diagnose", "--for", f"{seconds}s", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(),
                                stdin=subprocess.DEVNULL)
    try:
        start = time.monotonic()
        story()
        out, err = diagnose.communicate(timeout=seconds + 60 - (time.monotonic() - start))
    finally:
        load.stop()
        if diagnose.poll() is None:
            diagnose.kill()
            diagnose.wait()
    assert diagnose.returncode == 0, err
    return json.loads(out)


def the_rise(doc: dict, sid: str) -> dict:
    """The one latency_rise finding of service `sid` in a `diagnose --json` document."""
    found = [f for f in doc["findings"]
             if f["name"] == "latency_rise" and f["data"]["service"] == sid]
    assert found, [f["verdict"] for f in doc["findings"]]
    (f,) = found
    print(f["verdict"], json.dumps(f["data"]))  # shown with -s
    return f


def test_diagnose_says_the_servers_time_per_token_follows_the_cpu(llama: LlamaServer) -> None:
    def story() -> None:
        for quiet_s, busy_s in ((35, 40), (35, 35)):  # off, on, off, on: 145 s
            time.sleep(quiet_s)
            busy_for(busy_s)

    doc = watch(llama, COLLECT_S, story)
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


def test_diagnose_says_when_the_time_per_token_rose_and_what_took_the_cpu(
        llama: LlamaServer) -> None:
    """Five and a half quiet minutes under load, then every core taken twice over for the last
    150 s: the time per token rose then, with the host's CPU, and the processes that took it
    are named (not the server)."""
    hogs: list[int] = []
    taken: list[float] = []

    def story() -> None:
        time.sleep(RISE_QUIET_S)
        taken.append(time.time())
        # two a core (one a core slowed it 1.5x: just at the threshold)
        hogs.extend(busy_for(RISE_BUSY_S, per_core=2))

    sid = f"llamacpp:{llama.port}"
    f = the_rise(watch(llama, RISE_QUIET_S + RISE_BUSY_S - 5, story), sid)
    assert f["data"]["metric"] == "svc.itl_avg_s"
    assert f["verdict"].startswith(f"{sid} time per token rose ")
    assert f["data"]["ratio"] >= 1.5
    # the onset it gives is when the CPU was taken, or a little after (the server's figure is
    # a mean over its last minute: it crossed midway 47-64 s in, in trial runs)
    assert taken[0] <= f["data"]["onset"] <= taken[0] + 90, (f["data"]["onset"] - taken[0])
    changed = {c["factor"]: c for c in f["data"]["changed"]}
    assert "cpu" in changed, f["data"]
    assert changed["cpu"]["after"] > changed["cpu"]["before"] + 20, changed
    # the same two clients throughout: the load did not rise (the slowed server finished
    # fewer prompts, which is not a cause)
    assert f["data"]["load"] == [], f["data"]
    assert "running" in f["data"]["load_unchanged"], f["data"]
    named = [p["pid"] for p in f["data"]["processes"]]
    assert named and set(named) <= set(hogs), (named, hogs)
    # two busy processes on each core: the first named, the others counted
    assert f["next"][0].endswith(f"and {len(named) - 1} more took the CPU then: move them off "
                                 "the serving node, lower their priority (renice) or give the "
                                 "server cores of its own"), f["next"]


def test_diagnose_says_the_time_per_token_rose_when_more_requests_ran_at_once(
        llama4: LlamaServer) -> None:
    """One client for five and a half minutes, then four (the server decodes up to four at
    once, on one thread): the time per token rose then, with the requests running, and nothing
    on the node moved; the step is about the load."""
    more: list[LoadGenerator] = []
    started: list[float] = []

    def story() -> None:
        time.sleep(RISE_QUIET_S)
        started.append(time.time())
        more.append(LoadGenerator(llama4.url, clients=3, max_tokens=48))
        more[0].start()
        try:
            time.sleep(RISE_BUSY_S)
        finally:
            more[0].stop()

    f = the_rise(watch(llama4, RISE_QUIET_S + RISE_BUSY_S - 5, story, clients=1),
                 f"llamacpp:{llama4.port}")
    assert f["data"]["ratio"] >= 1.5
    assert started[0] <= f["data"]["onset"] <= started[0] + 90, f["data"]["onset"] - started[0]
    load = {x["figure"]: x for x in f["data"]["load"]}
    assert load["running"]["before"] <= 1.5 and load["running"]["after"] >= 3.0, load
    assert "requests running " in f["verdict"].split("; with it: ")[1], f["verdict"]
    assert "cpu" not in {c["factor"] for c in f["data"]["changed"]}, f["data"]  # one thread
    assert f["data"]["processes"] == []
    assert f["next"][0].startswith("more requests ran at once from that moment"), f["next"]
