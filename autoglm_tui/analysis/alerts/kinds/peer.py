"""Peer rules: a value against its peers, leaving the value itself out (leave-one-out z).

Peers are the GPUs (or processes) of one node (``group = "node"``), or the members of a label
group or the whole fleet (``group = "label:NAME"`` / ``"fleet"``), gathered from every UP node
and scored once all nodes are in. Only the extremes of a group and the members that already
have an alert are scored: the value farthest from the group's mean has the largest |z|.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from functools import partial
from itertools import chain, compress, count, repeat
from typing import Any

from autoglm_tui import metrics
from autoglm_tui.analysis.alerts import fields
from autoglm_tui.analysis.alerts.core import (
    CHUNK_BITS,
    LAST,
    Compiled,
    EngineCore,
    Frames,
    labels_match,
)
from autoglm_tui.analysis.alerts.frame import NODE_SUBJECTS, Frame, Value
from autoglm_tui.analysis.alerts.kind import Checks, RuleKind
from autoglm_tui.analysis.alerts.rule import Rule, format_number
from autoglm_tui.analysis.alerts.windows import z_exceeds, zscore
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.metrics import Scope

_IS_KNOWN = partial(operator.is_not, None)
_PEER_EPS = 1e-12  # relative slack of the peer screen against rounding in the exact test
# A label or fleet peer group: its members' nodes, subjects, values and sample times.
Group = tuple[list[NodeState], list["int | None"], list[float], list[float]]


class PeerKind(RuleKind):
    name = "peer"
    keys = frozenset({"metric", "z", "min_peers", "min_std", "direction", "group",
                      "min_requests"})

    def parse(self, raw: dict[str, object], checks: Checks, kw: dict[str, Any]) -> None:
        metric = kw["metric"] = fields.metric(raw, checks)
        fields.deviation(raw, checks, kw)
        mp = raw.get("min_peers", 3)
        if not fields.is_int(mp) or mp < 2:  # type: ignore[operator]
            checks.bad("min_peers", "'min_peers' must be a whole number, 2 or more")
        kw["min_samples"] = mp
        group = raw.get("group", "node")
        if not isinstance(group, str) or not (
            group in ("node", "fleet")
            or (group.startswith("label:") and fields.LABEL_RE.match(group[6:]))
        ):
            checks.bad("group", "'group' must be \"node\", \"fleet\" or \"label:NAME\"")
        elif group == "node" and metric and metrics.scope_of(metric) == Scope.NODE:
            checks.bad("group", "group \"node\" compares the GPUs or processes of one node; "
                       "a node metric needs \"fleet\" or \"label:NAME\"")
        kw["group"] = group

    def describe(self, rule: Rule) -> str:
        return f"{rule.metric} deviates from peers ({rule.group}) by z > {format_number(rule.z)}"

    def default_summary(self, rule: Rule) -> str:
        return "{metric} on {target} is {value}, peers average {mean} (z={z:.1f})"

    def prepare(self, compiled: Compiled) -> None:
        # On a node whose values span less than z * min_std no member can be more than z
        # deviations from the others (0: no such shortcut).
        compiled.limit = compiled.rule.z * compiled.rule.min_std

    def evaluate(self, engine: EngineCore, rules: list[Compiled], frames: Frames) -> None:
        groups: list[tuple[Compiled, dict[str, Group]]] = []
        for c in rules:
            if c.rule.group == "node":
                _peer_nodes(engine, c, frames.live)
            else:
                by_group: dict[str, Group] = {}
                _peer_gather(c, frames.live, frames.unchanged, by_group)
                groups.append((c, by_group))
        engine.key = LAST
        for c, by_group in groups:
            for group in by_group.values():
                _peer_group(engine, c, *group)


def _peer_nodes(engine: EngineCore, c: Compiled, f: Frame) -> None:
    """Peers within each node (its GPUs or processes), on the nodes with a new sample."""
    if not len(f):
        return
    rule = c.rule
    col, off = c.column(f)
    if off is not None and c.limit > 0:
        found: Iterable[int] = peer_screen(col, c.side(f).slices(),
                                            c.limit)
    else:
        found = range(len(f))
    for i in engine.candidates(c, f, found):
        nid = f.ids[i]
        if off is None:
            subs, vals = NODE_SUBJECTS, [col[i]]
        else:
            subs, vals = c.side(f).subject(i), col[off[i]:off[i + 1]]
        if nid not in c.active and not peer_may_fire(rule, vals):
            continue
        node, at = f.nodes[i], f.ats[i]
        known_subs, known = subs, vals
        if None in vals:
            known_subs = [s for s, v in zip(subs, vals, strict=True) if v is not None]
            known = [v for v in vals if v is not None]
        engine.key = (f.pos[i] >> CHUNK_BITS, c.idx, f.pos[i])
        _peer_group(engine, c, [node] * len(known), known_subs, known, [at] * len(known))
        if c.metric_scope in (Scope.PROC, Scope.SERVICE) and nid in c.active:
            engine.gone(c, node, at, subs)


def _peer_gather(c: Compiled, live: Frame, unchanged: Frame, by_group: dict[str, Group]) -> None:
    """Gather label or fleet groups from every UP node (new sample or not), in fleet order;
    they are scored once all nodes are in."""
    rule = c.rule
    label = rule.group[6:] if rule.group.startswith("label:") else None
    match = c.match
    parts = [f for f in (live, unchanged) if len(f)]
    if not parts:
        return
    entries: Iterable[tuple[int, int, int]]
    if len(parts) == 1:
        entries = zip(parts[0].pos, repeat(0), range(len(parts[0])))
    else:
        entries = sorted(chain(*(zip(f.pos, repeat(j), range(len(f)))
                                 for j, f in enumerate(parts))))
    columns = [(c.column(f), c.subjects(f)) for f in parts]
    for _, j, i in entries:
        f = parts[j]
        node = f.nodes[i]
        if match and not labels_match(node, match):
            continue
        if label is not None:
            key = node.labels.get(label)
            if key is None:
                continue
        else:
            key = ""
        group = by_group.get(key)
        if group is None:
            group = by_group[key] = ([], [], [], [])
        (col, off), subjects = columns[j]
        at = f.ats[i]
        if off is None:
            v = col[i]
            if v is not None:
                group[0].append(node)
                group[1].append(None)
                group[2].append(v)
                group[3].append(at)
            continue
        for s, v in zip(subjects[i], col[off[i]:off[i + 1]], strict=True):
            if v is not None:
                group[0].append(node)
                group[1].append(s)
                group[2].append(v)
                group[3].append(at)

def peer_may_fire(rule: Rule, vals: list[float | None]) -> bool:
    """Cheap test on one node's values: could the most extreme one exceed `z`?"""
    known = list(filter(_IS_KNOWN, vals))
    n = len(known)
    if n - 1 < rule.min_samples:
        return False
    k = known[0]
    total = sum(known) - n * k
    total_sq = sum([(x - k) * (x - k) for x in known])
    others = n - 1
    for x in ((max(known),) if rule.direction == "above" else (min(known),)
              if rule.direction == "below" else (max(known), min(known))):
        x -= k
        mean = (total - x) / others
        var = (total_sq - x * x) / others - mean * mean
        std = math.sqrt(var) if var > 0 else 0.0
        if z_exceeds(zscore(x, mean, std, rule.min_std), rule.z, rule.direction):
            return True
    return False


