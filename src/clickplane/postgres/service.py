"""Postgres services: the rules (what a create may ask for, how a change applies) and `PostgresServiceApi`, whose
methods are the API's use cases, each in a transaction of its own, waking the reconciler once it has committed a
new intent. What the engine alone can judge (a parameter's value) is asked of the runtime before the transaction."""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote

from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record, window
from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.errors import BadRequest, Conflict
from clickplane.kit.schemas import MAX_IP_ACCESS_LIST_ENTRIES, rfc3339
from clickplane.kit.validation import validate_tags
from clickplane.organizations.lookup import visible as visible_organization
from clickplane.organizations.repository import Organizations
from clickplane.postgres import config, lifecycle, schemas
from clickplane.postgres.passwords import check_password, generate_password, scram_verifier, verifies
from clickplane.postgres.repository import PostgresServices
from clickplane.quotas import service as quotas
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.postgres.interface import SUPERUSER, ConfigRejected
from clickplane.store.models import PostgresService

RESERVED_TAG_PREFIX = "chc_"
GIB = 1 << 30
# The most log entries one request reads from a server's log.
MAX_LOG_ENTRIES = 10_000
MAX_LOG_PAGE = 1000


@dataclass(frozen=True)
class LogQuery:
    """What `GET .../logs` asks for: entries in [since, until), filtered, sorted, one page."""

    since: datetime
    until: datetime
    body_contains: str | None = None
    severity: str | None = None
    descending: bool = False
    limit: int = 100
    offset: int = 0

    def keeps(self, severity: str, body: str) -> bool:
        return ((self.severity is None or severity.upper() == self.severity.upper())
                and (self.body_contains is None or self.body_contains in body))


def visible(services: PostgresServices, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID,
            for_update: bool = False) -> PostgresService:
    return services.visible(caller.organization_id, organization_id, postgres_id, for_update)


def changeable(services: PostgresServices, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID
               ) -> PostgresService:
    """The visible service, locked for the change, unless it is being deleted (Conflict)."""
    return services.changeable(caller.organization_id, organization_id, postgres_id)


def check_tags(tags: list[Any]) -> list[dict[str, str]]:
    checked = validate_tags(tags)
    reserved = [tag["key"] for tag in checked if tag["key"].startswith(RESERVED_TAG_PREFIX)]
    if reserved:
        raise BadRequest(f"tags: keys starting with {RESERVED_TAG_PREFIX!r} are reserved ({reserved[0]!r}); "
                         "choose another key")
    return checked


def access_rules(rules: list[schemas.PgIpAccessRuleRequest], kept: list[dict[str, str]] | None = None
                 ) -> list[dict[str, str]]:
    """Rules as stored, each with an id of its own; a source given twice is kept once."""
    result = list(kept or [])
    sources = {str(ipaddress.ip_network(rule["source"], strict=False)) for rule in result}
    for index, rule in enumerate(rules):
        try:
            network = str(ipaddress.ip_network(rule.source.strip(), strict=False))
        except ValueError:
            raise BadRequest(f"ipAccessList[{index}].source {rule.source!r} is not an IP address or CIDR range "
                             "(examples: 203.0.113.7, 10.0.0.0/8, 0.0.0.0/0 for anywhere)") from None
        if network in sources:
            continue
        if len(result) == MAX_IP_ACCESS_LIST_ENTRIES:
            raise BadRequest(f"ipAccessList: a service holds at most {MAX_IP_ACCESS_LIST_ENTRIES} rules; cover "
                             "addresses with CIDR ranges instead")
        sources.add(network)
        result.append({"id": str(uuid.uuid4()), "source": rule.source.strip(), "portRange": rule.portRange,
                       "description": rule.description or ""})
    return result


def _check_ha_type(ha_type: str) -> None:
    if ha_type != "none":
        raise BadRequest(f"haType {ha_type!r}: clickplane runs no HA standbys; use haType none, and a read "
                         "replica for a second server")


def _check_name(name: str) -> str:
    if name != name.strip():
        raise BadRequest("name must not start or end with spaces")
    return name


@dataclass(frozen=True)
class Created:
    service: PostgresService
    password: str


def log_query(from_date: str, to_date: str, body_contains: str | None, severity: str | None, sort_order: str,
              limit: int, offset: int) -> LogQuery:
    selected = window(from_date, to_date)
    if selected.start is None or selected.end is None:  # both are required parameters: never the case
        raise BadRequest("from_date and to_date are both required")
    if sort_order not in ("asc", "desc"):
        raise BadRequest(f"sort_order {sort_order!r} is not asc or desc")
    if not 1 <= limit <= MAX_LOG_PAGE or offset < 0:
        raise BadRequest(f"limit must be between 1 and {MAX_LOG_PAGE}, and offset at least 0")
    return LogQuery(selected.start, selected.end, body_contains, severity, sort_order == "desc", limit, offset)


