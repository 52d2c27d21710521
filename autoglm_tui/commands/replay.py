"""`autoglm-tui replay FILE`: play a recording (or a flight recording) in the same UI."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from autoglm_tui.commands.arg_types import UP_TO_AN_HOUR

EPILOG = """\
A recording of one node opens the local view; several open the cluster view. Alerts and the
diagnosis are computed again from the recorded data, as of the replay's time (no alert log is
written and nothing is sent to Alertmanager). A seek restores the nearest checkpoint before the
target (they are kept every 2 s around the playhead, and a background thread plays ahead of it
to keep some there too) and plays the seconds after it; a seek with no checkpoint near rebuilds
the state from --warmup before the target.

keys: space pause/play, [ ] 10 s back/forward, { } 1 minute, - + slower/faster (0.25x to
16x), :goto 03:12:40 (or +5m from the start, -2m from the end); d the diagnosis. The bar at
the bottom shows play or pause, the speed, the time, the position and where alerts fired.

examples:
  autoglm-tui replay incident.jsonl.zst --at 03:12:40 --speed 4
  autoglm-tui replay ~/.local/state/autoglm-tui/flight/20261124T031240Z-n7.jsonl.zst
  autoglm-tui replay fleet.jsonl.zst --info          (what is in it, as JSON)
"""


def _speed(text: str) -> float:
    try:
        v = float(text.rstrip("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a speed (e.g. 0.25, 1, 4x)") from None
    if not 0.25 <= v <= 16:
        raise argparse.ArgumentTypeError("speed must be 0.25 to 16")
    return v


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="play a recording back in the UI (post-mortems, demos)",
        description=(
            "Play a recording made with --record, 'autoglm-tui record' or the flight recorder "
            "(.jsonl, .jsonl.gz, .jsonl.zst) in the same UI, at the recorded times."),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="the recording")
    p.add_argument("--speed", type=_speed, default=1.0, metavar="X",
                   help="playback speed, 0.25 to 16 (default 1)")
    p.add_argument("--at", metavar="TIME",
                   help="start at this time: 03:12:40 (local), 03:12:40Z (UTC), "
                   "2026-11-24T03:12:40, +5m from the start, -2m from the end, unix seconds")
    p.add_argument("--paused", action="store_true", help="open paused")
    p.add_argument("--warmup", type=UP_TO_AN_HOUR, default=60.0, metavar="S",
                   help="data replayed before a seek target so history, alerts and diagnosis "
                   "have a past when no checkpoint is near (default 1m)")
    p.add_argument("--checkpoint-mb", type=float, default=256.0, metavar="MB",
                   help="memory for checkpoints (every 2 s of recording near the playhead, "
                   "every 10 s farther; a thread plays ahead to keep some ahead of it), so a "
                   "seek restores one instead of replaying or rebuilding (default 256; 0: none)")
    p.add_argument("--node", metavar="ID",
                   help="open this node's view (default: the only node, or the cluster view)")
    p.add_argument("--info", action="store_true",
                   help="print what the recording holds (JSON) and exit")
    p.add_argument("--theme", default="dark", metavar="NAME|PATH",
                   help="colour theme: dark, light, a theme TOML file or a Textual theme")
    p.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    p.add_argument("--rules", action="append", default=[], metavar="FILE",
                   help="alert rules evaluated on the replayed data (after the built-in defaults "
                   "and ~/.config/autoglm-tui/rules.toml; repeatable)")
    p.add_argument("--no-alerts", action="store_true", help="do not evaluate alert rules")


def open_recording(path: str) -> Any:
    """The recording, with a progress line while its index is built; SystemExit(2) when it
    cannot be read."""
    from autoglm_tui.recording.format import RecordingError
    from autoglm_tui.recording.reader import Recording

    shown = [0.0]

    def progress(done: int, total: int) -> None:
        share = done / total if total else 1.0
        if sys.stderr.isatty() and share - shown[0] >= 0.02:
            shown[0] = share
            print(f"\rindexing {path}: {100 * share:.0f}%", end="", file=sys.stderr, flush=True)

    try:
        rec = Recording.open(path, progress=progress)
    except RecordingError as exc:
        print(f"autoglm-tui replay: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if shown[0]:
        print(file=sys.stderr)
    return rec


def build_monitor(args: argparse.Namespace) -> Any:
    """A monitor for replay: alert rules evaluated again (no log, no Alertmanager, no saved
    silences) and the diagnosis, both reset when a seek replaces the state."""
    return monitor_factory(args)()


def replay_monitor(rule_files: list[Any] | None) -> Any:
    """A replay monitor with the default rules plus `rule_files` (None: no alerting); it reads
    no user rules file (what tests and pictures use)."""
    rules = None
    if rule_files is not None:
        from autoglm_tui.alerting.rule_files import load_rule_set

        rules = load_rule_set(rule_files).enabled
    return _monitor(rules)


def monitor_factory(args: argparse.Namespace) -> Any:
    """What builds replay monitors (the rules files are read once, here): the replay's own,
    and the lookahead's, whose checkpoints the replay restores."""
    rules = None
    if not args.no_alerts:
        from autoglm_tui import paths
        from autoglm_tui.alerting.rule_files import load_rule_set

        user = paths.user_rules_file()
        rules = load_rule_set([*([user] if user.is_file() else []), *args.rules]).enabled
    return lambda: _monitor(rules)


