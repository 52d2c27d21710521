"""The Prometheus source's pure parts: query results filed by node, assembled into samples with
the sampler's units; what no exporter gives stays None; hostile labels are cleaned; a
backfill lands in the node's history before the live points."""

from __future__ import annotations

from pathlib import Path

from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.prometheus import mapping
from autoglm_tui.cluster.prometheus import queries as q
from autoglm_tui.cluster.prometheus.assemble import NO_GPU_EXPORTER, node_hello, node_sample
from autoglm_tui.events import HistoryBackfill, NodeJoined, SampleReceived
from tests.unit.samples import sample

KEY = q.NodeKey()


def vec(*series: tuple[dict[str, str], float | str]) -> list[dict]:
    return [{"metric": m, "value": [100.0, str(v)]} for m, v in series]


def parse(query: q.Query, result: list[dict], into: q.Results | None = None) -> q.Results:
    into = into or q.Results()
    query.parse(result, into, KEY)
    return into


def by_what(queries: list[q.Query], what: str) -> q.Query:
    return next(x for x in queries if x.what == what)


def test_dcgm_gpu_gauges_in_sampler_units() -> None:
    plan = q.plan("fleet", 'job="dcgm"', "instance", "20s", kinds=[mapping.DCGM])
    gauges = by_what(plan, "dcgm gpu gauges")
    assert gauges.expr.startswith('max by (instance, gpu, __name__) ({__name__=~"DCGM_FI_DEV_')
    labels = {"instance": "10.0.0.7:9400", "gpu": "0"}
    res = parse(gauges, vec(
        ({**labels, "__name__": "DCGM_FI_DEV_GPU_UTIL"}, 73),
        ({**labels, "__name__": "DCGM_FI_DEV_FB_USED"}, 1024),
        ({**labels, "__name__": "DCGM_FI_DEV_FB_FREE"}, 80000),
        ({**labels, "__name__": "DCGM_FI_DEV_POWER_USAGE"}, 310.6),
        ({**labels, "__name__": "DCGM_FI_DEV_GPU_TEMP"}, "NaN"),  # no reading: skipped
        ({"instance": "10.0.0.7:9400", "gpu": "x", "__name__": "DCGM_FI_DEV_GPU_UTIL"}, 5),
    ))
    parse(by_what(plan, "dcgm gpu info"), vec(
        ({"instance": "10.0.0.7:9400", "gpu": "0", "UUID": "GPU-aaa",
          "modelName": "NVIDIA H100 80GB HBM3", "DCGM_FI_DRIVER_VERSION": "550.54"}, 73)), res)
    values, infos = res.values["10.0.0.7"], res.infos["10.0.0.7"]
    s, derived = node_sample("10.0.0.7", values, infos, 100.0, 1)
    (gpu,) = s.gpus
    assert (gpu.index, gpu.uuid, gpu.util_pct, gpu.power_w) == (0, "GPU-aaa", 73.0, 310.6)
    assert gpu.mem_used_bytes == 1024 << 20 and gpu.mem_total_bytes == 81024 << 20
    assert gpu.temp_c is None and gpu.sm_clock_mhz is None  # N/A, not 0
    assert s.cpu.util_pct is None and s.mem.used_pct is None  # no node_exporter: N/A
    assert derived[("disk.read_bps", None)] is None
    h = node_hello("10.0.0.7", values, infos, 100.0, 15.0)
    assert h.static.gpus[0].name == "NVIDIA H100 80GB HBM3"
    assert h.static.nvml.available and h.static.nvml.driver_version == "550.54"
    assert h.static.cpu_cores_logical is None


