"""Replica-aware routing: in ClickHouse Cloud, connections that name a replica are sent to that replica. clickplane
stores the two switches per service (both off until changed) and routes nothing by them: its services' endpoints
are each replica's own ports, so a client already reaches the replica it names."""

from __future__ import annotations

import uuid

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.replica_routing.repository import ReplicaRoutings
from clickplane.replica_routing.schemas import ReplicaAwareRouting, ReplicaAwareRoutingPatchRequest
from clickplane.services.lookup import changeable, visible
from clickplane.services.repository import Services
from clickplane.store import models


def to_wire(stored: models.ReplicaAwareRouting | None) -> ReplicaAwareRouting:
    if stored is None:
        return ReplicaAwareRouting(httpEnabled=False, nativeEnabled=False)
    return ReplicaAwareRouting(httpEnabled=stored.http_enabled, nativeEnabled=stored.native_enabled)


class ReplicaRoutingService:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    def get(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> ReplicaAwareRouting:
        with self.context.database.looking() as session:
            visible(Services(session), caller, organization_id, service_id)
            return to_wire(ReplicaRoutings(session).get(service_id))

    def update(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
               patch: ReplicaAwareRoutingPatchRequest) -> ReplicaAwareRouting:
        with self.context.database.transaction() as session:
            changeable(Services(session), caller, organization_id, service_id)
            routings = ReplicaRoutings(session)
            current = to_wire(routings.get(service_id))
            http = current.httpEnabled if patch.httpEnabled is None else patch.httpEnabled
            native = current.nativeEnabled if patch.nativeEnabled is None else patch.nativeEnabled
            stored = routings.put(models.ReplicaAwareRouting(service_id=service_id, http_enabled=http,
                                                             native_enabled=native))
            record(Activities(session), caller, "service_update_replica_aware_routing", service_id=service_id,
                   details={"httpEnabled": http, "nativeEnabled": native})
            return to_wire(stored)