def _monitor(rules: Any) -> Any:
    import copy

    from autoglm_tui.alerting.pipeline import AlertPipeline
    from autoglm_tui.alerting.silences import SilenceStore
    from autoglm_tui.analysis.alerts import AlertEngine
    from autoglm_tui.analysis.diagnosis import DiagnosisRunner
    from autoglm_tui.analysis.state import FleetState
    from autoglm_tui.monitor import Monitor

    monitor = Monitor(FleetState(history_s=900.0))
    if rules is not None:
        pipeline = AlertPipeline(AlertEngine(rules), silences=SilenceStore(None))
        pipeline.install(monitor)

        def reset_alerts() -> None:
            pipeline.engine = AlertEngine(rules)
            pipeline.recent.clear()
            pipeline.version += 1

        def restore_alerts(engine: Any) -> None:
            pipeline.engine = copy.deepcopy(engine)
            pipeline.recent.clear()
            pipeline.version += 1

        monitor.resetters.append(reset_alerts)
        monitor.stateful.append((lambda: copy.deepcopy(pipeline.engine), restore_alerts))
    runner = DiagnosisRunner().install(monitor)
    monitor.resetters.append(runner.reset)
    monitor.stateful.append((runner.snapshot, runner.restore))
    return monitor


def run(args: argparse.Namespace) -> int:
    import json

    from autoglm_tui.analysis.alerts import RulesFileError
    from autoglm_tui.recording.replay import ReplayController, summary
    from autoglm_tui.recording.timeparse import parse_time

    rec = open_recording(args.file)
    if args.info:
        sys.stdout.write(json.dumps(summary(rec), ensure_ascii=False) + "\n")
        return 0
    nodes = rec.nodes
    if not nodes:
        print(f"autoglm-tui replay: {args.file} holds no node", file=sys.stderr)
        return 2
    at = None
    if args.at:
        try:
            at = parse_time(args.at, rec.start, rec.end)
        except ValueError as exc:
            print(f"autoglm-tui replay: --at: {exc}", file=sys.stderr)
            return 2
    if args.node is not None and args.node not in nodes:
        print(f"autoglm-tui replay: no node {args.node!r} in the recording (it has: "
              f"{', '.join(nodes[:10])}{' ...' if len(nodes) > 10 else ''})", file=sys.stderr)
        return 2
    try:
        make_monitor = monitor_factory(args)
    except RulesFileError as exc:
        print(f"autoglm-tui replay: the alert rules do not load:\n{exc}", file=sys.stderr)
        return 2
    monitor = make_monitor()
    store = None
    if args.checkpoint_mb > 0:
        from autoglm_tui.recording.checkpoints import CheckpointStore

        store = CheckpointStore(int(args.checkpoint_mb * (1 << 20)))
        monitor.checkpoints = store
    controller = ReplayController(rec, speed=args.speed, at=at, paused=args.paused,
                                  warmup_s=args.warmup, checkpoints=store,
                                  lookahead=make_monitor if store is not None else None)
    app = build_app(args, monitor, controller, nodes)
    if app is None:
        return 2
    app.run(mouse=not args.no_mouse)
    return app.return_code or 0


def build_app(args: argparse.Namespace, monitor: Any, controller: Any, nodes: list[str]) -> Any:
    """The local view for one node (or --node), the cluster view for several; the app's clock
    is the replay's; ``app.replay`` is the controller a timeline widget drives."""
    from autoglm_tui.recording.replay import ReplaySource
    from autoglm_tui.tui.themes import ThemeError, resolve_theme

    try:
        theme = resolve_theme(args.theme)
    except ThemeError as exc:
        print(f"autoglm-tui replay: {exc}", file=sys.stderr)
        return None

    def clock() -> float:
        return monitor.clock_t if monitor.clock_t is not None else controller.start

    source = ReplaySource(controller)
    if args.node is not None or len(nodes) == 1:
        from autoglm_tui.tui.intents import OpenNode
        from autoglm_tui.tui.replay_app import ReplayMonitorApp

        node_id = args.node or nodes[0]
        app = ReplayMonitorApp(monitor, [source], OpenNode(node_id), theme=theme, clock=clock)
    else:
        from autoglm_tui.tui.replay_app import ReplayClusterApp

        app = ReplayClusterApp(monitor, [source], theme=theme, clock=clock)
    app.replay = controller  # type: ignore[attr-defined]
    app.sub_title = f"replay {controller.recording.path.name}"
    return app
