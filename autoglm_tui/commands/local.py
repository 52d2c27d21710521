"""`autoglm-tui local` (also what `autoglm-tui` with no command runs): this machine, full screen."""

from __future__ import annotations

import argparse

KEYS_HELP = """\
keys (? lists every key of the current screen):
  q                 quit
  /                 filter processes; Esc clears the filter, then goes back
  c m g s p e u     sort by CPU%, RSS, GPU memory, SM%, PID, elapsed time, user
  < > r             previous / next sort column, reverse
  t                 process tree
  Enter, dbl click  process details
  k                 send a signal (asks first, naming the pid and command)
  0-9               open that GPU
  A                 alerts (Enter opens a group or jumps; a ack, s silence)
  i                 IO correlation (network vs disk)
"""


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.2 <= value <= 60:
        raise argparse.ArgumentTypeError("the interval must be between 0.2 and 60 seconds")
    return value


def _top(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("--top must be 0 (no limit) or more")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "local",
        help="this machine in one screen: GPUs, CPU, memory, IO, processes (the default)",
        description=(
            "Full-screen view of this machine, like nvitop and btop in one screen. Needs no "
            "GPU, etcd or SSH: without an NVIDIA driver the GPU pane says why and the rest works."
        ),
        epilog=KEYS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--interval", type=_interval, default=1.0, metavar="S",
        help="seconds between samples and screen refreshes (default 1; the screen redraws "
        "at most twice a second)",
    )
    p.add_argument(
        "--theme", default="dark", metavar="NAME|PATH",
        help="colour theme: a shipped theme (dark, light), a theme TOML file, or a Textual "
        "built-in theme name (default dark)",
    )
    p.add_argument(
        "--top", type=_top, default=100, metavar="N",
        help="show GPU processes plus the top N other processes (default 100; 0 shows all)",
    )
    p.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    p.add_argument("--no-diagnosis", action="store_true",
                   help="do not run the diagnosis (bottlenecks, leaks, ...) on each tick")
    from autoglm_tui.sampler.services.options import add_arguments as add_service_args

    add_service_args(p)
    from autoglm_tui.alerting.cli import add_alert_args
    from autoglm_tui.recording.cli import add_record_args

    add_alert_args(p)
    add_record_args(p)


def run(args: argparse.Namespace) -> int:
    from autoglm_tui.tui.app import run_local

    return run_local(args)
