"""A latency that went up and stayed up: when, by how much, and what changed at that moment."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.rise import LOAD, NOT_PROOF, NOTHING_CHANGED, NOTHING_NOR_LOAD
from autoglm_tui.analysis.diagnosis.stats import durations, weighted_quantile
from autoglm_tui.analysis.services import ServiceView
from autoglm_tui.format import clock_time
from tests.unit.diag_kit import T0, const, make_node, proc, run, step
from tests.unit.test_diagnosis_latency import noisy, served, wave

P95 = (M.SVC_LATENCY[0], None)


def rises(*args, **kw):
    return [f for f in run(make_node(*args, **kw)) if f.name == "latency_rise"]


def test_a_rise_with_the_cpu_names_the_moment_the_change_and_the_process() -> None:
    """P95 flat at 200 ms for ten minutes, then 450 ms for five, while a batch job takes the
    CPU: the finding says how much, since when, the CPU's move and the process that made it.
    The ten minutes before are held at 10-s resolution and the last five at 1 s, so a median
    over raw points would put the level before at 450 ms and see no rise."""
    series = {(M.CPU, None): noisy(step(20.0, 90.0, 600), 3.0, 1),
              (M.MEM, None): noisy(const(40.0), 0.3, 2),
              (M.SVC_QUEUE, None): noisy(const(1.0), 0.3, 3),
              P95: noisy(step(0.2, 0.45, 600), 0.02, 4),
              (M.PROC_CPU, 4700): lambda s: 640.0 if s >= 600 else None,
              (M.PROC_CPU, 100): noisy(const(90.0), 5.0, 5)}
    (f,) = rises(series, 900, procs=(proc(100, name="vllm"), proc(4700, name="export-batch")))
    assert f.severity.value == "warning"
    assert f.verdict.startswith(f"latency rose 2.2x at {clock_time(T0 + 600)} and stayed up "
                                "(200 ms -> 449 ms)")
    assert f.evidence[0].text == ("P95 200 ms -> 449 ms (median before and after the onset; up "
                                  "for 5m00s when checked)")
    assert "with it: CPU 20% -> 90%, export-batch (pid 4700) 0% -> 640% CPU" in f.verdict
    assert f.data["onset"] == pytest.approx(T0 + 600, abs=3)
    assert [c["factor"] for c in f.data["changed"]] == ["cpu"]
    assert f.data["unchanged"] == ["mem", "queue"]
    assert [p["pid"] for p in f.data["processes"]] == [4700]
    assert f.next_steps == ("export-batch (pid 4700) took the CPU then: move it off the serving "
                            "node, lower its priority (renice) or give the server cores of its "
                            "own", NOT_PROOF)
    assert any(e.text == "unchanged: memory, queue" for e in f.evidence)


def test_the_servers_own_processes_are_not_what_took_the_cpu() -> None:
    """The server and its engine (a child process) both working harder: neither is named."""
    sid = "vllm:8000"
    series = {(M.CPU, None): noisy(step(20.0, 90.0, 600), 3.0, 1),
              ("svc.latency_p95_s", sid): noisy(step(0.2, 0.45, 600), 0.02, 4),
              (M.PROC_CPU, 100): lambda s: 700.0 if s >= 600 else 90.0,
              (M.PROC_CPU, 101): lambda s: 300.0 if s >= 600 else 50.0}
    engine = replace(proc(101, name="VLLM::EngineCore"), ppid=100)
    node = make_node(series, 900, procs=(proc(100, name="vllm"), engine))
    node.service_tracker.views = {sid: ServiceView(sid, "vllm", "http://127.0.0.1:8000", True,
                                                   None, pid=100, gpus=(0,))}
    (f,) = [f for f in run(node) if f.name == "latency_rise"]
    assert f.verdict.startswith(f"{sid} latency rose")
    assert f.verdict.endswith("with it: CPU 20% -> 90%")
    assert f.data["processes"] == []
    assert f.next_steps[0].startswith("something took the host CPU at that moment")


def test_a_rise_with_nothing_changed_points_away_from_the_node() -> None:
    series = {(M.CPU, None): noisy(const(40.0), 3.0, 1),
              (M.SVC_QUEUE, None): noisy(const(1.0), 0.3, 3),
              P95: noisy(step(0.35, 0.7, 500), 0.02, 4)}
    (f,) = rises(series, 900)
    assert f.verdict.endswith("no resource read here changed with it")
    assert f.data["changed"] == [] and f.data["unchanged"] == ["cpu", "queue"]
    assert f.next_steps == (NOTHING_CHANGED,)


def test_a_swinging_latency_at_its_crest_is_not_a_rise() -> None:
    """A P95 that swings between 150 and 450 ms every 4 minutes, read at a crest: the last
    minute is well above the median, but not above what came before."""
    lat = noisy(wave(0.3, 0.15, 240.0, math.pi / 2 - 2 * math.pi * 900 / 240), 0.01, 6)
    assert lat(900) > 0.4  # the end is a crest
    assert rises({P95: lat, (M.CPU, None): noisy(const(40.0), 3.0, 1)}, 900) == []


def test_a_burst_is_not_a_rise() -> None:
    """Twice the level for the last 40 s: not yet a rise (it must last a minute)."""
    lat = noisy(step(0.2, 0.45, 860), 0.01, 7)
    assert rises({P95: lat}, 900) == []
    assert len(rises({P95: noisy(step(0.2, 0.45, 820), 0.01, 7)}, 900)) == 1


def test_a_rise_needs_history_before_it_and_a_large_enough_change() -> None:
    # two minutes of history before the rise: too little to know the level
    assert rises({P95: noisy(step(0.2, 0.45, 120), 0.01, 8)}, 400) == []
    # a mean latency of 0 (no requests) before: load starting, not a rise ("infx", and no
    # valid JSON, before)
    assert rises({P95: step(0.0, 0.3, 600)}, 900) == []
    # 1.4x: under the 1.5x asked for
    assert rises({P95: noisy(step(0.2, 0.28, 600), 0.005, 9)}, 900) == []
    # a time per token from 0.6 to 1.2 ms doubles, but by less than the 1 ms that matters
    sid = "llamacpp:8080"
    assert rises({("svc.itl_avg_s", sid): noisy(step(0.0006, 0.0012, 600), 0.00002, 10)},
                 900) == []
    tokens = rises({("svc.itl_avg_s", sid): noisy(step(0.015, 0.03, 600), 0.0005, 10)}, 900)
    assert [f.data["metric"] for f in tokens] == ["svc.itl_avg_s"]
    assert "time per token rose 2.0x" in tokens[0].verdict


def test_a_resource_that_fell_is_named_but_not_blamed() -> None:
    """GPU util falling from 80% to 30% as P95 doubles: the server waits on something else."""
    series = {(M.GPU_UTIL, 0): noisy(step(80.0, 30.0, 600), 2.0, 11),
              P95: noisy(step(0.2, 0.45, 600), 0.01, 12)}
    (f,) = rises(series, 900, gpus=1)
    assert f.verdict.endswith("with it: GPU util 80% -> 30%")
    assert f.next_steps[0].startswith("what moved at that moment fell rather than rose")


def test_a_cause_ahead_of_the_latency_figure_is_still_on_the_right_side() -> None:
    """A server's P95 is a mean over its last minute: when a job takes the CPU at 600 s, the
    figure crosses midway about 30 s later. The job (listed from 600 s) and the CPU still count
    as changed at the onset, not before it."""
    series = {(M.CPU, None): noisy(step(20.0, 90.0, 600), 3.0, 13),
              P95: served(noisy(step(0.2, 0.45, 600), 0.01, 14)),
              (M.PROC_CPU, 4700): lambda s: 180.0 if s >= 600 else None}
    (f,) = rises(series, 900, procs=(proc(4700, name="export-batch"),))
    assert f.data["onset"] == pytest.approx(T0 + 630, abs=6)
    assert f.verdict.endswith("with it: CPU 20% -> 90%, export-batch (pid 4700) 0% -> 180% CPU")


def test_several_processes_that_shared_the_cpu_are_counted() -> None:
    """Four workers at 40% of a core each (a host shared out): the first is named, the rest
    counted, and a process that only wobbled is not one of them."""
    series = {(M.CPU, None): noisy(step(30.0, 95.0, 600), 3.0, 15),
              P95: noisy(step(0.2, 0.5, 600), 0.01, 16),
              **{(M.PROC_CPU, pid): (lambda s: 40.0 if s >= 600 else None)
                 for pid in (501, 502, 503, 504)},
              (M.PROC_CPU, 600): noisy(const(15.0), 4.0, 17)}
    procs = (*(proc(pid, name="worker") for pid in (501, 502, 503, 504)), proc(600, name="sshd"))
    (f,) = rises(series, 900, procs=procs)
    assert f.verdict.endswith("worker (pid 501) 0% -> 40% CPU and 3 more processes")
    assert [p["pid"] for p in f.data["processes"]] == [501, 502, 503, 504]
    assert f.next_steps[0] == ("worker (pid 501) and 3 more took the CPU then: move them off "
                               "the serving node, lower their priority (renice) or give the "
                               "server cores of its own")


def test_points_count_for_the_time_they_stand_for() -> None:
    """Ten coarse points of 10 s at 0.2 and 25 fine points of 1 s at 0.45: the level over
    those 125 s is 0.2, where a median of the points would say 0.45."""
    ts = [10.0 * k for k in range(10)] + [100.0 + k for k in range(25)]
    vs = [0.2] * 10 + [0.45] * 25
    ws = durations(ts)
    assert ws[:2] == [5.0, 10.0] and ws[-1] == 0.5
    assert weighted_quantile(vs, ws, 0.5) == 0.2
    assert sorted(vs)[len(vs) // 2] == 0.45
    assert weighted_quantile([3.0, 1.0, 2.0], [1.0, 1.0, 1.0], 0.9) == 3.0


SID = "vllm:8000"


def loaded(latency, requests, prompt_tokens, running, more=None):
    """A service's latency and load figures, with `more` series."""
    return {("svc.latency_p95_s", SID): latency, (M.SVC_REQUESTS, SID): requests,
            (M.SVC_PROMPT_TOKENS, SID): prompt_tokens, (M.SVC_RUNNING, SID): running,
            **(more or {})}


