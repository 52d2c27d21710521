"""`autoglm-tui agent` (placeholder until its owner lands it)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("agent", help="agent (not built yet)")


def run(args: argparse.Namespace) -> int:
    print("autoglm-tui agent: not built yet")
    return 2
