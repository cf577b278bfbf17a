"""Which ClickHouse binary a service runs: the one recorded for it (services/repository.py `Releases`), else,
for a service that never ran, its release channel's binary when the settings name one, else the runtime's default.
A recorded binary changes only inside the service's upgrade window (upgrade_windows/controller.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Converged(Protocol):
    @property
    def observed_generation(self) -> int: ...


def channel_binary(options: Mapping[str, Any], channel_binaries: Mapping[str, str]) -> str | None:
    """The binary the settings name for the release channel in a service's options; None: the runtime's default."""
    return channel_binaries.get(options.get("releaseChannel") or "default")


def never_ran(service: Converged) -> bool:
    """Whether the reconciler never brought the service to any intent: it starts on its channel's binary at once,
    with no window to wait for."""
    return service.observed_generation == 0
