"""What the API handlers share: settings, the store, the secret hasher, and a way to wake the reconciler."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from clickplane.domain.auth import VerifiedKeys
from clickplane.domain.secrets import SecretHasher
from clickplane.settings import Settings
from clickplane.store.database import Database


@dataclass
class AppContext:
    settings: Settings
    database: Database
    hasher: SecretHasher
    verified_keys: VerifiedKeys
    # Set by a handler that recorded new intent, so the reconciler acts now instead of at its next tick.
    reconcile_now: asyncio.Event = field(default_factory=asyncio.Event)
