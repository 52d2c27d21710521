"""The cluster view on `--prometheus` at fleet scale, and the exporter's scrape cost.

For each fleet size (default 512, 1,024 and 2,048 nodes of 8 GPUs):

1. a synthetic exporter process (benchmarks/synth_exporter.py) serves N pages of our
   exporter's format, node i on 127.1.x.y:PORT, so Debian's real Prometheus (started here, 5 s
   scrape interval) scrapes N targets with distinct `instance` labels; node 0 also gets 15
   minutes of history written into Prometheus' TSDB beforehand with `promtool tsdb
   create-blocks-from openmetrics`, so opening it has 15 minutes to read;
2. once every target has been scraped twice, the cluster app runs headless in this process
   (160x50, default alert rules, every frame rendered to terminal bytes as in
   bench_cluster_tui.py) on a PrometheusSource: time to the first frame with every node UP;
3. this process's CPU over `--seconds` of live refreshes (the TUI, the HTTP and JSON work of
   the source in its threads: all of it), beside Prometheus' own CPU and RSS over the same span;
4. the history of node 0 requested as a screen would (`request(HistoryWanted(...))`; the UI hook
   is not wired yet, so this is the source + state path): time until its 15 minutes are in
   the node's history, `--history-repeat` times, median.

Then the exporter's own scrape cost against node_exporter's, in the same run: the real
`autoglm-tui exporter` (fake NVML, 8 GPUs) and Debian's prometheus-node-exporter (default
collectors), each scraped `--scrapes` times; CPU per scrape from /proc/PID/stat.

Prints markdown tables. Run: ``.venv/bin/python benchmarks/bench_prometheus.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from synth_exporter import address, history_openmetrics  # noqa: E402

from tests.integration.prometheus_fixture import (  # noqa: E402
    NODE_EXPORTER,
    PROMETHEUS,
    Job,
    PrometheusServer,
    free_port,
    missing,
    wait_until,
)

TICK = os.sysconf("SC_CLK_TCK")
TARGET_CPU, TARGET_FIRST_S, TARGET_HISTORY_S = 15.0, 3.0, 1.0


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def backfill(workdir: Path, port: int, scrape_s: float) -> Path:
    """Prometheus data dir holding node 0's last 15 minutes (before now)."""
    data = workdir / "data"
    data.mkdir(parents=True)
    now = time.time()
    text = history_openmetrics(0, port, "synth", now - 905, now - 2 * scrape_s, scrape_s)
    src = workdir / "history.om"
    src.write_text(text)
    promtool = str(Path(PROMETHEUS).with_name("promtool"))
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(src),
                    str(data)], check=True, capture_output=True, timeout=300)
    return data


