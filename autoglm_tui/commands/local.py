"""`autoglm-tui local` (placeholder until its owner lands it)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("local", help="local (not built yet)")


def run(args: argparse.Namespace) -> int:
    print("autoglm-tui local: not built yet")
    return 2
