"""Batch-inference bottlenecks, each with a false friend that must not be named."""

from __future__ import annotations

from autoglm_tui.analysis.diagnosis import names as M
from tests.unit.diag_kit import GIB, burst, const, make_node, names, proc, ramp, run, step


def gpu(metric: str, f, gpus: int = 4) -> dict:
    return {(metric, g): f for g in range(gpus)}


def test_cpu_bound_needs_gpus_waiting_and_the_cpu_saturated_for_most_of_the_window() -> None:
    node = make_node({(M.CPU, None): const(96.0), **gpu(M.GPU_UTIL, const(22.0))}, 180)
    found = run(node)
    assert names(found) == ["cpu_bound"]
    f = found[0]
    assert f.subject.node == "n1" and f.subject.kind == "node"
    assert "GPU util 22%" in f.verdict and "CPU is at 96%" in f.verdict
    assert f.window[1] - f.window[0] == 120.0
    assert f.data["cpu_saturated_share"] == 1.0
    assert f.next_steps


def test_a_finding_quotes_the_data_it_had_not_the_window_it_looked_at() -> None:
    # a node watched for one minute: the two-minute check quotes that minute (a short
    # recording, a node that just joined), as its evidence does
    node = make_node({(M.CPU, None): const(96.0), **gpu(M.GPU_UTIL, const(22.0))}, 60)
    (f,) = run(node)
    assert f.name == "cpu_bound"
    assert f.window[1] - f.window[0] == 60.0
    assert f.to_dict()["window"]["seconds"] == 60.0


def test_a_short_cpu_burst_is_not_a_bottleneck() -> None:
    node = make_node({(M.CPU, None): burst(30.0, 99.0, 150, 20),
                      **gpu(M.GPU_UTIL, const(22.0))}, 180)
    assert run(node) == []


def test_idle_gpus_without_a_gpu_job_are_not_waiting_for_anything() -> None:
    node = make_node({(M.CPU, None): const(96.0), **gpu(M.GPU_UTIL, const(0.0))}, 180,
                     gpu_used=200 << 20, procs=())
    assert run(node) == []


def test_transfer_bound_against_the_default_link_and_a_known_faster_link() -> None:
    series = {**gpu(M.GPU_UTIL, const(30.0)), **gpu(M.PCIE_RX, const(25e9)),
              **gpu(M.PCIE_TX, const(1e9))}
    found = run(make_node(series, 180))
    assert set(names(found)) == {"transfer_bound"}
    assert found[0].subject.kind == "gpu"
    assert "79% of default link PCIe 4.0 x16" in found[0].verdict
    # the same traffic on a PCIe 5.0 x16 link (63 GB/s) is far from its limit
    link = {"pcie_gen": 1, "pcie_gen_max": 5, "pcie_width": 16}  # idle links drop their gen
    assert run(make_node(series, 180, gpu_fields=link)) == []
    gen3 = {"pcie_gen": 3, "pcie_gen_max": 3, "pcie_width": 16}  # 15.8 GB/s: at its limit
    assert "of PCIe 3.0 x16" in run(make_node(series, 180, gpu_fields=gen3))[0].verdict


def test_transfer_needs_the_gpu_under_used() -> None:
    series = {**gpu(M.GPU_UTIL, const(95.0)), **gpu(M.PCIE_RX, const(25e9))}
    assert run(make_node(series, 180)) == []


def serving(queue, kv, gpu_mem, util, tokens) -> dict:
    return {(M.SVC_QUEUE, None): queue, (M.SVC_KV, None): kv, (M.SVC_TOKENS, None): tokens,
            **gpu(M.GPU_MEM_PCT, gpu_mem), **gpu(M.GPU_UTIL, util)}


def test_memory_bound_when_kv_cache_and_gpu_memory_are_full_and_the_queue_grows() -> None:
    node = make_node(serving(ramp(2, 30, 180), const(98.0), const(95.0), const(70.0),
                             const(4000.0)), 180)
    found = run(node)
    assert names(found) == ["memory_bound"]
    assert "KV cache 98% full" in found[0].verdict
    assert found[0].severity.value == "critical"
    assert any("smaller batches" in s for s in found[0].next_steps)


def test_full_kv_cache_with_a_steady_queue_is_just_a_well_used_server() -> None:
    node = make_node(serving(const(3.0), const(98.0), const(95.0), const(70.0),
                             const(4000.0)), 180)
    assert run(node) == []


def test_compute_bound_when_gpus_are_busy_throughput_is_flat_and_the_queue_grows() -> None:
    node = make_node(serving(ramp(0, 24, 180), const(60.0), const(70.0), const(97.0),
                             const(5000.0)), 180)
    found = run(node)
    assert names(found) == ["compute_bound"]
    assert "5000 tokens/s" in found[0].verdict and "queue growing" in found[0].verdict


def test_busy_gpus_whose_throughput_still_rises_are_not_compute_bound() -> None:
    node = make_node(serving(ramp(0, 24, 180), const(60.0), const(70.0), const(97.0),
                             ramp(2000, 6000, 180)), 180)
    assert run(node) == []


def test_storage_bound_and_its_short_burst() -> None:
    io = {(M.DISK_AWAIT, None): const(120.0), (M.IOWAIT, None): const(25.0),
          (M.NET_UTIL, None): const(5.0), (M.DISK_IOPS, None): const(400.0)}
    found = run(make_node(io, 300))
    assert names(found) == ["storage_bound"]
    assert "disk await 120 ms with 25% iowait" in found[0].verdict
    short = {**io, (M.DISK_AWAIT, None): burst(2.0, 300.0, 280, 15),
             (M.IOWAIT, None): burst(1.0, 40.0, 280, 15)}
    assert run(make_node(short, 300)) == []


