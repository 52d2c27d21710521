"""``--prometheus`` and its options (shared by ``cluster`` and ``snapshot``); argparse only."""

from __future__ import annotations

import argparse
import re
from typing import Any

_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,127}")
TOKEN_ENV = "AUTOGLM_PROMETHEUS_TOKEN"


def _seconds(low: float, high: float) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low:g}..{high:g} seconds, got {text}")
        return value

    return parse


def _label(text: str) -> str:
    if not _LABEL.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not a Prometheus label name: {text!r}")
    return text


def _count(text: str) -> int:
    if not text.isdigit() or int(text) > 100_000:
        raise argparse.ArgumentTypeError(f"want a whole number 0..100000, got {text!r}")
    return int(text)


def add_prometheus_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "Prometheus",
        "Read the fleet from a Prometheus-compatible query API (Prometheus, Thanos, Mimir, "
        "VictoriaMetrics) instead of SSH: our exporter, dcgm-exporter and node_exporter "
        "targets, and the inference servers it scrapes. The bearer token comes from a file or "
        f"${TOKEN_ENV}, never from argv.",
    )
    g.add_argument("--prometheus", metavar="URL",
                   help="query API base URL, e.g. http://prometheus:9090")
    g.add_argument("--job", action="append", default=[], metavar="NAME",
                   help="scrape job of the node exporters (repeatable; default: every job "
                   "with a target exporting autoglm_node_info, node_uname_info or "
                   "DCGM_FI_DEV_GPU_UTIL)")
    g.add_argument("--node-label", type=_label, default="instance", metavar="LABEL",
                   help="label that names a node (default instance: its host part, so "
                   "host:9100 and host:9400 are one node); e.g. node or Hostname")
    g.add_argument("--prometheus-token-file", metavar="FILE",
                   help="file holding a bearer token for the query API")
    g.add_argument("--prometheus-token-env", metavar="VAR",
                   help=f"environment variable holding the bearer token (e.g. {TOKEN_ENV})")
    g.add_argument("--prometheus-ca", metavar="FILE", help="CA bundle for an https URL")
    g.add_argument("--prometheus-timeout", type=_seconds(0.5, 300), default=10.0, metavar="S",
                   help="longest wait for one query (default 10)")
    g.add_argument("--prometheus-refresh", type=_seconds(0.5, 600), metavar="S",
                   help="seconds between refreshes (default: the shortest scrape interval, "
                   "1..60)")
    g.add_argument("--scrape-interval", type=_seconds(0.1, 3600), metavar="S",
                   help="the targets' scrape interval (default: measured from up)")
    g.add_argument("--service-window", type=_seconds(1, 3600), default=60.0, metavar="S",
                   help="window of the inference servers' rates and quantiles (tokens/s, P95; "
                   "default 60)")
    g.add_argument("--detail-nodes", type=_count, default=32, metavar="N",
                   help="while the fleet has at most N nodes every node's details (all GPU "
                   "fields, processes, per-core CPU) are read each refresh; beyond, only the "
                   "nodes whose screens are open (default 32)")


def conflicting_sources(args: argparse.Namespace) -> str | None:
    """The message when --prometheus is given with another way to find nodes, else None."""
    others = [opt for opt, dest in (("--etcd", "etcd"), ("--hosts", "hosts"),
                                    ("--hosts-file", "hosts_file"))
              if getattr(args, dest, None)]
    if args.prometheus and others:
        return (f"reads the nodes from Prometheus; leave out {', '.join(others)} "
                "(or drop --prometheus to reach the nodes over SSH)")
    return None


def prometheus_source_from_args(args: argparse.Namespace, interactive: bool = False) -> Any:
    """A PrometheusSource from parsed options; raises PromError with a clear message.

    `interactive` (the cluster view): the first refresh skips host facts, so a large fleet's
    first frame comes sooner (`snapshot` wants them in its one round)."""
    from autoglm_tui.cluster.prometheus.client import ClientConfig, PromError, read_token
    from autoglm_tui.cluster.prometheus.source import PrometheusSource, PromSourceConfig

    clash = conflicting_sources(args)
    if clash:
        raise PromError(clash)
    token = read_token(args.prometheus_token_file, args.prometheus_token_env)
    client = ClientConfig(url=args.prometheus, token=token, ca_file=args.prometheus_ca,
                          timeout_s=args.prometheus_timeout)
    config = PromSourceConfig(
        client=client, jobs=tuple(args.job), node_label=args.node_label,
        refresh_s=args.prometheus_refresh, scrape_interval_s=args.scrape_interval,
        detail_all_max=args.detail_nodes, service_window_s=args.service_window,
        defer_infos=interactive,
    )
    return PrometheusSource(config)
