"""Queries, one small class per aggregate. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, not_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import Session

from clickplane.store.models import (
    Activity,
    ApiKey,
    Backup,
    BackupBucket,
    BackupConfiguration,
    Invitation,
    Member,
    Organization,
    QueryEndpoint,
    Role,
    Service,
    UsageDay,
)


class Organizations:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, organization_id: uuid.UUID, for_update: bool = False) -> Organization | None:
        """With for_update, the row stays locked until the transaction ends: what is counted or named within
        the organization (services against the quota, keys and their names) is decided by one writer at a time."""
        return self.session.get(Organization, organization_id, with_for_update=for_update)

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Organization)) or 0

    def add(self, organization: Organization) -> Organization:
        self.session.add(organization)
        self.session.flush()
        return organization


class ApiKeys:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_key_id_hash(self, key_id_hash: str) -> ApiKey | None:
        return self.session.scalar(select(ApiKey).where(ApiKey.key_id_hash == key_id_hash))

    def get(self, organization_id: uuid.UUID, key_uuid: uuid.UUID) -> ApiKey | None:
        key = self.session.get(ApiKey, key_uuid)
        return key if key is not None and key.organization_id == organization_id else None

    def list(self, organization_id: uuid.UUID) -> Sequence[ApiKey]:
        return self.session.scalars(select(ApiKey).where(ApiKey.organization_id == organization_id)
                                    .order_by(ApiKey.created_at, ApiKey.id)).all()

    def count(self, organization_id: uuid.UUID) -> int:
        query = select(func.count()).select_from(ApiKey).where(ApiKey.organization_id == organization_id)
        return self.session.scalar(query) or 0

    def delete(self, key: ApiKey) -> None:
        self.session.delete(key)

    def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        self.session.flush()
        return key


class Roles:
    def __init__(self, session: Session) -> None:
        self.session = session

    def policies_by_id(self, organization_id: uuid.UUID, role_ids: tuple[str, ...]) -> dict[str, list[Any]]:
        """Stored policies of the organization's custom roles among `role_ids`, by role id."""
        wanted = [uuid.UUID(r) for r in role_ids if _is_uuid(r)]
        if not wanted:
            return {}
        query = select(Role).where(Role.organization_id == organization_id, Role.id.in_(wanted))
        return {str(role.id): role.policies for role in self.session.scalars(query)}

    def list(self, organization_id: uuid.UUID) -> Sequence[Role]:
        return self.session.scalars(select(Role).where(Role.organization_id == organization_id)
                                    .order_by(Role.created_at, Role.id)).all()

    def get(self, organization_id: uuid.UUID, role_id: uuid.UUID) -> Role | None:
        role = self.session.get(Role, role_id)
        return role if role is not None and role.organization_id == organization_id else None

    def by_name(self, organization_id: uuid.UUID, name: str) -> Role | None:
        return self.session.scalar(select(Role).where(Role.organization_id == organization_id, Role.name == name))

    def add(self, role: Role) -> Role:
        self.session.add(role)
        self.session.flush()
        return role

    def delete(self, role: Role) -> None:
        self.session.delete(role)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class Services:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, organization_id: uuid.UUID, service_id: uuid.UUID, for_update: bool = False) -> Service | None:
        """With for_update, the row stays locked until the transaction ends, so that a change is decided on
        the state no other writer is changing meanwhile (two deletes, a start during a stop)."""
        service = self.session.get(Service, service_id, with_for_update=for_update)
        if service is None or service.organization_id != organization_id:
            return None
        return service

    def list(self, organization_id: uuid.UUID) -> Sequence[Service]:
        query = (select(Service).where(Service.organization_id == organization_id)
                 .order_by(Service.created_at, Service.id))
        return self.session.scalars(query).all()

    def warehouse_exists(self, organization_id: uuid.UUID, warehouse_id: uuid.UUID) -> bool:
        query = select(Service.id).where(Service.organization_id == organization_id,
                                         Service.data_warehouse_id == warehouse_id).limit(1)
        return self.session.scalar(query) is not None

    def needing_work(self) -> Sequence[Service]:
        """Services whose observed state or applied spec lags what was asked for. A failed service
        waits for a new request (a new generation) instead of being retried forever."""
        lagging = or_(Service.desired_state != Service.state, Service.observed_generation != Service.generation)
        given_up = and_(Service.state == "failed", Service.observed_generation == Service.generation)
        query = select(Service).where(lagging, not_(given_up)).order_by(Service.created_at)
        return self.session.scalars(query).all()

    def settled_running(self) -> Sequence[Service]:
        """Services that are running as asked: the ones to watch for crashes and idleness."""
        query = select(Service).where(Service.state == "running", Service.desired_state == "running",
                                      Service.observed_generation == Service.generation)
        return self.session.scalars(query).all()

    def all(self) -> Sequence[Service]:
        return self.session.scalars(select(Service).order_by(Service.created_at)).all()

    def add(self, service: Service) -> Service:
        self.session.add(service)
        self.session.flush()
        return service


