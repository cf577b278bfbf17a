"""Micro-benchmark: what the per-key rate limit check costs each authenticated request.

    python bench/rate_limit.py [--checks 1000000] [--keys 1000]

Times `RateLimiter.take` in-process (no server): for one key and for requests spread over `--keys`
keys, under a limit high enough never to refuse (the normal case), then the refusal itself (an
exception raised and caught), and the cost of the check when no limit is configured. Prints
nanoseconds per check, best of 5 runs. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
import timeit
import uuid
from collections.abc import Callable

from clickplane.auth.rate_limit import RateLimiter
from clickplane.kit.errors import TooManyRequests

RUNS = 5


def best_ns_per_call(run: Callable[[], None], calls: int) -> float:
    return min(timeit.repeat(run, number=1, repeat=RUNS)) / calls * 1e9


def allowed(keys: list[uuid.UUID], checks: int) -> Callable[[], None]:
    limiter = RateLimiter(10**12, 1.0)
    sequence = list(itertools.islice(itertools.cycle(keys), checks))

    def run() -> None:
        take = limiter.take
        for key in sequence:
            take(key)

    return run


def refused(checks: int) -> Callable[[], None]:
    limiter = RateLimiter(1, 3600.0)
    key = uuid.uuid4()
    limiter.take(key)

    def run() -> None:
        take = limiter.take
        for _ in range(checks):
            with contextlib.suppress(TooManyRequests):
                take(key)

    return run


def unlimited(keys: list[uuid.UUID], checks: int) -> Callable[[], None]:
    """What the binder does when no limit is configured: one attribute test."""
    limiter: RateLimiter | None = None
    sequence = list(itertools.islice(itertools.cycle(keys), checks))

    def run() -> None:
        for key in sequence:
            if limiter is not None:
                limiter.take(key)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=1_000_000, help="checks per run (default 1000000)")
    parser.add_argument("--keys", type=int, default=1000, help="keys for the many-keys case (default 1000)")
    args = parser.parse_args(argv)
    one_key, many_keys = [uuid.uuid4()], [uuid.uuid4() for _ in range(args.keys)]
    refusals = max(1, args.checks // 10)  # exceptions are slower; fewer keep the run short
    rows = [
        ("allowed, 1 key", best_ns_per_call(allowed(one_key, args.checks), args.checks)),
        (f"allowed, {args.keys} keys", best_ns_per_call(allowed(many_keys, args.checks), args.checks)),
        ("refused (raise + catch)", best_ns_per_call(refused(refusals), refusals)),
        ("no limit configured", best_ns_per_call(unlimited(one_key, args.checks), args.checks)),
    ]
    print(f"RateLimiter.take, best of {RUNS} runs, Python {sys.version.split()[0]}")
    for name, ns in rows:
        print(f"  {name:<26} {ns:>8.0f} ns per check")
    return 0


if __name__ == "__main__":
    sys.exit(main())
