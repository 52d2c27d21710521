"""`autoglm-tui snapshot` (placeholder until its owner lands it)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("snapshot", help="snapshot (not built yet)")


def run(args: argparse.Namespace) -> int:
    print("autoglm-tui snapshot: not built yet")
    return 2
