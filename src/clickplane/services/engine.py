"""SQL the control plane runs on a service's ClickHouse for itself: reading its metrics and its settings.

It runs as the runtime's internal user, whose profile no setting of the service reaches, and each query
is noted with the runtime so that it never counts as a client's activity (which would keep the service
from idling). Clients' own SQL goes through the Query API instead (query/endpoints.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

import httpx

from clickplane.kit.context import AppContext

log = logging.getLogger(__name__)

# These queries read small system tables: a server that takes longer is reported as not answering.
TIMEOUT = httpx.Timeout(10.0)


@dataclass(frozen=True)
class Answer:
    status: int
    text: str

    @property
    def ok(self) -> bool:
        return self.status == 200


async def ask(context: AppContext, service_id: UUID, sql: str, settings: Mapping[str, str] | None = None
              ) -> Answer | None:
    """ClickHouse's answer to `sql`, run with `settings` for this query only; None when the service's
    server is not running or does not answer."""
    access = await context.runtime.sql_access(str(service_id))
    if access is None:
        return None
    context.runtime.count_own_query(str(service_id))
    try:
        response = await context.http_client().post(access.url, params=dict(settings or {}), content=sql.encode(),
                                                    auth=(access.user, access.password), timeout=TIMEOUT)
    except httpx.HTTPError as error:
        log.warning("service %s did not answer the control plane's query: %s", service_id, error)
        return None
    return Answer(response.status_code, response.text)
