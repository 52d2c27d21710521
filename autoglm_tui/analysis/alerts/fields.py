"""Checks for the values of a ``[[rule]]`` table, shared by the parser and the kinds (pure).

Each returns the value or the reason it is not usable, so the caller can put the reason on
the key's line.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from typing import Any

from autoglm_tui import metrics
from autoglm_tui.analysis.alerts.kind import Checks
from autoglm_tui.analysis.alerts.rule import DIRECTIONS, OPS
from autoglm_tui.format import parse_duration

LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DURATION_HINT = "must be a duration such as \"30s\" or \"3m\""


def duration(value: object) -> float | str:
    """Seconds, or the reason the value is not a duration."""
    if isinstance(value, bool):
        return DURATION_HINT
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            return str(exc)
    else:
        return DURATION_HINT
    if not math.isfinite(seconds) or seconds < 0:
        return "must be 0 or more"
    return seconds


def number(value: object) -> float | None:
    """A finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def string_table(value: object) -> tuple[tuple[str, str], ...] | str:
    """A TOML table of strings as sorted pairs, or the reason it is not one."""
    if not isinstance(value, dict):
        return "must be a table such as { team = \"infra\" }"
    out = []
    for k, v in value.items():
        if not isinstance(v, str):
            return f"value of {k!r} must be a string"
        out.append((k, v))
    return tuple(sorted(out))


def suggest(word: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def metric(raw: dict[str, object], checks: Checks) -> str | None:
    """The table's `metric`, a known metric name; None (and a reported problem) otherwise."""
    name = raw.get("metric")
    if name is None:
        checks.missing("missing 'metric' (e.g. \"gpu.util_pct\")")
        return None
    if not isinstance(name, str) or name not in metrics.METRICS:
        checks.bad("metric", f"unknown metric {name!r}" + suggest(str(name), metrics.METRICS))
        return None
    return name


def deviation(raw: dict[str, object], checks: Checks, kw: dict[str, Any]) -> None:
    """`z`, `min_std` and `direction`: shared by z-score and peer rules."""
    z = number(raw.get("z", 3.0))
    if z is None or z <= 0:
        checks.bad("z", "'z' must be a number above 0")
    kw["z"] = z
    min_std = number(raw.get("min_std", 0.0))
    if min_std is None or min_std < 0:
        checks.bad("min_std", "'min_std' must be a number, 0 or more")
    kw["min_std"] = min_std
    direction = raw.get("direction", "both")
    if direction not in DIRECTIONS:
        checks.bad("direction", f"'direction' must be one of {', '.join(DIRECTIONS)}")
    kw["direction"] = direction


def comparison(raw: dict[str, object], checks: Checks, kw: dict[str, Any]) -> None:
    """`op` (default ">") and `threshold` (required): shared by threshold and trend rules."""
    op = raw.get("op", ">")
    if op not in OPS:
        checks.bad("op", f"bad op {op!r}; one of {' '.join(OPS)}")
    kw["op"] = op
    if "threshold" not in raw:
        checks.missing("missing 'threshold' (a number)")
    else:
        th = number(raw["threshold"])
        if th is None:
            checks.bad("threshold", f"'threshold' must be a number, not {raw['threshold']!r}")
        kw["threshold"] = th


def window(raw: dict[str, object], checks: Checks, kw: dict[str, Any]) -> None:
    """`window`, a duration above 0, into ``kw["window_s"]`` when given."""
    if "window" in raw:
        w = duration(raw["window"])
        if isinstance(w, str) or w <= 0:
            checks.bad("window", f"'window': {w if isinstance(w, str) else 'must be above 0'}")
        else:
            kw["window_s"] = w
