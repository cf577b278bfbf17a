"""QueryApiEndpointService on a real store (its service stopped, so no SQL is checked): the keys an endpoint may
list, whose endpoints the API may change, and what running one takes: a listed key, an allowed origin, and a value
for each placeholder, the run's before the endpoint's."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from clickplane.auth.authentication import Caller, VerifiedKeys
from clickplane.auth.permissions import ADMIN
from clickplane.auth.secrets import SecretHasher
from clickplane.kit.errors import BadRequest, Conflict, Forbidden, NotFound
from clickplane.query_api_endpoints.schemas import QueryApiEndpointRequest, QueryApiEndpointRun
from clickplane.query_api_endpoints.service import QueryApiEndpointService
from clickplane.services.repository import Services
from clickplane.settings import Settings
from clickplane.store import models
from clickplane.store.database import Database
from tests.unit.backups.test_backup_jobs import running_service
from tests.unit.fakes import app_context

pytestmark = pytest.mark.anyio
HASHER = SecretHasher(b"k" * 32)


class Setting:
    def __init__(self, database: Database, tmp_path: Path) -> None:
        self.service_id = running_service(database, state="stopped")
        with database.transaction() as session:
            self.organization_id = Services(session).all()[0].organization_id
            self.key_ids = [self._key(session, n) for n in range(2)]
        context = app_context(Settings(data_dir=tmp_path, database_url=database.url), database, HASHER,
                              VerifiedKeys(ttl_seconds=60))
        self.endpoints = QueryApiEndpointService(context)
        self.database = database

    def _key(self, session: Any, n: int) -> uuid.UUID:
        key = models.ApiKey(organization_id=self.organization_id, name=f"k{n}", key_id_hash=f"{n}" * 64,
                            secret_hash="0" * 64, key_suffix="abcd")
        session.add(key)
        session.flush()
        return key.id

    def caller(self, key: uuid.UUID) -> Caller:
        return Caller(key, "k", self.organization_id, (str(ADMIN.id),), ADMIN.policies)

    def request(self, **fields: Any) -> QueryApiEndpointRequest:
        return QueryApiEndpointRequest.model_validate({
            "name": "e", "sql": "SELECT {a:UInt8} + {b:UInt8}", "database": "default",
            "parameters": {"a": "1", "b": "2"}, "apiKeyIds": [str(self.key_ids[0])], "roles": ["sql_console_admin"],
            **fields})

    async def create(self, **fields: Any) -> models.QueryApiEndpoint:
        return await self.endpoints.create(self.caller(self.key_ids[0]), self.organization_id, self.service_id,
                                           self.request(**fields))


@pytest.fixture
def setting(database: Database, tmp_path: Path) -> Setting:
    return Setting(database, tmp_path)


async def test_an_endpoint_lists_keys_of_the_organization_only_and_its_name_once(setting: Setting) -> None:
    with pytest.raises(BadRequest, match="apiKeyIds"):
        await setting.create(apiKeyIds=[str(uuid.uuid4())])
    made = await setting.create(apiKeyIds=[str(setting.key_ids[0])] * 2, allowedOrigins=["*"])
    assert made.api_key_ids == [str(setting.key_ids[0])]
    assert made.owner_type == "apiKey"
    with pytest.raises(Conflict, match="already has a Query API endpoint named 'e'"):
        await setting.create()


async def test_running_takes_a_listed_key_an_allowed_origin_and_a_value_per_placeholder(setting: Setting) -> None:
    made = await setting.create(allowedOrigins=["https://ok.example"])
    first, second = (setting.caller(key) for key in setting.key_ids)
    runnable = setting.endpoints.runnable(first, made.id, None, QueryApiEndpointRun(queryVariables={"b": 5}))
    assert runnable.run.sql == "SELECT CAST('1' AS UInt8) + CAST('5' AS UInt8)"
    assert (runnable.service_id, runnable.state, runnable.read_only) == (setting.service_id, "stopped", False)
    assert setting.endpoints.runnable(first, made.id, "https://ok.example", QueryApiEndpointRun()).run.database \
        == "default"
    with pytest.raises(Forbidden, match="apiKeyIds"):
        setting.endpoints.runnable(second, made.id, None, QueryApiEndpointRun())
    with pytest.raises(Forbidden, match="allowedOrigins"):
        setting.endpoints.runnable(first, made.id, "https://other.example", QueryApiEndpointRun())
    with pytest.raises(NotFound):
        setting.endpoints.runnable(first, uuid.uuid4(), None, QueryApiEndpointRun())
    outsider = Caller(setting.key_ids[0], "k", uuid.uuid4(), (str(ADMIN.id),), ADMIN.policies)
    with pytest.raises(NotFound):
        setting.endpoints.runnable(outsider, made.id, None, QueryApiEndpointRun())


async def test_a_users_endpoint_may_be_read_but_not_changed(setting: Setting) -> None:
    made = await setting.create()
    with setting.database.transaction() as session:
        row = session.get(models.QueryApiEndpoint, made.id)
        assert row is not None
        row.owner_type = "user"
    caller = setting.caller(setting.key_ids[0])
    assert setting.endpoints.get(caller, setting.organization_id, setting.service_id, made.id).owner_type == "user"
    with pytest.raises(Forbidden, match="owned by a user"):
        await setting.endpoints.replace(caller, setting.organization_id, setting.service_id, made.id,
                                        setting.request(name="f"))
    with pytest.raises(Forbidden, match="owned by a user"):
        setting.endpoints.delete(caller, setting.organization_id, setting.service_id, made.id)
