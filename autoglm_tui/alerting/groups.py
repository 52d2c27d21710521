"""Alerts grouped by rule and state, as Alertmanager groups notifications (pure).

A fleet where one rule holds on hundreds of GPUs is one line, not hundreds:
``gpu_util_high · 341 GPUs on 43 nodes · worst node-017 gpu3 97.0%``. A group is the alerts of
one rule in one state (firing, pending, recently resolved); firing groups come first, then
pending, then resolved, each by severity, then by size. The worst member is the one furthest
past the threshold in the rule's direction (highest value for ``>``, lowest for ``<``).

Which groups show their members is the viewer's choice: :func:`is_open` says so from the
viewer's set of toggled keys, with small firing groups open and the others closed by
default; :func:`visible` lists the lines to draw. No Textual here, and ``now`` is an argument.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import isnan
from operator import attrgetter
from typing import TYPE_CHECKING

from autoglm_tui import format as fmt
from autoglm_tui.analysis.alerts import Alert, AlertState
from autoglm_tui.analysis.alerts.kind import kind_of
from autoglm_tui.analysis.alerts.model import SEVERITY_RANK

if TYPE_CHECKING:
    from autoglm_tui.alerting.pipeline import AlertRow

STATE_RANK = {AlertState.FIRING: 0, AlertState.PENDING: 1, AlertState.RESOLVED: 2,
              AlertState.INACTIVE: 3}
LOW_IS_WORSE = ("<", "<=")

# What a group's members are, by the part of the target they name: (one, many).
SUBJECTS = {"gpu": ("GPU", "GPUs"), "pid": ("process", "processes"),
            "service": ("service", "services"), "group": ("group", "groups"),
            "node": ("node", "nodes"), "fleet": ("fleet alert", "fleet alerts")}


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """The alerts of one rule in one state, in target order (node, then GPU, process or
    service), so an open group does not reshuffle as values move."""

    key: str  # "<state>|<rule>": stable while the group exists
    rule: str
    state: AlertState
    severity: str
    rows: tuple[AlertRow, ...]
    worst: AlertRow  # furthest past the threshold
    nodes: int  # distinct nodes among the members
    subject: str  # "gpu", "pid", "service", "group", "node", "fleet" or "target" (mixed)
    since: float  # the oldest member's start (resolved groups: the newest end)
    age_s: float  # how long ago `since` was, as of `now`
    acked: int
    silenced: int

    @property
    def size(self) -> int:
        return len(self.rows)

    def what(self, with_nodes: bool = True) -> str:
        """'341 GPUs on 43 nodes', '3 nodes', '1 process on 1 node' (`with_nodes` False: no
        'on N nodes', for a view of one node)."""
        one, many = SUBJECTS.get(self.subject, ("target", "targets"))
        text = f"{self.size} {one if self.size == 1 else many}"
        if with_nodes and self.subject not in ("node", "fleet", "group") and self.nodes:
            text += f" on {self.nodes} node{'' if self.nodes == 1 else 's'}"
        return text

    def worst_text(self, with_node: bool = True) -> str:
        """'node-017 gpu3 97.0%': the worst member's target and value in its unit."""
        a = self.worst.alert
        target = str(a.target)
        if not with_node and a.target.node:
            target = target.removeprefix(a.target.node).strip() or target
        value = alert_value(a)
        return f"{target} {value}" if value != "-" else target

    def headline(self, with_nodes: bool = True) -> str:
        """'gpu_util_high · 341 GPUs on 43 nodes · worst node-017 gpu3 97.0%' (plain text; the
        caller cleans it before drawing)."""
        head = f"{self.rule} · {self.what(with_nodes)}"
        if self.size == 1:
            return f"{head} · {self.worst_text(with_nodes)}"
        return f"{head} · worst {self.worst_text(with_nodes)}"


def alert_value(alert: Alert) -> str:
    """The alert's newest value that held, in its rule's unit (97.0%, 5.2M/s); '-' if none."""
    value = alert.held_value if alert.held_value is not None else alert.value
    if value is None:
        return "-"
    return fmt.in_unit(value, kind_of(alert.rule.kind).value_unit(alert.rule))


