"""Z-score rules: a value against a sliding window of its own history (time buckets).

Per-GPU (and per-node) values of one node share one bucket ring (:class:`Block`); each process
(and each inference service) gets its own :class:`Window`, since they come and go. A rule's
state per node (the block, or the node's process windows) is kept in ``Compiled.per_node``.
The baseline is the completed buckets, recomputed only when a bucket completes; most ticks
every value is inside its band and the whole fleet is checked in C.
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate, chain, compress, count, repeat
from typing import Any

from autoglm_tui.analysis.alerts import fields
from autoglm_tui.analysis.alerts.core import (
    CHUNK_BITS,
    Compiled,
    EngineCore,
    Frames,
    labels_match,
)
from autoglm_tui.analysis.alerts.frame import Frame, Value
from autoglm_tui.analysis.alerts.kind import Checks, RuleKind
from autoglm_tui.analysis.alerts.rule import Rule, format_duration, format_number
from autoglm_tui.analysis.alerts.windows import GOLDEN, Block, Window, z_exceeds
from autoglm_tui.metrics import Scope

_SUBJECTS = operator.attrgetter("subjects")  # Block fields, read in C over many blocks
_START = operator.attrgetter("start")
_END = operator.attrgetter("end")
_COLS = operator.attrgetter("cols")
_STARTS = operator.attrgetter("starts")
_HI = operator.attrgetter("hi")
_LO = operator.attrgetter("lo")


class ZscoreKind(RuleKind):
    name = "zscore"
    keys = frozenset(
        {"metric", "window", "z", "min_samples", "min_std", "direction", "scope", "agg",
         "min_requests"}
    )

    def parse(self, raw: dict[str, object], checks: Checks, kw: dict[str, Any]) -> None:
        kw["metric"] = fields.metric(raw, checks)
        fields.deviation(raw, checks, kw)
        fields.window(raw, checks, kw)
        ms = raw.get("min_samples", 10)
        if not fields.is_int(ms) or ms < 2:  # type: ignore[operator]
            checks.bad("min_samples", "'min_samples' must be a whole number, 2 or more")
        kw["min_samples"] = ms

    def describe(self, rule: Rule) -> str:
        what = (f"|z| of {rule.metric} over {format_duration(rule.window_s)} > "
                f"{format_number(rule.z)}")
        if rule.direction != "both":
            what += f" ({rule.direction})"
        return what

    def default_summary(self, rule: Rule) -> str:
        return "{metric} on {target} is {value} (z={z:.1f} against mean {mean})"

    def evaluate(self, engine: EngineCore, rules: list[Compiled], frames: Frames) -> None:
        if len(frames.live):
            _zscore_rules(engine, rules, frames.live)


def _zscore_rules(engine: EngineCore, rules: list[Compiled], f: Frame) -> None:
    """All z-score rules, a chunk of 16 nodes at a time (so new windows take their bucket
    phases in the same order as ever: by chunk, then rule, then node)."""
    prepared = [(c, *c.column(f), c.subjects(f)) for c in rules]
    n = len(f)
    if len(prepared) == 1:
        bounds = [(0, n)]
    else:
        pos = f.pos
        starts = [0, *(i for i in range(1, n)
                       if pos[i] >> CHUNK_BITS != pos[i - 1] >> CHUNK_BITS)]
        bounds = list(zip(starts, [*starts[1:], n], strict=True))
    for lo, hi in bounds:
        for c, col, off, subjects in prepared:
            if c.metric_scope in (Scope.PROC, Scope.SERVICE) and not c.aggregate:
                _zscore_procs(engine, c, f, range(lo, hi), col, off or [], subjects)
            else:
                _zscore_block(engine, c, f, range(lo, hi), col, off, subjects)


def _zscore_block(
    engine: EngineCore, c: Compiled, f: Frame, span: range, col: list[Value],
    off: list[int] | None, subjects: Sequence[Sequence[Any]],
) -> None:
    """Feed nodes `span` of `f` into their windows, then score the values outside their
    bands and those of nodes with an alert. Apart from new windows and rolls (a bucket
    ends), every step runs in C over all the nodes at once."""
    rule = c.rule
    blocks, match = c.per_node, c.match
    starts: Sequence[int] = range(len(f)) if off is None else off
    if match:
        seen = [i for i in span if labels_match(f.nodes[i], match)]
        if not seen:
            return
        ids: Sequence[str] = [f.ids[i] for i in seen]
        ats: Sequence[float] = [f.ats[i] for i in seen]
        subs = [subjects[i] for i in seen]
    else:
        seen = list(span)
        ids, ats, subs = f.ids[span.start:span.stop], f.ats[span.start:span.stop], \
            subjects[span.start:span.stop]
    blks: list[Block] = list(map(blocks.get, ids))
    try:
        fresh = any(map(operator.is_not, map(_SUBJECTS, blks), subs))
    except AttributeError:  # a node without a window yet
        fresh = True
    if fresh:  # new windows, in node order (each takes the next bucket phase)
        for j, (nid, sub) in enumerate(zip(ids, subs, strict=True)):
            blk = blks[j]
            if blk is None or blk.subjects is not sub:
                if blk is None or tuple(blk.subjects) != tuple(sub):
                    engine.phase = (engine.phase + GOLDEN) % 1.0
                    blk = Block(tuple(sub), rule.window_s, rule,
                                engine.phase * rule.window_s)
                blocks[nid] = blk
                blk.subjects = sub  # type: ignore[assignment]
                blks[j] = blk
    # Roll the windows whose bucket does not hold the sample's time, then add each row.
    for j in compress(count(), map(operator.or_, map(operator.gt, map(_START, blks), ats),
                                   map(operator.le, map(_END, blks), ats))):
        blks[j].roll(ats[j])
    firsts = [starts[i] for i in seen] if match else starts[span.start:span.stop]
    any(map(list.append, map(_COLS, blks), repeat(col)))  # Block.add, in C
    any(map(list.append, map(_STARTS, blks), firsts))
    # Values outside their bands, in C over every node fed (the common case: none).
    if off is None:
        fed = [col[i] for i in seen] if match else col[span.start:span.stop]
    elif match:
        slices = c.side(f).slices()
        fed = list(chain.from_iterable(map(col.__getitem__, map(slices.__getitem__, seen))))
    else:
        fed = col[off[span.start]:off[span.stop]]
    try:
        his = list(chain.from_iterable(map(_HI, blks)))
        los = list(chain.from_iterable(map(_LO, blks)))
        if any(map(operator.gt, fed, his)) or any(map(operator.lt, fed, los)):
            flat = [j for j, (v, hi, lo) in enumerate(zip(fed, his, los, strict=True))
                    if v > hi or v < lo]
            width = list(accumulate(map(len, subs), initial=0))
            out = {bisect_right(width, j) - 1 for j in flat}
        else:
            out = set()
    except TypeError:  # an unknown value: every node looks one by one
        out = set(range(len(seen)))
    if c.active:
        out.update(j for j, nid in enumerate(ids) if nid in c.active)
    for j in sorted(out):
        i = seen[j]
        _zscore_node(engine, c, f, i, blks[j], col, starts[i], subjects)


def _zscore_node(
    engine: EngineCore, c: Compiled, f: Frame, i: int, blk: Block, col: list[Value], a: int,
    subjects: Sequence[Sequence[Any]],
) -> None:
    """Score node i's values against its bands (its row is ``col[a:...]``)."""
    rule = c.rule
    subs = subjects[i]
    vals = col[a:a + len(subs)]
    act = c.active.get(f.ids[i])
    engine.key = (f.pos[i] >> CHUNK_BITS, c.idx, f.pos[i])
    for j, (s, v) in enumerate(zip(subs, vals, strict=True)):
        if v is None:
            continue  # no data
        hold = v > blk.hi[j] or v < blk.lo[j]
        if hold or (act and s in act):
            if not hold and blk.n[j] < rule.min_samples:
                continue  # no baseline (e.g. an alert restored after a restart): no data
            mean, std = blk.mean[j], blk.std[j]
            sd = std if std > rule.min_std else rule.min_std
            z = (v - mean) / sd if sd > 0 and blk.n[j] else None
            engine.step(c, f.nodes[i], s, f.ats[i],
                        (hold, v, {"z": z, "mean": mean, "std": std}))


