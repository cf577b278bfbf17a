"""Request rate limits per API key: a token bucket for each key, in this process's memory.

A key may send `requests` requests at once; its allowance then refills steadily, `requests` per
`period_seconds`. Over it, a request is refused with TooManyRequests, which says when the next one
will be accepted and when the whole allowance is back. One bucket is kept per key that has called
(a few dozen bytes each; the keys of an installation are few), so the check is a dictionary lookup
and some arithmetic. Several `serve` processes would each allow the full rate.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable

from clickplane.kit.errors import TooManyRequests


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated


class RateLimiter:
    def __init__(self, requests: int, period_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if requests < 1 or period_seconds <= 0:
            raise ValueError("a rate limit needs at least 1 request in a period longer than 0 seconds")
        self.requests = requests
        self.period_seconds = period_seconds
        self.capacity = float(requests)
        self.refill_per_second = requests / period_seconds
        self.clock = clock
        # By the key's 128-bit value: an int hashes in C, where a UUID's __hash__ is a Python call.
        self._buckets: dict[int, _Bucket] = {}

    def take(self, key: uuid.UUID) -> None:
        """Count one request of `key`; raises TooManyRequests when its allowance is spent."""
        now = self.clock()
        bucket = self._buckets.get(key.int)
        if bucket is None:
            self._buckets[key.int] = _Bucket(self.capacity - 1.0, now)
            return
        tokens = bucket.tokens + (now - bucket.updated) * self.refill_per_second
        if tokens > self.capacity:
            tokens = self.capacity
        bucket.updated = now
        if tokens >= 1.0:
            bucket.tokens = tokens - 1.0
            return
        bucket.tokens = tokens
        retry_after = max(1, math.ceil((1.0 - tokens) / self.refill_per_second))
        refilled = max(retry_after, math.ceil((self.capacity - tokens) / self.refill_per_second))
        raise TooManyRequests(
            f"this API key has made more than {self.requests} requests in {self.period_seconds:g} seconds; "
            f"retry in {retry_after} s", retry_after_seconds=retry_after, reset_after_seconds=refilled)
