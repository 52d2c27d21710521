"""Memory leaks per process: steady growth is one, a warm-up step or a plateau is not."""

from __future__ import annotations

import re

import pytest

from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.leaks import SERVER_HOST_MEMORY, steady_growth
from autoglm_tui.analysis.diagnosis.stats import theil_sen
from autoglm_tui.analysis.services import ServiceView
from tests.unit.diag_kit import GIB, const, make_node, proc, ramp, run, step

MIB = 1 << 20


def leaky(series, gpu_used=40 * GIB, seconds=600, **kw):
    procs = (proc(4242, {0: gpu_used}), *(proc(100 + i, {i: gpu_used}) for i in (1, 2, 3)))
    return make_node(series, seconds, procs=procs, gpu_used=gpu_used, **kw)


def test_steady_gpu_memory_growth_is_a_leak_with_a_projected_time_to_oom() -> None:
    # 2 MiB/s over 10 minutes: 1.2 GiB more; GPU 0 has 80 - 40 GiB free
    node = leaky({(M.PROC_GPU_MEM, 4242): ramp(38 * GIB, 38 * GIB + 1200 * MIB, 600)})
    found = run(node)
    assert [f.name for f in found] == ["gpu_memory_leak"]
    f = found[0]
    assert f.subject.pid == 4242 and f.subject.kind == "process"
    # Within 2%: a process keeps one minute at full resolution, older points as 10 s means
    # stamped at their bucket's start, which bends the fitted line a little.
    assert f.data["slope_bytes_per_s"] == pytest.approx(2 * MIB, rel=2e-2)
    assert f.data["headroom_bytes"] == 40 * GIB
    assert f.data["eta_s"] == pytest.approx(40 * GIB / (2 * MIB), rel=2e-2)  # about 5.7 h
    assert re.search(r"\+1(19|20)M/min", f.verdict) and "out of memory in about 5h" in f.verdict
    assert f.severity.value == "warning"


def test_a_leak_that_will_exhaust_memory_within_the_hour_is_critical() -> None:
    node = leaky({(M.PROC_GPU_MEM, 4242): ramp(70 * GIB, 71 * GIB, 600)}, gpu_used=78 * GIB)
    f = run(node)[0]
    assert f.severity.value == "critical" and f.data["eta_s"] < 3600


def test_a_warm_up_step_is_not_a_leak() -> None:
    # allocate 20 GiB in the first minute, then flat: the usual model load and cache warm-up
    node = leaky({(M.PROC_GPU_MEM, 4242): step(2 * GIB, 22 * GIB, 60)})
    assert run(node) == []
    # the same step in the middle of the window (a second model loaded) is not one either
    node = leaky({(M.PROC_GPU_MEM, 4242): step(2 * GIB, 22 * GIB, 300)})
    assert run(node) == []


def test_a_staircase_that_keeps_climbing_is_a_leak() -> None:
    node = leaky({(M.PROC_GPU_MEM, 4242): lambda s: 10 * GIB + (s // 60) * 256 * MIB})
    assert [f.name for f in run(node)] == ["gpu_memory_leak"]


def test_growth_that_stopped_halfway_is_not_a_leak() -> None:
    node = leaky({(M.PROC_GPU_MEM, 4242): ramp(10 * GIB, 14 * GIB, 300)})
    assert run(node) == []


def test_small_growth_and_short_history_say_nothing() -> None:
    node = leaky({(M.PROC_GPU_MEM, 4242): ramp(10 * GIB, 10 * GIB + 100 * MIB, 600)})
    assert run(node) == []
    node = leaky({(M.PROC_GPU_MEM, 4242): ramp(10 * GIB, 20 * GIB, 120)}, seconds=120)
    assert run(node) == []


def test_host_rss_goes_through_the_same_path_against_available_memory() -> None:
    node = leaky({(M.PROC_RSS, 4242): ramp(1 * GIB, 2 * GIB, 600)}, mem_available=3 * GIB)
    found = run(node)
    assert [f.name for f in found] == ["host_memory_leak"]
    slope = GIB / 600
    assert found[0].data["eta_s"] == pytest.approx(3 * GIB / slope, rel=1e-3)
    assert "host RSS keeps growing" in found[0].verdict


def test_noise_and_outliers_do_not_move_the_robust_slope() -> None:
    ts = [float(t) for t in range(100)]
    vs = [1000.0 + 5.0 * t for t in ts]
    for i in (10, 40, 70):
        vs[i] = 1e9  # three wild readings
    assert theil_sen(ts, vs) == pytest.approx(5.0)
    assert steady_growth(ts, vs, 100.0, 0.3) is not None
    flat = [1000.0] * 100
    assert steady_growth(ts, flat, 1.0, 0.3) is None


def test_a_process_that_frees_memory_again_is_not_a_leak() -> None:
    sawtooth = {(M.PROC_GPU_MEM, 4242): lambda s: 10 * GIB + (s % 120) * 20 * MIB}
    assert run(leaky(sawtooth)) == []
    assert run(leaky({(M.PROC_GPU_MEM, 4242): const(30 * GIB)})) == []


def test_memory_given_back_now_and_then_is_not_a_leak() -> None:
    # climbs 10 GiB, frees 4 GiB, climbs again: a cache with evictions, not a leak
    def cache(s: float) -> float:
        return 10 * GIB + 2 * MIB * s - (4 * GIB if 250 <= s < 400 else 0)

    assert run(leaky({(M.PROC_GPU_MEM, 4242): cache})) == []


def test_a_process_that_started_inside_the_window_is_still_looked_at() -> None:
    late_start = {(M.PROC_GPU_MEM, 4242): lambda s: None if s < 200 else 10 * GIB + 3 * MIB * s}
    (f,) = run(leaky(late_start))
    assert f.name == "gpu_memory_leak" and f.window[0] == 10_200.0


def test_a_llama_server_growing_says_first_what_its_prompt_cache_does() -> None:
    """llama-server's prompt cache grows in host memory up to --cache-ram by design: the finding
    still stands (it cannot tell), but its first step says what to rule out; another process
    growing the same way gets the usual steps."""
    node = leaky({(M.PROC_RSS, 4242): ramp(1 * GIB, 2 * GIB, 600),
                  (M.PROC_RSS, 101): ramp(1 * GIB, 2 * GIB, 600)}, mem_available=30 * GIB)
    node.service_tracker.views = {"llamacpp:8080": ServiceView(
        "llamacpp:8080", "llamacpp", "http://127.0.0.1:8080", True, None, pid=4242)}
    found = {f.subject.pid: f for f in run(node) if f.name == "host_memory_leak"}
    assert set(found) == {101, 4242}
    assert found[4242].next_steps[0] == SERVER_HOST_MEMORY["llamacpp"]
    assert "--cache-ram" in found[4242].next_steps[0]
    assert found[4242].data["server"] == "llamacpp"
    assert found[101].next_steps[0].startswith("profile its allocations")
    assert found[101].data["server"] is None
