"""A node's GPU figures summed over its GPUs when its sample is folded in (pure).

The fleet summary sums a few GPU metrics over every GPU of the fleet once a second. Read then,
each of 8,192 values sits in one of 1,024 dicts long out of the CPU's caches (about 25 ms at
1,024 nodes). Summed while the sample is folded in, the values are still at hand (a few
microseconds a sample), and the summary adds up one small tuple per node.
"""

from __future__ import annotations

import operator
from functools import lru_cache, partial
from typing import NamedTuple

from autoglm_tui.analysis.history import Key

ROLLUP_METRICS = ("gpu.util_pct", "gpu.mem_used_bytes", "gpu.mem_total_bytes")
_KNOWN = partial(operator.is_not, None)


class Rollup(NamedTuple):
    """One metric over a node's GPUs: the sum and count of the known values, and the peak
    (-inf when none is known)."""

    sum: float
    count: int
    peak: float


@lru_cache(maxsize=1024)
def _keys(indices: tuple[int, ...]) -> tuple[tuple[Key, ...], ...]:
    return tuple(tuple((m, i) for i in indices) for m in ROLLUP_METRICS)


def gpu_rollups(values: dict[Key, float | None], indices: tuple[int, ...]) -> tuple[Rollup, ...]:
    """Per metric of ROLLUP_METRICS (in that order), its Rollup over the GPUs `indices`."""
    out = []
    get = values.get
    for keys in _keys(indices):
        known = list(filter(_KNOWN, map(get, keys)))
        out.append(Rollup(sum(known), len(known), max(known)) if known
                   else Rollup(0.0, 0, float("-inf")))
    return tuple(out)