def _badness(row: AlertRow) -> tuple[int, float]:
    """Sort key putting the worst member first: known values before unknown ones, then the
    furthest in the rule's direction."""
    a = row.alert
    v = a.held_value if a.held_value is not None else a.value
    if v is None or v != v:
        return (1, 0.0)
    return (0, v if a.rule.op in LOW_IS_WORSE else -v)


def _worst(members: list[AlertRow], alerts: list[Alert]) -> AlertRow:
    """The first member furthest past the threshold (min by _badness), found in C while
    every member's held value is known."""
    held = list(map(_HELD, alerts))
    if None in held or any(map(isnan, held)):
        return min(members, key=_badness)
    pick = min if alerts[0].rule.op in LOW_IS_WORSE else max  # one rule: one direction
    return members[held.index(pick(held))]


_ORDER = attrgetter("alert.target.order")
_ALERT = attrgetter("alert")
_HELD = attrgetter("held_value")
_KIND = attrgetter("target.kind")
_NODE = attrgetter("target.node")
_SINCE = attrgetter("active_since")
_ACKED = attrgetter("acked")
_SILENCE = attrgetter("silence")


def group_alerts(rows: Iterable[AlertRow], now: float) -> list[AlertGroup]:
    """The rows (``AlertPipeline.rows()``) as groups of one rule and one state: firing, then
    pending, then resolved; within each, by severity, then the largest first, then by name."""
    buckets: dict[tuple[AlertState, str], list[AlertRow]] = {}
    for row in rows:
        a = row.alert
        buckets.setdefault((a.state, a.rule.name), []).append(row)
    out = []
    for (state, rule), members in buckets.items():
        members.sort(key=_ORDER)
        alerts = list(map(_ALERT, members))
        subjects = set(map(_KIND, alerts))
        if state == AlertState.RESOLVED:
            since = max((a.resolved_at or a.last_true) for a in alerts)
        else:
            since = min(map(_SINCE, alerts))
        nodes = set(map(_NODE, alerts))
        nodes.discard("")  # group and fleet alerts have no node
        out.append(AlertGroup(
            key=f"{state.value}|{rule}",
            rule=rule,
            state=state,
            severity=alerts[0].severity,
            rows=tuple(members),
            worst=_worst(members, alerts),
            nodes=len(nodes),
            subject=subjects.pop() if len(subjects) == 1 else "target",
            since=since,
            age_s=max(0.0, now - since),
            acked=sum(map(_ACKED, members)),
            silenced=len(members) - list(map(_SILENCE, members)).count(None),
        ))
    out.sort(key=lambda g: (STATE_RANK.get(g.state, 9), SEVERITY_RANK.get(g.severity, 9),
                            -g.size, g.rule))
    return out


OPEN_FIRING_UP_TO = 10  # a larger firing group would push every other group off the screen


def open_by_default(group: AlertGroup) -> bool:
    """Firing groups of up to OPEN_FIRING_UP_TO alerts show them; larger ones, and pending and
    resolved groups, are one line until opened."""
    return group.state == AlertState.FIRING and group.size <= OPEN_FIRING_UP_TO


def is_open(group: AlertGroup, toggled: set[str] | frozenset[str]) -> bool:
    """Whether `group` shows its members, given the keys the viewer toggled from the default."""
    return open_by_default(group) != (group.key in toggled)


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a grouped list: a group's header, or one alert (a member of an open group,
    or the only member of a group, which needs no header)."""

    group: AlertGroup
    row: AlertRow | None = None  # None: the group's header

    @property
    def is_header(self) -> bool:
        return self.row is None


def visible(groups: Sequence[AlertGroup], toggled: set[str] | frozenset[str]) -> list[Line]:
    """The lines to draw: each group's header (a group of one: its alert instead), then its
    members when it is open."""
    out: list[Line] = []
    for g in groups:
        if g.size == 1:
            out.append(Line(g, g.rows[0]))
            continue
        out.append(Line(g))
        if is_open(g, toggled):
            out.extend(Line(g, r) for r in g.rows)
    return out
