"""Queries of saved queries. Every method works inside the caller's transaction."""

from __future__ import annotations

from typing import Any, ClassVar

from clickplane.kit.repository import ServiceItems
from clickplane.store.models import SavedQuery


class SavedQueries(ServiceItems[SavedQuery]):
    model: ClassVar[Any] = SavedQuery
