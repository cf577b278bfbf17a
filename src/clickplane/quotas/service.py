"""Organization quotas: how many services an organization may have and how many replicas a warehouse may run.

The limits come from settings (the operator adjusts them); usage is counted from the store. A create or a
resize that would go past a limit is refused with 400 BAD_REQUEST, as ClickHouse Cloud answers quota
errors. A limit lowered below what already exists leaves existing services alone: only growth is refused.
`QuotaService` answers the API's reads of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from clickplane.kit.context import AppContext
from clickplane.kit.enums import QuotaCode, QuotaScope
from clickplane.kit.errors import BadRequest, NotFound
from clickplane.postgres.repository import PostgresServices
from clickplane.quotas.schemas import OrganizationQuota
from clickplane.services.repository import Services
from clickplane.settings import Settings
from clickplane.store.models import Service

SERVICES: QuotaCode = "services-per-organization"
POSTGRES_SERVICES: QuotaCode = "postgres-services-per-organization"
REPLICAS: QuotaCode = "replicas-per-warehouse"


@dataclass(frozen=True)
class Limits:
    services_per_organization: int
    replicas_per_warehouse: int
    postgres_services_per_organization: int = 0

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.quota_services_per_organization, settings.quota_replicas_per_warehouse,
                   settings.quota_postgres_services_per_organization)


@dataclass(frozen=True)
class Quota:
    code: QuotaCode
    name: str
    description: str
    scope: QuotaScope
    value: int
    usage: int | None
    adjustable: bool


def replicas(service: Service) -> int:
    """The most replicas the service may run: its count, or the top of its horizontal band."""
    return service.max_replicas or service.num_replicas


def _existing(services: Iterable[Service]) -> list[Service]:
    """Services that count: every one not on its way out."""
    return [service for service in services if service.desired_state != "deleted"]


def _replicas_by_warehouse(services: Iterable[Service]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for service in _existing(services):
        totals[str(service.data_warehouse_id)] += replicas(service)
    return totals


def organization_quotas(limits: Limits, services: Sequence[Service], postgres_services: int = 0) -> list[Quota]:
    """Every quota of the organization whose services are `services` and that has `postgres_services`, with its
    usage."""
    busiest_warehouse = max(_replicas_by_warehouse(services).values(), default=0)
    return [
        Quota(SERVICES, "Services per organization",
              "Services the organization may have, counting stopped and idle ones; a service being deleted no "
              "longer counts. Set by the operator (CLICKPLANE_QUOTA_SERVICES_PER_ORGANIZATION).",
              "organization", limits.services_per_organization, len(_existing(services)), True),
        Quota(POSTGRES_SERVICES, "Postgres services per organization",
              "Managed Postgres services the organization may have, counting one being deleted until it is gone. "
              "Set by the operator (CLICKPLANE_QUOTA_POSTGRES_SERVICES_PER_ORGANIZATION).",
              "organization", limits.postgres_services_per_organization, postgres_services, True),
        Quota(REPLICAS, "Replicas per warehouse",
              "Replicas the services of one warehouse may run together, each counted at its maximum; the usage "
              "is that of the busiest warehouse. Set by the operator (CLICKPLANE_QUOTA_REPLICAS_PER_WAREHOUSE).",
              "warehouse", limits.replicas_per_warehouse, busiest_warehouse, True),
    ]


def organization_quota(limits: Limits, services: Sequence[Service], postgres_services: int, code: str) -> Quota:
    for quota in organization_quotas(limits, services, postgres_services):
        if quota.code == code:
            return quota
    raise NotFound(f"quota {code!r} does not exist; the quotas are {SERVICES}, {POSTGRES_SERVICES} and {REPLICAS}")


def check_new_postgres_service(limits: Limits, existing: int) -> None:
    """Refuse a Postgres create past the organization's quota; `existing` counts its Postgres services."""
    if existing >= limits.postgres_services_per_organization:
        raise BadRequest(
            f"quota {POSTGRES_SERVICES} exceeded: the organization has {existing} Postgres services, and the limit "
            f"is {limits.postgres_services_per_organization}; delete one first, or have the operator raise "
            "CLICKPLANE_QUOTA_POSTGRES_SERVICES_PER_ORGANIZATION")


def _check_warehouse(limits: Limits, services: Sequence[Service], service: Service) -> None:
    """`service` (new or resized, among `services` or not) must keep its warehouse within the limit."""
    others = [other for other in services if other.id != service.id]
    total = _replicas_by_warehouse([*others, service])[str(service.data_warehouse_id)]
    if total > limits.replicas_per_warehouse:
        raise BadRequest(
            f"quota {REPLICAS} exceeded: warehouse {service.data_warehouse_id} would run {total} replicas, and "
            f"the limit is {limits.replicas_per_warehouse}; ask for fewer replicas, or have the operator raise "
            "CLICKPLANE_QUOTA_REPLICAS_PER_WAREHOUSE")


def check_new_service(limits: Limits, services: Sequence[Service], new: Service) -> None:
    """Refuse a create that would pass a quota; `services` are the organization's existing ones."""
    existing = len(_existing(services))
    if existing >= limits.services_per_organization:
        raise BadRequest(
            f"quota {SERVICES} exceeded: the organization has {existing} services, and the limit is "
            f"{limits.services_per_organization}; delete a service first, or have the operator raise "
            "CLICKPLANE_QUOTA_SERVICES_PER_ORGANIZATION")
    _check_warehouse(limits, services, new)


def check_resized(limits: Limits, services: Sequence[Service], service: Service, replicas_before: int) -> None:
    """Refuse a resize that adds replicas past the warehouse's limit (shrinking is always allowed)."""
    if replicas(service) > replicas_before:
        _check_warehouse(limits, services, service)


def to_wire(quota: Quota) -> OrganizationQuota:
    return OrganizationQuota(quotaCode=quota.code, name=quota.name, description=quota.description,
                             scope=quota.scope, value=quota.value, usage=quota.usage, adjustable=quota.adjustable)


class QuotaService:
    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.limits = Limits.of(context.settings)

    def list(self, organization_id: UUID) -> list[OrganizationQuota]:
        with self.context.database.looking() as session:
            quotas = organization_quotas(self.limits, Services(session).list(organization_id),
                                         PostgresServices(session).count(organization_id))
        return [to_wire(quota) for quota in quotas]

    def get(self, organization_id: UUID, code: str) -> OrganizationQuota:
        with self.context.database.looking() as session:
            quota = organization_quota(self.limits, Services(session).list(organization_id),
                                       PostgresServices(session).count(organization_id), code)
        return to_wire(quota)
