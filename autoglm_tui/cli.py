"""Argument parsing: one module per subcommand under commands/, each imported lazily.

A subcommand module has ``add_parser(subparsers)`` (cheap: argparse only) and ``run(args) -> int``
(which imports what it needs). With no subcommand, the local view opens.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys

from autoglm_tui import __version__
from autoglm_tui.helpformat import use_everywhere
from autoglm_tui.profiles import apply_to_command_line
from autoglm_tui.stdio import silence_stdout, stdout_reader_gone

# Subcommand name -> module under autoglm_tui.commands.
COMMANDS = (
    "local", "cluster", "sample", "agent", "members", "exporter", "snapshot", "rules", "record",
    "replay", "diagnose", "advise", "config",
)
NO_PROFILES = ("sample", "config")  # the sampler runs on nodes: their config files stay out
PROFILE_HELP = ("apply the options of profile NAME from ~/.config/autoglm-tui/config.toml "
                "(options given here win; 'autoglm-tui config show' lists them)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoglm-tui",
        description=(
            "Terminal monitor for GPU inference and training nodes. With no command, opens the "
            "local view of this machine (GPUs, CPU, memory, IO, processes, alerts)."
        ),
        epilog="Run 'autoglm-tui COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"autoglm-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"autoglm_tui.commands.{name}")
        module.add_parser(sub)
        if name not in NO_PROFILES:  # these take --profile (autoglm_tui/profiles.py)
            sub.choices[name].add_argument("--profile", metavar="NAME", help=PROFILE_HELP)
    sub.choices["config"].set_defaults(root_parser=parser)
    use_everywhere(parser)  # --help fits the terminal, whatever formatter a command chose
    return parser


# Commands whose subcommand may be left out when options follow: `members --etcd X` lists.
DEFAULT_SUBCOMMAND = {"members": "list", "rules": "list"}


def with_default_subcommand(argv: list[str]) -> list[str]:
    """``members --etcd X`` as ``members list --etcd X`` (see DEFAULT_SUBCOMMAND): an option
    where the subcommand goes means the default one; the command alone, or with -h, still
    prints its help. The command's own --profile may come first."""
    default = DEFAULT_SUBCOMMAND.get(argv[0]) if argv else None
    if default is None:
        return argv
    at = 1
    while at < len(argv) and (argv[at] == "--profile" or argv[at].startswith("--profile=")):
        at += 2 if argv[at] == "--profile" else 1
    if at < len(argv) and argv[at].startswith("-") and argv[at] not in ("-h", "--help"):
        return [*argv[:at], default, *argv[at:]]
    return argv


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)``, with an unknown option refused by the (sub)command that
    got it: its name and usage, and the option meant when the unknown one is a near miss
    (argparse would print the top-level usage, which does not list the command's options)."""
    args, extra = parser.parse_known_args(joined_offsets(argv))
    if extra:
        command = command_parser(parser, args)
        message = f"unrecognized arguments: {' '.join(extra)}"
        known = [o for a in command._actions for o in a.option_strings if o.startswith("--")]
        guess = difflib.get_close_matches(extra[0].split("=", 1)[0], known, n=1, cutoff=0.8)
        if extra[0].startswith("-") and guess:
            message += f" (did you mean {guess[0]}?)"
        command.error(message)
    return args


# Options whose value may start with "-": a time counted back from the end ("--at -2m").
TAKES_OFFSET = ("--at",)
_OFFSET = re.compile(r"-[0-9.]")


def joined_offsets(argv: list[str]) -> list[str]:
    """`argv` with ``--at -2m`` written ``--at=-2m``: argparse takes a value that starts with
    "-" and is not a plain number for an option, and says "expected one argument"."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out += argv[i:]
            break
        if arg in TAKES_OFFSET and i + 1 < len(argv) and _OFFSET.match(argv[i + 1]):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def command_parser(parser: argparse.ArgumentParser,
                   args: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost (sub)command parser that `args` went through (``members list``)."""
    while True:
        action = next((a for a in parser._actions
                       if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, action.dest, None) if action is not None else None
        if action is None or chosen not in action.choices:
            return parser
        parser = action.choices[chosen]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["local", *argv]
    argv = with_default_subcommand(argv)
    args = parse(parser, argv)
    if args.command is None:
        argv = ["local"]
        args = parser.parse_args(argv)
    args = apply_to_command_line(parser, argv, args)
    module = importlib.import_module(f"autoglm_tui.commands.{args.command}")
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        if not stdout_reader_gone():
            raise  # a socket or another pipe: a real error
        silence_stdout()  # the reader had what it wanted (`| head`): not an error
        return 0
