"""UdfApi on a real store, with a test double of the runtime that records what it installs: the rules of
uploads, versions, attachments and deletes, and the 424s that say why a function cannot be installed."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select

from clickplane.auth import permissions
from clickplane.auth.authentication import Caller, VerifiedKeys
from clickplane.auth.permissions import ADMIN, Policy
from clickplane.auth.secrets import SecretHasher
from clickplane.kit.errors import ApiError, BadRequest, Conflict, FailedDependency, Gone, NotFound
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.interface import ExecutableFunction, FunctionsUnsupported
from clickplane.services.repository import Services
from clickplane.settings import Settings
from clickplane.store import models
from clickplane.store.database import Database
from clickplane.udfs import archive as archive_module
from clickplane.udfs import schemas
from clickplane.udfs import service as service_module
from clickplane.udfs.repository import Udfs, UdfUploads
from clickplane.udfs.service import MAX_PENDING_UPLOADS, UdfApi, require_running, stored_definition, token_digest
from tests.unit.backups.test_backup_jobs import running_service
from tests.unit.fakes import app_context
from tests.unit.udfs.test_archive import UPPER, zipped

pytestmark = pytest.mark.anyio

HASHER = SecretHasher(b"k" * 32)
BASE_URL = "https://127.0.0.1:9443"
HOST = "127.0.0.1"
DEFINITION: dict[str, Any] = {"runtime": "python3.11", "type": "executable",
                              "arguments": [{"name": "x", "type": "String"}], "returnType": "String"}


@dataclass
class InstallingRuntime:
    """Installs by remembering; `refusal` makes installs fail as a runtime would."""

    installed: dict[str, ExecutableFunction] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    refusal: RuntimeFailure | None = None

    async def install_function(self, service_id: str, function: ExecutableFunction) -> None:
        if self.refusal is not None:
            raise self.refusal
        self.installed[service_id] = function

    async def remove_function(self, service_id: str, name: str) -> None:
        self.removed.append(f"{service_id}/{name}")
        self.installed.pop(service_id, None)


@dataclass
class Setup:
    api: UdfApi
    runtime: InstallingRuntime
    caller: Caller
    organization_id: uuid.UUID
    service_id: uuid.UUID
    database: Database

    def upload(self, archive: bytes | None = None) -> uuid.UUID:
        session = self.api.create_upload(self.caller, self.organization_id, HOST)
        token = session.uploadUrl.rsplit("/", 1)[1]
        self.api.receive_upload(token, archive or zipped({"main.py": UPPER}))
        return session.uploadId

    async def create(self, name: str = "upper", **changes: Any) -> schemas.Udf:
        return await self.api.create(self.caller, self.organization_id, schemas.UdfCreateRequest.model_validate(
            {**DEFINITION, "functionName": name, "uploadId": str(self.upload()), **changes}))

    async def version(self, name: str = "upper") -> schemas.Udf:
        return await self.api.create_version(self.caller, self.organization_id, name,
                                       schemas.UdfVersionCreateRequest.model_validate(
                                           {**DEFINITION, "uploadId": str(self.upload())}))

    async def attach(self, name: str = "upper", version: int | None = None) -> schemas.UdfAttachment:
        return await self.api.attach(self.caller, self.organization_id, name, self.service_id,
                                     schemas.UdfAttachRequest(version=version))

    def set_state(self, state: str) -> None:
        with self.database.transaction() as session:
            service = Services(session).all()[0]
            service.state = state  # type: ignore[assignment]


@pytest.fixture
def setup(database: Database, tmp_path: Path) -> Setup:
    service_id = running_service(database)
    with database.transaction() as session:
        organization_id = Services(session).all()[0].organization_id
    context = app_context(Settings(data_dir=tmp_path, database_url=database.url, udf_execution_enabled=True),
                          database, HASHER,
                          VerifiedKeys(ttl_seconds=60))
    runtime = InstallingRuntime()
    context.runtime = runtime  # type: ignore[assignment]
    context.udf_upload_port = 9443
    caller = Caller(uuid.uuid4(), "admin", organization_id, (str(ADMIN.id),), ADMIN.policies)
    return Setup(UdfApi(context), runtime, caller, organization_id, service_id, database)


def refused(error: type[ApiError], *words: str) -> Any:
    """pytest.raises for an API error whose message holds every word."""
    return pytest.raises(error, match="(?s)" + "".join(f"(?=.*{word})" for word in words))


async def test_an_upload_url_is_https_takes_one_zip_and_is_taken_by_one_create(setup: Setup) -> None:
    session = setup.api.create_upload(setup.caller, setup.organization_id, HOST)
    assert session.uploadUrl.startswith(f"{BASE_URL}/udf-uploads/")
    assert setup.api.create_upload(setup.caller, setup.organization_id, "::1").uploadUrl.startswith(
        "https://[::1]:9443/")
    token = session.uploadUrl.rsplit("/", 1)[1]
    with setup.database.looking() as store:  # only its digest is kept
        assert UdfUploads(store).by_token(token_digest(token)) is not None
        assert token not in str(store.get(models.UdfUpload, session.uploadId).__dict__)
    with refused(BadRequest, "not a ZIP archive"):
        setup.api.receive_upload(token, b"plain text")
    setup.api.receive_upload(token, zipped({"main.py": UPPER}))
    with refused(Gone, "used already"):
        setup.api.receive_upload(token, zipped({"main.py": UPPER}))
    with refused(Gone, "expired or unknown"):
        setup.api.receive_upload("no-such-token", zipped({"main.py": UPPER}))
    request = schemas.UdfCreateRequest.model_validate({**DEFINITION, "functionName": "upper",
                                                       "uploadId": str(session.uploadId)})
    made = await setup.api.create(setup.caller, setup.organization_id, request)
    assert (made.functionName, made.version, made.status) == ("upper", 1, "ready")
    with refused(Gone, "already taken"):
        await setup.api.create(setup.caller, setup.organization_id,
                               request.model_copy(update={"functionName": "other"}))


async def test_an_expired_or_empty_upload_cannot_be_used(setup: Setup) -> None:
    empty = setup.api.create_upload(setup.caller, setup.organization_id, HOST).uploadId
    with refused(Gone, "nothing was uploaded"):
        await setup.create(uploadId=str(empty))
    expired = setup.api.create_upload(setup.caller, setup.organization_id, HOST)
    with setup.database.transaction() as session:
        session.get(models.UdfUpload, expired.uploadId).expires_at -= timedelta(hours=1)  # type: ignore[union-attr]
    with refused(Gone, "expired or unknown"):
        setup.api.receive_upload(expired.uploadUrl.rsplit("/", 1)[1], zipped({"main.py": UPPER}))


async def test_an_archive_that_does_not_build_is_a_400_that_stores_nothing_and_keeps_the_upload(setup: Setup) -> None:
    upload = setup.upload(zipped({"readme.txt": b"no code"}))
    request = schemas.UdfCreateRequest.model_validate({**DEFINITION, "functionName": "upper",
                                                       "uploadId": str(upload)})
    with refused(BadRequest, "does not build", "main.py"):
        await setup.api.create(setup.caller, setup.organization_id, request)
    with refused(NotFound, "no UDF named upper"):
        setup.api.get(setup.organization_id, "upper")
    with refused(BadRequest, "poolSize", "executable_pool"):
        await setup.create(poolSize=2)
    with refused(BadRequest, "'x' names more than one argument"):
        await setup.create(arguments=[{"name": "x", "type": "String"}, {"name": "x", "type": "UInt8"}])


def test_definitions_keep_the_reference_defaults() -> None:
    pool = stored_definition(schemas.UdfVersionCreateRequest.model_validate(
        {**DEFINITION, "type": "executable_pool", "uploadId": str(uuid.uuid4())}))
    assert (pool["poolSize"], pool["maxCommandExecutionTime"], pool["commandReadTimeout"]) == (3, 10, 10000)
    assert "uploadId" not in pool


async def test_names_are_unique_versions_count_up_and_the_latest_is_shown(setup: Setup) -> None:
    await setup.create()
    with refused(Conflict, "exists", "versions"):
        await setup.create()
    assert [(await setup.version()).version, (await setup.version()).version] == [2, 3]
    assert setup.api.get(setup.organization_id, "upper").version == 3
    assert [u.version for u in setup.api.versions(setup.organization_id, "upper")] == [1, 2, 3]
    await setup.create("another")
    assert [(u.functionName, u.version) for u in setup.api.functions(setup.organization_id)] == [
        ("another", 1), ("upper", 3)]
    with refused(Conflict, "latest"):
        setup.api.delete_version(setup.caller, setup.organization_id, "upper", 3)
    setup.api.delete_version(setup.caller, setup.organization_id, "upper", 2)
    with refused(NotFound, "no version 2"):
        setup.api.delete_version(setup.caller, setup.organization_id, "upper", 2)
    with refused(NotFound, "no version"):
        setup.api.delete_version(setup.caller, setup.organization_id, "upper", 2**40)
    assert (await setup.version()).version == 4  # numbers are never reused


async def test_an_attach_installs_the_version_and_blocks_deletes_until_detached(setup: Setup) -> None:
    await setup.create()
    await setup.version()
    attached = await setup.attach(version=1)
    assert (attached.status, attached.version, attached.serviceId) == ("deployed", 1, setup.service_id)
    installed = setup.runtime.installed[str(setup.service_id)]
    assert (installed.name, installed.interpreter, installed.command_file) == ("upper", "python3", "main.py")
    assert installed.arguments == (("x", "String"),)
    assert dict(installed.files) == {"main.py": UPPER}
    with refused(Conflict, "attached to service", "attach another version"):
        setup.api.delete_version(setup.caller, setup.organization_id, "upper", 1)
    with refused(Conflict, "detach it"):
        setup.api.delete(setup.caller, setup.organization_id, "upper")
    assert (await setup.attach()).version == 2  # the latest, when none is named
    assert [a.version for a in setup.api.attachments(setup.caller, setup.organization_id, "upper")] == [2]
    with refused(NotFound, "no version 9"):
        await setup.attach(version=9)
    await setup.api.detach(setup.caller, setup.organization_id, "upper", setup.service_id)
    assert setup.runtime.removed == [f"{setup.service_id}/upper"]
    with refused(NotFound, "not attached"):
        setup.api.attachment(setup.caller, setup.organization_id, "upper", setup.service_id)
    setup.api.delete(setup.caller, setup.organization_id, "upper")
    with refused(NotFound, "no UDF named upper"):
        await setup.attach()


async def test_an_engine_without_executable_functions_is_a_424_with_its_reason(setup: Setup) -> None:
    await setup.create()
    setup.runtime.refusal = FunctionsUnsupported("its ClickHouse is 18.16.1, which has none")
    with refused(FailedDependency, "18.16.1") as caught:
        await setup.attach()
    assert caught.value.fields == {"code": "UDF_UNSUPPORTED", "serviceState": "running", "canWake": False}
    setup.runtime.refusal = RuntimeFailure("SYSTEM RELOAD FUNCTIONS failed")
    with refused(FailedDependency, "could not be installed", "RELOAD") as caught:
        await setup.attach()
    assert caught.value.fields["code"] == "UDF_INSTALL_FAILED"
    assert setup.api.attachments(setup.caller, setup.organization_id, "upper") == []


@pytest.mark.parametrize(("state", "code", "can_wake", "advice"), [
    ("idle", "SERVICE_IDLE", True, "awake"),
    ("stopped", "SERVICE_STOPPED", False, "start"),
    ("starting", "SERVICE_NOT_RUNNING", False, "wait until it is running"),
])
async def test_a_service_that_is_not_running_is_a_424_saying_what_to_do(setup: Setup, state: str, code: str,
                                                                         can_wake: bool, advice: str) -> None:
    await setup.create()
    setup.set_state(state)
    with refused(FailedDependency, state, advice) as caught:
        await setup.attach()
    assert caught.value.fields == {"code": code, "serviceState": state, "canWake": can_wake}
    assert setup.runtime.installed == {}
    setup.set_state("running")
    with setup.database.looking() as session:
        require_running(Services(session).all()[0])  # nothing to say


async def test_another_organizations_function_or_service_is_not_found(setup: Setup) -> None:
    await setup.create()
    stranger = Caller(uuid.uuid4(), "admin", uuid.uuid4(), (str(ADMIN.id),), ADMIN.policies)
    with refused(NotFound, "no UDF named upper"):
        setup.api.get(stranger.organization_id, "upper")
    with refused(NotFound):
        await setup.api.attach(setup.caller, setup.organization_id, "upper", uuid.uuid4(),
                               schemas.UdfAttachRequest())


async def test_a_native_version_built_for_another_machine_is_a_409_at_attach(setup: Setup,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    native = {"amd64/main": b"#!/bin/sh\ncat\n", "arm64/main": b"#!/bin/sh\ncat\n"}
    upload = setup.upload(zipped(native))
    await setup.api.create(setup.caller, setup.organization_id, schemas.UdfCreateRequest.model_validate(
        {**DEFINITION, "runtime": "native", "functionName": "cat", "uploadId": str(upload)}))
    monkeypatch.setattr("clickplane.udfs.archive.platform.machine", lambda: "riscv64")
    with refused(Conflict, "does not build here", "riscv64/main", "create a new version"):
        await setup.attach("cat")


async def test_attaching_is_a_424_until_the_operator_enables_executable_functions(setup: Setup) -> None:
    await setup.create()
    setup.api.context.settings = setup.api.context.settings.model_copy(update={"udf_execution_enabled": False})
    with refused(FailedDependency, "disabled", "clickplane's own OS user", "CLICKPLANE_UDF_EXECUTION_ENABLED=true"
                 ) as caught:
        await setup.attach()
    assert caught.value.fields == {"code": "UDF_DISABLED", "canWake": False}
    setup.set_state("idle")  # not a 424 that has clickhousectl wake the service for nothing
    with refused(FailedDependency, "disabled") as caught:
        await setup.attach()
    assert caught.value.fields["code"] == "UDF_DISABLED"
    assert setup.runtime.installed == {}
    assert setup.api.attachments(setup.caller, setup.organization_id, "upper") == []
    assert not Settings().udf_execution_enabled  # off unless the operator says otherwise


async def test_builds_run_in_a_worker_thread_not_on_the_event_loop(setup: Setup,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    real_build = archive_module.build

    def build(data: bytes, runtime: str) -> Any:
        threads.append(threading.current_thread())
        return real_build(data, runtime)

    monkeypatch.setattr(service_module, "build", build)
    await setup.create()
    await setup.version()
    await setup.attach()
    assert len(threads) == 3
    assert threading.main_thread() not in threads


async def test_the_attachment_list_shows_only_services_the_caller_may_view(setup: Setup) -> None:
    await setup.create()
    await setup.attach()
    hidden = Policy("DENY", (permissions.SERVICE_VIEW,), (f"instance/{setup.service_id}",))
    limited = Caller(uuid.uuid4(), "limited", setup.organization_id, (str(ADMIN.id),), (*ADMIN.policies, hidden))
    assert setup.api.attachments(limited, setup.organization_id, "upper") == []
    assert [a.serviceId for a in setup.api.attachments(setup.caller, setup.organization_id, "upper")] == [
        setup.service_id]


async def test_archives_are_loaded_only_when_read(setup: Setup) -> None:
    made = await setup.create()
    pending = setup.api.create_upload(setup.caller, setup.organization_id, HOST)
    setup.api.receive_upload(pending.uploadUrl.rsplit("/", 1)[1], zipped({"main.py": UPPER}))
    with setup.database.looking() as session:
        udfs = Udfs(session)
        udf = udfs.named(setup.organization_id, made.functionName)
        assert udf is not None
        for version in [*udfs.versions(udf.id), *udfs.latest_versions([udf.id]).values()]:
            assert "archive" in inspect(version).unloaded
        upload = UdfUploads(session).get(pending.uploadId, for_update=False)
        assert upload is not None
        assert "archive" in inspect(upload).unloaded
        assert upload.archive  # and loaded when read


async def test_an_organization_holds_at_most_100_pending_uploads_and_expired_ones_go(setup: Setup) -> None:
    for _ in range(MAX_PENDING_UPLOADS - 1):
        setup.api.create_upload(setup.caller, setup.organization_id, HOST)
    last = setup.api.create_upload(setup.caller, setup.organization_id, HOST)
    with refused(Conflict, "100 upload URLs not yet taken", "expire"):
        setup.api.create_upload(setup.caller, setup.organization_id, HOST)
    with setup.database.transaction() as session:  # every upload but the last expires
        for upload in session.scalars(select(models.UdfUpload).where(models.UdfUpload.id != last.uploadId)):
            upload.expires_at -= timedelta(hours=1)
    setup.api.receive_upload(last.uploadUrl.rsplit("/", 1)[1], zipped({"main.py": UPPER}))
    await setup.api.create(setup.caller, setup.organization_id, schemas.UdfCreateRequest.model_validate(
        {**DEFINITION, "functionName": "upper", "uploadId": str(last.uploadId)}))  # expired ones are forgotten
    with setup.database.looking() as session:
        assert UdfUploads(session).pending(setup.organization_id) == 0
