"""The `/` filter language of the cluster screens, parsed into a predicate (pure).

A query is one or more clauses joined by ``&`` (all must hold)::

    gpu.util>80 & label.zone=a & host~=dgx

A clause is ``FIELD OP VALUE``. Fields:

- a metric name from metrics.py (``gpu.util_pct``), or a unique prefix / short alias of one
  (``gpu.util``, ``gpu.mem`` for ``gpu.mem_used_pct``, ``cpu``, ``mem``);
- ``label.KEY``: a node label (a missing label reads as the empty string);
- ``host``: the node's host name (from its sampler, else its registration, else its id);
- ``node`` (or ``id``): the node id; ``status``: UP, STALE, ... (case-insensitive);
- ``gpu`` (or ``index``): a GPU's index (GPU rows only).

Operators: ``=`` (``==``), ``!=``, ``>``, ``>=``, ``<``, ``<=``, and ``~=`` (a case-insensitive
regular expression searched in the value, so a plain word is a substring match). Numbers may
carry a binary size suffix (``K``, ``M``, ``G``, ``T``: ``gpu.mem_used_bytes>40G``) or ``%``.
Values may be quoted with ``"`` or ``'`` to hold spaces or operator characters.

On a node, a GPU metric matches when any of its GPUs matches; on a GPU row, only that GPU's
value counts. A metric with no value (unsupported, not sampled yet) never matches.
Errors raise :class:`ParseError` with the 0-based position of the problem.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.metrics import METRICS, Scope

OPERATORS = ("~=", "==", "!=", ">=", "<=", "=", ">", "<")
ALIASES: dict[str, str] = {
    "gpu.util": "gpu.util_pct",
    "gpu.mem": "gpu.mem_used_pct",
    "gpu.temp": "gpu.temp_c",
    "gpu.power": "gpu.power_w",
    "cpu": "cpu.util_pct",
    "cpu.util": "cpu.util_pct",
    "mem": "mem.used_pct",
    "mem.used": "mem.used_pct",
    "latency": "svc.latency_p95_s",
    "tokens": "svc.tokens_per_s",
    "kv": "svc.kv_cache_pct",
    "queue": "svc.queue_len",
    "ttft": "svc.ttft_p95_s",
}
TEXT_FIELDS = ("host", "node", "id", "status")
INDEX_FIELDS = ("gpu", "index")
_SUFFIX = {"k": 1024.0, "m": 1024.0**2, "g": 1024.0**3, "t": 1024.0**4, "p": 1024.0**5}
_NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([kmgtp]i?b?|%)?", re.I)
_FIELD_CHARS = re.compile(r"[A-Za-z0-9_.\-/]")
_MAX_QUERY = 1000
_MAX_CLAUSES = 32


class ParseError(ValueError):
    """A query that does not parse; ``pos`` is the 0-based offset of the problem."""

    def __init__(self, message: str, pos: int, query: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.query = query

    def __str__(self) -> str:
        return f"{self.message} (at column {self.pos + 1})"


class Subject(Protocol):
    """What a clause reads: a node row or a GPU row of a cluster table."""

    def text(self, name: str) -> str | None: ...

    def numbers(self, metric: str) -> Sequence[float | None]: ...


@dataclass(frozen=True, slots=True)
class Clause:
    """One ``FIELD OP VALUE`` test."""

    field: str  # canonical: a metric name, "label.KEY", "host", "node", "status" or "gpu"
    op: str
    value: str
    number: float | None = None
    pattern: re.Pattern[str] | None = None
    pos: int = 0

    @property
    def is_metric(self) -> bool:
        return self.field in METRICS

    def matches(self, subject: Subject) -> bool:
        if self.is_metric or self.field == "gpu":
            return any(self._test_number(v) for v in subject.numbers(self.field))
        text = subject.text(self.field)
        if text is None:
            text = ""
        if self.pattern is not None:
            return self.pattern.search(text) is not None
        if self.field == "status":
            text, value = text.upper(), self.value.upper()
        else:
            value = self.value
        return (text == value) if self.op == "=" else (text != value)

    def _test_number(self, v: float | None) -> bool:
        if v is None or self.number is None or math.isnan(v):
            return False
        return bool(_NUM_OPS[self.op](v, self.number))


_NUM_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9),
    "!=": lambda a, b: not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9),
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query; an empty query matches everything."""

    source: str
    clauses: tuple[Clause, ...] = field(default_factory=tuple)

    def matches(self, subject: Subject) -> bool:
        return all(c.matches(subject) for c in self.clauses)

    def __bool__(self) -> bool:
        return bool(self.clauses)

    @property
    def metrics(self) -> list[str]:
        """The metric names the query reads."""
        return [c.field for c in self.clauses if c.is_metric]


