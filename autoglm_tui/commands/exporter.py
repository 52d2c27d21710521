"""`autoglm-tui exporter`: this node's figures on /metrics for Prometheus, and/or to InfluxDB."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  autoglm-tui exporter                                  # http://127.0.0.1:9400/metrics
  autoglm-tui exporter --listen :9401 --interval 5      # every interface (dcgm-exporter
                                                        # uses 9400 too)
  autoglm-tui exporter --service 8000,name=chat         # an inference server, named
  AUTOGLM_INFLUX_PASSWORD=... autoglm-tui exporter --listen none \\
      --influx http://db:8086 --influx-user writer --influx-rp-for gpu=gpu_7d

Metric names, labels and the InfluxDB measurements are listed in the README ("Exporter").
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from autoglm_tui.exporter.options import add_output_args

    parser = sub.add_parser(
        "exporter",
        help="serve this node's metrics to Prometheus (/metrics) and/or write them to InfluxDB",
        description=(
            "Sample this node (GPUs, CPU, memory, disk and network IO, GPU processes and the "
            "top N by CPU, the sampler's own cost, and the inference servers it finds or is "
            "given with --service: their counters and latency histograms passed through raw) "
            "every --interval seconds and serve the newest sample on /metrics in Prometheus' "
            "format; a scrape only formats the newest sample. With --influx the same figures "
            "go to InfluxDB 1.x as line protocol, and each service's derived figures (tokens/s, "
            "P95/P99 latencies, error rate) as the autoglm_service measurement."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_output_args(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")


def run(args: argparse.Namespace) -> int:
    import logging
    import signal
    import socket
    import sys
    import threading

    from autoglm_tui.exporter.options import OutputArgsError, start_outputs
    from autoglm_tui.text import clean

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
        format="%(asctime)s autoglm-exporter %(levelname)s %(message)s",
    )
    node = args.metrics_node or socket.gethostname() or "localhost"
    try:
        outputs = start_outputs(args, node)
    except OutputArgsError as exc:
        print(f"autoglm-tui exporter: {clean(str(exc), 500)}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log = logging.getLogger("autoglm_tui.exporter")
    if outputs.listen is not None:
        host, port = outputs.listen
        shown = f"[{host}]" if ":" in host else host
        log.info("serving http://%s:%d/metrics for node %s", shown, port, clean(node, 64))
    if outputs.writer is not None:
        log.info("writing to InfluxDB %s, database %s", clean(args.influx, 200),
                 clean(args.influx_db, 64))
    try:
        while not stop.wait(1.0):
            pass
    finally:
        outputs.stop()
    return 0
