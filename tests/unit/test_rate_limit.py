"""The per-key token bucket, on a clock the test moves by hand."""

from __future__ import annotations

import uuid

import pytest

from clickplane.auth.rate_limit import RateLimiter
from clickplane.kit.errors import TooManyRequests
from clickplane.settings import CLOUD_RATE_LIMIT, Settings

KEY, OTHER_KEY = uuid.uuid4(), uuid.uuid4()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused(limiter: RateLimiter, key: uuid.UUID = KEY) -> TooManyRequests:
    with pytest.raises(TooManyRequests) as caught:
        limiter.take(key)
    return caught.value


def test_a_burst_up_to_the_limit_passes_and_the_next_request_is_refused() -> None:
    limiter = RateLimiter(10, 10.0, Clock())
    for _ in range(10):
        limiter.take(KEY)
    error = refused(limiter)
    assert error.status == 429
    assert error.wire_text == ("TOO_MANY_REQUESTS: this API key has made more than 10 requests in 10 seconds; "
                               "retry in 1 s")
    assert (error.retry_after_seconds, error.reset_after_seconds) == (1, 10)


def test_the_allowance_refills_steadily() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 10.0, clock)  # one request back every 5 s
    limiter.take(KEY)
    limiter.take(KEY)
    clock.now += 2.0
    error = refused(limiter)
    assert (error.retry_after_seconds, error.reset_after_seconds) == (3, 8)
    clock.now += 3.0
    limiter.take(KEY)
    refused(limiter)
    clock.now += 60.0  # a long pause refills the bucket, but never beyond the limit
    limiter.take(KEY)
    limiter.take(KEY)
    refused(limiter)


def test_refused_requests_do_not_spend_the_allowance() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 1.0, clock)
    limiter.take(KEY)
    for _ in range(5):
        refused(limiter)
    clock.now += 1.0
    limiter.take(KEY)


def test_each_key_has_an_allowance_of_its_own() -> None:
    limiter = RateLimiter(1, 60.0, Clock())
    limiter.take(KEY)
    refused(limiter)
    limiter.take(OTHER_KEY)
    assert refused(limiter, OTHER_KEY).retry_after_seconds == 60


def test_a_limit_needs_a_request_and_a_period() -> None:
    with pytest.raises(ValueError, match="at least 1 request"):
        RateLimiter(0, 10.0)
    with pytest.raises(ValueError, match="at least 1 request"):
        RateLimiter(1, 0.0)


def test_settings_no_limit_by_default_a_configured_one_or_the_clouds() -> None:
    assert Settings().rate_limit is None
    assert Settings(rate_limit_requests=100, rate_limit_period_seconds=1).rate_limit == (100, 1.0)
    assert Settings(rate_limit_requests=100, cloud_limits=True).rate_limit == CLOUD_RATE_LIMIT == (10, 10.0)
