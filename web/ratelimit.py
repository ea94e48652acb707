"""Token buckets per key (a campaign's code): how the webhook refuses a flood with 429.

Unlike the SMTP bucket, which makes the sender wait its turn, this one never waits: a call over
the limit is refused at once with the number of seconds after which a token will be there, for
the Retry-After header. The clock is injectable so tests move time instead of waiting for it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """At most ``rate`` calls a second per key on average, with bursts up to ``burst``."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, not {rate}, {burst}")
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> int | None:
        """Take a token for ``key``: None when allowed, else whole seconds to wait (>= 1)."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            # Bounded by the number of campaigns with a valid signature: no growth from strangers.
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))
