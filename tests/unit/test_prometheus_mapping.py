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


def gauges(plan: list[q.Query], kind: str, values: dict[str, list[tuple[dict, object]]],
           into: q.Results | None = None) -> q.Results:
    """Feed each gauge's query its own result (one query per gauge, no metric names)."""
    into = into or q.Results()
    for metric, series in values.items():
        parse(by_what(plan, f"{kind} {metric}"), vec(*series), into)
    return into


def test_dcgm_gpu_gauges_in_sampler_units() -> None:
    plan = q.plan(("fleet", "static", "detail"), 'job="dcgm"', "instance", "20s",
                  kinds=[mapping.DCGM])
    util = by_what(plan, "dcgm DCGM_FI_DEV_GPU_UTIL")
    assert util.expr == 'max by (instance, gpu) (DCGM_FI_DEV_GPU_UTIL{job="dcgm"})'
    g0 = {"instance": "10.0.0.7:9400", "gpu": "0"}
    res = gauges(plan, "dcgm", {
        "DCGM_FI_DEV_GPU_UTIL": [(g0, 73), ({"instance": "10.0.0.7:9400", "gpu": "x"}, 5)],
        "DCGM_FI_DEV_FB_USED": [(g0, 1024)], "DCGM_FI_DEV_FB_FREE": [(g0, 80000)],
        "DCGM_FI_DEV_POWER_USAGE": [(g0, 310.6)],
        "DCGM_FI_DEV_GPU_TEMP": [(g0, "NaN")],  # no reading: skipped
    })
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
    plan = q.plan(("fleet", "static", "detail"), 'job="node"', "instance", "20s",
                  kinds=[mapping.NODE_EXPORTER])
    inst = {"instance": "10.0.0.7:9100"}
    res = gauges(plan, "node", {
        "node_memory_MemTotal_bytes": [(inst, 1000)],
        "node_memory_MemAvailable_bytes": [(inst, 250)],
        "node_memory_SwapTotal_bytes": [(inst, 0)], "node_memory_SwapFree_bytes": [(inst, 0)],
        "node_load1": [(inst, 1.5)], "node_load5": [(inst, 1)], "node_load15": [(inst, 0.5)],
    })
    for tier in ("fleet", "static"):
        keys = [e.key for e in mapping.NODE_EXPORTER.entries
                if e.expr and e.scope == "node" and e.tier == tier]
        exprs = q.plan(tier, 'job="node"', "instance", "20s", kinds=[mapping.NODE_EXPORTER])
        query = by_what(exprs, "node node expressions")
        given = {"cpu.util_pct": 42.0, "rate.disk_reads": 0, "rate.disk_writes": 0,
                 "rate.disk_read_time_s": 0, "rate.disk_write_time_s": 0,
                 "rate.net_rx_bytes": 125_000, "rate.net_tx_bytes": 0,
                 "net.speed_bytes": 125_000_000}
        parse(query, vec(*[({**inst, q.TAG: str(i)}, given[k]) for i, k in enumerate(keys)
                           if k in given]), res)
    s, derived = node_sample("10.0.0.7", res.values["10.0.0.7"], {}, 100.0, 1)
    assert s.cpu.util_pct == 42.0 and s.cpu.load == (1.5, 1.0, 0.5)
    assert s.mem.used_bytes == 750 and s.mem.used_pct == 75.0 and s.mem.swap_used_pct is None
    assert s.net.link_speed_mbps == 1000
    assert derived[("disk.iops", None)] == 0 and derived[("disk.await_ms", None)] == 0.0
    assert derived[("net.rx_bps", None)] == 125_000 and derived[("net.util_pct", None)] == 0.1
    assert derived[("disk.read_bps", None)] is None  # not returned: N/A


def test_static_rows_are_kept_between_rounds() -> None:
    from autoglm_tui.cluster.prometheus.source import STATIC_KEYS

    first = q.Results()
    first.put("h", ("autoglm", "gpu", 0), "gpu.mem_total", 80.0)
    first.put("h", ("autoglm", "gpu", 0), "gpu.util_pct", 50.0)
    kept = first.static_part(STATIC_KEYS)
    assert kept == {"h": {("autoglm", "gpu", 0): {"gpu.mem_total": 80.0}}}
    later = q.Results()
    later.put("h", ("autoglm", "gpu", 0), "gpu.util_pct", 60.0)
    later.add_static(kept)
    assert later.values["h"][("autoglm", "gpu", 0)] == {"gpu.util_pct": 60.0,
                                                        "gpu.mem_total": 80.0}


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


def test_readme_prints_the_mapping_tables() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert mapping.markdown() in readme, "README's mapping tables are out of date: paste " \
        "`python -m autoglm_tui.cluster.prometheus.mapping`"


def test_readme_lists_every_exporter_metric() -> None:
    from autoglm_tui.exporter import names

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    fields = (*names.CPU, *names.LOAD, *names.MEM, *names.DISK, *names.NET, *names.GPU,
              *names.GPU_HEALTH,
              *names.PROC, *names.PROC_GPU, *names.SELF, *names.SERVICE,
              *names.SERVICE_HISTOGRAMS)
    for name in [f.name for f in fields] + [names.NODE_INFO, names.GPU_INFO, names.PROC_INFO,
                                            names.SERVICE_INFO, names.SERVICE_UP,
                                            names.SERVICE_SCRAPE_TIME]:
        assert f"`{name}`" in readme, name


def test_prometheus_with_another_node_source_is_refused() -> None:
    from autoglm_tui import cli
    from autoglm_tui.cluster.prometheus.args import conflicting_sources

    parser = cli.build_parser()
    args = parser.parse_args(["cluster", "--prometheus", "http://p:9090", "--hosts", "a,b"])
    assert "leave out --hosts" in (conflicting_sources(args) or "")
    assert conflicting_sources(parser.parse_args(["cluster", "--prometheus", "http://p"])) is None


def test_refresh_period_stretches_at_once_and_shrinks_slowly() -> None:
    from autoglm_tui.cluster.prometheus.client import ClientConfig
    from autoglm_tui.cluster.prometheus.source import PrometheusSource, PromSourceConfig

    src = PrometheusSource(PromSourceConfig(ClientConfig("http://127.0.0.1:1"),
                                            scrape_interval_s=5.0))
    targets = {"n": {"n:1": q.Target("n:1", "j")}}
    periods = []
    for took in (1.0, 4.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 9.0):
        src.stats.last_s = took
        src._plan_period(targets)
        periods.append(src.refresh_s())
    assert periods == [5, 10, 10, 10, 10, 10, 5, 5, 15]
