"""`autoglm-tui cluster`: every node of a cluster, drill-down cluster -> node -> GPU -> process.

Nodes come from an etcd registry (--etcd), a host list (--hosts, --hosts-file), or, for demos
and benchmarks only, an invented fleet (--demo). Samplers are started over SSH on each node.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from autoglm_tui.alerting.cli import add_alert_args
from autoglm_tui.cluster.source_args import add_source_args
from autoglm_tui.commands.arg_types import duration
from autoglm_tui.recording.cli import add_record_args

KEYS_HELP = """\
keys (? lists every key of the current screen):
  Enter, click twice  open the node, GPU or process under the cursor
  Esc                 back where you came from
  /                   filter: gpu.util>80 & label.zone=a & host~=dgx
                      (= != > >= < <= ~=; & joins)
  g                   group nodes by a label (means and max of percentages,
                      sums of amounts; Enter opens a group)
  < > r               sort column and direction (or click a header)
  G                   every GPU, stragglers marked
  A                   every alert, grouped by rule
  S                   every inference service (P95, tokens/s, queue, KV cache)
  :                   command line: :nodes :gpus :alerts :services :node NAME
                      :gpu NODE N :sort COL :group LABEL
  0-9 (on a node)     open that GPU
  k (on a process)    signal it (needs --allow-remote-actions)
  q                   quit

examples:
  autoglm-tui cluster --etcd 10.0.0.5:2379
  autoglm-tui cluster --hosts gpu1,ops@gpu2:2222 --ssh-key ~/.ssh/id_ed25519
  autoglm-tui cluster --prometheus http://prometheus:9090 --job gpu-nodes
  autoglm-tui cluster --profile prod    (~/.config/autoglm-tui/config.toml)
  autoglm-tui cluster --demo 64x8       (an invented fleet, no network)
"""

UP_TO_30_DAYS = duration(0, 30 * 86400, "must be between 0 and 30 days")
_DEMO = re.compile(r"(\d{1,5})(?:x(\d{1,2}))?")


def _hz(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.1 <= value <= 2.0:
        raise argparse.ArgumentTypeError("--refresh must be between 0.1 and 2 repaints a second")
    return value


def _demo(text: str) -> tuple[int, int]:
    m = _DEMO.fullmatch(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError("use NODES or NODESxGPUS, e.g. 64 or 256x8")
    nodes, gpus = int(m.group(1)), int(m.group(2) or 8)
    if not 1 <= nodes <= 4096 or not 0 <= gpus <= 16:
        raise argparse.ArgumentTypeError("1-4096 nodes with 0-16 GPUs each")
    return nodes, gpus


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cluster",
        help="every node of a cluster (etcd registry or host list), drill down to GPUs and "
        "processes",
        description=(
            "Multi-node view, k9s style: a summary line and one row per node (status, labels, "
            "GPU util strip, GPU memory, CPU, memory, net, disk, tokens/s, P95, alerts, sample "
            "lag, sampler cost). Enter drills down: cluster -> node -> GPU -> process; Esc goes "
            "back. Nodes are found in etcd (--etcd) or listed (--hosts, --hosts-file); each "
            "node's sampler runs over SSH with your OpenSSH set-up, host keys verified."
        ),
        epilog=KEYS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_args(p)
    add_alert_args(p)
    add_record_args(p)
    ui = p.add_argument_group("display")
    ui.add_argument(
        "--refresh", type=_hz, default=2.0, metavar="HZ",
        help="screen repaints a second (default 2; samples are applied as they come, the "
        "screen is redrawn on this timer)",
    )
    ui.add_argument(
        "--left-linger", type=UP_TO_30_DAYS, default=120.0, metavar="S",
        help="how long a node that left gracefully stays in the table, greyed, before it is "
        "removed (default 120s; accepts 90, 90s, 5m); FAILED nodes are not removed by this",
    )
    ui.add_argument(
        "--reap-after", type=UP_TO_30_DAYS, default=72 * 3600.0, metavar="S",
        help="how long a FAILED node (heartbeat lost without a leave, no samples) stays in the "
        "table before this monitor drops it (default 72h; 'autoglm-tui members forget NODE' "
        "removes one at once, for every monitor)",
    )
    ui.add_argument(
        "--history", type=UP_TO_30_DAYS, default=900.0, metavar="S",
        help="how much history each node keeps for the plots (default 15m)",
    )
    ui.add_argument(
        "--theme", default="dark", metavar="NAME|PATH",
        help="colour theme: dark, light, a theme TOML file or a Textual theme (default dark)",
    )
    ui.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    ui.add_argument("--no-diagnosis", action="store_true",
                    help="do not run the diagnosis (bottlenecks, leaks, ...) on each tick")
    act = p.add_argument_group("actions")
    act.add_argument(
        "--allow-remote-actions", action="store_true",
        help="allow sending signals to processes on remote nodes (off by default); each one "
        "asks for confirmation naming the node, the pid and the command",
    )
    demo = p.add_argument_group("demo")
    demo.add_argument(
        "--demo", type=_demo, metavar="NODES[xGPUS]",
        help="show an invented fleet (no network, no SSH): for trying the UI and benchmarks; "
        "writes no alert log (unless --alert-log PATH) and keeps silences in memory",
    )


class RunnerSource:
    """The SSH runner as a source: nodes from etcd or a host list, one stream per node."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.runner: Any = None
        self._focus: frozenset[str] = frozenset()
        self._tasks: set[Any] = set()  # forgets under way (kept referenced until done)

    @property
    def streams(self) -> dict[str, Any]:
        return self.runner.streams if self.runner is not None else {}

    @property
    def takes(self) -> tuple[type, ...]:
        """The requests it acts on (requests.py): the focus, and an operator's forget."""
        from autoglm_tui.requests import ForgetNode, NodesInView

        return (NodesInView, ForgetNode)

    def request(self, req: Any) -> None:
        """The UI's wishes (requests.py), returning at once: ``NodesInView`` is the focus;
        ``ForgetNode`` runs as a task of its own (cluster/forget.py) and replies when done."""
        import asyncio

        from autoglm_tui.requests import ForgetNode, NodesInView

        if isinstance(req, NodesInView):
            self.focus(req.node_ids)
        elif isinstance(req, ForgetNode):
            task = asyncio.ensure_future(self._forget(req))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _forget(self, req: Any) -> None:
        if self.runner is None:
            done, message = False, "the cluster source has not started yet; try again"
        else:
            try:
                result = await self.runner.forget(req.node_id, req.force)
                done, message = result.done, result.message
            except Exception as exc:  # a failed forget is a message, never a crash
                done, message = False, f"{type(exc).__name__}: {exc}"
        if req.reply is not None:
            req.reply(done, message)

    def focus(self, node_ids: Any) -> None:
        """The nodes on screen now (empty: none). With --background-interval they sample at
        --interval and every other node at the background interval."""
        self._focus = frozenset(node_ids)
        if self.runner is not None:
            self.runner.focus(self._focus)

    async def run(self, emit: Any) -> None:
        from autoglm_tui.cluster.runner import Runner

        self.runner = Runner(self.config, emit)
        self.runner.focus(self._focus)
        try:
            await self.runner.run()
        finally:
            await self.runner.close()


