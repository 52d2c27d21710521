"""A node's GPU figures summed over its GPUs when its sample is folded in (pure).

The fleet summary sums a few GPU metrics over every GPU of the fleet once a second. Read then,
each of 8,192 values sits in one of 1,024 dicts long out of the CPU's caches (about 25 ms at
1,024 nodes). Summed while the sample is folded in, the values are still at hand (a few
microseconds a sample), and the summary adds up one small tuple per node.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from functools import partial
from typing import NamedTuple

from autoglm_tui.analysis.derive import gpu_keys
from autoglm_tui.analysis.history import Key

ROLLUP_METRICS = ("gpu.util_pct", "gpu.mem_used_bytes", "gpu.mem_total_bytes")
_KNOWN = partial(operator.is_not, None)


class Rollup(NamedTuple):
    """Values of one metric: the sum and count of the known ones, and the peak (-inf when
    none is known)."""

    sum: float
    count: int
    peak: float


def rollup_of(values: Iterable[float | None]) -> Rollup:
    """The Rollup of `values`, unknown ones (None) left out (in C)."""
    known = list(filter(_KNOWN, values))
    return Rollup(sum(known), len(known), max(known)) if known else Rollup(0.0, 0, -math.inf)


def gpu_rollups(values: dict[Key, float | None], indices: tuple[int, ...]) -> tuple[Rollup, ...]:
    """Per metric of ROLLUP_METRICS (in that order), its Rollup over the GPUs `indices`."""
    get = values.get
    return tuple(rollup_of(map(get, gpu_keys(m, indices))) for m in ROLLUP_METRICS)
