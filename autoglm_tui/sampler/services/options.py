"""The service options of `autoglm-tui sample` and the local view, and their defaults.

Light on purpose (argparse and the URL parser only): every command's parser is built at start.
"""

from __future__ import annotations

import argparse

from autoglm_tui.sampler.services.targets import Target, TargetError, parse_spec

DEFAULT_INTERVAL_S = 5.0  # between scrapes of each server
DEFAULT_TIMEOUT_S = 0.5  # for one whole scrape
DEFAULT_MAX_BYTES = 4 << 20  # largest page read


def service_spec(text: str) -> Target:
    """argparse type for ``URL[,name=N][,kind=K]``."""
    try:
        return parse_spec(text)
    except TargetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.05 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0.05 and 3600 seconds")
    return value


def add_arguments(parser: argparse.ArgumentParser, *, service_option: bool = True) -> None:
    """The service options shared by `autoglm-tui sample`, the local view and the exporter
    (`service_option=False`: the command has its own --service, as the agent does)."""
    group = parser.add_argument_group("inference services")
    if service_option:
        group.add_argument(
            "--service", action="append", type=service_spec, default=[],
            metavar="URL[,name=N][,kind=K]",
            help="scrape this metrics endpoint as an inference server (repeatable): a URL, "
            "host:port or a local port; name= names it, kind= skips recognition "
            "(vllm sglang tgi triton trtllm trtllm-serve nim llamacpp)",
        )
    group.add_argument(
        "--no-service-discovery", dest="service_discovery", action="store_false",
        help="do not look for inference servers among the node's listening ports "
        "(only --service endpoints are scraped)",
    )
    group.add_argument(
        "--service-interval", type=_seconds, default=DEFAULT_INTERVAL_S, metavar="S",
        help=f"seconds between scrapes of each server (default {DEFAULT_INTERVAL_S:g}; "
        "quantiles cover 60 s, so faster rarely helps)",
    )
    group.add_argument(
        "--service-timeout", type=_seconds, default=DEFAULT_TIMEOUT_S, metavar="S",
        help=f"longest wait for one scrape (default {DEFAULT_TIMEOUT_S:g})",
    )


__all__ = [
    "DEFAULT_INTERVAL_S",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMEOUT_S",
    "Target",
    "TargetError",
    "add_arguments",
    "parse_spec",
    "service_spec",
]