def run_size(nodes: int, seconds: float, scrape_s: float, history_repeat: int,
             workdir: Path, services: bool = False) -> dict[str, Any]:
    from autoglm_tui.alerting.pipeline import build_pipeline
    from autoglm_tui.analysis.state import FleetState
    from autoglm_tui.cluster.prometheus.client import ClientConfig
    from autoglm_tui.cluster.prometheus.source import PrometheusSource, PromSourceConfig
    from autoglm_tui.events import NodeStatus
    from autoglm_tui.monitor import Monitor
    from autoglm_tui.requests import HistoryWanted
    from autoglm_tui.tui.cluster_app import ClusterApp

    port = free_port(address(0))
    backfill(workdir, port, scrape_s)
    synth = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "synth_exporter.py"),
                              str(nodes), str(port), *(["services"] if services else [])],
                             stdout=subprocess.PIPE, text=True)
    assert synth.stdout is not None and synth.stdout.readline().strip() == "ready"
    interval = f"{scrape_s:g}s"
    prom = PrometheusServer(workdir, [Job("synth", [f"{address(i)}:{port}" for i in range(nodes)],
                                          interval=interval)])
    result: dict[str, Any] = {"nodes": nodes, "services": services}
    try:
        prom.start(timeout=120)
        prom.wait_up("synth", nodes, timeout=120)
        wait_until(lambda: len(prom.query(f"count_over_time(up[{3 * scrape_s:g}s]) >= 2"))
                   >= nodes, "two scrapes of every target", timeout=120, interval=1)
        monitor = Monitor(FleetState(history_s=900))
        silences = workdir / "silences.json"
        build_pipeline([], no_log=True, include_user_rules=False,
                       silences_path=str(silences)).install(monitor)
        source = PrometheusSource(PromSourceConfig(ClientConfig(prom.url, timeout_s=30),
                                                   jobs=("synth",)))
        frames: list[float] = []

        class BenchApp(ClusterApp):
            def _display(self, screen: Any, renderable: Any) -> None:
                if renderable is not None:
                    renderable.render_segments(self.console)
                    frames.append(time.perf_counter())
                super()._display(screen, renderable)

        app = BenchApp(monitor, [source])
        state = monitor.state

        async def drive() -> None:
            t0 = time.perf_counter()
            async with app.run_test(size=(160, 50), headless=True):
                while True:
                    up = sum(n.status == NodeStatus.UP for n in state.nodes.values())
                    if up >= nodes:
                        seen = time.perf_counter()
                        while not any(f > seen for f in frames):
                            await asyncio.sleep(0.01)
                        result["first_full_frame_s"] = next(f for f in frames if f > seen) - t0
                        break
                    if time.perf_counter() - t0 > 120:
                        result["first_full_frame_s"] = float("nan")
                        break
                    await asyncio.sleep(0.02)
                await asyncio.sleep(2 * scrape_s)  # warm up
                rounds0, bytes0 = source.stats.rounds, source.client.bytes_in
                c0, w0 = time.process_time(), time.perf_counter()
                p0, s0 = proc_cpu_s(prom.pid), proc_cpu_s(synth.pid)
                await asyncio.sleep(seconds)
                wall = time.perf_counter() - w0
                result["tui_cpu_pct"] = 100 * (time.process_time() - c0) / wall
                result["prom_cpu_pct"] = 100 * (proc_cpu_s(prom.pid) - p0) / wall
                result["synth_cpu_pct"] = 100 * (proc_cpu_s(synth.pid) - s0) / wall
                result["prom_rss_mb"] = proc_rss_mb(prom.pid)
                rounds = max(1, source.stats.rounds - rounds0)
                result["refresh_s"] = source.stats.last_s
                result["first_refresh_s"] = source.stats.first_s
                result["period_s"] = source.refresh_s()
                result["mb_per_refresh"] = (source.client.bytes_in - bytes0) / rounds / 2**20
                result["up"] = sum(n.status == NodeStatus.UP for n in state.nodes.values())
                node0 = address(0)
                took = []
                for _ in range(history_repeat):
                    h0 = time.perf_counter()
                    old = time.time() - 800
                    source.request(HistoryWanted(node0, 900.0))
                    while time.perf_counter() - h0 < 30:
                        pts = state.nodes[node0].history.points(("gpu.util_pct", 0))
                        if pts and pts[0][0] < old and len(pts) > 100:
                            break
                        await asyncio.sleep(0.005)
                    took.append(time.perf_counter() - h0)
                    result["history_points"] = len(state.nodes[node0].history.points(
                        ("gpu.util_pct", 0)))
                    state.nodes[node0].history = state._new_history()  # empty it again
                result["history_s"] = statistics.median(took)
                screen = app.screen
                if hasattr(screen, "ready"):
                    screen.ready = False
                await asyncio.sleep(0.1)

        asyncio.run(drive())
    finally:
        prom.stop()
        synth.terminate()
        synth.wait(timeout=10)
    return result


