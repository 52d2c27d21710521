"""What a history is made of: immutable chunks of rows, coarse points, and the layout that
says which column each key has. Nothing here is written again once made (the layout is
copied before a change while a copy of its history shares it), so copies share them."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import NamedTuple

Key = tuple[str, "int | str | None"]
NAN = float("nan")
CHUNK = 32  # rows a chunk holds without a coarse tier (with one: a bucket's rows)
MERGE_ROWS = 48  # sealed chunks are merged into one once they hold this many rows together
MERGE_COARSE = 8  # coarse points are merged into runs of this many
_NANS = array("f", [NAN]) * 4096


Picker = Callable[[list[float | None]], Sequence[float | None]]


def picker(at: list[int]) -> Picker:
    """What picks the values at positions `at` out of a list, as a sequence (in C)."""
    if not at:
        return lambda values: ()
    if len(at) == 1:
        only = at[0]
        return lambda values: (values[only],)
    return itemgetter(*at)


def nans(n: int) -> array:
    """`n` gaps (a slice of a shared array: no loop)."""
    return _NANS[:n] if n <= len(_NANS) else array("f", [NAN]) * n


class Chunk(NamedTuple):
    """Sealed points: `flat` holds `len(times)` rows of `width` values, row after row; column
    `slots[key]` (when below `width`) is that key's series. Chunks of one `epoch` (the layout's
    columns were not renumbered in between) can be merged. A run of coarse points is a chunk
    whose `flat` holds each bucket's means and `peak` its maxima (None for fine points)."""

    times: array
    flat: array
    width: int
    slots: dict[Key, int]
    epoch: int
    merged: bool
    peak: array | None = None


def merge(chunks: list[Chunk], skip: int, rows: int) -> None:
    """Merge the newest run of small chunks of `chunks` (one epoch, not the oldest while
    `skip` of its rows are dropped) into one once it holds `rows` rows, in place, so a read
    slices a few chunks, not one per bucket. The small ones stay as they are for the copies
    that share them; the merged chunk is new."""
    last = chunks[-1]
    run, held = 0, 0
    for c in reversed(chunks):
        if c.merged or c.epoch != last.epoch or (c is chunks[0] and skip):
            break
        run += 1
        held += len(c.times)
    if run < 2 or held < rows:
        return
    part = chunks[-run:]
    width = last.width
    times, flat = array("d"), array("f")
    peak = None if last.peak is None else array("f")
    for c in part:
        times.extend(c.times)
        for src, dst in ((c.flat, flat), (c.peak, peak)):
            if dst is None or src is None:
                continue
            if c.width == width:
                dst.extend(src)
                continue
            pad = nans(width - c.width)
            for i in range(len(c.times)):
                dst.extend(src[i * c.width:(i + 1) * c.width])
                dst.extend(pad)
    # Slices are allocated at their size: the arrays grown above hold up to an eighth more.
    chunks[-run:] = [Chunk(times[:], flat[:], width, last.slots, last.epoch, True,
                           None if peak is None else peak[:])]


class Layout:
    """Which column each key has (columns in the order keys first had a value), the keys seen
    and not taken (the history's ``accept`` refused them), the keys taken that had no value yet
    (a series starts at a value), and the forgotten ones. Shared by copies until one of them
    changes it."""

    __slots__ = ("dead", "epoch", "ignored", "order", "reborn", "slots", "waiting")

    def __init__(self, epoch: int = 0) -> None:
        self.epoch = epoch  # bumped when columns are renumbered
        self.slots: dict[Key, int] = {}
        self.order: list[Key] = []  # keys by column
        self.ignored: set[Key] = set()
        self.waiting: set[Key] = set()
        self.dead: set[Key] = set()  # forgotten: their columns are no longer theirs
        # keys whose older points (in older columns) are not theirs: forgotten keys that came
        # back, and keys new after the columns were renumbered: since when
        self.reborn: dict[Key, float] = {}

    def live(self, key: Key) -> bool:
        return key in self.slots and key not in self.dead

    def live_keys(self) -> list[Key]:
        """Keys with a series now, in the order they first had a value."""
        if not self.dead:
            return list(self.order)
        return [k for k in self.order if k not in self.dead]

    def new_keys(self, values: dict[Key, float | None]) -> set[Key]:
        """Keys of `values` never seen (or forgotten), in C set operations."""
        new = values.keys() - self.slots.keys()
        if new and self.ignored:
            new -= self.ignored
        if self.dead:
            new |= values.keys() & self.dead
        if new and self.waiting:  # looked at each point until they have a value
            new -= self.waiting
        return new

    def copy(self) -> Layout:
        new = Layout(self.epoch)
        new.slots, new.order = dict(self.slots), list(self.order)
        new.ignored, new.waiting = set(self.ignored), set(self.waiting)
        new.dead, new.reborn = set(self.dead), dict(self.reborn)
        return new

    def compact(self) -> Layout:
        """The same live keys in fresh columns (the columns of forgotten keys dropped)."""
        new = Layout(self.epoch + 1)
        new.order = self.live_keys()
        new.slots = {k: i for i, k in enumerate(new.order)}
        new.ignored, new.waiting, new.reborn = set(self.ignored), set(self.waiting), dict(
            self.reborn)
        return new
