"""A node's GPU figures summed over its GPUs when its sample is folded in (pure).

The fleet summary sums a few GPU metrics over every GPU of the fleet once a second. Read then,
each of 8,192 values sits in one of 1,024 samples long out of the CPU's caches (about 25 ms at
1,024 nodes). Summed while the sample is folded in, the values are still at hand (a few
microseconds a sample), and the summary adds up one small tuple per node. They are picked out
of the list of the sample's figures the fold reads anyway (analysis/derive.py, values_of).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from functools import partial

from autoglm_tui.analysis.history import Picker

# The GPU figures of the fleet summary (analysis/aggregate.py)
ROLLUP_METRICS = ("gpu.util_pct", "gpu.mem_used_bytes", "gpu.mem_total_bytes", "gpu.mem_used_pct",
                  "gpu.power_w", "gpu.temp_c")
KNOWN = partial(operator.is_not, None)  # what filter() keeps: the known values (not None)


# Values of one metric: the sum and count of the known ones, and the peak (-inf when none is
# known). A plain tuple: a sample makes six of them as it is folded in.
Rollup = tuple[float, int, float]


def rollup_of(values: Iterable[float | None]) -> Rollup:
    """The Rollup of `values`, unknown ones (None) left out (in C)."""
    known = values if type(values) in (tuple, list) else list(values)
    if None in known:
        known = list(filter(KNOWN, known))
    return (sum(known), len(known), max(known)) if known else _NONE  # type: ignore[arg-type]


def gpu_rollups(values: list[float | None], pickers: Sequence[Picker]) -> list[Rollup]:
    """Per metric of ROLLUP_METRICS (in that order), its Rollup over a sample's GPUs: `values`
    is the sample's list of GPU and process figures (derive.values_of), `pickers` what picks
    each metric's values out of it (derive.pickers_of with ROLLUP_METRICS)."""
    return [rollup_of(pick(values)) for pick in pickers]


_NONE: Rollup = (0.0, 0, -math.inf)  # no value known