def test_a_rise_with_more_requests_names_the_load_first_and_what_to_do() -> None:
    """Requests double at minute 10 and the GPUs fill with them: the load is named first, the
    GPU after it, and the step is about the load (the GPUs filled because of it)."""
    series = loaded(noisy(step(0.2, 0.45, 600), 0.01, 4),
                    noisy(step(20.0, 41.0, 600), 0.5, 21),
                    noisy(step(8000.0, 16400.0, 600), 150.0, 22),
                    noisy(step(16.0, 32.0, 600), 0.5, 23),
                    more={(M.GPU_UTIL, 0): noisy(step(60.0, 95.0, 600), 2.0, 24),
                       (M.CPU, None): noisy(const(30.0), 2.0, 25)})
    (f,) = rises(series, 900, gpus=1)
    # the load first, the most telling figure first, then the resources
    assert f.verdict.endswith("; with it: requests 20.0 -> 41.0/s, prompt tokens 8,010 -> "
                              "16,407/s, requests running 15.9 -> 32.0, GPU util 60% -> 95%"), \
        f.verdict
    assert [x["figure"] for x in f.data["load"]] == ["requests", "prompt_tokens", "running"]
    # tokens a request did not change: unchanged, and so said
    assert f.data["load_unchanged"] == ["prompt_length"]
    assert any(e.text == "unchanged: CPU, prompt length" for e in f.evidence)
    assert f.next_steps[0] == LOAD["requests"].look
    assert f.next_steps[0].startswith("more requests arrived at that moment")
    assert f.next_steps[-1] == NOT_PROOF