def _peer_group(
    engine: EngineCore, c: Compiled, nodes: list[NodeState], subjects: Sequence[int | None],
    vals: list[float], ats: list[float],
) -> None:
    """Leave-one-out z of each member (``nodes[j]``, ``subjects[j]``, ``vals[j]`` seen at
    ``ats[j]``) against the rest; only extremes and active alerts are scored (the value
    farthest from the group's mean has the largest |z|)."""
    rule = c.rule
    n = len(vals)
    if n - 1 < rule.min_samples:
        return  # too few peers: no data
    k = vals[0]
    xs = list(map(operator.sub, vals, repeat(k)))
    total = sum(xs)
    total_sq = sum(map(operator.mul, xs, xs))
    candidates = set()
    if rule.direction in ("both", "above"):
        candidates.add(xs.index(max(xs)))  # the first of the largest
    if rule.direction in ("both", "below"):
        candidates.add(xs.index(min(xs)))
    if c.active:
        for j, (node, s) in enumerate(zip(nodes, subjects, strict=True)):
            act = c.active.get(node.node_id)
            if act and s in act:
                candidates.add(j)
    others = n - 1
    for j in sorted(candidates):
        node, s, v, at = nodes[j], subjects[j], vals[j], ats[j]
        x = xs[j]
        mean = (total - x) / others
        var = (total_sq - x * x) / others - mean * mean
        std = math.sqrt(var) if var > 0 else 0.0
        z = zscore(x, mean, std, rule.min_std)
        hold = z_exceeds(z, rule.z, rule.direction)
        act = c.active.get(node.node_id)
        if hold or (act and s in act):
            engine.step(c, node, s, at, (hold, v, {"z": z, "mean": mean + k, "std": std}))


def peer_screen(col: list[Value], slices: list[slice], limit: float) -> list[int]:
    """Nodes (ascending) whose values (``col[slices[i]]``) span at least `limit` =
    z * min_std, less a slack for rounding: on the others no member's leave-one-out |z| can
    exceed z."""
    try:  # in C while every node has members and no unknown value
        rows = list(map(col.__getitem__, slices))
        his = list(map(max, rows))
        los = list(map(min, rows))
        spans = list(map(operator.sub, his, los))
        if not math.isfinite(sum(spans)):
            raise ValueError("not finite")
    except (TypeError, ValueError):
        return [i for i, x in enumerate(slices) if span_may_reach(col[x], limit)]
    big = max(max(map(abs, his)), max(map(abs, los)))
    width = max(map(len, rows))
    cut = limit - _PEER_EPS * (limit + 2 * width * big)
    return list(compress(count(), map(operator.ge, spans, repeat(cut))))


def span_may_reach(row: list[Value], limit: float) -> bool:
    """One node's version of :func:`_peer_screen` (unknown values left out)."""
    known = [v for v in row if v is not None]
    if len(known) < 2:
        return False  # a lone value has no peers
    hi, lo = max(known), min(known)
    cut = limit - _PEER_EPS * (limit + 2 * len(known) * max(abs(hi), abs(lo)))
    return not hi - lo < cut  # NaN: let the exact test decide
