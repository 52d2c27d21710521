"""`autoglm-tui rules`: check a rules file, or list the alert rules in force."""

from __future__ import annotations

import argparse
import sys

from autoglm_tui.stdio import terminal_width
from autoglm_tui.text import wrap_hanging


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rules",
        help="check an alert rules file, or list the rules in force",
        description=(
            "Alert rules come from the built-in defaults, then the user's "
            "~/.config/autoglm-tui/rules.toml, then each --rules FILE; a rule with the name of "
            "an earlier one replaces it. Options without a subcommand list them "
            "('rules --rules FILE' is 'rules list --rules FILE')."
        ),
    )
    rsub = p.add_subparsers(dest="rules_command", metavar="SUBCOMMAND")
    check = rsub.add_parser(
        "check",
        help="validate rules files; print each error with its line",
        description=(
            "Read each FILE as an alert rules file (TOML, one [[rule]] table per rule) and "
            "print every error with its file and line, in line order; nothing is started. "
            "Exit status: 0 when every file is valid, 1 when any has an error."
        ),
        epilog=("example:\n"
                "  autoglm-tui rules check ~/.config/autoglm-tui/rules.toml extra.toml"),
    )
    check.add_argument("files", nargs="+", metavar="FILE",
                       help="a rules file to check (several may be given)")
    lst = rsub.add_parser(
        "list",
        help="show the rules in force (defaults, user config, --rules)",
        description=(
            "Print the alert rules a monitor would use: the built-in defaults, then "
            "~/.config/autoglm-tui/rules.toml, then each --rules FILE, one line per rule "
            "(name, kind, severity, for, what it checks) with the file and line it came from."
        ),
    )
    lst.add_argument("--rules", action="append", default=[], metavar="FILE",
                     help="a rules file loaded after the defaults (repeatable)")
    lst.add_argument("--no-user-rules", action="store_true",
                     help="ignore ~/.config/autoglm-tui/rules.toml")
    lst.add_argument("--all", action="store_true", help="include disabled rules")
    p.set_defaults(rules_parser=p)


def run(args: argparse.Namespace) -> int:
    if args.rules_command == "check":
        return _check(args.files)
    if args.rules_command == "list":
        return _list(args.rules, not args.no_user_rules, args.all)
    args.rules_parser.print_help()
    return 2


def _check(files: list[str]) -> int:
    from pathlib import Path

    from autoglm_tui.analysis.alerts import parse_rules
    from autoglm_tui.text import clean

    bad = 0
    for name in files:
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            print(f"{name}: no such file", file=sys.stderr)
            bad += 1
            continue
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{name}: cannot read: {exc}", file=sys.stderr)
            bad += 1
            continue
        rules, errors, _ = parse_rules(text, name)
        lines = text.splitlines()
        for err in sorted(errors, key=lambda e: e.line):
            print(clean(str(err), 1000))
            if 0 < err.line <= len(lines):
                print(f"    {err.line:>4} | {clean(lines[err.line - 1], 200)}")
        if errors:
            bad += 1
            print(f"{name}: {len(errors)} error{'s' if len(errors) != 1 else ''}")
        else:
            enabled = sum(1 for r in rules if r.enabled)
            print(f"{name}: OK, {len(rules)} rule{'s' if len(rules) != 1 else ''}"
                  f" ({enabled} enabled)")
    return 1 if bad else 0


def _list(extra: list[str], user_rules: bool, show_all: bool) -> int:
    from pathlib import Path

    from autoglm_tui import paths
    from autoglm_tui.alerting.rule_files import load_rule_set
    from autoglm_tui.analysis.alerts import RulesFileError
    from autoglm_tui.format import duration

    files: list[str | Path] = []
    user = paths.user_rules_file()
    if user_rules and user.is_file():
        files.append(user)
    files.extend(extra)
    try:
        rs = load_rule_set(files)
    except RulesFileError as exc:
        print(f"autoglm-tui: the rules do not load:\n{exc}", file=sys.stderr)
        return 1
    rows = [("NAME", "KIND", "SEVERITY", "FOR", "CHECKS", "FROM")]
    for r in rs.rules:
        if not r.enabled and not show_all:
            continue
        where = r.source if r.source == "<defaults>" else f"{r.source}:{r.line}"
        name = r.name if r.enabled else f"{r.name} (off)"
        rows.append((name, r.kind, r.severity, duration(r.for_s) if r.for_s else "-",
                     r.describe(with_for=False), where))
    width = terminal_width()
    sys.stdout.write(table(rows, width))
    print(f"\n{len(rows) - 1} rules from: " + ", ".join(rs.sources))
    return 0


CHECKS = 4  # the column that wraps
MIN_CHECKS = 24  # narrower than this, each rule is printed as a block instead


def table(rows: list[tuple[str, ...]], width: int | None = None) -> str:
    """`rules list`'s rows (the header first): columns two spaces apart. Wider than `width`
    (a terminal), the CHECKS column wraps under itself; where even that does not fit, each
    rule is a block ("NAME  KIND, SEVERITY, for FOR  FROM", then its checks indented). None
    (a pipe): one line per rule, for grep."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lead = sum(widths[:CHECKS]) + 2 * CHECKS
    room = widths[CHECKS]
    out: list[str] = []
    blocks = False
    if width is not None and lead + room + 2 + widths[-1] > width:
        room = width - lead - 2 - widths[-1]
        blocks = room < MIN_CHECKS
    if blocks:
        for name, kind, severity, for_, checks, where in rows[1:]:
            wait = f", for {for_}" if for_ != "-" else ""
            out.append(f"{name}  {kind}, {severity}{wait}  {where}")
            out.extend(wrap_hanging(checks, width, "    ", "    "))
    else:
        for row in rows:
            head = "".join(c.ljust(w) + "  " for c, w in zip(row[:CHECKS], widths, strict=False))
            lines = wrap_hanging(row[CHECKS], room) if len(row[CHECKS]) > room else [row[CHECKS]]
            out.append(head + lines[0].ljust(room) + "  " + row[-1])
            out.extend(" " * lead + line for line in lines[1:])
    return "".join(line.rstrip() + "\n" for line in out)