def test_longer_prompts_at_the_same_request_rate_are_the_request_mix() -> None:
    """The same 20 requests/s, but prompts five times longer from minute 10: the prompt
    length is what changed, and the step says so."""
    series = loaded(noisy(step(0.3, 0.7, 600), 0.01, 31),
                    noisy(const(20.0), 0.5, 32),
                    noisy(step(4000.0, 20000.0, 600), 100.0, 33),
                    noisy(const(16.0), 0.5, 34))
    (f,) = rises(series, 900)
    loads = {x["figure"]: x for x in f.data["load"]}
    assert list(loads) == ["prompt_length", "prompt_tokens"]
    assert loads["prompt_length"]["before"] == pytest.approx(200.0, rel=0.05)
    assert loads["prompt_length"]["after"] == pytest.approx(1000.0, rel=0.05)
    assert f.verdict.endswith("; with it: prompt length 200 -> 1,002 tokens, prompt tokens "
                              "4,000 -> 19,994/s"), f.verdict
    assert f.data["load_unchanged"] == ["requests", "running"]
    assert f.next_steps[0] == LOAD["prompt_length"].look
    assert f.next_steps[0].startswith("prompts got longer at that moment")


def test_a_server_slowed_by_a_cpu_hog_is_not_blamed_on_its_load() -> None:
    """A batch job takes the CPU: the server finishes fewer requests (its load figures fall)
    and more pile up running. The falls are not named; the requests running that rose are
    named but the step is the process that took the CPU."""
    series = loaded(noisy(step(0.2, 0.45, 600), 0.01, 41),
                    noisy(step(20.0, 12.0, 600), 0.5, 42),
                    noisy(step(8000.0, 4800.0, 600), 150.0, 43),
                    noisy(step(16.0, 28.0, 600), 0.5, 44),
                    more={(M.CPU, None): noisy(step(20.0, 90.0, 600), 3.0, 45),
                       (M.PROC_CPU, 4700): lambda s: 640.0 if s >= 600 else None})
    (f,) = rises(series, 900, procs=(proc(4700, name="export-batch"),))
    assert [x["figure"] for x in f.data["load"]] == ["running"]
    assert "requests/s" not in f.verdict and "prompt tokens" not in f.verdict
    assert f.data["load_unchanged"] == ["prompt_length"]  # what fell is neither
    assert f.next_steps[0].startswith("export-batch (pid 4700) took the CPU then")
    # named after what the node shows, as the result it may be
    assert f.verdict.endswith("with it: CPU 20% -> 90%, export-batch (pid 4700) 0% -> 640% CPU, "
                              "requests running 16.0 -> 28.0"), f.verdict


