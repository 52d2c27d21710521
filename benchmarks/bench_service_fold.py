"""What does a service's scrape cost the monitor? ``ServiceTracker.update`` per new scrape.

Each node's sampler scrapes its inference servers every 5 s (the default) and repeats the newest
scrape in every sample; the monitor derives the windows (rates, error rate, P50/P95/P99 of each
latency histogram) once per new scrape and serves the same figures for the repeats. This
measures, in one process:

- a new scrape of a vLLM-like server (the synthetic fleet's: vLLM V1's bucket bounds, four
  histograms, 60 s window = 12 steps), and of an averages-only llama.cpp-like one;
- a repeated scrape (the samples in between);
- the peer: ``json.loads`` of the wire line of one sample carrying that scrape, which the
  monitor does for every sample anyway; the ratio is what holds between machines and days;
- what new scrapes cost at 1,024 nodes with 1, 4 and 8 services each, scraped every 5 s, as %
  of one core.

Medians of ``--repeat`` rounds of 360 scrapes each, after 40 scrapes of warm-up (the window
full). ``--root DIR`` measures another checkout's code (e.g. a worktree of an older commit),
for a before/after in the same session. Prints one markdown table.

Run: ``.venv/bin/python benchmarks/bench_service_fold.py [--repeat 9] [--root DIR]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

SCRAPE_S = 5.0
WARM = 40
ROUND = 360


def scrapes(kind: str, root: Path) -> list[Any]:
    """WARM + ROUND successive scrapes of one server, 5 s apart."""
    from autoglm_tui.cluster.synthetic_services import SyntheticService
    from autoglm_tui.model import Histogram, ServiceSample

    out: list[Any] = []
    if kind == "vllm":
        svc = SyntheticService(random.Random(3), 0)
        for k in range(WARM + ROUND):
            out.append(svc.sample(1000.0 + SCRAPE_S * k, 60.0 + 20.0 * ((k % 7) / 7)))
        return out
    for k in range(WARM + ROUND):  # llama.cpp: counters and one averages-only "histogram"
        tokens = 600.0 * k
        out.append(ServiceSample(
            url="http://127.0.0.1:8080/metrics", kind="llamacpp", ok=True, model="m",
            pid=4121, port=8080, t=1000.0 + SCRAPE_S * k, running=1.0, waiting=0.0,
            prompt_tokens=40.0 * k, generation_tokens=tokens,
            itl=Histogram((), (tokens,), 0.009 * tokens)))
    return out


class _Sample:
    """What ServiceTracker.update reads of a sample: its services and processes."""

    __slots__ = ("procs", "services")

    def __init__(self, svc: Any) -> None:
        self.services = (svc,)
        self.procs = ()


def fold_us(kind: str, root: Path, repeat: int) -> tuple[float, float]:
    """(us per new scrape, us per repeated scrape), medians of `repeat` rounds."""
    from autoglm_tui.analysis.services import ServiceTracker

    samples = [_Sample(s) for s in scrapes(kind, root)]
    new, same = [], []
    for _ in range(repeat):
        tracker = ServiceTracker()
        for k, s in enumerate(samples[:WARM]):
            tracker.update(s, 1000.0 + SCRAPE_S * k)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        for k in range(WARM, WARM + ROUND):
            tracker.update(samples[k], 1000.0 + SCRAPE_S * k)  # type: ignore[arg-type]
        new.append((time.perf_counter() - t0) / ROUND)
        last = samples[-1]
        t0 = time.perf_counter()
        for _ in range(ROUND):
            tracker.update(last, 3000.0)  # type: ignore[arg-type]
        same.append((time.perf_counter() - t0) / ROUND)
    return 1e6 * statistics.median(new), 1e6 * statistics.median(same)


def loads_us(kind: str, root: Path, repeat: int) -> float:
    """us per json.loads of the wire line of a sample carrying the scrape (the peer)."""
    from autoglm_tui import wire
    from autoglm_tui.cluster.synthetic import SyntheticFleet

    node = SyntheticFleet(nodes=1, gpus=8, seed=1)
    sample = next(iter(node.tick_events(1000.0))).sample
    from dataclasses import replace

    line = wire.encode(replace(sample, services=(scrapes(kind, root)[-1],)))
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(ROUND):
            json.loads(line)
        runs.append((time.perf_counter() - t0) / ROUND)
    return 1e6 * statistics.median(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                    help="the checkout whose autoglm_tui is measured (default: this one)")
    args = ap.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    rows = []
    for kind, title in (("vllm", "vLLM-like (4 histograms)"),
                        ("llamacpp", "llama.cpp-like (averages only)")):
        new, same = fold_us(kind, args.root, args.repeat)
        peer = loads_us(kind, args.root, args.repeat)
        per_core = [100.0 * 1024 * n / SCRAPE_S * new / 1e6 for n in (1, 4, 8)]
        rows.append((title, new, same, peer, new / peer, per_core))
    import autoglm_tui

    print(f"Service scrape folded into the monitor (`ServiceTracker.update`), code at "
          f"{Path(autoglm_tui.__file__).parent.parent}; medians of {args.repeat} rounds of "
          f"{ROUND}\n")
    print("| server | us per new scrape | us per repeated scrape | json.loads of the sample's "
          "line, us | new scrape / json.loads | 1,024 nodes x 1 / 4 / 8 services, % of a core |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for title, new, same, peer, ratio, per_core in rows:
        print(f"| {title} | {new:.1f} | {same:.2f} | {peer:.1f} | {ratio:.2f} | "
              f"{' / '.join(f'{c:.1f}' for c in per_core)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
