"""Per-service directories: each service of an engine keeps everything of its own in one directory under a root
that the engine's runtime chooses (`<data dir>/services/` for local ClickHouse servers)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Service ids become directory names: no separators, no dot first (so neither "." nor "..").
_SERVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class ServiceDirectory:
    """One service's directory; an engine names the files in it (a subclass's properties)."""

    root: Path

    @property
    def service_id(self) -> str:
        return self.root.name

    def create(self) -> None:
        """Make the directory if missing, readable by its owner only: it holds keys and passwords."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)


@dataclass(frozen=True)
class ServiceDirectories:
    """The directories of one engine's services: `<root>/<service id>/`."""

    root: Path

    def of(self, service_id: str) -> Path:
        """The service's directory; ValueError for an id that is not a plain name, which could reach outside."""
        if not _SERVICE_ID.fullmatch(service_id):
            raise ValueError(f"invalid service id {service_id!r}")
        return self.root / service_id

    def service_ids(self) -> list[str]:
        """Ids of every service with a directory here."""
        if not self.root.is_dir():
            return []
        return sorted(d.name for d in self.root.iterdir() if d.is_dir() and _SERVICE_ID.fullmatch(d.name))