def run(args: argparse.Namespace) -> int:
    from autoglm_tui.alerting.cli import AlertSetupError, close_pipeline, pipeline_from_args
    from autoglm_tui.analysis.state import FleetState
    from autoglm_tui.cluster.remote_actions import SshSignaller
    from autoglm_tui.cluster.source_args import SourceArgsError, runner_config_from_args
    from autoglm_tui.monitor import Monitor
    from autoglm_tui.tui.cluster_app import ClusterApp
    from autoglm_tui.tui.themes import ThemeError, resolve_theme

    try:
        theme = resolve_theme(args.theme)
    except ThemeError as exc:
        print(f"autoglm-tui cluster: {exc}", file=sys.stderr)
        return 2
    sources: list[Any] = []
    signaller = None
    if args.demo is not None:
        from autoglm_tui.cluster.synthetic import SyntheticFleet

        nodes, gpus = args.demo
        sources.append(SyntheticFleet(nodes=nodes, gpus=gpus, interval_s=args.interval))
    elif args.prometheus:
        from autoglm_tui.cluster.prometheus.args import prometheus_source_from_args
        from autoglm_tui.cluster.prometheus.client import PromError

        try:
            sources.append(prometheus_source_from_args(args, interactive=True))
        except PromError as exc:
            print(f"autoglm-tui cluster: --prometheus: {exc}", file=sys.stderr)
            return 2
    else:
        try:
            config = runner_config_from_args(args, local_default=False)
        except SourceArgsError as exc:
            print(f"autoglm-tui cluster: {exc}", file=sys.stderr)
            return 2
        if not config.uses_ssh:
            print(
                "autoglm-tui cluster: say where the nodes are: --etcd HOST:PORT, --hosts LIST, "
                "--hosts-file FILE or --prometheus URL (or --demo N to try the UI)",
                file=sys.stderr,
            )
            return 2
        source = RunnerSource(config)
        sources.append(source)
        signaller = SshSignaller(source)
    try:
        # A demo writes no state it was not asked for: no default alert log, silences in memory.
        pipeline = pipeline_from_args(args, ephemeral=args.demo is not None)
    except AlertSetupError as exc:
        print(f"autoglm-tui cluster: {exc}", file=sys.stderr)
        return 2
    monitor = Monitor(FleetState(history_s=args.history, left_linger_s=args.left_linger,
                                 reap_after_s=args.reap_after))
    if pipeline is not None:
        pipeline.install(monitor)
    from autoglm_tui.recording.cli import RecordingSetupError, install_monitor_extras

    try:
        install_monitor_extras(args, monitor, source="synthetic" if args.demo else "cluster",
                               demo=args.demo is not None)
    except RecordingSetupError as exc:
        print(f"autoglm-tui cluster: {exc}", file=sys.stderr)
        close_pipeline(pipeline)
        return 2
    app = ClusterApp(
        monitor,
        sources,
        allow_remote_actions=args.allow_remote_actions,
        refresh_hz=args.refresh,
        theme=theme,
        remote_signaller=signaller,
        tick_every_s=min(1.0, args.interval),  # rules: once a second at most, not each repaint
    )
    try:
        app.run(mouse=not args.no_mouse)
    finally:
        monitor.close()
        close_pipeline(pipeline)
    return app.return_code or 0