class PostgresServiceApi:
    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.runtime = context.postgres_runtime

    # Reads.

    def list_all(self, caller: Caller, organization_id: uuid.UUID) -> list[schemas.PostgresServiceListItem]:
        with self.context.database.looking() as session:
            visible_organization(Organizations(session), caller, organization_id)
            return [list_item(found) for found in PostgresServices(session).list(organization_id)]

    def get(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID, password: str | None = None
            ) -> schemas.PostgresService:
        with self.context.database.looking() as session:
            return self.to_wire(visible(PostgresServices(session), caller, organization_id, postgres_id), password)

    def get_config(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID
                   ) -> schemas.PostgresInstanceConfigResponse:
        with self.context.database.looking() as session:
            found = visible(PostgresServices(session), caller, organization_id, postgres_id)
            return schemas.PostgresInstanceConfigResponse(pgConfig=dict(found.pg_config), pgBouncerConfig={})

    async def ca_certificate(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID) -> bytes:
        self.get(caller, organization_id, postgres_id)
        try:
            return await self.runtime.ca_certificate(str(postgres_id))
        except RuntimeFailure as failure:
            raise Conflict(f"the service's certificates are not ready yet ({failure}); try again once it is "
                           "running") from None

    # Changes.

    async def create(self, caller: Caller, organization_id: uuid.UUID, request: schemas.PostgresServicePostRequest
                     ) -> schemas.PostgresService:
        version = self._check_version(request.postgresVersion)
        _check_ha_type(request.haType)
        config.check_pgbouncer(request.pgBouncerConfig)
        parameters = await self._checked_parameters(version, request.pgConfig or {})
        password = generate_password()
        with self.context.database.transaction() as session:
            visible_organization(Organizations(session), caller, organization_id, for_update=True)
            services = PostgresServices(session)
            quotas.check_new_postgres_service(quotas.Limits.of(self.context.settings), services.count(organization_id))
            created = services.add(PostgresService(
                id=uuid.uuid4(), organization_id=organization_id, name=_check_name(request.name),
                provider=request.provider, region=request.region, postgres_version=version, size=request.size,
                ha_type=request.haType, tags=check_tags(request.tags), state="creating", desired_state="running",
                superuser_verifier=scram_verifier(password), ip_access_list=access_rules(request.ipAccessList or []),
                pg_config=parameters, is_primary=True, generation=1, observed_generation=0,
                storage_gib=self._storage_gib()))
            _record(session, caller, created, ["postgres_service_create"], {"name": created.name})
        self.context.reconcile_now.set()
        return await self._with_address(caller, organization_id, created.id, password)

    def update(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID,
               patch: schemas.PostgresServicePatchRequest) -> schemas.PostgresService:
        def change(found: PostgresService) -> list[RecordedActivityType]:
            changed: list[RecordedActivityType] = []
            if found.replica_of is not None and (patch.size, patch.haType, patch.tags) != (None, None, None):
                raise BadRequest("Read replicas cannot be modified directly! Please modify the parent database "
                                 f"instead ({found.replica_of}): size, haType and tags follow it")
            if patch.haType is not None:
                _check_ha_type(patch.haType)
            if patch.name is not None and patch.name != found.name:
                found.name = _check_name(patch.name)
                changed.append("postgres_service_update")
            if patch.size is not None and patch.size != found.size:
                found.size = patch.size
                changed.append("postgres_service_update")
            if patch.tags is not None:
                found.tags = check_tags(patch.tags)
                changed.append("postgres_service_update")
            if patch.ipAccessList is not None:
                removed = {rule.id for rule in patch.ipAccessList.remove}
                kept = [rule for rule in found.ip_access_list if rule["id"] not in removed]
                rules = access_rules(patch.ipAccessList.add, kept)
                if rules != found.ip_access_list:
                    found.ip_access_list = rules
                    found.generation += 1
                    changed.append("postgres_service_update_ip_access_list")
            return sorted(set(changed))

        return self._change(caller, organization_id, postgres_id, change, patch.model_dump(exclude_none=True))

    def delete(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID) -> None:
        with self.context.database.transaction() as session:
            services = PostgresServices(session)
            found = visible(services, caller, organization_id, postgres_id, for_update=True)
            replicas = [str(replica.id) for replica in services.replicas_of(found.id)]
            if replicas:
                raise Conflict(f"Postgres service {postgres_id} still has read replicas ({', '.join(replicas)}): "
                               "delete or promote them first")
            transition = lifecycle.apply(found.state, "delete")
            if transition is not None:
                _enter(found, transition)
                _record(session, caller, found, ["postgres_service_delete"], {"name": found.name})
        self.context.reconcile_now.set()

    def set_password(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID,
                     request: schemas.PostgresServiceSetPassword) -> schemas.PostgresServicePasswordResource:
        """A new superuser password: the one given (under the rules, and not the current one) or one generated and
        shown once. The old one is refused as soon as the reconciler has applied it, within a pass."""
        given = request.password
        if given is not None:
            check_password(given)
        password = given if given is not None else generate_password()

        def change(found: PostgresService) -> list[RecordedActivityType]:
            if found.replica_of is not None:
                raise BadRequest(f"a read replica has its primary's password; change that of {found.replica_of}")
            self._require_running(found, "its password is changed")
            if given is not None and verifies(found.superuser_verifier, given):
                raise BadRequest("password is the service's current password; choose a new one")
            found.superuser_verifier = scram_verifier(password)
            found.generation += 1
            return ["postgres_service_update_password"]

        self._change(caller, organization_id, postgres_id, change, {})
        return schemas.PostgresServicePasswordResource(password=None if given is not None else password)

    def set_state(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID,
                  request: schemas.PostgresServiceSetState) -> schemas.PostgresService:
        def change(found: PostgresService) -> list[RecordedActivityType]:
            if request.command == "promote":
                return self._promote(found)
            if request.command == "switchover" and found.replica_of is not None:
                raise BadRequest(f"switchover applies to a primary; Postgres service {found.id} is a read replica "
                                 f"of {found.replica_of}: promote it instead")
            transition = lifecycle.apply(found.state, request.command)
            if transition is None:
                return []
            _enter(found, transition)
            # A new intent: work under way on the old one (a reload for a config change) can no longer write
            # over it (its compare-and-set fails), so the restart is not lost.
            found.generation += 1
            if request.command == "switchover":  # a restart onto a new server
                found.switchover_requested = True
                return ["postgres_service_switchover"]
            return ["postgres_service_restart"]

        return self._change(caller, organization_id, postgres_id, change, {"command": request.command})

    async def replace_config(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID,
                             request: schemas.PostgresInstanceConfig, merge: bool
                             ) -> schemas.PostgresInstanceUpdateConfigResponse:
        """POST replaces the parameters (`{}` clears them), PATCH (`merge`) adds to them. Checked by the engine of
        the service's version before anything is stored."""
        config.check_pgbouncer(request.pgBouncerConfig)
        with self.context.database.looking() as session:
            found = visible(PostgresServices(session), caller, organization_id, postgres_id)
            current, version = dict(found.pg_config), found.postgres_version
        wanted = {**current, **request.pgConfig} if merge else dict(request.pgConfig)
        parameters = await self._checked_parameters(version, wanted)
        needs_restart = await self.runtime.restart_needed(version, tuple(
            name for name, value in parameters.items() if current.get(name) != value))

        def change(found: PostgresService) -> list[RecordedActivityType]:
            if found.pg_config == parameters:
                return []
            found.pg_config = parameters
            found.generation += 1
            return ["postgres_service_update_config"]

        self._change(caller, organization_id, postgres_id, change, {"pgConfig": parameters})
        return schemas.PostgresInstanceUpdateConfigResponse(pgConfig=parameters, pgBouncerConfig={},
                                                            message=config.restart_message(needs_restart))

    async def create_replica(self, caller: Caller, organization_id: uuid.UUID, primary_id: uuid.UUID,
                             request: schemas.PostgresServiceReadReplicaRequest) -> schemas.PostgresService:
        """A read replica: a service of its own that replays the primary's WAL, with the primary's version, size and
        superuser (replicated: it takes no password)."""
        config.check_pgbouncer(request.pgBouncerConfig)
        with self.context.database.looking() as session:
            primary = visible(PostgresServices(session), caller, organization_id, primary_id)
            version = primary.postgres_version
        parameters = await self._checked_parameters(version, request.pgConfig or {})

        def replica_of(primary: PostgresService) -> PostgresService:
            if primary.replica_of is not None:
                raise BadRequest(f"Postgres service {primary.id} is itself a read replica; make the replica of its "
                                 f"primary {primary.replica_of}")
            self._require_running(primary, "a replica is made of it")
            return self._new_row(primary, request.name, request.tags, parameters, replica_of=primary.id,
                                 is_primary=False)

        return await self._create_from(caller, organization_id, primary_id, replica_of,
                                       "postgres_service_create", {"name": request.name, "replicaOf": str(primary_id)})

    async def restore(self, caller: Caller, organization_id: uuid.UUID, source_id: uuid.UUID,
                      request: schemas.PostgresServiceRestoreRequest) -> schemas.PostgresService:
        """A new service holding the source's data as of `restoreTarget`, with the source's version, size and
        password; refused when the target is outside what the source's backups and WAL cover."""
        config.check_pgbouncer(request.pgBouncerConfig)
        with self.context.database.looking() as session:
            version = visible(PostgresServices(session), caller, organization_id, source_id).postgres_version
        parameters = await self._checked_parameters(version, request.pgConfig or {})
        target = request.restoreTarget.astimezone(UTC)
        window = await self.runtime.recovery_window(str(source_id))
        if window is None:
            raise BadRequest(f"Postgres service {source_id} has no backup yet to restore from; its first is taken "
                             "once it runs: try again shortly")
        # earliestRestoreTime is shown to the second: a target in that second, before the moment itself, is taken
        # as that moment, the nearest the backups can restore to.
        if window.earliest.replace(microsecond=0) <= target < window.earliest:
            target = window.earliest
        if not window.earliest <= target <= window.latest:
            raise BadRequest(f"restoreTarget {rfc3339(target)} is outside what the backups of {source_id} cover: "
                             f"from {rfc3339(window.earliest)} to {rfc3339(window.latest)}; the WAL of the last "
                             "minute is archived within a minute (archive_timeout): for a later target, try again "
                             "shortly")

        def restored(source: PostgresService) -> PostgresService:
            return self._new_row(source, request.name, request.tags, parameters, restored_from=source.id,
                                 restore_target=target)

        return await self._create_from(caller, organization_id, source_id, restored, "postgres_service_create",
                                       {"name": request.name, "restoredFrom": str(source_id),
                                        "restoreTarget": rfc3339(target)})

    async def backups(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID
                      ) -> list[schemas.PostgresBackup]:
        self.get(caller, organization_id, postgres_id)
        return [schemas.PostgresBackup(key=backup.key, lastModified=backup.finished_at or backup.started_at,
                                       status="completed" if backup.finished_at else "in_progress")
                for backup in await self.runtime.base_backups(str(postgres_id))]

    async def logs(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID, query: LogQuery
                   ) -> list[schemas.PostgresLogEntry]:
        self.get(caller, organization_id, postgres_id)
        entries = await self.runtime.logs(str(postgres_id), query.since, query.until, MAX_LOG_ENTRIES)
        kept = [entry for entry in entries if query.keeps(entry.severity, entry.body)]
        if query.descending:
            kept.reverse()
        return [schemas.PostgresLogEntry(timestamp=entry.timestamp, severity=entry.severity, body=entry.body)
                for entry in kept[query.offset:query.offset + query.limit]]

    # Helpers.

    def _promote(self, found: PostgresService) -> list[RecordedActivityType]:
        if found.replica_of is None:
            raise BadRequest(f"promote applies to a read replica; Postgres service {found.id} is a primary")
        lifecycle.apply(found.state, "promote")
        if found.promote_requested:
            return []
        found.promote_requested = True
        found.generation += 1
        return ["postgres_service_promote"]

    def _new_row(self, origin: PostgresService, name: str, tags: list[Any], parameters: dict[str, str],
                 **values: Any) -> PostgresService:
        """A service made from `origin` (a replica of it, or a restore): its provider, region, version, size and
        superuser, and state creating."""
        return PostgresService(
            id=uuid.uuid4(), organization_id=origin.organization_id, name=_check_name(name), provider=origin.provider,
            region=origin.region, postgres_version=origin.postgres_version, size=origin.size, ha_type="none",
            tags=check_tags(tags), state="creating", desired_state="running",
            superuser_verifier=origin.superuser_verifier, ip_access_list=list(origin.ip_access_list),
            pg_config=parameters, generation=1, observed_generation=0, storage_gib=self._storage_gib(),
            **{"is_primary": True, **values})

    async def _create_from(self, caller: Caller, organization_id: uuid.UUID, origin_id: uuid.UUID,
                           make: Callable[[PostgresService], PostgresService], activity: RecordedActivityType,
                           details: dict[str, Any]) -> schemas.PostgresService:
        with self.context.database.transaction() as session:
            visible_organization(Organizations(session), caller, organization_id, for_update=True)
            services = PostgresServices(session)
            origin = changeable(services, caller, organization_id, origin_id)
            quotas.check_new_postgres_service(quotas.Limits.of(self.context.settings), services.count(organization_id))
            created = services.add(make(origin))
            _record(session, caller, created, [activity], details)
        self.context.reconcile_now.set()
        return await self._with_address(caller, organization_id, created.id, password=None)

    async def _with_address(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID,
                            password: str | None) -> schemas.PostgresService:
        """The new service as the API shows it, with the address it will listen on, so that the one response that
        shows a password also says where to use it; reserved out of any transaction (a write lock held across an
        await would hold up every other writer)."""
        with contextlib.suppress(RuntimeFailure):  # else the reconciler records it when it starts the server
            address = await self.runtime.reserve(str(postgres_id))
            with self.context.database.transaction() as session:
                PostgresServices(session).write_address(postgres_id, *address)
        return self.get(caller, organization_id, postgres_id, password=password)

    def _check_version(self, version: str) -> str:
        available = self.runtime.versions()
        if version not in available:
            offered = ", ".join(available) or "none (install the PostgreSQL binaries: scripts/install)"
            raise BadRequest(f"postgresVersion {version}: this clickplane has no PostgreSQL {version} binaries; "
                             f"versions available: {offered}")
        return version

    async def _checked_parameters(self, version: str, wanted: dict[str, Any]) -> dict[str, str]:
        parameters = config.check_parameters(wanted)
        try:
            await self.runtime.check_config(version, tuple(sorted(parameters.items())))
        except ConfigRejected as rejected:
            raise BadRequest(f"pgConfig: PostgreSQL {version} refuses it: {rejected}") from None
        return parameters

    @staticmethod
    def _require_running(found: PostgresService, what: str) -> None:
        if found.state != "running":
            raise Conflict(f"Postgres service {found.id} is {found.state}: {what} only while it is running; wait "
                           f"until it is. Current state: '{found.state}'")

    def _storage_gib(self) -> int:
        """What the service may fill: the file system holding clickplane's data, in GiB."""
        data_dir = self.context.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        return max(1, shutil.disk_usage(data_dir).total // GIB)

    def _change(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID,
                change: Callable[[PostgresService], list[RecordedActivityType]], details: dict[str, Any]
                ) -> schemas.PostgresService:
        with self.context.database.transaction() as session:
            found = changeable(PostgresServices(session), caller, organization_id, postgres_id)
            _record(session, caller, found, change(found), details)
            changed = self.to_wire(found)
        self.context.reconcile_now.set()
        return changed

    def to_wire(self, found: PostgresService, password: str | None = None) -> schemas.PostgresService:
        host = found.hostname or self.context.settings.service_advertised_host or \
            self.context.settings.service_listen_host
        return schemas.PostgresService(
            **list_item(found).model_dump(), storageSize=found.storage_gib, username=SUPERUSER, hostname=host,
            port=found.port, connectionString=connection_string(host, found.port, password), password=password,
            ipAccessList=[schemas.PgIpAccessRule.model_validate(rule) for rule in found.ip_access_list],
            earliestRestoreTime=found.earliest_restore_time)


def list_item(found: PostgresService) -> schemas.PostgresServiceListItem:
    return schemas.PostgresServiceListItem(
        id=found.id, name=found.name, provider="aws", region=found.region, postgresVersion=found.postgres_version,
        size=found.size, haType=cast(schemas.PgHaType, found.ha_type), tags=found.tags, state=found.state,
        createdAt=found.created_at, isPrimary=found.is_primary)


def connection_string(host: str, port: int | None, password: str | None) -> str | None:
    """A libpq URI holding the password: only while the password is shown, and once the service has a port."""
    if port is None or password is None:
        return None
    address = f"[{host}]" if ":" in host else host
    return (f"postgresql://{SUPERUSER}:{quote(password, safe='')}@{address}:{port}/postgres"
            "?sslmode=require&channel_binding=require")


def _enter(found: PostgresService, transition: lifecycle.PostgresTransition) -> None:
    if transition.state is not None:
        found.state = transition.state
    if transition.desired_state is not None:
        found.desired_state = transition.desired_state
    found.state_reason = None


def _record(session: Session, caller: Caller, found: PostgresService, changes: list[RecordedActivityType],
            details: dict[str, Any]) -> None:
    for activity_type in changes:
        record(Activities(session), caller, activity_type, service_id=found.id, details=details)
