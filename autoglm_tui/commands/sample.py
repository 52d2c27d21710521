"""`autoglm-tui sample`: the sampler, printing JSON lines (what SSH launches on each node)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from autoglm_tui.sampler.loop import DESCRIPTION, EPILOG, add_arguments

    parser = sub.add_parser(
        "sample",
        help="print this machine's metrics as JSON lines (what the monitor runs on each node)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from autoglm_tui.sampler.loop import run_args

    return run_args(args)