def test_network_saturation_needs_disk_latency_rising_with_the_network_full() -> None:
    io = {(M.NET_UTIL, None): const(92.0), (M.DISK_AWAIT, None): ramp(3.0, 80.0, 300),
          (M.DISK_IOPS, None): const(500.0), (M.IOWAIT, None): const(2.0)}
    found = run(make_node(io, 300))
    assert names(found) == ["network_saturation"]
    assert "net 92% of link" in found[0].verdict
    flat = {**io, (M.DISK_AWAIT, None): const(3.0)}
    assert run(make_node(flat, 300)) == []


def test_write_amplification_with_the_network_normal() -> None:
    io = {(M.NET_UTIL, None): const(10.0), (M.DISK_AWAIT, None): step(1.0, 45.0, 200),
          (M.DISK_IOPS, None): step(150.0, 4000.0, 200), (M.IOWAIT, None): const(3.0)}
    found = run(make_node(io, 300))
    assert names(found) == ["write_amplification"]
    assert "4000 IOPS at 45 ms await" in found[0].verdict
    # the same disk figures with the network saturated are not write amplification
    busy = {**io, (M.NET_UTIL, None): const(60.0)}
    assert "write_amplification" not in names(run(make_node(busy, 300)))


def test_clock_throttling_counts_only_busy_time_and_needs_reasons() -> None:
    series = {**gpu(M.GPU_UTIL, const(95.0)), **gpu(M.GPU_SM_CLOCK, const(1400.0)),
              (M.THROTTLE_MASK, 2): lambda s: 0x4 if int(s) % 10 < 7 else 0x0}
    found = run(make_node(series, 180))
    assert names(found) == ["clock_throttled"]
    assert found[0].subject.gpu == 2 and "SW power cap" in found[0].verdict
    idle = {**series, **gpu(M.GPU_UTIL, const(3.0))}  # idle clocks down: normal
    assert run(make_node(idle, 180)) == []
    without = {k: v for k, v in series.items() if k[0] != M.THROTTLE_MASK}
    assert run(make_node(without, 180)) == []
    thermal = {**without, (M.THROTTLE_MASK, 1): const(0x40 | 0x1)}  # HW thermal (+ idle bit)
    found = run(make_node(thermal, 180))
    assert [(f.name, f.subject.gpu) for f in found] == [("clock_throttled", 1)]
    assert any("cooling" in s for s in found[0].next_steps)


def test_straggler_gpu_over_the_window_but_not_for_a_short_dip() -> None:
    series = {**gpu(M.GPU_UTIL, const(90.0), 8), (M.GPU_UTIL, 5): const(35.0)}
    found = run(make_node(series, 180, gpus=8))
    assert [(f.name, f.subject.gpu) for f in found] == [("straggler_gpu", 5)]
    dip = {**series, (M.GPU_UTIL, 5): burst(90.0, 10.0, 170, 10)}
    assert run(make_node(dip, 180, gpus=8)) == []


def test_straggler_node_among_replicas_sharing_the_group_label() -> None:
    nodes = [make_node(gpu(M.GPU_UTIL, const(30.0 if i == 2 else 88.0 + i)), 180,
                       node_id=f"n{i}", labels={"service": "llm"}) for i in range(5)]
    found = [f for f in run(*nodes) if f.name == "straggler_node"]
    assert [(f.subject.node, f.subject.group) for f in found] == [("n2", "service=llm")]


def test_orphan_gpu_memory_is_what_no_live_process_holds() -> None:
    procs = (proc(10, {0: 10 * GIB}), proc(11, {1: 30 * GIB}))
    node = make_node(gpu(M.GPU_MEM_USED, const(30.0 * GIB)), 180, gpu_used=30 * GIB,
                     procs=procs)
    found = [f for f in run(node) if f.name == "orphan_gpu_memory"]
    assert sorted(f.subject.gpu for f in found) == [0, 2, 3]
    by_gpu = {f.subject.gpu: f for f in found}
    assert by_gpu[0].data["unaccounted_bytes"] == 20 * GIB
    assert "20.0G in use that no live process accounts for" in by_gpu[0].verdict
    # a process that does not report its memory: nothing can be said
    unknown = (*procs, proc(12, {2: None}))  # type: ignore[dict-item]
    node = make_node({}, 180, gpu_used=30 * GIB, procs=unknown)
    assert [f for f in run(node) if f.name == "orphan_gpu_memory"] == []


def test_services_reported_apart_are_diagnosed_apart() -> None:
    # two servers on one node (svc.* keyed by service id): only the busy one is compute bound
    busy, idle = "vllm:8000", "tgi:8080"
    series = {**gpu(M.GPU_UTIL, const(97.0)), **gpu(M.GPU_MEM_PCT, const(70.0)),
              (M.SVC_QUEUE, busy): ramp(0, 24, 180), (M.SVC_TOKENS, busy): const(5000.0),
              (M.SVC_QUEUE, idle): const(1.0), (M.SVC_TOKENS, idle): const(800.0)}
    found = run(make_node(series, 180))
    bound = [f for f in found if f.name.endswith("_bound")]
    assert [(f.name, f.subject.kind, f.subject.service) for f in bound] == [
        ("compute_bound", "service", busy)]
    assert bound[0].verdict.startswith("vllm:8000: compute bound")
    # with no replica label, each service id is a group: the queued one should grow
    scale = {f.subject.group: f.name for f in found if f.name.startswith("scale")}
    assert scale.get("service_id=vllm:8000") == "scale_out"