def test_with_the_load_read_and_unchanged_the_finding_says_neither_moved() -> None:
    series = loaded(noisy(step(0.35, 0.7, 500), 0.02, 51),
                    noisy(const(20.0), 0.5, 52),
                    noisy(const(8000.0), 150.0, 53),
                    noisy(const(16.0), 0.5, 54),
                    more={(M.CPU, None): noisy(const(40.0), 3.0, 55)})
    (f,) = rises(series, 900)
    assert f.verdict.endswith("neither the node's resources nor its load changed with it")
    assert f.data["load"] == []
    assert f.data["load_unchanged"] == ["prompt_length", "prompt_tokens", "requests", "running"]
    assert f.next_steps == (NOTHING_NOR_LOAD,)


def test_longer_answers_raise_the_end_to_end_latency_not_the_time_per_token() -> None:
    """The same requests, each answered with four times the tokens from minute 10: the end to
    end P95 rose with the answer length, which is named and leads the step. The time per token
    is not about answer length: for it, the answer length is not read."""
    series = loaded(noisy(step(0.5, 1.6, 600), 0.02, 61),
                    noisy(const(20.0), 0.5, 62),
                    noisy(const(8000.0), 150.0, 63),
                    noisy(const(16.0), 0.5, 64),
                    more={(M.SVC_TOKENS, SID): noisy(step(3000.0, 12000.0, 600), 100.0, 65)})
    (f,) = rises(series, 900)
    assert f.verdict.endswith("; with it: answer length 150 -> 600 tokens"), f.verdict
    assert f.next_steps[0] == LOAD["output_length"].look
    assert f.next_steps[0].startswith("answers got longer at that moment")
    itl = {("svc.itl_avg_s", SID): noisy(step(0.015, 0.03, 600), 0.0005, 66),
           **{k: v for k, v in series.items() if k[0] != "svc.latency_p95_s"}}
    (f,) = rises(itl, 900)
    assert "answer length" not in f.verdict
    assert "output_length" not in f.data["load_unchanged"] + [x["figure"] for x in f.data["load"]]
