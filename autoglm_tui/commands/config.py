"""`autoglm-tui config`: the config file's profiles, and the options in force for a command."""

from __future__ import annotations

import argparse

EPILOG = """\
The file (~/.config/autoglm-tui/config.toml, or $AUTOGLM_TUI_CONFIG) holds profiles:

  default = "prod"                  # used when no --profile is given (optional)

  [profile.prod]
  prometheus = "http://prometheus:9090"
  job = ["gpu-nodes"]
  theme = "light"
  prometheus-token-file = "~/.config/autoglm-tui/prom.token"   # secrets: a file or a variable

  [profile.prod.agent]              # values for one command only
  interval = 10

Keys are the long options of any command, without the dashes. Command-line options win.

examples:
  autoglm-tui config show --profile prod
  autoglm-tui config show --profile prod cluster --theme dark
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "config", help="show config profiles and the options in force",
        description="Show which options a command would run with, and where each value "
        "comes from: the command line, a profile of the config file (with its line), or the "
        "default.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION")
    show = actions.add_parser("show", help="the options in force for COMMAND (default cluster)")
    show.add_argument("--profile", metavar="NAME", help="the profile to apply (default: the "
                      "file's default profile)")
    show.add_argument("target", nargs="?", default="cluster", metavar="COMMAND",
                      help="the command whose options to show (default cluster)")
    show.add_argument("rest", nargs=argparse.REMAINDER, metavar="ARGS",
                      help="that command's own arguments, as you would type them")
    actions.add_parser("path", help="print where the config file is")


def run(args: argparse.Namespace) -> int:
    import sys

    from autoglm_tui import profiles

    parser = args.root_parser
    action = args.config_action or "show"
    if action == "path":
        print(profiles.config_file())
        return 0
    target = getattr(args, "target", "cluster")
    commands = profiles.subparsers(parser)
    if target not in commands or target == "config":
        print(f"autoglm-tui config: no command {target!r} (one of "
              f"{', '.join(c for c in commands if c != 'config')})", file=sys.stderr)
        return 2
    argv = list(getattr(args, "rest", []) or [])
    if getattr(args, "profile", None):
        argv = ["--profile", args.profile, *argv]
    try:
        parsed = commands[target].parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 2)
    parsed.command = target
    try:
        resolved = profiles.resolve(parser, target, argv, parsed)
    except profiles.ProfileError as exc:
        print(f"autoglm-tui config: {exc}", file=sys.stderr)
        return 2
    exists = resolved.file.exists()
    print(f"config file: {resolved.file}{'' if exists else '  (does not exist)'}")
    how = "--profile" if getattr(args, "profile", None) else "the file's default"
    print(f"profile:     {resolved.profile + ' (' + how + ')' if resolved.profile else 'none'}")
    print(f"options of 'autoglm-tui {target}':")
    rows = []
    for key, act in profiles.long_options(commands[target]).items():
        if act.dest in {r[3] for r in rows}:
            continue  # --push-sampler / --no-push-sampler share one value
        value = getattr(resolved.args, act.dest, None)
        origin = resolved.origins.get(act.dest, profiles.Origin("default"))
        rows.append((f"--{key}", _show(value), str(origin), act.dest))
    width = max(len(r[0]) for r in rows) if rows else 0
    vwidth = min(40, max((len(r[1]) for r in rows), default=0))
    for opt, value, origin, _dest in rows:
        print(f"  {opt.ljust(width)}  {value.ljust(vwidth)}  {origin}")
    return 0


def _show(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(_show(v) for v in value) or "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
