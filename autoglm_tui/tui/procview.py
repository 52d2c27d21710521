"""Which processes the table shows, in which order: sort, filter, top N, tree (pure logic).

Flat view: GPU processes first, then the others; the sort key orders each group and `top`
caps the others. Tree view: every matching process under its parent (by ppid). Missing
values (None) sort last whichever the direction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from autoglm_tui.model import ProcSample
from autoglm_tui.text import clean

# Cycling order of `<` / `>`, with the column each key sorts by.
SORT_KEYS = ("cpu", "mem", "gpu", "sm", "pid", "time", "user", "command")
SORT_LABELS = {
    "cpu": "CPU%",
    "mem": "RSS",
    "gpu": "GPU MEM",
    "sm": "SM%",
    "pid": "PID",
    "time": "ELAPSED",
    "user": "USER",
    "command": "COMMAND",
}
_ASCENDING = {"pid", "user", "command"}  # natural direction; numbers go biggest first


@dataclass(frozen=True, slots=True)
class ViewOptions:
    sort: str = "cpu"
    reverse: bool = False
    filter: str = ""
    tree: bool = False
    top: int = 100  # 0: no cap

    def describe(self) -> str:
        """'CPU% ▼' - the sort column and its direction, for a pane title."""
        descending = (self.sort not in _ASCENDING) != self.reverse
        return f"{SORT_LABELS[self.sort]} {'▼' if descending else '▲'}"


@dataclass(frozen=True, slots=True)
class ProcRow:
    proc: ProcSample
    prefix: str = ""  # tree glyphs before the command
    is_gpu: bool = False


def command_of(p: ProcSample) -> str:
    """The command line, or the process name when the command line is empty (kernel threads)."""
    cmd = clean(p.cmdline, 4096).strip()
    return cmd or f"[{clean(p.name, 256)}]"


# Interpreters whose first argument is what a person calls the program; options of theirs that
# take a value (the value is skipped too). `-m MODULE` and the script are what is shown first.
_INTERPRETERS = re.compile(r"^(python[\d.]*|pypy[\d.]*|node|nodejs|ruby|perl|bash|sh)$")
_VALUE_OPTIONS = {"-X", "-W", "--check-hash-based-pycs", "-r", "--require"}
_INLINE = {"-c", "-e", "-"}  # code on the command line or stdin: the whole line says more


def short_command(p: ProcSample) -> tuple[str, str]:
    """What the program is, then how it was started: ``python3 -m vllm.entrypoints.x --port 1``
    -> ('vllm.entrypoints.x --port 1', 'python3 -m'); ``/venv/bin/python -u train.py`` ->
    ('train.py', 'python -u'). Anything else: (the command line, ''). Cleaned text."""
    cmd = command_of(p)
    args = cmd.split()
    interp = args[0].rsplit("/", 1)[-1]
    if not _INTERPRETERS.match(interp) or len(args) < 2:
        return cmd, ""
    opts: list[str] = []
    i = 1
    while i < len(args):
        arg = args[i]
        if arg == "-m" and i + 1 < len(args):
            return " ".join(args[i + 1:]), " ".join([interp, *opts, "-m"])
        if arg in _INLINE or arg == "--" or not arg.startswith("-"):
            break
        opts.append(arg)
        if arg in _VALUE_OPTIONS and i + 1 < len(args):
            i += 1
            opts.append(args[i])
        i += 1
    if i >= len(args) or args[i] in _INLINE:
        return cmd, ""
    if args[i] == "--":
        i += 1
    if i >= len(args):
        return cmd, ""
    return " ".join(args[i:]), " ".join([interp, *opts])


def _value(p: ProcSample, key: str) -> float | str | None:
    if key == "cpu":
        return p.cpu_pct
    if key == "mem":
        return p.rss_bytes
    if key == "gpu":
        return p.gpu_mem_bytes
    if key == "sm":
        return p.sm_pct
    if key == "pid":
        return p.pid
    if key == "time":  # elapsed: the oldest process has the longest time
        return None if p.create_time is None else -p.create_time
    if key == "user":
        return p.user.lower()
    if key == "command":
        return command_of(p).lower()
    raise ValueError(f"unknown sort key {key!r}")


def sort_procs(procs: Iterable[ProcSample], key: str, reverse: bool = False) -> list[ProcSample]:
    """Sorted by `key` in its natural direction (flipped by `reverse`); None values last;
    the pid breaks ties."""
    ascending = (key in _ASCENDING) != reverse
    known = [p for p in procs if _value(p, key) is not None]
    unknown = [p for p in procs if _value(p, key) is None]
    known.sort(key=lambda p: p.pid)
    known.sort(key=lambda p: _value(p, key), reverse=not ascending)  # type: ignore[arg-type,return-value]
    unknown.sort(key=lambda p: p.pid)
    return known + unknown


def matches(p: ProcSample, needle: str) -> bool:
    """Case-insensitive substring match on user, name, command line or pid."""
    if not needle:
        return True
    n = needle.lower()
    return (
        n in str(p.pid)
        or n in p.user.lower()
        or n in p.name.lower()
        or n in p.cmdline.lower()
    )


def visible_rows(procs: Sequence[ProcSample], opts: ViewOptions) -> list[ProcRow]:
    """The rows of the process table for `opts`."""
    chosen = [p for p in procs if matches(p, opts.filter)]
    if opts.tree:
        return tree_rows(chosen, lambda ps: sort_procs(ps, opts.sort, opts.reverse))
    gpu = [p for p in chosen if p.gpus]
    other = [p for p in chosen if not p.gpus]
    other = sort_procs(other, opts.sort, opts.reverse)
    if opts.top > 0:
        other = other[: opts.top]
    return [ProcRow(p, is_gpu=True) for p in sort_procs(gpu, opts.sort, opts.reverse)] + [
        ProcRow(p) for p in other
    ]


def tree_rows(
    procs: Sequence[ProcSample], order: Callable[[list[ProcSample]], list[ProcSample]]
) -> list[ProcRow]:
    """Depth-first rows with ├─/└─ glyphs; a process whose parent is not listed is a root."""
    by_pid = {p.pid: p for p in procs}
    children: dict[int, list[ProcSample]] = {}
    roots: list[ProcSample] = []
    for p in procs:
        if p.ppid is not None and p.ppid in by_pid and p.ppid != p.pid:
            children.setdefault(p.ppid, []).append(p)
        else:
            roots.append(p)
    out: list[ProcRow] = []
    seen: set[int] = set()

    def walk(p: ProcSample, lead: str, glyph: str) -> None:
        if p.pid in seen:
            return  # a ppid cycle in bad data: show each process once
        seen.add(p.pid)
        out.append(ProcRow(p, prefix=lead + glyph, is_gpu=bool(p.gpus)))
        kids = order(children.get(p.pid, []))
        child_lead = lead + ("   " if glyph in ("└─ ", "") else "│  ")
        for i, kid in enumerate(kids):
            walk(kid, child_lead if glyph else lead, "└─ " if i == len(kids) - 1 else "├─ ")

    for root in order(roots):
        walk(root, "", "")
    for p in order([p for p in procs if p.pid not in seen]):  # members of a cycle
        walk(p, "", "")
    return out