def test_node_exporter_host_figures_and_derived_rates() -> None:
    plan = q.plan("fleet", 'job="node"', "instance", "20s", kinds=[mapping.NODE_EXPORTER])
    inst = {"instance": "10.0.0.7:9100"}
    res = parse(by_what(plan, "node node gauges"), vec(
        ({**inst, "__name__": "node_memory_MemTotal_bytes"}, 1000),
        ({**inst, "__name__": "node_memory_MemAvailable_bytes"}, 250),
        ({**inst, "__name__": "node_memory_SwapTotal_bytes"}, 0),
        ({**inst, "__name__": "node_memory_SwapFree_bytes"}, 0),
        ({**inst, "__name__": "node_load1"}, 1.5), ({**inst, "__name__": "node_load5"}, 1),
        ({**inst, "__name__": "node_load15"}, 0.5)))
    exprs = by_what(plan, "node node expressions")
    keys = [e.key for e in mapping.NODE_EXPORTER.entries
            if e.expr and e.scope == "node" and e.tier == "fleet"]
    tag = {k: str(i) for i, k in enumerate(keys)}
    parse(exprs, vec(
        ({**inst, q.TAG: tag["cpu.util_pct"]}, 42.0),
        ({**inst, q.TAG: tag["rate.disk_reads"]}, 0), ({**inst, q.TAG: tag["rate.disk_writes"]}, 0),
        ({**inst, q.TAG: tag["rate.disk_read_time_s"]}, 0),
        ({**inst, q.TAG: tag["rate.disk_write_time_s"]}, 0),
        ({**inst, q.TAG: tag["rate.net_rx_bytes"]}, 125_000),
        ({**inst, q.TAG: tag["rate.net_tx_bytes"]}, 0),
        ({**inst, q.TAG: tag["net.speed_bytes"]}, 125_000_000)), res)
    s, derived = node_sample("10.0.0.7", res.values["10.0.0.7"], {}, 100.0, 1)
    assert s.cpu.util_pct == 42.0 and s.cpu.load == (1.5, 1.0, 0.5)
    assert s.mem.used_bytes == 750 and s.mem.used_pct == 75.0 and s.mem.swap_used_pct is None
    assert s.net.link_speed_mbps == 1000
    assert derived[("disk.iops", None)] == 0 and derived[("disk.await_ms", None)] == 0.0
    assert derived[("net.rx_bps", None)] == 125_000 and derived[("net.util_pct", None)] == 0.1
    assert derived[("disk.read_bps", None)] is None  # not returned: N/A


def test_ours_wins_over_node_exporter_and_hostile_labels_are_cleaned() -> None:
    res = q.Results()
    res.put("h", ("node", "node", None), "cpu.util_pct", 10.0)
    res.put("h", ("autoglm", "node", None), "cpu.util_pct", 20.0)
    s, _ = node_sample("h", res.values["h"], {}, 1.0, 1)
    assert s.cpu.util_pct == 20.0
    evil = {"instance": "ev\x1b[2J[red]il\u202e:9400", "job": "j\x07", "zone": "[b]\x9bz"}
    got = parse(q.targets_query('job!=""'), vec(({**evil, q.TAG: "up"}, 1),
                                               ({**evil, q.TAG: "t"}, 99.5)))
    (node_id,) = got.targets
    assert node_id == "ev [2J[red]il" and "\x1b" not in node_id
    target = got.targets[node_id]["ev [2J[red]il:9400"]
    assert target.job == "j " and dict(target.labels) == {"zone": "[b] z"}
    assert (target.up, target.scrape_t) == (1.0, 99.5)


def test_no_gpu_exporter_is_said() -> None:
    h = node_hello("h", {}, {}, 1.0, 5.0)
    assert not h.static.nvml.available and h.static.nvml.reason == NO_GPU_EXPORTER
    assert h.static.collector == "prometheus:"


def test_host_of() -> None:
    assert q.host_of("10.0.0.5:9100") == "10.0.0.5"
    assert q.host_of("[fe80::1]:9100") == "fe80::1"
    assert q.host_of("gpu7") == "gpu7" and q.host_of("fe80::1") == "fe80::1"
    assert q.regex_alternatives(["a.b:1", 'q"x']) == '"a\\\\.b:1|q\\"x"'


def test_backfill_goes_before_live_points() -> None:
    state = FleetState(history_s=900)
    state.apply(NodeJoined(0.0, "n"))
    state.apply(SampleReceived(1000.0, "n", sample(1000.0, 1, cpu=77.0)))
    state.apply(SampleReceived(1001.0, "n", sample(1001.0, 2, cpu=78.0)))
    points = tuple((float(t), sample(float(t), t, cpu=float(t % 50)),
                    {("disk.read_bps", None): 5.0}) for t in range(100, 1000, 5))
    state.apply(HistoryBackfill(1001.5, "n", points))
    hist = state.nodes["n"].history
    cpu = hist.points(("cpu.util_pct", None))
    assert cpu[0][0] == 100.0  # the history now starts 15 minutes back
    assert [v for t, v in cpu if t >= 1000] == [77.0, 78.0]  # live points kept, after
    assert hist.latest(("cpu.util_pct", None)) == 78.0
    assert hist.values(("disk.read_bps", None), 100, 990)[0] == 5.0  # derived figures too
    assert len(hist) >= 180


def test_readme_lists_every_mapping_row() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for kind in mapping.KINDS:
        for entry in kind.entries:
            shown = entry.metric or entry.key
            assert shown in readme, f"{kind.name}: {shown} is not in the README's tables"
