"""`autoglm-tui sample` (placeholder until its owner lands it)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("sample", help="sample (not built yet)")


def run(args: argparse.Namespace) -> int:
    print("autoglm-tui sample: not built yet")
    return 2
