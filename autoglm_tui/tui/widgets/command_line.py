"""The `:` command line (k9s style): `:nodes`, `:gpus`, `:alerts`, `:node NAME`, with completion.

Completion is a pure function over the command table and a provider of argument values (node
ids, label keys, column names), so it is tested without a UI. In the widget, Tab completes (to
the longest common prefix, then cycles), Right accepts the grey suggestion, Enter runs, Esc
closes.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input, Static

from autoglm_tui.text import clean
from autoglm_tui.tui.focus import focus_now

MAX_SHOWN = 12  # candidates listed in the hint line


@dataclass(frozen=True, slots=True)
class Command:
    """One command: its name, argument names (for completion and usage) and a line of help."""

    name: str
    args: tuple[str, ...] = ()
    help: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def usage(self) -> str:
        return " ".join((self.name, *self.args))


class CommandError(ValueError):
    """A command line that cannot run; the message says why."""


# (command name, index of the argument being completed, arguments so far) -> candidate values
ArgValues = Callable[[str, int, list[str]], Sequence[str]]


def split(text: str) -> list[str]:
    """Words of a command line (shell-like quoting); CommandError on an unclosed quote."""
    try:
        return shlex.split(text.strip().removeprefix(":"))
    except ValueError as exc:
        raise CommandError(f"cannot read the command: {exc}") from None


def resolve(name: str, commands: Sequence[Command]) -> Command:
    """The command called `name` (or an alias, or a unique prefix); CommandError otherwise."""
    low = name.lower()
    for c in commands:
        if low == c.name or low in c.aliases:
            return c
    starts = [c for c in commands if c.name.startswith(low)]
    if len(starts) == 1:
        return starts[0]
    if starts:
        names = ", ".join(c.name for c in starts)
        raise CommandError(f"{clean(name, 40)!r} is ambiguous: {names}")
    known = ", ".join(c.name for c in commands)
    raise CommandError(f"unknown command {clean(name, 40)!r}; commands: {known}")


def parse(text: str, commands: Sequence[Command]) -> tuple[Command, list[str]]:
    """The command and its arguments; CommandError when empty, unknown or unreadable."""
    words = split(text)
    if not words:
        raise CommandError("empty command")
    return resolve(words[0], commands), words[1:]


def _quote(word: str) -> str:
    return shlex.quote(word) if word and any(ch in word for ch in " \t'\"\\") else word


def complete(text: str, commands: Sequence[Command], values: ArgValues) -> list[str]:
    """Full command lines that complete `text` (no leading ':'), in a stable order."""
    body = text.lstrip().removeprefix(":")
    try:
        words = shlex.split(body)
    except ValueError:
        return []
    trailing_space = body.endswith((" ", "\t"))
    if not words or (len(words) == 1 and not trailing_space):
        prefix = words[0].lower() if words else ""
        return [c.name for c in commands if c.name.startswith(prefix)]
    try:
        cmd = resolve(words[0], commands)
    except CommandError:
        return []
    args = words[1:]
    if trailing_space:
        args.append("")
    index = len(args) - 1
    if index >= len(cmd.args):
        return []
    partial = args[-1]
    head = " ".join([cmd.name, *(_quote(a) for a in args[:-1])])
    out = []
    for value in values(cmd.name, index, args[:-1]):
        if value.startswith(partial):
            out.append(f"{head} {_quote(value)}")
    return sorted(set(out))


def common_prefix(items: Sequence[str]) -> str:
    """The longest string every item starts with."""
    if not items:
        return ""
    first, last = min(items), max(items)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


class FirstCompletion(Suggester):
    """Grey inline suggestion: the first completion."""

    def __init__(self, owner: CommandLine) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.owner = owner

    async def get_suggestion(self, value: str) -> str | None:
        found = self.owner.candidates(value)
        return found[0] if found else None


class CommandInput(Input):
    """The text box of the command line; Tab completes instead of moving focus."""

    BINDINGS = [
        Binding("tab", "complete", "Complete", show=False, priority=True),
        Binding("escape", "close", "Close the command line", show=False),
    ]

    def _command_line(self) -> CommandLine | None:
        return next((n for n in self.ancestors if isinstance(n, CommandLine)), None)

    def action_complete(self) -> None:
        bar = self._command_line()
        if bar is not None:
            bar.tab()

    def action_close(self) -> None:
        bar = self._command_line()
        if bar is not None:
            bar.close()


class CommandLine(Vertical):
    """A hidden bar at the bottom of a screen; `open()` shows it with the cursor in it."""

    class Submitted(Message):
        """The user pressed Enter on a command line (without the leading ':')."""

        def __init__(self, command_line: CommandLine, value: str) -> None:
            super().__init__()
            self.command_line = command_line
            self.value = value

        @property
        def control(self) -> CommandLine:
            return self.command_line

    class Closed(Message):
        """The command line was closed without running anything."""

    def __init__(
        self, commands: Sequence[Command], values: ArgValues, *, id: str | None = None
    ) -> None:
        super().__init__(id=id, classes="command-line")
        self.commands = list(commands)
        self.values = values
        self._cycle: list[str] = []
        self._cycle_at = -1
        self._listed: set[str] = set()  # values for which the hint lists the candidates

    def compose(self) -> ComposeResult:
        yield Static("", classes="command-hint")
        with Horizontal(classes="command-row"):
            yield Static(":", classes="command-prompt")
            yield CommandInput(
                placeholder="command (Tab completes, Enter runs, Esc closes)",
                suggester=FirstCompletion(self),
                select_on_focus=False,
                classes="command-input",
            )

    @property
    def input(self) -> CommandInput:
        return self.query_one(CommandInput)

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def candidates(self, value: str) -> list[str]:
        try:
            return complete(value, self.commands, self.values)
        except Exception:  # completion must never break typing
            return []

    def open(self, text: str = "") -> None:
        self.add_class("-open")
        box = self.input
        box.value = text
        box.cursor_position = len(text)
        self._cycle = []
        self._hint(self._usage_hint())
        focus_now(box)

    def close(self) -> None:
        if not self.is_open:
            return
        self.remove_class("-open")
        self.input.value = ""
        self.post_message(self.Closed())

    def tab(self) -> None:
        """Complete: the common prefix of all candidates, then cycle through them."""
        box = self.input
        if self._cycle and box.value in self._cycle:
            self._cycle_at = (self._cycle_at + 1) % len(self._cycle)
            self._set(self._cycle[self._cycle_at])
            return
        found = self.candidates(box.value)
        if not found:
            self._hint(Text("no completion", style="italic"))
            return
        if len(found) == 1:
            cmd_args = found[0]
            self._set(cmd_args + (" " if self._takes_more(cmd_args) else ""))
            self._cycle = []
            return
        prefix = common_prefix(found)
        self._show_candidates(found)
        if len(prefix) > len(box.value.strip()):
            self._listed = {prefix}
            self._set(prefix)
        else:
            self._cycle, self._cycle_at = found, 0
            self._listed = set(found)
            self._set(found[0])

    def _takes_more(self, line: str) -> bool:
        try:
            cmd, args = parse(line, self.commands)
        except CommandError:
            return False
        return len(args) < len(cmd.args)

    def _set(self, value: str) -> None:
        box = self.input
        box.value = value
        box.cursor_position = len(value)

    def _show_candidates(self, found: Sequence[str]) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, item in enumerate(found[:MAX_SHOWN]):
            if i:
                text.append("  ")
            text.append(clean(item.split(" ")[-1] if " " in item else item, 48))
        if len(found) > MAX_SHOWN:
            text.append(f"  … {len(found) - MAX_SHOWN} more", style="italic")
        self._hint(text)

    def _usage_hint(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, c in enumerate(self.commands):
            if i:
                text.append("  ")
            text.append(c.usage)
        return text

    def _hint(self, text: Text) -> None:
        self.query_one(".command-hint", Static).update(text)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.value != self.input.value:
            return  # an older change, still queued when Tab filled the box in
        if self._cycle and event.value not in self._cycle:
            self._cycle = []
        if event.value in self._listed:
            return  # Tab filled it in: the hint keeps listing the candidates
        self._listed = set()
        try:
            words = split(event.value)
            cmd = resolve(words[0], self.commands) if words else None
        except CommandError:
            cmd = None
        if cmd is not None and cmd.help:
            self._hint(Text(f"{cmd.usage}  —  {cmd.help}", no_wrap=True, overflow="ellipsis"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        self.remove_class("-open")
        self.input.value = ""
        if value:
            self.post_message(self.Submitted(self, value))
        else:
            self.post_message(self.Closed())
