"""What the runtimes of every engine share: how they report a failure, an address clients reach, and stopping
every service at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass


class RuntimeFailure(Exception):
    """A runtime could not do what it was asked; the message is shown to users as the reason."""


@dataclass(frozen=True)
class Endpoint:
    """One address a client can reach the service on."""

    protocol: str  # "https", "nativesecure", "http", "native", "mysql"
    host: str
    port: int
    secure: bool = False


async def stop_each(service_ids: Sequence[str], stop: Callable[[str], Awaitable[None]]) -> None:
    """Stop every one of the services at once (`clickplane stop-all`, tests), trying all of them even when some
    fail; then one RuntimeFailure naming the failures."""
    results = await asyncio.gather(*(stop(service_id) for service_id in service_ids), return_exceptions=True)
    failures = [f"{service_id}: {result}" for service_id, result in zip(service_ids, results, strict=True)
                if isinstance(result, Exception)]
    if failures:
        raise RuntimeFailure("could not stop " + "; ".join(failures))