class Activities:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, activity: Activity) -> Activity:
        self.session.add(activity)
        return activity

    def list(self, organization_id: uuid.UUID, start: datetime | None = None,
             end: datetime | None = None) -> Sequence[Activity]:
        """The organization's activities created in [start, end) (open where None), newest first."""
        query = select(Activity).where(Activity.organization_id == organization_id)
        if start is not None:
            query = query.where(Activity.created_at >= start)
        if end is not None:
            query = query.where(Activity.created_at < end)
        return self.session.scalars(query.order_by(Activity.created_at.desc(), Activity.id.desc())).all()

    def get(self, organization_id: uuid.UUID, activity_id: uuid.UUID) -> Activity | None:
        activity = self.session.get(Activity, activity_id)
        return activity if activity is not None and activity.organization_id == organization_id else None


class Members:
    def __init__(self, session: Session) -> None:
        self.session = session

    def list(self, organization_id: uuid.UUID) -> Sequence[Member]:
        return self.session.scalars(select(Member).where(Member.organization_id == organization_id)
                                    .order_by(Member.joined_at, Member.id)).all()

    def get(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> Member | None:
        return self.session.scalar(select(Member).where(Member.organization_id == organization_id,
                                                        Member.user_id == user_id))

    def by_email(self, organization_id: uuid.UUID, email: str) -> Member | None:
        return self.session.scalar(select(Member).where(Member.organization_id == organization_id,
                                                        Member.email == email))

    def user_id_of(self, email: str) -> uuid.UUID | None:
        """The id of the user with this email in any organization: one user keeps one id everywhere."""
        return self.session.scalar(select(Member.user_id).where(Member.email == email).limit(1))

    def add(self, member: Member) -> Member:
        self.session.add(member)
        self.session.flush()
        return member

    def delete(self, member: Member) -> None:
        self.session.delete(member)


class Invitations:
    def __init__(self, session: Session) -> None:
        self.session = session

    def list(self, organization_id: uuid.UUID) -> Sequence[Invitation]:
        return self.session.scalars(select(Invitation).where(Invitation.organization_id == organization_id)
                                    .order_by(Invitation.created_at, Invitation.id)).all()

    def get(self, organization_id: uuid.UUID, invitation_id: uuid.UUID) -> Invitation | None:
        invitation = self.session.get(Invitation, invitation_id)
        return invitation if invitation is not None and invitation.organization_id == organization_id else None

    def by_id(self, invitation_id: uuid.UUID) -> Invitation | None:
        """Whatever its organization: for the operator, who acts on the whole store."""
        return self.session.get(Invitation, invitation_id)

    def for_email(self, organization_id: uuid.UUID, email: str) -> Sequence[Invitation]:
        return self.session.scalars(select(Invitation).where(Invitation.organization_id == organization_id,
                                                             Invitation.email == email)).all()

    def add(self, invitation: Invitation) -> Invitation:
        self.session.add(invitation)
        self.session.flush()
        return invitation

    def delete(self, invitation: Invitation) -> None:
        self.session.delete(invitation)


class QueryEndpoints:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, service_id: uuid.UUID) -> QueryEndpoint | None:
        return self.session.get(QueryEndpoint, service_id)

    def put(self, endpoint: QueryEndpoint) -> QueryEndpoint:
        return self.session.merge(endpoint)

    def delete(self, endpoint: QueryEndpoint) -> None:
        self.session.delete(endpoint)


class Backups:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, organization_id: uuid.UUID, backup_id: uuid.UUID) -> Backup | None:
        backup = self.session.get(Backup, backup_id)
        return backup if backup is not None and backup.organization_id == organization_id else None

    def by_id(self, backup_id: uuid.UUID) -> Backup | None:
        return self.session.get(Backup, backup_id)

    def list(self, service_id: uuid.UUID) -> Sequence[Backup]:
        """The service's backups, newest first."""
        return self.session.scalars(select(Backup).where(Backup.service_id == service_id)
                                    .order_by(Backup.started_at.desc(), Backup.id.desc())).all()

    def in_progress(self) -> Sequence[Backup]:
        return self.session.scalars(select(Backup).where(Backup.status == "in_progress")).all()

    def add(self, backup: Backup) -> Backup:
        self.session.add(backup)
        self.session.flush()
        return backup

    def delete(self, backup: Backup) -> None:
        self.session.delete(backup)


