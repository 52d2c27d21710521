"""`autoglm-tui advise`: scaling advice for each group of replicas, by Kubernetes' HPA rule."""

from __future__ import annotations

import argparse
import sys

from autoglm_tui.commands.diagnose import add_common, collect, config_from

EPILOG = """\
the rule (Kubernetes' Horizontal Pod Autoscaler):
  desired = ceil(current x observed / target) for each metric (GPU util, queue per replica,
  KV cache); no change while observed/target is within the tolerance; the largest wins;
  clamped to --min-replicas/--max-replicas and to at most double (or +4) at once; scaling
  down waits 5 minutes (the highest recommendation of the last 5 minutes is used).
  A group is the UP nodes sharing --group-label's value (or, when no node has the label,
  each service id across the nodes that run it).

examples:
  autoglm-tui advise --etcd 10.0.0.5:2379 --for 2m
  autoglm-tui advise incident.jsonl.zst        (a recording: the same as --replay FILE)
  autoglm-tui advise --replay incident.jsonl.zst --json | jq -r '.groups[] | .line'

exit status: 0 when it ran, 2 for bad options or an unreadable recording.
"""


def _pct(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < v <= 100:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 100")
    return v


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if v <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= v <= 100000:
        raise argparse.ArgumentTypeError("must be 0..100000")
    return v


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "advise",
        help="how many replicas each service group should have (HPA rule), for scripts",
        description=(
            "Scaling advice for every group of replicas, from live nodes (collected for --for) "
            "or a recording (--replay FILE, as of --at): 'llm-70b: 4 -> 6 replicas (GPU util "
            "92% vs target 70%)'. --json prints one document for scripts and pipelines."),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    h = p.add_argument_group("HPA settings")
    h.add_argument("--target-gpu-util", type=_pct, default=70.0, metavar="PCT",
                   help="target mean GPU util of a group (default 70)")
    h.add_argument("--target-queue", type=_positive, default=4.0, metavar="N",
                   help="target waiting requests per replica (default 4)")
    h.add_argument("--target-kv-cache", type=_pct, default=80.0, metavar="PCT",
                   help="target KV-cache use (default 80)")
    h.add_argument("--tolerance", type=float, default=0.1, metavar="F",
                   help="no change while observed/target is within 1 +- F (default 0.1)")
    h.add_argument("--min-replicas", type=_count, default=1, metavar="N",
                   help="never advise fewer (default 1)")
    h.add_argument("--max-replicas", type=_count, default=None, metavar="N",
                   help="never advise more (default: no limit beyond HPA's rate limit)")


def run(args: argparse.Namespace) -> int:
    import json

    from autoglm_tui.analysis.diagnosis import advise
    from autoglm_tui.analysis.diagnosis.registry import Context

    if not 0 <= args.tolerance < 1:
        print("autoglm-tui advise: --tolerance must be 0..1", file=sys.stderr)
        return 2
    config = config_from(
        args, target_gpu_util_pct=args.target_gpu_util, target_queue_per_replica=args.target_queue,
        target_kv_cache_pct=args.target_kv_cache, tolerance=args.tolerance,
        min_replicas=args.min_replicas, max_replicas=args.max_replicas)
    monitor, at, source = collect(args, config, "advise")
    groups = advise(Context(monitor.state.nodes, at, config))
    if args.json:
        doc = {"t": at, "source": source, "group_label": args.group_label,
               "groups": [a.to_dict() for a in groups]}
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    elif not groups:
        sys.stdout.write(f"no replica groups: label nodes with {args.group_label}=NAME (or use "
                         "--group-label), or run services that report queue or tokens/s\n")
    else:
        for a in groups:
            sys.stdout.write(a.line() + "\n")
    return 0
