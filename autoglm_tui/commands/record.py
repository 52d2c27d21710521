"""`autoglm-tui record FILE`: record nodes (or this host) with no UI, until stopped."""

from __future__ import annotations

import argparse
import contextlib
import sys

from autoglm_tui.aio import stop_tasks, within
from autoglm_tui.cluster.source_args import add_source_args
from autoglm_tui.commands.arg_types import MORE_THAN_ZERO
from autoglm_tui.recording.cli import add_record_args

EPILOG = """\
examples:
  autoglm-tui record host.jsonl.zst --for 1h               (this host)
  autoglm-tui record fleet.jsonl.zst --etcd 10.0.0.5:2379 --record-max-size 2G
  autoglm-tui replay fleet.jsonl.zst

Stops at the end of --for, on Ctrl-C or SIGTERM; what is queued is written before it exits.
exit status: 0 when the recording was written, 2 for bad options or an unwritable file.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "record",
        help="record nodes (or this host) to a file, without a UI",
        description=(
            "Connect to the nodes (--etcd, --hosts, --hosts-file; this host when none is "
            "given) and record every sample and status change to FILE (.jsonl, .jsonl.gz or "
            ".jsonl.zst, see docs/recording.md) until --for has passed or it is stopped."),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="the recording to write (replaced if it exists)")
    add_source_args(p)
    add_record_args(p, flight=False, record_required=True)
    p.add_argument("--for", dest="duration", type=MORE_THAN_ZERO, metavar="DUR",
                   help="stop after this long (e.g. 30m, 2h; default: until stopped)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    import time

    from autoglm_tui.cluster.runner import Runner
    from autoglm_tui.cluster.source_args import SourceArgsError, runner_config_from_args
    from autoglm_tui.monitor import Monitor
    from autoglm_tui.recording.format import RecordingError
    from autoglm_tui.recording.recorder import Recorder

    try:
        config = runner_config_from_args(args)
    except SourceArgsError as exc:
        print(f"autoglm-tui record: {exc}", file=sys.stderr)
        return 2
    monitor = Monitor()
    try:
        recorder = Recorder(args.file, source="cluster" if config.uses_ssh else "local",
                            max_bytes=args.record_max_size, backups=max(0, args.record_keep))
    except (OSError, RecordingError) as exc:
        print(f"autoglm-tui record: cannot write {args.file}: {exc}", file=sys.stderr)
        return 2
    recorder.install(monitor)

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner = Runner(config, monitor.apply)
        task = asyncio.ensure_future(runner.run())
        end = time.monotonic() + args.duration if args.duration else None
        last_note = time.monotonic()
        try:
            while not stop.is_set() and (end is None or time.monotonic() < end):
                with contextlib.suppress(asyncio.TimeoutError):
                    await within(stop.wait(), 1.0)
                monitor.tick(time.time())
                if not args.quiet and time.monotonic() - last_note >= 10.0:
                    last_note = time.monotonic()
                    up = sum(1 for n in monitor.state.nodes.values() if n.status.value == "UP")
                    print(f"{up}/{len(monitor.state.nodes)} nodes up; {recorder.status()}",
                          file=sys.stderr, flush=True)
        finally:
            await runner.close()
            await stop_tasks([task])

    ok = False
    try:
        asyncio.run(go())
    finally:
        ok = recorder.close()
        monitor.close()
    if not args.quiet or not ok:
        print(recorder.status() + ("" if ok else "; not everything could be written"),
              file=sys.stderr)
    return 0 if ok else 1
