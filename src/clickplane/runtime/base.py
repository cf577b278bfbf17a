"""What the runtimes of every engine share: how they report a failure and an address clients reach."""

from __future__ import annotations

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