def _zscore_procs(
    engine: EngineCore, c: Compiled, f: Frame, span: range, col: list[Value], off: list[int],
    subjects: Sequence[Sequence[Any]],
) -> None:
    """Per-process (per-service) z-scores: they come and go, so each has its own window."""
    rule = c.rule
    window_s = rule.window_s
    limit, min_n, min_std, direction = rule.z, rule.min_samples, rule.min_std, rule.direction
    step = engine.step
    match = c.match
    for i in span:
        node = f.nodes[i]
        if match and not labels_match(node, match):
            continue
        nid, at, pids, vals = f.ids[i], f.ats[i], subjects[i], col[off[i]:off[i + 1]]
        engine.key = (f.pos[i] >> CHUNK_BITS, c.idx, f.pos[i])
        act = c.active.get(nid)
        wins = c.per_node.get(nid)
        if wins is None:
            wins = c.per_node[nid] = {}
        for s, v in zip(pids, vals, strict=True):
            if v is None:
                continue
            w = wins.get(s)
            if w is None:
                engine.phase = (engine.phase + GOLDEN) % 1.0
                w = wins[s] = Window(window_s, phase=engine.phase * window_s)
            if w.push(at, v) < min_n:
                continue  # not enough history yet: no data
            mean, std = w.mean, w.std
            sd = std if std > min_std else min_std
            if sd > 0:
                z = (v - mean) / sd
                hold = z_exceeds(z, limit, direction)
                if hold or (act and s in act):
                    step(c, node, s, at, (hold, v, {"z": z, "mean": mean, "std": std}))
            elif act and s in act:
                step(c, node, s, at, (False, v, {"z": None, "mean": mean, "std": std}))
        if len(wins) > len(pids):
            live = set(pids)
            for s in [s for s in wins if s not in live]:
                del wins[s]
        if act:
            engine.gone(c, node, at, pids)
