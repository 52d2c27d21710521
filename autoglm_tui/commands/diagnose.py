"""`autoglm-tui diagnose`: what is wrong, with its evidence and what to do next, for scripts
and post-mortems; from live nodes (or this host) or from a recording at a given time."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from autoglm_tui import format as fmt
from autoglm_tui.aio import stop_tasks
from autoglm_tui.cluster.source_args import add_source_args
from autoglm_tui.commands.arg_types import duration
from autoglm_tui.stdio import terminal_width
from autoglm_tui.text import clean, wrap_hanging

if TYPE_CHECKING:
    from autoglm_tui.analysis.diagnosis.coverage import Coverage

UP_TO_A_DAY = duration(0, 86400, "must be more than 0 and at most a day", above_low=True)
EPILOG = """\
findings (each with a severity, its subject, a one-line verdict, the evidence and the window
it comes from, and what to do next):
  memory_bound, compute_bound, cpu_bound, transfer_bound, storage_bound, network_saturation,
  write_amplification, clock_throttled, straggler_gpu, straggler_node, scale_out, scale_in,
  gpu_memory_leak, host_memory_leak, orphan_gpu_memory, latency_factors, latency_rise
  (the README says what each one means and what it cannot tell)

examples:
  autoglm-tui diagnose incident.jsonl.zst                  (a recording, as of its end)
  autoglm-tui diagnose --replay incident.jsonl.zst --at 03:12:40
  autoglm-tui diagnose --replay ~/.local/state/autoglm-tui/flight/FILE --json | jq .findings[0]
  autoglm-tui diagnose --hosts gpu1,gpu2 --for 5m

