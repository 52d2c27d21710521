"""`--help` text that fits the terminal: descriptions and epilogs wrapped, their layout kept.

argparse's default formatter refills every description into one paragraph (lists and examples
lose their lines); RawDescriptionHelpFormatter keeps the lines but never wraps, so a long
sentence runs off an 80-column terminal. :class:`WrappingFormatter` does both: paragraphs of
unindented lines are refilled to the width, indented lines (tables, examples) keep their
place and wrap under their own indentation when too long. ``cli.build_parser`` sets it on
every parser, so a command module writes its text either way.
"""

from __future__ import annotations

import argparse
import textwrap

from autoglm_tui.text import wrap_hanging

ENDS_LINE = (".", ":", ")")  # an unindented line ending so stays a line of its own


def fill_text(text: str, width: int, indent: str = "") -> str:
    """`text` wrapped to `width` columns: runs of unindented lines refilled as one paragraph
    (a line ending a sentence or a heading keeps its break), indented lines wrapped one by
    one under their own indentation, blank lines kept."""
    width = max(20, width)
    out: list[str] = []
    prose: list[str] = []

    def flush() -> None:
        if prose:
            out.extend(wrap_hanging(" ".join(prose), width, indent, indent))
            prose.clear()

    for line in textwrap.dedent(text).splitlines():
        stripped = line.strip()
        if not stripped:
            flush()
            out.append("")
            continue
        lead = line[: len(line) - len(line.lstrip())]
        if lead:
            flush()
            if len(indent) + len(line) <= width:
                out.append(indent + line)
            else:
                out.extend(wrap_hanging(stripped, width, indent + lead, indent + lead + "  "))
            continue
        prose.append(stripped)
        if stripped.endswith(ENDS_LINE):
            flush()
    flush()
    return "\n".join(out)


class WrappingFormatter(argparse.HelpFormatter):
    """Wraps descriptions, epilogs and argument-group texts to the terminal (see module)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return fill_text(text, width + len(indent), indent)


def use_everywhere(parser: argparse.ArgumentParser) -> None:
    """Give `parser` and every subcommand parser under it the wrapping formatter; a
    subcommand without a description gets its one-line help as one, so its own --help says
    what it does."""
    parser.formatter_class = WrappingFormatter
    for action, sub in subcommands(parser):
        if not sub.description:
            helps = {a.dest: a.help for a in action._choices_actions}
            line = helps.get(sub.prog.rsplit(" ", 1)[-1])
            if line:
                sub.description = line[0].upper() + line[1:] + "."
        use_everywhere(sub)


def subcommands(
    parser: argparse.ArgumentParser,
) -> list[tuple[argparse._SubParsersAction, argparse.ArgumentParser]]:
    """The subcommand parsers directly under `parser`, each with the action that holds it."""
    return [(action, sub) for action in parser._actions
            if isinstance(action, argparse._SubParsersAction)
            for sub in action.choices.values()]
