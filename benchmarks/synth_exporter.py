"""A synthetic fleet of our exporter's pages, for benchmarks only (never a real node's data).

One process serves N nodes: node i listens on its own loopback address (127.1.x.y, all on one
port), so Prometheus sees N targets with distinct `instance` labels, as with N real exporters.
Each page is what `autoglm-tui exporter` serves for a synthetic 8-GPU node (cluster/synthetic.py
samples, formatted by the exporter's own families code, 12 processes listed), made once; at
each scrape the counters and the sample time are filled in from the clock, so rates are real.

    python benchmarks/synth_exporter.py NODES PORT [services]   # serves until killed
    history_openmetrics(...)                           # 15 minutes of one node, for promtool
"""

from __future__ import annotations

import asyncio
import re
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

COUNTER = re.compile(r"^(autoglm_[a-z_]+_total)(\{[^}]*\})? (\S+)$")
SAMPLE_TIME = re.compile(r"^(autoglm_sample_timestamp_seconds\{[^}]*\}) \S+$")
COUNTER_RATE = 1000.0  # every counter grows by this much a second (bytes, packets, ...)


def address(i: int) -> str:
    """Loopback address of node i: 127.1.0.1, 127.1.0.2, ... (never .0 or .255)."""
    return f"127.1.{i // 250}.{i % 250 + 1}"


def page_template(node: int, gpus: int = 8, procs: int = 12, services: bool = False
                  ) -> tuple[str, list[float]]:
    """The text of one node's page with '{0}', '{1}', ... where counters and the sample time
    go, and those values at t=0 (counters grow from them). With `services`, the inference
    nodes (one in four) add their server's series as the exporter passes them through (raw
    histograms: vLLM's buckets, about 100 series)."""
    from prometheus_client import CollectorRegistry, generate_latest

    from autoglm_tui.cluster.synthetic import SyntheticFleet
    from autoglm_tui.exporter.families import sample_families
    from autoglm_tui.exporter.service_families import service_families

    fleet = SyntheticFleet(nodes=node + 1, gpus=gpus, seed=1)
    n = fleet.nodes[node]
    hello = next(e.hello for e in fleet.join_events(0.0) if getattr(e, "node_id", "") == n.node_id
                 and hasattr(e, "hello"))
    sample = fleet._sample(n, time.time())  # type: ignore[attr-defined]
    sample = type(sample)(**{**{f: getattr(sample, f) for f in sample.__dataclass_fields__},
                             "procs": sample.procs[:procs]})

    class One:
        def collect(self):  # type: ignore[no-untyped-def]
            yield from sample_families(hello, sample, n.node_id)
            if services:
                yield from service_families(sample, n.node_id)

    reg = CollectorRegistry(auto_describe=False)
    reg.register(One())  # type: ignore[arg-type]
    lines, bases = [], []
    for line in generate_latest(reg).decode().splitlines():
        line = line.replace("{", "{{").replace("}", "}}")
        m = COUNTER.match(line.replace("{{", "{").replace("}}", "}"))
        if m:
            bases.append(float(m.group(3)))
            line = line.rsplit(" ", 1)[0] + " {" + str(len(bases) - 1) + "}"
        elif SAMPLE_TIME.match(line.replace("{{", "{").replace("}}", "}")):
            bases.append(-1.0)  # the sample time itself
            line = line.rsplit(" ", 1)[0] + " {" + str(len(bases) - 1) + "}"
        lines.append(line)
    return "\n".join(lines) + "\n", bases


def fill(template: str, bases: list[float], t: float, t0: float) -> bytes:
    values = [f"{t:.3f}" if b < 0 else f"{b + COUNTER_RATE * (t - t0):.1f}" for b in bases]
    return template.format(*values).encode()


async def serve(nodes: int, port: int, services: bool = False) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 3 * nodes + 256)), hard))
    templates = [page_template(i, services=services)
                 for i in range(min(nodes, 16))]  # 16 shapes, reused
    t0 = time.time()
    by_addr = {address(i): templates[i % len(templates)] for i in range(nodes)}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        local = writer.get_extra_info("sockname")[0]
        template, bases = by_addr[local]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                body = fill(template, bases, time.time(), t0)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(handle, host=address(i), port=port)
               for i in range(nodes)]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def history_openmetrics(node: int, port: int, job: str, start: float, end: float, step: float
                        ) -> str:
    """OpenMetrics text with node `node`'s series from `start` to `end` (promtool backfill):
    the same series a scrape gives, with the target labels Prometheus would add."""
    template, bases = page_template(node % 16)
    families: dict[str, list[str]] = {}
    order: list[str] = []
    times = []
    t = start
    while t < end:
        times.append(t)
        t += step
    inst = f'instance="{address(node)}:{port}",job="{job}"'
    for line in template.splitlines():
        if line.startswith("#") or not line:
            continue
        name_labels, value = line.rsplit(" ", 1)
        name = name_labels.split("{", 1)[0]
        labels = name_labels[len(name):].replace("{{", "{").replace("}}", "}")
        labels = "{" + inst + ("," + labels[1:-1] if len(labels) > 2 else "") + "}"
        if name not in families:
            families[name] = []
            order.append(name)
        for ts in times:
            if value.startswith("{"):
                b = bases[int(value[1:-1])]
                v = f"{ts:.3f}" if b < 0 else f"{b + COUNTER_RATE * (ts - start):.1f}"
            else:
                v = value
            families[name].append(f"{name}{labels} {v} {ts:.3f}")
    out = []
    for name in order:
        kind = "counter" if name.endswith("_total") else "gauge"
        base = name[: -len("_total")] if kind == "counter" else name
        out.append(f"# TYPE {base} {kind}")
        out.extend(families[name])
    out.append("# EOF")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:] == ["services"]))
