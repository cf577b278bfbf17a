"""Upgrade windows: when a service may be upgraded, and `UpgradeWindowService`, whose methods are the API's use
cases.

A window is 6 hours from 0, 6, 12 or 18 UTC on one weekday (0 = Sunday), set on a primary service; secondary
services (those of its warehouse) follow it. A service without a window, its own or its primary's, is upgraded
whenever its release channel's binary changes, as Cloud's default scheduling does. The upgrade itself is the
controller's (controller.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.kit import weekly
from clickplane.kit.context import AppContext
from clickplane.kit.errors import BadRequest, NotFound
from clickplane.services.lookup import changeable, visible
from clickplane.services.repository import Services
from clickplane.store.models import Service
from clickplane.store.models import UpgradeWindow as StoredWindow
from clickplane.upgrade_windows.repository import UpgradeWindows
from clickplane.upgrade_windows.schemas import WINDOW_HOURS, UpgradeWindow, UpgradeWindowPutRequest

UPDATED: Final = "service_update_upgrade_window"
DELETED: Final = "service_delete_upgrade_window"


def open_at(window: StoredWindow, moment: datetime) -> bool:
    """Whether the window holds `moment`."""
    return weekly.covers([window.weekday], window.start_hour_utc, window.start_hour_utc + window.duration_hours,
                         moment)


def to_wire(window: StoredWindow) -> UpgradeWindow:
    return UpgradeWindow.model_validate({"weekday": window.weekday, "startHourUtc": window.start_hour_utc,
                                         "duration": window.duration_hours})


def primary_only(service: Service) -> Service:
    if not service.is_primary:
        raise BadRequest(f"service {service.id} is a secondary service: it follows the upgrade window of its "
                         "warehouse's primary service; set the window there")
    return service


def not_found(service_id: uuid.UUID) -> NotFound:
    return NotFound(f"service {service_id} has no upgrade window; PUT .../upgradeWindow with weekday and "
                    "startHourUtc sets one")


class UpgradeWindowService:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    def get(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> UpgradeWindow:
        with self.context.database.looking() as session:
            visible(Services(session), caller, organization_id, service_id)
            window = UpgradeWindows(session).get(service_id)
            if window is None:
                raise not_found(service_id)
            return to_wire(window)

    def put(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
            request: UpgradeWindowPutRequest) -> UpgradeWindow:
        with self.context.database.transaction() as session:
            primary_only(changeable(Services(session), caller, organization_id, service_id))
            windows = UpgradeWindows(session)
            window = windows.get(service_id)
            if window is None:
                window = StoredWindow(service_id=service_id, organization_id=organization_id)
                windows.add(window)
            window.weekday, window.start_hour_utc, window.duration_hours = (request.weekday, request.startHourUtc,
                                                                            WINDOW_HOURS)
            record(Activities(session), caller, UPDATED, service_id=service_id,
                   details=request.model_dump(mode="json"))
            answer = to_wire(window)
        self.context.reconcile_now.set()
        return answer

    def delete(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> None:
        with self.context.database.transaction() as session:
            primary_only(changeable(Services(session), caller, organization_id, service_id))
            windows = UpgradeWindows(session)
            window = windows.get(service_id)
            if window is None:
                raise not_found(service_id)
            windows.remove(window)
            record(Activities(session), caller, DELETED, service_id=service_id)
        self.context.reconcile_now.set()