exit status: 0 when it ran (with or without findings), 2 for bad options or an unreadable
recording.
"""


def add_common(p: argparse.ArgumentParser) -> None:
    """The sources and settings `diagnose` and `advise` share."""
    add_source_args(p)
    r = p.add_argument_group("recording")
    r.add_argument("--replay", metavar="FILE",
                   help="read a recording (or a flight recording) instead of live nodes")
    r.add_argument("recording", nargs="?", metavar="FILE",
                   help="the same as --replay FILE")
    r.add_argument("--at", metavar="TIME",
                   help="with --replay: diagnose as of this time (03:12:40 local time of day, "
                   "03:12:40Z UTC, 2026-11-24T03:12:40, +5m from the start, -2m from the end, "
                   "unix seconds; default: the end)")
    live = p.add_argument_group("live")
    live.add_argument("--for", dest="collect_s", type=UP_TO_A_DAY, default=60.0, metavar="DUR",
                      help="live: how long to collect before answering (default 1m; leaks need "
                      "5m and the latency regression 1m of points)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--group-label", default="service", metavar="LABEL",
                   help="nodes with the same value of this label are replicas of one service "
                   "(scaling advice, node stragglers; default: service)")


def config_from(args: argparse.Namespace, **scaling: Any) -> Any:
    from dataclasses import replace

    from autoglm_tui.analysis.diagnosis import DiagnosisConfig

    cfg = DiagnosisConfig(group_label=args.group_label)
    if scaling:
        cfg = replace(cfg, scaling=replace(cfg.scaling, **scaling))
    return cfg


def collect(args: argparse.Namespace, config: Any, prog: str) -> tuple[Any, float, dict]:
    """(monitor with a DiagnosisRunner that has run, time of the answer, source description);
    SystemExit(2) with a message for bad options or files."""
    from autoglm_tui.analysis.diagnosis import DiagnosisRunner
    from autoglm_tui.analysis.state import FleetState
    from autoglm_tui.monitor import Monitor

    if args.recording:
        if args.replay and args.replay != args.recording:
            _fail(prog, f"two recordings given ({args.replay} and {args.recording}): give one")
        args.replay = args.recording
    monitor = Monitor(FleetState(history_s=900.0))
    runner = DiagnosisRunner(config).install(monitor)
    if args.replay:
        return _from_recording(args, monitor, runner, prog)
    if args.at:
        _fail(prog, "--at needs --replay (live data is diagnosed as of now)")
    return _from_live(args, monitor, prog)


def _fail(prog: str, message: str) -> None:
    print(f"autoglm-tui {prog}: {message}", file=sys.stderr)
    raise SystemExit(2)


def _from_recording(args: argparse.Namespace, monitor: Any, runner: Any, prog: str
                    ) -> tuple[Any, float, dict]:
    from autoglm_tui.recording.feed import feed
    from autoglm_tui.recording.format import RecordingError
    from autoglm_tui.recording.reader import Recording
    from autoglm_tui.recording.timeparse import parse_time

    try:
        rec = Recording.open(args.replay)
    except RecordingError as exc:
        _fail(prog, str(exc))
    at = rec.end
    if args.at:
        try:
            at = parse_time(args.at, rec.start, rec.end)
        except ValueError as exc:
            _fail(prog, f"--at: {exc}")
        if not rec.start <= at <= rec.end:
            _fail(prog, f"--at is outside the recording ({_clock(rec.start)} .. "
                  f"{_clock(rec.end)})")
    reach = monitor.state.history_s + 60.0  # the longest window any finding reads, and then some
    begin = max(rec.start, at - reach)
    feed(rec, monitor, begin, at)
    source = {"replay": str(rec.path), "start": rec.start, "end": rec.end, "from": begin,
              "bad_lines": sum(rec.bad_lines.values())}
    return monitor, at, source


def _from_live(args: argparse.Namespace, monitor: Any, prog: str) -> tuple[Any, float, dict]:
    import asyncio
    import time

    from autoglm_tui.cluster.runner import Runner
    from autoglm_tui.cluster.source_args import SourceArgsError, runner_config_from_args

    try:
        config = runner_config_from_args(args)
    except SourceArgsError as exc:
        _fail(prog, str(exc))

    async def go() -> float:
        runner = Runner(config, monitor.apply)
        task = asyncio.ensure_future(runner.run())
        end = time.monotonic() + args.collect_s
        try:
            while time.monotonic() < end:
                await asyncio.sleep(min(1.0, max(0.0, end - time.monotonic())))
                monitor.tick(time.time())
                if sys.stderr.isatty():
                    left = max(0.0, end - time.monotonic())
                    n = len(monitor.state.nodes)
                    print(f"\rcollecting: {n} node{'' if n == 1 else 's'}, {left:.0f}s left ",
                          end="", file=sys.stderr, flush=True)
        finally:
            await runner.close()
            await stop_tasks([task])
            if sys.stderr.isatty():
                print(file=sys.stderr)
        now = time.time()
        monitor.tick(now)
        return now

    now = asyncio.run(go())
    return monitor, now, {"live": True, "collected_s": args.collect_s}


def _clock(t: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(t).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diagnose",
        help="name what is wrong (bottlenecks, leaks, stragglers, scaling) with its evidence",
        description=(
            "Run the diagnosis on live nodes (--etcd, --hosts, --hosts-file; this host when "
            "none is given), collecting for --for, or on a recording (--replay FILE) as of "
            "--at. Prints the findings worst first: what, where, the evidence with its window, "
            "and what to do next. The same findings the UI shows."),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)


def covered(monitor: Any, at: float, source: dict, config: Any) -> Coverage:
    """What the answer rests on (also in ``--json`` as ``coverage``): the nodes, and the
    seconds collected live or of the recording up to `at`."""
    from autoglm_tui.analysis.diagnosis.coverage import coverage

    span = source["collected_s"] if source.get("live") else max(0.0, at - source["from"])
    return coverage(len(monitor.state.nodes), span, config)


def render(findings: list[Any], at: float, covers: Coverage | None = None,
           width: int | None = None) -> str:
    """Findings as text for a terminal (plain, no colour; every string from the fleet cleaned);
    `covers` says what the answer rests on when there is no finding. `width`: wrap each
    verdict, evidence line and step under its own indent (a terminal); None: one line each
    (a pipe, for grep)."""
    if not findings:
        line = f"no findings as of {_clock(at)}"
        if covers is not None:
            line += f" ({covers.what()})"
            short = covers.too_short()
            if short:
                line += f"\n  too short to rule everything out: {short}"
        return line + "\n"
    out = [f"{len(findings)} finding{'s' if len(findings) != 1 else ''} as of {_clock(at)}, "
           "worst first"]

    def item(text: str, first: str, rest: str) -> None:
        text = clean(text, 1000)
        out.extend(wrap_hanging(text, width, first, rest) if width else [first + text])

    for f in findings:
        span = fmt.duration(max(0.0, f.window[1] - f.window[0]))
        item(f"{f.name}  {f.subject}  (window {span})", f"{f.severity.value.upper():8} ",
             " " * 9)
        item(f.verdict, "  ", "  ")
        for e in f.evidence:
            item(e.text, "    - ", "      ")
        for step in f.next_steps:
            item(step, "  next: ", "        ")
    return "\n".join(out) + "\n"


def run(args: argparse.Namespace) -> int:
    import json

    config = config_from(args)
    monitor, at, source = collect(args, config, "diagnose")
    findings = monitor.diagnosis.findings
    covers = covered(monitor, at, source, config)
    if args.json:
        doc = {"t": at, "source": source, "coverage": covers.to_dict(),
               "findings": [f.to_dict() for f in findings]}
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
    else:
        width = terminal_width()
        sys.stdout.write(render(findings, at, covers, width))
    return 0
