"""Capped exponential backoff with jitter, for every retry loop (SSH reconnects, etcd re-watch)."""

from __future__ import annotations

import random


class Backoff:
    """Delays base, 2*base, 4*base, ... up to `cap`, each spread by +/- `jitter` (a fraction)."""

    def __init__(
        self,
        base: float = 1.0,
        cap: float = 30.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        if base <= 0 or cap < base or not 0 <= jitter < 1:
            raise ValueError("need 0 < base <= cap and 0 <= jitter < 1")
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self.rng = rng or random.Random()
        self.attempt = 0

    def next(self) -> float:
        """The delay before the next try; each call doubles the next one, up to the cap."""
        delay = min(self.cap, self.base * (2 ** min(self.attempt, 62)))
        self.attempt += 1
        spread = delay * self.jitter
        return min(self.cap, max(0.0, delay + self.rng.uniform(-spread, spread)))

    def reset(self) -> None:
        """Back to `base` after a success."""
        self.attempt = 0