def scrape_cost(scrapes: int, workdir: Path) -> list[dict[str, Any]]:
    """CPU per scrape of our exporter (fake NVML, 8 GPUs) and node_exporter, same run."""
    from tests.integration.exporter_fleet import ExporterFleet
    from tests.integration.prometheus_fixture import NodeExporter

    fleet = ExporterFleet(workdir / "exp")
    gpus = [{"processes": [{"pid": 1, "mem": 1 << 30}]} if i == 0 else {} for i in range(8)]
    exp = fleet.start("127.0.0.2", gpus=gpus, interval=5.0)
    ne = NodeExporter.__new__(NodeExporter)
    ne.__init__(workdir / "ne", host="127.0.0.2")
    ne._spawn([NODE_EXPORTER, f"--web.listen-address={ne.address}"])  # default collectors
    ne._ready(f"http://{ne.address}/metrics", 20)
    rows = []
    try:
        for name, pid, url in (("autoglm-tui exporter", exp.proc.pid,
                                f"http://{exp.address}/metrics"),
                               ("node_exporter 1.5", ne.pid, f"http://{ne.address}/metrics")):
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            body = opener.open(url, timeout=10).read()
            c0 = proc_cpu_s(pid)  # type: ignore[arg-type]
            w0 = time.perf_counter()
            for _ in range(scrapes):
                opener.open(url, timeout=10).read()
            wall = time.perf_counter() - w0
            cpu = proc_cpu_s(pid) - c0  # type: ignore[arg-type]
            series = sum(1 for ln in body.decode().splitlines() if ln and ln[0] != "#")
            rows.append({"who": name, "cpu_ms": 1000 * cpu / scrapes,
                         "wall_ms": 1000 * wall / scrapes, "kb": len(body) / 1024,
                         "series": series})
        # the cost of the first scrape after a new sample: encoding it, measured in-process
        from autoglm_tui.exporter.server import Exposition, Latest, SampleCollector
        from tests.unit.samples import hello, sample

        class Src:
            latest = Latest(1, hello(gpus=8), sample(1.0, 1, gpus=8))

        expo = Exposition(Src(), SampleCollector(Src(), "n"))  # type: ignore[arg-type]
        t0 = time.process_time()
        for k in range(200):
            Src.latest = Latest(k + 2, Src.latest.hello, Src.latest.sample)
            expo.page(None, False)
        rows.append({"who": "autoglm-tui exporter, first scrape after a sample (encoding)",
                     "cpu_ms": 1000 * (time.process_time() - t0) / 200, "wall_ms": None,
                     "kb": None, "series": None})
    finally:
        ne.stop()
        fleet.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--scrape", type=float, default=5.0, help="scrape interval (default 5)")
    ap.add_argument("--history-repeat", type=int, default=3)
    ap.add_argument("--scrapes", type=int, default=300)
    ap.add_argument("--services", choices=("off", "on", "both"), default="off",
                    help="inference services on the synthetic pages (one node in four, as "
                    "the exporter passes them through); both: each size without, then with")
    args = ap.parse_args()
    why = missing(PROMETHEUS, NODE_EXPORTER)
    if why:
        sys.exit(why)
    rows = []
    with_services = {"off": (False,), "on": (True,), "both": (False, True)}[args.services]
    for n in args.nodes:
        for svc in with_services:
            with tempfile.TemporaryDirectory(prefix=f"bench-prom-{n}-") as tmp:
                print(f"running {n} nodes{' with services' if svc else ''}...",
                      file=sys.stderr, flush=True)
                rows.append(run_size(n, args.seconds, args.scrape, args.history_repeat,
                                     Path(tmp), services=svc))
    print(f"\ncluster --prometheus, synthetic exporters x 8 GPUs at a {args.scrape:g} s scrape "
          f"interval, 160x50, default alert rules; CPU over {args.seconds:g} s; "
          f"{os.cpu_count()} CPUs\n")
    print("| nodes | services | first full frame s (<= 3) | of which first refresh s "
          "| TUI CPU % (<= 15) | node with 15 min history s (<= 1) | points "
          "| refresh s / period s | MB per refresh "
          "| Prometheus CPU % | Prometheus RSS MB | synthetic exporters CPU % | nodes UP |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: |")
    for r in rows:
        print(f"| {r['nodes']} | {'yes' if r['services'] else 'no'} | "
              f"{r['first_full_frame_s']:.2f} | {r['first_refresh_s']:.2f} | "
              f"{r['tui_cpu_pct']:.1f} | {r['history_s']:.2f} | {r.get('history_points', 0)} | "
              f"{r['refresh_s']:.2f} / {r['period_s']:g} | "
              f"{r['mb_per_refresh']:.1f} | {r['prom_cpu_pct']:.1f} | {r['prom_rss_mb']:.0f} | "
              f"{r['synth_cpu_pct']:.1f} | {r['up']} |")
    with tempfile.TemporaryDirectory(prefix="bench-scrape-") as tmp:
        cost = scrape_cost(args.scrapes, Path(tmp))
    print(f"\nscrape cost, {args.scrapes} scrapes each, same run\n")
    print("| exporter | CPU ms per scrape | wall ms per scrape | page KB | series |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for c in cost:
        wall = "-" if c["wall_ms"] is None else f"{c['wall_ms']:.2f}"
        kb = "-" if c["kb"] is None else f"{c['kb']:.1f}"
        print(f"| {c['who']} | {c['cpu_ms']:.2f} | {wall} | {kb} | {c['series'] or '-'} |")


if __name__ == "__main__":
    main()
