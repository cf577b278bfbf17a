"""Postgres services: create, list, get, update, delete; password, state, configuration and CA certificate."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Content, Response

from clickplane.auth.authentication import Caller
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import PlainText, Produces
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.paging import MAX_PAGE, page_of
from clickplane.kit.routes import Api
from clickplane.postgres.schemas import (
    PostgresBackup,
    PostgresInstanceConfig,
    PostgresInstanceConfigResponse,
    PostgresInstanceUpdateConfigResponse,
    PostgresLogEntry,
    PostgresService,
    PostgresServiceListItem,
    PostgresServicePasswordResource,
    PostgresServicePatchRequest,
    PostgresServicePostRequest,
    PostgresServiceReadReplicaRequest,
    PostgresServiceRestoreRequest,
    PostgresServiceSetPassword,
    PostgresServiceSetState,
)
from clickplane.postgres.service import PostgresServiceApi, log_query

TAG = "Postgres"
PATH = "/v1/organizations/{organizationId}/postgres"
ONE = PATH + "/{postgresId}"
CHANGE_ERRORS = (400, 401, 404, 409, 500)
PEM = "application/x-pem-file"


def add_routes(api: Api, context: AppContext) -> None:
    postgres = PostgresServiceApi(context)

    @api.route("GET", PATH, "postgresServiceGetList", "List Postgres services", TAG,
               "Every Postgres service of the organization, oldest first.", list[PostgresServiceListItem])
    async def list_services(caller: Caller, organizationId: UUID) -> Response:
        return ok(postgres.list_all(caller, organizationId))

    @api.route("POST", PATH, "postgresServiceCreate", "Create new Postgres service", TAG,
               "Records the service and returns at once in state creating, with the `postgres` superuser's password "
               "and a connection string holding it (shown only here). A PostgreSQL server of the requested version "
               "is set up and started in the background, with a TLS certificate from a CA of its own "
               "(`caCertificates`); poll the service until its state is running.", PostgresService,
               errors=CHANGE_ERRORS, produces=Produces("postgresId", "/result/id"))
    async def create_service(caller: Caller, organizationId: UUID,
                             body: JsonBody[PostgresServicePostRequest]) -> Response:
        return ok(await postgres.create(caller, organizationId, body.value))

    @api.route("GET", ONE, "postgresServiceGet", "Get PostgreSQL service details", TAG,
               "One Postgres service of the organization. Its password is never shown again; its connection "
               "string has none.", PostgresService)
    async def get_service(caller: Caller, organizationId: UUID, postgresId: UUID) -> Response:
        return ok(postgres.get(caller, organizationId, postgresId))

    @api.route("PATCH", ONE, "postgresServicePatch", "Update a PostgreSQL service", TAG,
               "Rename, resize (recorded), retag (the tags given replace them; omitted, they stay) or change the "
               "access list (`ipAccessList: {add, remove}`; applied to the server's access rules).", PostgresService,
               errors=CHANGE_ERRORS)
    async def update_service(caller: Caller, organizationId: UUID, postgresId: UUID,
                             body: JsonBody[PostgresServicePatchRequest]) -> Response:
        return ok(postgres.update(caller, organizationId, postgresId, body.value))

    @api.route("DELETE", ONE, "postgresServiceDelete", "Delete a PostgreSQL service", TAG,
               "Stops the server and removes its data; the service shows deleting until it is gone (then 404).",
               None, errors=CHANGE_ERRORS)
    async def delete_service(caller: Caller, organizationId: UUID, postgresId: UUID) -> Response:
        postgres.delete(caller, organizationId, postgresId)
        return acknowledged()

    @api.route("GET", ONE + "/caCertificates", "postgresServiceCertsGet", "Get Postgres CA certs", TAG,
               "The PEM of the service's own CA, which signs its server certificate: verify with "
               "`sslmode=verify-full sslrootcert=<this file>`.", PlainText(PEM))
    async def ca_certificates(caller: Caller, organizationId: UUID, postgresId: UUID) -> Response:
        pem = await postgres.ca_certificate(caller, organizationId, postgresId)
        response = Response(200, None, Content(PEM.encode(), pem))
        response.add_header(b"Content-Disposition", b'attachment; filename="postgres-ca-certificate.pem"')
        return response

    @api.route("PATCH", ONE + "/password", "postgresServiceSetPassword", "Update Postgres superuser password", TAG,
               "Sets the `postgres` superuser's password: the one given (12 to 1024 characters with a lowercase and "
               "an uppercase letter and a digit), or a generated one returned here only. The service must be "
               "running; the old password is refused from the reconciler's next pass on.",
               PostgresServicePasswordResource, errors=CHANGE_ERRORS)
    async def set_password(caller: Caller, organizationId: UUID, postgresId: UUID,
                           body: JsonBody[PostgresServiceSetPassword]) -> Response:
        return ok(postgres.set_password(caller, organizationId, postgresId, body.value))

    @api.route("PATCH", ONE + "/state", "postgresServicePatchState", "Update Postgres service state", TAG,
               "`restart` restarts the server (only while running; the state shows restarting until it is back). "
               "`switchover` moves a primary onto a new server, made as a streaming copy of it, which takes over "
               "its address once it has all the primary's WAL (shown as restarting, a second or so of downtime; "
               "data, WAL position, backups and read replicas are kept). `promote` makes a read replica a primary.",
               PostgresService, errors=CHANGE_ERRORS)
    async def set_state(caller: Caller, organizationId: UUID, postgresId: UUID,
                        body: JsonBody[PostgresServiceSetState]) -> Response:
        return ok(postgres.set_state(caller, organizationId, postgresId, body.value))

    @api.route("POST", ONE + "/readReplica", "postgresInstanceCreateReadReplica", "Create a read replica", TAG,
               "A new service that replays this primary's WAL (streaming replication): read-only, with the primary's "
               "version, size and superuser, its lag visible as the server's own. Promote it to make it a primary.",
               PostgresService, errors=CHANGE_ERRORS, produces=Produces("postgresId", "/result/id"))
    async def create_replica(caller: Caller, organizationId: UUID, postgresId: UUID,
                             body: JsonBody[PostgresServiceReadReplicaRequest]) -> Response:
        return ok(await postgres.create_replica(caller, organizationId, postgresId, body.value))

    @api.route("POST", ONE + "/restoredService", "postgresInstanceRestore", "Restore to a point in time", TAG,
               "A new service holding this one's data as of `restoreTarget`: made from the newest base backup "
               "before it and the WAL archived since, replayed up to the target. Refused outside what the backups "
               "cover (`earliestRestoreTime` to now).", PostgresService, errors=CHANGE_ERRORS,
               produces=Produces("postgresId", "/result/id"))
    async def restore(caller: Caller, organizationId: UUID, postgresId: UUID,
                      body: JsonBody[PostgresServiceRestoreRequest]) -> Response:
        return ok(await postgres.restore(caller, organizationId, postgresId, body.value))

    @api.route("GET", ONE + "/backups", "postgresBackupGetList", "List Postgres backups", TAG,
               "The service's base backups, oldest first (clickhousectl's `postgres backup list`; absent from the "
               "reference). A base backup is taken when the service first runs and then daily; with the WAL "
               "archived continuously they allow a restore to any moment since the oldest.", list[PostgresBackup],
               paged=True, parameters={"limit": {"minimum": 1, "maximum": MAX_PAGE}})
    async def list_backups(caller: Caller, organizationId: UUID, postgresId: UUID, limit: int | None = None,
                           cursor: str | None = None) -> Response:
        backups = await postgres.backups(caller, organizationId, postgresId)
        page, paging = page_of(backups, limit, cursor, lambda backup: backup.key, "a backup of this service")
        return ok(page, page=paging)

    @api.route("GET", ONE + "/logs", "postgresLogsGet", "Get Postgres logs", TAG,
               "The server's log entries between `from_date` and `to_date` (RFC 3339), oldest first unless "
               "`sort_order=desc`; `severity` and `body_contains` filter them (clickhousectl's `postgres logs`; absent "
               "from the reference).", list[PostgresLogEntry])
    async def logs(caller: Caller, organizationId: UUID, postgresId: UUID, from_date: str, to_date: str,
                   body_contains: str | None = None, severity: str | None = None, sort_order: str = "asc",
                   limit: int = 100, offset: int = 0) -> Response:
        query = log_query(from_date, to_date, body_contains, severity, sort_order, limit, offset)
        return ok(await postgres.logs(caller, organizationId, postgresId, query))

    @api.route("GET", ONE + "/config", "postgresInstanceConfigGet", "Get PostgreSQL service configuration", TAG,
               "The server parameters set on the service (not the server's defaults).",
               PostgresInstanceConfigResponse)
    async def get_config(caller: Caller, organizationId: UUID, postgresId: UUID) -> Response:
        return ok(postgres.get_config(caller, organizationId, postgresId))

    @api.route("POST", ONE + "/config", "postgresInstanceConfigPost", "Replace Postgres service configuration", TAG,
               "Replaces the parameters (`{}` clears them). Each is checked by the engine of the service's version; "
               "they are applied by a reload, and `message` names those that take effect only after a restart.",
               PostgresInstanceUpdateConfigResponse, errors=CHANGE_ERRORS)
    async def replace_config(caller: Caller, organizationId: UUID, postgresId: UUID,
                             body: JsonBody[PostgresInstanceConfig]) -> Response:
        return ok(await postgres.replace_config(caller, organizationId, postgresId, body.value, merge=False))

    @api.route("PATCH", ONE + "/config", "postgresInstanceConfigPatch", "Update Postgres service configuration", TAG,
               "Adds the parameters given to those set, under the same checks as a replace.",
               PostgresInstanceUpdateConfigResponse, errors=CHANGE_ERRORS)
    async def patch_config(caller: Caller, organizationId: UUID, postgresId: UUID,
                           body: JsonBody[PostgresInstanceConfig]) -> Response:
        return ok(await postgres.replace_config(caller, organizationId, postgresId, body.value, merge=True))
