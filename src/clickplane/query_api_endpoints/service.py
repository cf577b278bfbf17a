"""Query API endpoints: query/stored.py's use cases, the keys and origins an endpoint allows, and what running its
URL takes: the endpoint the caller's key may run, and the SQL with its placeholders filled in."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from clickplane.auth.authentication import Caller
from clickplane.keys.repository import ApiKeys
from clickplane.kit import cors
from clickplane.kit.errors import BadRequest, Forbidden, NotFound
from clickplane.query.schemas import QueryRun
from clickplane.query.statements import rendered
from clickplane.query.stored import StoredSqlService
from clickplane.query_api_endpoints import schemas
from clickplane.query_api_endpoints.repository import QueryApiEndpoints
from clickplane.services.repository import Services
from clickplane.store.models import QueryApiEndpoint

# Where an endpoint's URL is served, under the API server's base URL (ClickHouse Cloud's path).
RUN_PATH = "/.well-known/runQuery/{endpointId}"
# The role whose queries may write; any other set of roles runs read-only (as the Query API's query endpoint).
ADMIN_ROLE = "sql_console_admin"


def url_of(endpoint: QueryApiEndpoint, base_url: str) -> str:
    return base_url + RUN_PATH.format(endpointId=endpoint.id)


def to_list_item(endpoint: QueryApiEndpoint, base_url: str) -> schemas.QueryApiEndpointListItem:
    return schemas.QueryApiEndpointListItem.model_validate(_fields(endpoint, base_url))


def to_wire(endpoint: QueryApiEndpoint, base_url: str) -> schemas.QueryApiEndpoint:
    return schemas.QueryApiEndpoint.model_validate(
        {**_fields(endpoint, base_url), "sql": endpoint.sql, "parameters": endpoint.parameters})


def _fields(endpoint: QueryApiEndpoint, base_url: str) -> dict[str, object]:
    return {"id": endpoint.id, "name": endpoint.name, "database": endpoint.database,
            "apiKeyIds": endpoint.api_key_ids, "roles": endpoint.roles, "allowedOrigins": endpoint.allowed_origins,
            "url": url_of(endpoint, base_url), "ownerType": endpoint.owner_type}


@dataclass(frozen=True)
class Runnable:
    """An endpoint the caller may run now: on which service (in which state then), and how."""

    service_id: uuid.UUID
    state: str
    read_only: bool
    run: QueryRun


class QueryApiEndpointService(StoredSqlService[QueryApiEndpoint, schemas.QueryApiEndpointRequest]):
    noun = "Query API endpoint"
    items = QueryApiEndpoints
    activities = ("query_api_endpoint_create", "query_api_endpoint_update", "query_api_endpoint_delete")

    def fill(self, session: Session, row: QueryApiEndpoint, request: schemas.QueryApiEndpointRequest) -> None:
        known = ApiKeys(session).ids_among(row.organization_id, request.apiKeyIds)
        for key_id in request.apiKeyIds:
            if key_id not in known:
                raise BadRequest(f"apiKeyIds: {key_id} is not the id of an API key of this organization; list the "
                                 "keys with GET /v1/organizations/{organizationId}/keys")
        row.api_key_ids = list(dict.fromkeys(str(key_id) for key_id in request.apiKeyIds))
        row.roles = list(dict.fromkeys(request.roles))
        row.allowed_origins = list(dict.fromkeys(request.allowedOrigins or []))
        row.owner_type = row.owner_type or "apiKey"

    def check_change(self, row: QueryApiEndpoint) -> None:
        if row.owner_type != "apiKey":
            raise Forbidden(f"Query API endpoint {row.id} is owned by a user (ownerType {row.owner_type}): API keys "
                            "may read it but not change or delete it; make an endpoint of your own instead")

    def admits_origin(self, endpoint_id: uuid.UUID, origin: str) -> bool:
        """Whether a browser's page from `origin` may run the endpoint: a preflight's question, which carries no
        credentials (the run itself is then judged as any other)."""
        with self.context.database.looking() as session:
            endpoint = QueryApiEndpoints(session).of_id(endpoint_id)
            return endpoint is not None and cors.admits(endpoint.allowed_origins, origin)

    def runnable(self, caller: Caller, endpoint_id: uuid.UUID, origin: str | None,
                 request: schemas.QueryApiEndpointRun) -> Runnable:
        """The endpoint, if the caller's key is one it lists and the browser's origin (if any) one it allows, with
        its SQL's placeholders filled in: the run's queryVariables, else the endpoint's parameters."""
        with self.context.database.looking() as session:
            endpoint = QueryApiEndpoints(session).by_id(caller.organization_id, endpoint_id)
            service = Services(session).get(caller.organization_id, endpoint.service_id) if endpoint else None
            if endpoint is None or service is None:
                raise NotFound(f"Query API endpoint {endpoint_id} does not exist or is not visible to this API key")
            if str(caller.key_uuid) not in endpoint.api_key_ids:
                raise Forbidden(f"this API key may not run Query API endpoint {endpoint_id}; add its id to the "
                                "endpoint's apiKeyIds")
            if origin is not None and not cors.admits(endpoint.allowed_origins, origin):
                raise Forbidden(f"origin {origin!r} is not among the endpoint's allowedOrigins; add it to them")
            given = {name: value if isinstance(value, str) else json.dumps(value)
                     for name, value in (request.queryVariables or {}).items()}
            values = {**endpoint.parameters, **given}
            run = QueryRun(sql=rendered(endpoint.sql, values), database=endpoint.database)
            return Runnable(service.id, service.state, ADMIN_ROLE not in endpoint.roles, run)
