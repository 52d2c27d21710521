"""Metric history in two tiers, with gaps kept (pure: no clocks, no I/O).

One :class:`NodeHistory` per node (or per part of a node, see below) shares a time axis across
all of its series and stores values as 32-bit floats with NaN for "no data". A key is
``(metric_name, subject)`` where subject is ``None`` for node metrics, the GPU index for GPU
metrics, the pid for process metrics and the service id for service metrics.

Two tiers keep 15 minutes of a 256-node fleet small:

* the **fine** tier holds the newest ``capacity`` points at full resolution;
* the optional **coarse** tier holds ``buckets`` consolidated points. When the fine tier is
  full, its oldest points that share one ``bucket_s``-wide time bucket (edges at multiples of
  ``bucket_s``) leave it together and become one coarse point holding their mean and their max
  (so a spike is not lost). A coarse point stands at the time of the first point it holds.
  Its value is a gap (None) only when none of its points had a value; a bucket in which no
  point arrived at all (the node was silent) makes no coarse point, as in the fine tier.

Readers see one series, oldest first: coarse points, then fine points. ``points(..., peak=True)``
gives the coarse points' max instead of their mean (fine points are the same either way).
Without a coarse tier (``buckets=0``) the oldest point is simply dropped when the tier is full.

A ``NodeHistory`` may take only some keys (``accept``); :class:`SplitHistory` puts a node's keys
in several of them, each with its own tiers (a node's processes keep a shorter fine tier than its
GPUs), behind the same reading interface.

Storage is made for cheap copies (a replay keeps a copy every few seconds, store.py): a point
is one row of 32-bit values (one column per key, in the order keys first had a value), and the
rows of one time bucket are sealed into one immutable chunk when the next bucket starts. Rows,
chunks and coarse points are never written again, so ``clone()`` copies a few lists of
references, not the data, and a copy costs memory only for what is new after it.
"""

from autoglm_tui.analysis.history.node import NodeHistory
from autoglm_tui.analysis.history.split import History, SplitHistory, backfilled
from autoglm_tui.analysis.history.store import CHUNK, NAN, Key, Picker, picker

__all__ = ["CHUNK", "NAN", "History", "Key", "NodeHistory", "Picker", "SplitHistory",
           "backfilled", "picker"]
