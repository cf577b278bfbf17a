"""The reconcile loop's controller of upgrades: a service whose release channel names another ClickHouse binary
than the one it runs is moved to it inside its upgrade window (its own, else its warehouse primary's; any time
without one). The move is a new intent: the service controller restarts the server on the new binary with its
data and reports the version the new server answers. Recorded as a `service_maintenance_start` activity."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Hashable, Iterator
from datetime import datetime
from functools import partial
from typing import Any

from clickplane.activities.repository import Activities
from clickplane.activities.service import record_system
from clickplane.reconcile.loop import Work
from clickplane.services.releases import channel_binary, never_ran
from clickplane.services.repository import Releases, Services
from clickplane.store.database import Database
from clickplane.store.models import utcnow
from clickplane.upgrade_windows.repository import UpgradeWindows
from clickplane.upgrade_windows.service import open_at

log = logging.getLogger(__name__)


class UpgradeController:
    def __init__(self, database: Database, wake: Callable[[], None], channel_binaries: dict[str, str],
                 default_binary: str, clock: Callable[[], datetime] = utcnow) -> None:
        self.database = database
        self.wake = wake
        self.channel_binaries = channel_binaries
        self.default_binary = default_binary
        self.clock = clock

    async def prepare(self) -> None:
        return

    def binary_of(self, options: dict[str, Any]) -> str:
        """The binary of the release channel a service's options name."""
        return channel_binary(options, self.channel_binaries) or self.default_binary

    def due(self, busy: Callable[[Hashable], bool]) -> Iterator[tuple[Hashable, Work]]:
        moment = self.clock()
        with self.database.looking() as session:
            releases = Releases(session)
            if not self.channel_binaries and not releases.any():
                return  # every channel runs the default binary, and every service does: nothing to move
            services = releases.of_services()
            # A service that never ran starts on its channel's binary (the service controller sees to it).
            moving = [service for service in services
                      if service.desired_state != "deleted"
                      and self.binary_of(service.options) != (service.binary or self.default_binary)
                      and not (service.binary is None and never_ran(service))]
            windows = {window.service_id: window for window in UpgradeWindows(session).all()} if moving else {}
        # A primary being deleted still has its window, which its warehouse's services keep to until it is gone.
        primaries = {service.data_warehouse_id: service.id for service in services if service.is_primary}
        for service in moving:
            window = windows.get(service.id) or windows.get(primaries.get(service.data_warehouse_id, service.id))
            if window is None or open_at(window, moment):
                yield f"upgrade {service.id}", partial(self._upgrade, service.organization_id, service.id,
                                                       self.binary_of(service.options))

    async def _upgrade(self, organization_id: uuid.UUID, service_id: uuid.UUID, binary: str) -> None:
        with self.database.transaction() as session:
            service = Services(session).get(organization_id, service_id, for_update=True)
            if service is None or service.desired_state == "deleted" or self.binary_of(service.options) != binary:
                return
            Releases(session).put(service_id, binary)
            service.generation += 1  # a new intent: the service controller restarts it on the binary
            record_system(Activities(session), organization_id, "service_maintenance_start", service_id=service_id,
                          details={"releaseChannel": service.options.get("releaseChannel") or "default",
                                   "clickhouseBinary": binary})
        log.info("service %s: upgrading to %s", service_id, binary)
        self.wake()