class BackupConfigurations:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, service_id: uuid.UUID) -> BackupConfiguration | None:
        return self.session.get(BackupConfiguration, service_id)

    def put(self, configuration: BackupConfiguration) -> BackupConfiguration:
        return self.session.merge(configuration)


class BackupBuckets:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, service_id: uuid.UUID) -> BackupBucket | None:
        return self.session.get(BackupBucket, service_id)

    def put(self, bucket: BackupBucket) -> BackupBucket:
        return self.session.merge(bucket)

    def delete(self, bucket: BackupBucket) -> None:
        self.session.delete(bucket)


# INSERT ... ON CONFLICT DO UPDATE, in each store's dialect.
_UPSERTS: dict[str, Callable[..., Any]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class UsageDays:
    def __init__(self, session: Session) -> None:
        self.session = session

    def between(self, organization_id: uuid.UUID, first: date, last: date) -> Sequence[UsageDay]:
        """The organization's usage from day `first` to day `last`, both included, by day then service name."""
        query = select(UsageDay).where(UsageDay.organization_id == organization_id, UsageDay.day >= first,
                                       UsageDay.day <= last)
        return self.session.scalars(query.order_by(UsageDay.day, UsageDay.service_name, UsageDay.service_id)).all()

    def add(self, days: Sequence[UsageDay]) -> None:
        """Add each day's usage to the service's row for that day (made if missing), in one statement; the
        name and storage sample are replaced. At most one of `days` per service and day."""
        if not days:
            return
        columns = [column.key for column in UsageDay.__table__.columns]
        statement = _UPSERTS[self.session.get_bind().dialect.name](UsageDay).values(
            [{column: getattr(day, column) for column in columns} for day in days])
        added = statement.excluded
        self.session.execute(statement.on_conflict_do_update(
            index_elements=[UsageDay.service_id, UsageDay.day],
            set_={"compute_gib_seconds": UsageDay.compute_gib_seconds + added.compute_gib_seconds,
                  "storage_gib_seconds": UsageDay.storage_gib_seconds + added.storage_gib_seconds,
                  "backup_gib_seconds": UsageDay.backup_gib_seconds + added.backup_gib_seconds,
                  "service_name": added.service_name, "storage_bytes": added.storage_bytes}))

    def last_storage_bytes(self) -> dict[uuid.UUID, int]:
        """Each service's storage as last sampled: from its newest row."""
        newest = (select(UsageDay.service_id, func.max(UsageDay.day).label("day"))
                  .group_by(UsageDay.service_id).subquery())
        query = select(UsageDay.service_id, UsageDay.storage_bytes).join(
            newest, and_(UsageDay.service_id == newest.c.service_id, UsageDay.day == newest.c.day))
        return dict(self.session.execute(query).all())

    def backup_bytes(self) -> dict[uuid.UUID, int]:
        """The total size of each service's finished backups, as they are metered."""
        query = (select(Backup.service_id, func.sum(Backup.size_in_bytes)).where(Backup.status == "done")
                 .group_by(Backup.service_id))
        return {service_id: int(size or 0) for service_id, size in self.session.execute(query)}


class ServiceRows:
    """Services read with Core on a plain connection: the API's hot reads (a few times cheaper than the ORM).
    The statements are built once; only their parameters change."""

    _table = Service.__table__
    _one = select(_table).where(_table.c.id == bindparam("service_id"),
                                _table.c.organization_id == bindparam("organization_id"))
    _all = (select(_table).where(_table.c.organization_id == bindparam("organization_id"))
            .order_by(_table.c.created_at, _table.c.id))

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, organization_id: uuid.UUID, service_id: uuid.UUID) -> Row[Any] | None:
        return self.connection.execute(self._one, {"service_id": service_id,
                                                   "organization_id": organization_id}).first()

    def list(self, organization_id: uuid.UUID) -> Sequence[Row[Any]]:
        return self.connection.execute(self._all, {"organization_id": organization_id}).all()

    def all(self) -> Sequence[Row[Any]]:
        """Every service of every organization (the meter's look)."""
        return self.connection.execute(select(self._table).order_by(self._table.c.created_at)).all()
