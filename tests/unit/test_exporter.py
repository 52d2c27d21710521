"""The exporter's page: names and units, N/A left out (never 0), hostile label values, and a
scrape that only re-encodes when a new sample arrived. InfluxDB line protocol likewise."""

from __future__ import annotations

from dataclasses import replace

from prometheus_client.parser import text_string_to_metric_families

from autoglm_tui.exporter import names as n
from autoglm_tui.exporter.influx import line, sample_lines
from autoglm_tui.exporter.server import Exposition, Latest, SampleCollector
from autoglm_tui.model import ProcGpuUse, ProcSample
from tests.unit.samples import hello, sample


def page(h=None, s=None, node="node-1") -> dict[tuple[str, tuple], float]:  # type: ignore[no-untyped-def]
    """Encode through prometheus_client and parse the text back: (name, labels) -> value."""

    class Source:
        latest = Latest(1, h or hello(), s or sample(10.0, 1))

    body, _ = Exposition(Source(), SampleCollector(Source(), node)).page(None, False)  # type: ignore[arg-type]
    out = {}
    for fam in text_string_to_metric_families(body.decode()):
        for smp in fam.samples:
            out[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
    return out


def value(got: dict, metric: str, **labels: str) -> float:
    key = (metric, tuple(sorted({"node": "node-1", **labels}.items())))
    return got[key]


def test_names_units_and_labels() -> None:
    proc = ProcSample(4242, 1, "alice", "python", "python serve.py", 150.0, 1 << 30, 999.5,
                      num_threads=8, gpus=(ProcGpuUse(0, 3 << 30, 40.0),))
    got = page(s=sample(10.0, 1, gpu_util=91.0, cpu=25.0, disk_read=4096, procs=(proc,)))
    gpu = {"gpu": "0", "uuid": "GPU-0000", "model": "NVIDIA H100"}
    assert value(got, "autoglm_gpu_utilization_ratio", **gpu) == 0.91
    assert value(got, "autoglm_gpu_memory_used_bytes", **gpu) == 40 << 30
    assert value(got, "autoglm_cpu_utilization_ratio") == 0.25
    assert value(got, "autoglm_disk_read_bytes_total") == 4096
    assert value(got, "autoglm_process_cpu_utilization_ratio", pid="4242", name="python") == 1.5
    assert value(got, "autoglm_process_gpu_memory_bytes", pid="4242", name="python",
                 gpu="0") == 3 << 30
    info = next(k for k in got if k[0] == n.NODE_INFO)
    assert dict(info[1])["hostname"] == "node-1" and got[info] == 1
    assert value(got, n.SAMPLE_TIME) == 10.0
    assert value(got, "autoglm_sampler_cpu_seconds_total") == 0.5
    states = {dict(k[1])["state"]: v for k, v in got.items()
              if k[0] == n.GPU_STATE and dict(k[1])["gpu"] == "1"}
    assert states == {"ok": 1.0, "lost": 0.0, "error": 0.0}


def test_unknown_figures_have_no_series() -> None:
    s = sample(10.0, 1, gpu_util=None)  # power_w is None in the helper too
    s = replace(s, cpu=replace(s.cpu, iowait_pct=None, load=None))
    got = page(s=s)
    names = {k[0] for k in got}
    assert "autoglm_gpu_utilization_ratio" not in names
    assert "autoglm_gpu_power_watts" not in names
    assert "autoglm_cpu_iowait_ratio" not in names and "autoglm_load1" not in names
    assert "autoglm_gpu_memory_used_bytes" in names  # what is known is there


def test_hostile_label_values_are_cleaned() -> None:
    evil = 'x\x1b[31m"red"\\\n[bold]y[/]\u202e'
    proc = ProcSample(7, 1, evil, evil, evil * 40, 1.0, 1, 1.0)
    got = page(s=sample(10.0, 1, procs=(proc,)), node="n\x07ode")
    info = next(dict(k[1]) for k in got if k[0] == n.PROC_INFO)
    assert info["node"] == "n ode"
    assert "\x1b" not in info["user"] and "\n" not in info["user"] and "\u202e" not in info["user"]
    assert '"red"\\' in info["user"] and "[bold]y[/]" in info["user"]  # quotes survive escaping
    assert len(info["command"]) <= 256


def test_scrapes_reuse_the_encoded_page() -> None:
    class Source:
        latest = Latest(1, hello(), sample(10.0, 1))

    expo = Exposition(Source(), SampleCollector(Source(), "n"))  # type: ignore[arg-type]
    first, _ = expo.page(None, False)
    for _ in range(5):
        assert expo.page(None, False)[0] is first
    assert expo.formatted == 1
    Source.latest = Latest(2, hello(), sample(11.0, 2))
    assert expo.page(None, False)[0] is not first
    assert expo.formatted == 2


def test_influx_lines() -> None:
    proc = ProcSample(7, 1, "bob", "py,thon x", 'say "hi"', 2.0, 100, 1.0)
    lines = dict(reversed(list(sample_lines(hello(), sample(10.5, 1, gpu_util=85.0,
                                                           procs=(proc,)), "node 1"))))
    assert lines["gpu"].startswith("autoglm_gpu,gpu=0,model=NVIDIA\\ H100,node=node\\ 1,"
                                   "uuid=GPU-0000 ")
    assert "util_pct=85.0," in lines["gpu"] and lines["gpu"].endswith(" 10500")
    assert "power_w" not in lines["gpu"]  # unknown: left out
    assert 'state="ok"' in lines["gpu"] and "mem_used_bytes=42949672960i" in lines["gpu"]
    assert "name=py\\,thon\\ x" in lines["process"]
    assert 'command="say \\"hi\\""' in lines["process"]
    assert line("m", {"a": ""}, {"v": None}, 1) is None