def resolve_field(name: str, pos: int = 0) -> str:
    """Canonical field for `name` (aliases and unique metric prefixes); ParseError if unknown."""
    low = name.lower()
    if low in ("host", "hostname"):
        return "host"
    if low in ("node", "id", "node_id"):
        return "node"
    if low == "status":
        return "status"
    if low in INDEX_FIELDS:
        return "gpu"
    if low.startswith("label."):
        key = name[len("label."):]
        if not key:
            raise ParseError("'label.' needs a key, as in label.zone=a", pos + len(name))
        return "label." + key
    if low in METRICS:
        return low
    if low in ALIASES:
        return ALIASES[low]
    matches = [m for m in METRICS if m.startswith(low)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ParseError(
            f"{name!r} is ambiguous: {', '.join(sorted(matches)[:6])}", pos
        )
    raise ParseError(
        f"unknown field {name!r}: use a metric (gpu.util, cpu, mem, ...), label.KEY, "
        "host, node, status or gpu",
        pos,
    )


def parse_number(text: str) -> float | None:
    """'80' -> 80.0, '40G' -> 40 GiB in bytes, '2.5%' -> 2.5; None if `text` is not a number."""
    m = _NUMBER.fullmatch(text.strip())
    if m is None:
        return None
    value = float(m.group(1))
    suffix = (m.group(2) or "").lower()
    if suffix and suffix != "%":
        value *= _SUFFIX[suffix[0]]
    return value if math.isfinite(value) else None


def parse(text: str) -> Query:
    """Parse a query string; ParseError (with position) when it does not parse."""
    if len(text) > _MAX_QUERY:
        raise ParseError(f"query too long (over {_MAX_QUERY} characters)", _MAX_QUERY, text)
    clauses: list[Clause] = []
    i = _skip_ws(text, 0)
    if i >= len(text):
        return Query(text, ())
    while True:
        clause, i = _clause(text, i)
        clauses.append(clause)
        if len(clauses) > _MAX_CLAUSES:
            raise ParseError(f"too many clauses (at most {_MAX_CLAUSES})", clause.pos, text)
        i = _skip_ws(text, i)
        if i >= len(text):
            break
        if text[i] != "&":
            raise ParseError(f"expected '&' between clauses, found {text[i]!r}", i, text)
        i = _skip_ws(text, i + 1)
        if i >= len(text):
            raise ParseError("a clause must follow '&'", i, text)
    return Query(text, tuple(clauses))


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _clause(text: str, start: int) -> tuple[Clause, int]:
    i = start
    while i < len(text) and _FIELD_CHARS.match(text[i]):
        i += 1
    name = text[start:i]
    if not name:
        raise ParseError(f"expected a field name, found {text[start]!r}", start, text)
    try:
        canonical = resolve_field(name, start)
    except ParseError as exc:
        raise ParseError(exc.message, exc.pos, text) from None
    i = _skip_ws(text, i)
    op_pos = i
    op = next((o for o in OPERATORS if text.startswith(o, i)), None)
    if op is None:
        found = repr(text[i]) if i < len(text) else "the end"
        raise ParseError(
            f"expected an operator (= != > >= < <= ~=) after {name!r}, found {found}", i, text
        )
    i = _skip_ws(text, i + len(op))
    if op == "==":
        op = "="
    value, value_pos, i = _value(text, i)
    numeric = canonical in METRICS or canonical == "gpu"
    number: float | None = None
    pattern: re.Pattern[str] | None = None
    if op == "~=":
        if numeric:
            raise ParseError(f"'~=' needs a text field; {name!r} is a number", op_pos, text)
        try:
            pattern = re.compile(value, re.IGNORECASE)
        except re.error as exc:
            raise ParseError(f"bad regular expression: {exc.msg}", value_pos, text) from None
    elif numeric:
        number = parse_number(value)
        if number is None:
            raise ParseError(f"expected a number for {name!r}, found {value!r}", value_pos, text)
    elif op not in ("=", "!="):
        raise ParseError(
            f"{op!r} compares numbers; {name!r} is text: use = != or ~=", op_pos, text
        )
    return Clause(canonical, op, value, number, pattern, start), i


def _value(text: str, i: int) -> tuple[str, int, int]:
    """A quoted or bare value at `i`: (value, its position, the index after it)."""
    if i >= len(text):
        raise ParseError("expected a value at the end of the query", i, text)
    if text[i] in "\"'":
        quote = text[i]
        end = text.find(quote, i + 1)
        if end < 0:
            raise ParseError(f"unclosed {quote} quote", i, text)
        return text[i + 1 : end], i, end + 1
    start = i
    while i < len(text) and not text[i].isspace() and text[i] != "&":
        i += 1
    value = text[start:i]
    if not value:
        raise ParseError(f"expected a value, found {text[start]!r}", start, text)
    if any(value.startswith(o) for o in OPERATORS):
        raise ParseError(f"unexpected operator in value {value!r}", start, text)
    return value, start, i


def metric_scope(name: str) -> Scope | None:
    """The scope of a canonical field that is a metric, else None."""
    m = METRICS.get(name)
    return m.scope if m else None


def field_names() -> list[str]:
    """Field names for completion: aliases, metrics and the text fields."""
    return sorted({*ALIASES, *METRICS, "host", "node", "status", "gpu", "label."})


def describe(clauses: Iterable[Clause]) -> str:
    """A normalised, printable rendering of clauses (for a status line)."""
    return " & ".join(f"{c.field}{c.op}{c.value}" for c in clauses)


def host_of(node: NodeState) -> str:
    """The host name a node reports (sampler hello, else registration), else its id."""
    if node.hello is not None:
        return node.hello.static.hostname or node.hello.host or node.node_id
    reg = node.registration or {}
    name = reg.get("hostname")
    return name if isinstance(name, str) and name else node.node_id


def _text_of(node: NodeState, name: str) -> str | None:
    if name == "host":
        return host_of(node)
    if name == "node":
        return node.node_id
    if name == "status":
        return node.status.value
    if name.startswith("label."):
        return node.labels.get(name[len("label."):])
    return None


class NodeSubject:
    """A node row: GPU metrics yield one value per GPU (any may match)."""

    __slots__ = ("node",)

    def __init__(self, node: NodeState) -> None:
        self.node = node

    def text(self, name: str) -> str | None:
        return _text_of(self.node, name)

    def numbers(self, metric: str) -> Sequence[float | None]:
        node = self.node
        gpus = node.gpu_indices()
        if metric == "gpu":
            return [float(i) for i in gpus]
        scope = metric_scope(metric)
        if scope is Scope.NODE:
            return [node.metrics.get((metric, None))]
        if scope is Scope.GPU:
            return [node.metrics.get((metric, i)) for i in gpus]
        return [v for (n, _), v in node.metrics.items() if n == metric]


class GpuSubject:
    """One GPU of a node (a row of the all-GPUs view)."""

    __slots__ = ("index", "node")

    def __init__(self, node: NodeState, index: int) -> None:
        self.node = node
        self.index = index

    def text(self, name: str) -> str | None:
        return _text_of(self.node, name)

    def numbers(self, metric: str) -> Sequence[float | None]:
        if metric == "gpu":
            return [float(self.index)]
        scope = metric_scope(metric)
        if scope is Scope.GPU:
            return [self.node.metrics.get((metric, self.index))]
        if scope is Scope.NODE:
            return [self.node.metrics.get((metric, None))]
        return [
            v for (n, _), v in self.node.metrics.items() if n == metric
        ]  # process metrics: any process of the node
