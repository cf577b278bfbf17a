"""Test doubles shared by unit tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now
