"""What does watching inference servers cost? Scrape + parse per page, and the sampler's CPU
with 0, 1 and 8 servers against glances, in one run.

1. Scrape + parse: real-size vLLM V1 pages (tests/fakes/service_pages.py: every family vLLM
   registers, one engine is about 40 KB, four about 130 KB) and a page captured from the real
   llama-server, each served by a separate ``python -m http.server`` process on loopback. For
   each page: CPU time per scrape (fetch, parse, name table, ServiceSample) in this process,
   over N scrapes after a warm-up, as a median of R rounds; what that costs at the default
   cadence (one scrape every 5 s) as % of one core; and prometheus_client's parser on the
   same text for comparison.
2. The sampler (``autoglm-tui sample --interval 1``, discovery on as by default) with no
   server, one 40 KB vLLM server and eight of them (``--service`` each), and glances, as in
   bench_sampler.py (same plugins, same idle processes), R runs of D seconds, medians.

Usage: python benchmarks/bench_services.py [--duration 30] [--repeat 3] [--procs 300]
       [--baseline DIR]   (also the sampler of another checkout, e.g. before this feature)
Needs the bench extra (glances, prometheus_client). Everything started is stopped by PID.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autoglm_tui.sampler.services.scrape import scrape  # noqa: E402
from autoglm_tui.sampler.services.targets import parse_spec  # noqa: E402
from tests.fakes.service_pages import vllm_page  # noqa: E402

CADENCE_S = 5.0
TARGET_ADD_PCT = 0.2
TARGET_RATIO = 5.0


def _bench_sampler():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_sampler", ROOT / "benchmarks" /
                                                  "bench_sampler.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class PageServer:
    """`python -m http.server` serving one page as /metrics from a temporary directory."""

    def __init__(self, text: str) -> None:
        from tests.integration.etcd_fixture import free_port

        self.dir = tempfile.mkdtemp(prefix="bench-services-")
        Path(self.dir, "metrics").write_text(text)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
             self.dir, str(self.port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        deadline = time.monotonic() + 20
        while True:
            sample, _ = scrape(parse_spec(self.url), 0.0, timeout_s=2.0)
            if sample.ok or time.monotonic() > deadline:
                break
            time.sleep(0.1)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def scrape_cost(url: str, n: int, rounds: int) -> tuple[float, float, int, str]:
    """(median CPU ms per scrape, median wall ms, page bytes, kind) over `rounds` of `n`."""
    target = parse_spec(url)
    sample, page = scrape(target, 0.0, timeout_s=5.0)
    assert sample.ok and page is not None, sample.error
    kind = sample.kind
    cpu, wall = [], []
    for _ in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            s, _ = scrape(target, 0.0, kind=kind, timeout_s=5.0)
            assert s.ok
        cpu.append((time.process_time() - c0) / n * 1000)
        wall.append((time.perf_counter() - w0) / n * 1000)
    return statistics.median(cpu), statistics.median(wall), page.nbytes, kind


def reference_parse_ms(text: str, n: int) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    c0 = time.process_time()
    for _ in range(n):
        list(text_string_to_metric_families(text))
    return (time.process_time() - c0) / n * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per run (30)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per setup; medians (3)")
    parser.add_argument("--procs", type=int, default=300, help="idle processes to start (300)")
    parser.add_argument("--scrapes", type=int, default=40, help="scrapes per round (40)")
    parser.add_argument("--no-glances", action="store_true", help="skip glances")
    parser.add_argument("--baseline", metavar="DIR", help="also run the sampler of another "
                        "checkout (e.g. one without service support), for comparison")
    args = parser.parse_args(argv)
    bs = _bench_sampler()

    pages = {
        "vLLM V1, 1 engine": vllm_page(1),
        "vLLM V1, 4 engines": vllm_page(4),
        "llama.cpp (captured)": (ROOT / "tests" / "data" / "llamacpp_metrics.txt").read_text(),
    }
    servers: list[PageServer] = []
    try:
        print("## Scrape + parse, per server\n")
        print("| page | size | CPU per scrape | wall per scrape | at one scrape / 5 s | "
              "prometheus_client parse alone |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, text in pages.items():
            srv = PageServer(text)
            servers.append(srv)
            cpu, wall, size, _kind = scrape_cost(srv.url, args.scrapes, args.repeat)
            ref = reference_parse_ms(text, max(5, args.scrapes // 4))
            print(f"| {name} | {size / 1024:.0f} KiB | {cpu:.2f} ms | {wall:.2f} ms | "
                  f"{100 * cpu / 1000 / CADENCE_S:.3f}% of a core | {ref:.1f} ms |")

        one = servers[0].url
        more = [PageServer(pages["vLLM V1, 1 engine"]) for _ in range(7)]
        servers += more
        eight = [one] + [s.url for s in more]
        env = dict(os.environ)
        env.pop("AUTOGLM_NVML_MODULE", None)
        base = [sys.executable, "-m", "autoglm_tui", "sample", "--interval", "1"]
        setups: list[tuple[str, list[str]]] = [
            ("sampler, no server", base),
            ("sampler, no server, discovery off", [*base, "--no-service-discovery"]),
            ("sampler, 1 vLLM server (40 KB)", [*base, "--service", one]),
            ("sampler, 8 vLLM servers", [*base, *(x for u in eight for x in ("--service", u))]),
        ]
        if args.baseline:
            setups.append(("sampler of --baseline", [
                sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); "
                "from autoglm_tui.cli import main; sys.exit(main(sys.argv[1:]))",
                str(Path(args.baseline).resolve()), "sample", "--interval", "1"]))
        glances = shutil.which("glances", path=str(Path(sys.executable).parent)) or \
            shutil.which("glances")
        if not args.no_glances:
            if glances is None:
                print("glances not found: pip install 'autoglm-tui[bench]'", file=sys.stderr)
                return 2
            setups.append(("glances", [
                glances, "--disable-plugin", "all", "--enable-plugin", bs.GLANCES_PLUGINS,
                "--disable-check-update", "--disable-webui", "-t", "1", "--stdout",
                bs.GLANCES_FIELDS]))
        idle = [subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL)
                for _ in range(args.procs)]
        results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in setups}
        try:
            for _ in range(args.repeat):
                for name, cmd in setups:
                    cpu, rss, _ = bs.measure(cmd, args.duration, env)
                    results[name].append((cpu, rss))
        finally:
            for p in idle:
                p.kill()
            for p in idle:
                p.wait()
        med = {n: (statistics.median(c for c, _ in r), statistics.median(m for _, m in r))
               for n, r in results.items()}
        ref = med.get("glances", (None, None))[0]
        print(f"\n## The sampler with servers ({args.procs} idle processes, 1 s samples, "
              f"scrapes every 5 s, {args.duration:g} s x {args.repeat} runs, medians, "
              f"{os.cpu_count()} CPUs)\n")
        print("| setup | CPU % of one core | peak RSS MB | vs no server | CPU vs glances |")
        print("| --- | ---: | ---: | ---: | ---: |")
        zero = med["sampler, no server"][0]
        for name, (cpu, rss) in med.items():
            add = f"+{cpu - zero:.2f}" if name.startswith("sampler") else "-"
            ratio = f"{cpu / ref:.2f}x" if ref else "-"
            print(f"| {name} | {cpu:.2f} | {rss:.1f} | {add} | {ratio} |")
        added = med["sampler, 1 vLLM server (40 KB)"][0] - zero
        print(f"\ntargets: one server adds <= {TARGET_ADD_PCT:g}% of a core: "
              f"{'met' if added <= TARGET_ADD_PCT else 'MISSED'} ({added:+.2f})")
        if ref:
            ratio = med["sampler, 1 vLLM server (40 KB)"][0] / ref
            print(f"         sampler with one server <= 1/{TARGET_RATIO:g} of glances: "
                  f"{'met' if ratio * TARGET_RATIO <= 1 else 'MISSED'} ({ratio:.2f}x)")
    finally:
        for s in servers:
            s.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
