"""Option types the commands share (argparse ``type=`` callables)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from autoglm_tui.format import parse_duration


def duration(low: float, high: float, bounds: str, *, above_low: bool = False
             ) -> Callable[[str], float]:
    """A duration option ("30s", "5m", "1h30m", or seconds) from `low` to `high` seconds
    (`above_low`: more than `low`); out of range, the error says `bounds`."""

    def parse(text: str) -> float:
        try:
            value = parse_duration(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if not (low < value if above_low else low <= value) or not value <= high:
            raise argparse.ArgumentTypeError(bounds)
        return value

    return parse


UP_TO_AN_HOUR = duration(0, 3600, "must be 0 to 1 hour")
MORE_THAN_ZERO = duration(0, math.inf, "must be more than 0", above_low=True)
