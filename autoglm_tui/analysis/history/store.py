"""What a history is made of: immutable chunks of rows, coarse points, and the layout that
says which column each key has. Nothing here is written again once made (the layout is
copied before a change while a copy of its history shares it), so copies share them."""

from __future__ import annotations

from array import array
from typing import NamedTuple

Key = tuple[str, "int | str | None"]
NAN = float("nan")
CHUNK = 32  # rows a chunk holds without a coarse tier (with one: a bucket's rows)
MERGE_ROWS = 48  # sealed chunks are merged into one once they hold this many rows together
_NANS = array("f", [NAN]) * 4096


def nans(n: int) -> array:
    """`n` gaps (a slice of a shared array: no loop)."""
    return _NANS[:n] if n <= len(_NANS) else array("f", [NAN]) * n


class Chunk(NamedTuple):
    """Sealed fine points: `flat` holds `len(times)` rows of `width` values, row after row;
    column `slots[key]` (when below `width`) is that key's series. Chunks of one `epoch` (the
    layout's columns were not renumbered in between) can be merged."""

    times: array
    flat: array
    width: int
    slots: dict[Key, int]
    epoch: int
    merged: bool


class Coarse(NamedTuple):
    """One coarse point: per column, the mean and the max of its bucket."""

    t: float
    slots: dict[Key, int]
    width: int
    mean: array
    peak: array


class Layout:
    """Which column each key has (columns in the order keys first had a value), the keys seen
    and not taken (the history's ``accept`` refused them), the keys taken that had no value yet
    (a series starts at a value), and the forgotten ones. Shared by copies until one of them
    changes it."""

    __slots__ = ("dead", "epoch", "ignored", "order", "reborn", "seen", "slots", "waiting")

    def __init__(self, epoch: int = 0) -> None:
        self.epoch = epoch  # bumped when columns are renumbered
        self.slots: dict[Key, int] = {}
        self.order: list[Key] = []  # keys by column
        self.ignored: set[Key] = set()
        self.waiting: set[Key] = set()
        self.seen: set[Key] = set()  # keys in slots, ignored or waiting: the others are new
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
        new = values.keys() - self.seen
        if self.dead:
            new |= values.keys() & self.dead
        return new

    def copy(self) -> Layout:
        new = Layout(self.epoch)
        new.slots, new.order = dict(self.slots), list(self.order)
        new.ignored, new.waiting, new.seen = set(self.ignored), set(self.waiting), set(self.seen)
        new.dead, new.reborn = set(self.dead), dict(self.reborn)
        return new

    def compact(self) -> Layout:
        """The same live keys in fresh columns (the columns of forgotten keys dropped)."""
        new = Layout(self.epoch + 1)
        new.order = self.live_keys()
        new.slots = {k: i for i, k in enumerate(new.order)}
        new.ignored, new.waiting, new.reborn = set(self.ignored), set(self.waiting), dict(
            self.reborn)
        new.seen = new.slots.keys() | new.ignored | new.waiting
        return new
