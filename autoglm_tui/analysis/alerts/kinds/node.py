"""Node rules: the node's status is one of the listed ones (by default STALE, UNREACHABLE,
FAILED or INVALID; not LEFT: a graceful leave is no page). They watch every node at every
evaluation and measure `for` with ``now`` from when the node entered its status. A node that is
only CONNECTING (no sample yet) is no verdict either way unless the rule lists it: it neither
starts an alert nor clears one (a node that comes back clears its alert once it is UP)."""

from __future__ import annotations

from typing import Any

from autoglm_tui.analysis.alerts.core import CHUNK_BITS, Compiled, EngineCore, Frames, labels_match
from autoglm_tui.analysis.alerts.kind import Checks, RuleKind
from autoglm_tui.analysis.alerts.rule import NODE_RULE_DEFAULT, NOT_UP, Rule
from autoglm_tui.events import NodeStatus


class NodeStatusKind(RuleKind):
    name = "node"
    keys = frozenset({"statuses"})
    implied_by = "statuses"

    def parse(self, raw: dict[str, object], checks: Checks, kw: dict[str, Any]) -> None:
        raw_st = raw.get("statuses", [s.value for s in NODE_RULE_DEFAULT])
        found: list[NodeStatus] = []
        if not isinstance(raw_st, list) or not raw_st:
            checks.bad("statuses",
                       "'statuses' must be a list such as [\"STALE\", \"UNREACHABLE\"]")
        else:
            for s in raw_st:
                try:
                    status = NodeStatus(str(s).upper())
                except ValueError:
                    status = None
                if status is None or status == NodeStatus.UP:
                    checks.bad("statuses", f"bad status {s!r}; use "
                               + ", ".join(x.value for x in NOT_UP))
                else:
                    found.append(status)
        kw["statuses"] = tuple(found)

    def describe(self, rule: Rule) -> str:
        return "node status in " + "/".join(s.value for s in rule.statuses)

    def default_summary(self, rule: Rule) -> str:
        return "node {node} is {status}: {reason}"

    def evaluate(self, engine: EngineCore, rules: list[Compiled], frames: Frames) -> None:
        now = frames.now
        connecting = NodeStatus.CONNECTING
        for c in rules:
            statuses = c.rule.statuses
            match = c.match
            for pos, node in enumerate(frames.everyone):
                if match and not labels_match(node, match):
                    continue
                hold = node.status in statuses
                if not hold and node.status is connecting:
                    continue  # no verdict yet
                if hold or node.node_id in c.active:
                    detail = {"status": node.status.value, "reason": node.reason}
                    engine.key = (pos >> CHUNK_BITS, c.idx, pos)
                    engine.step(c, node, None, now, (hold, None, detail),
                                start=min(now, node.status_since))
