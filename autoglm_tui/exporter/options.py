"""Options and start-up of the metrics outputs, shared by ``exporter`` and ``agent``.

``add_output_args(parser, listen_option=...)`` adds the /metrics and InfluxDB options (argparse
only: cheap). ``start_outputs(args, node)`` builds the sampler, the sampling thread, the HTTP
server and the InfluxDB writer from them; ``Outputs.stop()`` stops all of it.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Any

PASSWORD_ENV = "AUTOGLM_INFLUX_PASSWORD"


class OutputArgsError(ValueError):
    """Options that cannot work; the message names the option."""


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.2 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be 0.2..3600 seconds, got {text}")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000_000:
        raise argparse.ArgumentTypeError(f"want a whole number 1..10000000, got {text!r}")
    return int(text)


def _top(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"want a whole number, got {text!r}")
    return int(text)


def _rp_for(text: str) -> tuple[str, str]:
    from autoglm_tui.exporter.influx import MEASUREMENTS

    key, sep, rp = text.partition("=")
    if not sep or not rp or key not in MEASUREMENTS:
        raise argparse.ArgumentTypeError(
            f"want MEASUREMENT=RP with MEASUREMENT one of {', '.join(MEASUREMENTS)}; "
            f"got {text!r}")
    return key, rp


def add_output_args(parser: argparse.ArgumentParser, *, listen_option: str = "--listen",
                    listen_default: str | None = "127.0.0.1:9400",
                    interval_option: str = "--interval", service_option: bool = True) -> None:
    """The /metrics listener, the sampling options, the inference services to scrape and the
    InfluxDB writer options (`service_option=False`: the command has its own --service)."""
    from autoglm_tui.sampler.services.options import add_arguments as add_service_args

    out = parser.add_argument_group("metrics output")
    out.add_argument(
        listen_option, dest="metrics_listen", default=listen_default, metavar="HOST:PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics ('none' turns it off; "
        f"[V6]:PORT for IPv6; default {listen_default or 'off'})",
    )
    out.add_argument(
        interval_option, dest="metrics_interval", type=_interval, default=5.0, metavar="S",
        help="seconds between samples of this node (default 5, the seed article's GPU "
        "sampling interval); a scrape never samples, it reads the newest sample",
    )
    out.add_argument(
        "--top", dest="metrics_top", type=_top, default=10, metavar="N",
        help="processes exported: every GPU process plus the N using most CPU (default 10)",
    )
    out.add_argument(
        "--node-name", dest="metrics_node", metavar="NAME",
        help="value of the 'node' label (default: the node id, else the host name)",
    )
    add_service_args(parser, service_option=service_option)
    influx = parser.add_argument_group(
        "InfluxDB 1.x output",
        f"The same figures as line protocol, batched, every sample. The password comes from "
        f"${PASSWORD_ENV} (or --influx-password-env/--influx-password-file), never from argv.",
    )
    influx.add_argument("--influx", metavar="URL", help="InfluxDB URL, e.g. http://db:8086")
    influx.add_argument("--influx-db", default="autoglm", metavar="NAME",
                        help="database (default autoglm)")
    influx.add_argument("--influx-rp", metavar="RP",
                        help="retention policy for every measurement (default: the "
                        "database's default)")
    influx.add_argument(
        "--influx-rp-for", action="append", type=_rp_for, default=[], metavar="MEAS=RP",
        help="retention policy for one measurement (repeatable), e.g. gpu=gpu_7d",
    )
    influx.add_argument("--influx-user", metavar="USER", help="user name (basic auth)")
    influx.add_argument("--influx-password-env", metavar="VAR", default=PASSWORD_ENV,
                        help=f"environment variable holding the password (default "
                        f"{PASSWORD_ENV})")
    influx.add_argument("--influx-password-file", metavar="FILE",
                        help="file holding the password (first line)")
    influx.add_argument("--influx-ca", metavar="FILE", help="CA bundle for an https URL")
    influx.add_argument("--influx-batch", type=_count, default=5000, metavar="LINES",
                        help="lines per write request (default 5000)")
    influx.add_argument("--influx-queue", type=_count, default=100_000, metavar="LINES",
                        help="lines kept while InfluxDB is unreachable; beyond, the oldest "
                        "are dropped and counted (default 100000)")


def read_secret(env_var: str | None, path: str | None, what: str) -> str | None:
    """A secret from a file (first line) or an environment variable; never from argv."""
    if path:
        try:
            with open(os.path.expanduser(path), encoding="utf-8") as fh:
                return fh.readline().rstrip("\r\n")
        except OSError as exc:
            raise OutputArgsError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if env_var:
        return os.environ.get(env_var)
    return None


@dataclass
class Outputs:
    """What start_outputs started; ``stop()`` ends all of it."""

    sampler: Any
    server: Any = None
    writer: Any = None
    listen: tuple[str, int] | None = None
    extras: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        self.sampler.stop()
        if self.writer is not None:
            self.writer.close()
        self.sampler.join(timeout=5)


def influx_config(args: argparse.Namespace) -> Any:
    from urllib.parse import urlsplit

    from autoglm_tui.exporter.influx import InfluxConfig

    parts = urlsplit(args.influx)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutputArgsError(f"--influx: want http(s)://HOST:PORT, got {args.influx!r}")
    password = read_secret(args.influx_password_env, args.influx_password_file,
                           "--influx-password-file")
    return InfluxConfig(
        url=args.influx, database=args.influx_db, retention_policy=args.influx_rp,
        rp_for=dict(args.influx_rp_for), username=args.influx_user,
        password=password if args.influx_user else None, batch_lines=args.influx_batch,
        max_queue_lines=args.influx_queue, ca_file=args.influx_ca,
    )


def start_outputs(args: argparse.Namespace, node: str, collector: Any = None) -> Outputs:
    """Start sampling, /metrics and InfluxDB as the options say. Raises OutputArgsError."""
    from autoglm_tui.exporter.server import (
        Exposition,
        SampleCollector,
        SamplingThread,
        parse_listen,
        serve,
    )

    listen = None
    spec = args.metrics_listen
    if spec and spec.strip().lower() != "none":
        try:
            listen = parse_listen(spec)
        except ValueError as exc:
            raise OutputArgsError(f"--listen: {exc}") from None
    writer = None
    if args.influx:
        from autoglm_tui.exporter.influx import InfluxWriter

        writer = InfluxWriter(influx_config(args), node)
    if listen is None and writer is None:
        raise OutputArgsError("nothing to do: give a --listen address or --influx URL")
    if collector is None:
        from autoglm_tui.sampler.collector import Collector
        from autoglm_tui.sampler.services.monitor import monitor_options

        top = args.metrics_top if args.metrics_top > 0 else 1_000_000
        collector = Collector(interval_s=args.metrics_interval, top_n=top,
                              proc_interval_s=max(2.0, args.metrics_interval),
                              **monitor_options(args))
    sampler = SamplingThread(collector, args.metrics_interval)
    outputs = Outputs(sampler=sampler, writer=writer, listen=listen)
    if writer is not None:
        sampler.listeners.append(writer.on_sample)
    if listen is not None:
        from autoglm_tui.exporter.families import writer_families

        extra = (lambda node_label: writer_families(writer, node_label)) if writer else None
        exposition = Exposition(sampler, SampleCollector(sampler, node, extra))
        try:
            outputs.server = serve(listen, exposition)
        except OSError as exc:
            raise OutputArgsError(f"cannot listen on {spec}: {exc.strerror or exc}") from None
        outputs.listen = outputs.server.server_address[:2]
    if writer is not None:
        writer.start()
    sampler.start()
    return outputs


def output_unit_args(args: argparse.Namespace, listen_option: str = "--metrics-listen",
                     interval_option: str = "--metrics-interval") -> list[str]:
    """The output options to repeat in a systemd unit (the password stays out of it)."""
    out: list[str] = []
    if args.metrics_listen and args.metrics_listen.strip().lower() != "none":
        out += [listen_option, args.metrics_listen]
    if not args.metrics_listen and not args.influx:
        return out
    out += [interval_option, f"{args.metrics_interval:g}", "--top", str(args.metrics_top)]
    from autoglm_tui.sampler.services.options import DEFAULT_INTERVAL_S, DEFAULT_TIMEOUT_S

    if not getattr(args, "service_discovery", True):
        out.append("--no-service-discovery")
    for option, dest, default in (("--service-interval", "service_interval", DEFAULT_INTERVAL_S),
                                  ("--service-timeout", "service_timeout", DEFAULT_TIMEOUT_S)):
        value = getattr(args, dest, default)
        if value != default:
            out += [option, f"{value:g}"]
    if args.metrics_node:
        out += ["--node-name", args.metrics_node]
    if args.influx:
        out += ["--influx", args.influx, "--influx-db", args.influx_db]
        for option, value in (("--influx-rp", args.influx_rp),
                              ("--influx-user", args.influx_user),
                              ("--influx-password-file", args.influx_password_file),
                              ("--influx-ca", args.influx_ca)):
            if value:
                out += [option, value]
        if args.influx_password_env != PASSWORD_ENV:
            out += ["--influx-password-env", args.influx_password_env]
        for meas, rp in args.influx_rp_for:
            out += ["--influx-rp-for", f"{meas}={rp}"]
    return out
