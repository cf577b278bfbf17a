"""UDFs through the API: an organization's executable functions, each a series of versions (a definition and the
archive it was built from), attached to services, whose ClickHouse then runs them.

- An archive comes through an upload URL (`create_upload`): a token good for one PUT of at most
  udf_archive_max_bytes before it expires, to serve's HTTPS upload listener; a create or version create then takes
  the upload, once.
- The build is the archive's check (archive.py), done within the create, in a worker thread (it unpacks and
  compiles): a version is `ready` when it is answered (never `building` or `error`), and an archive that does not
  build is a 400 that stores nothing.
- An attach is refused (424, UDF_DISABLED) unless the operator turned on udf_execution_enabled: ClickHouse runs
  a function's command as its own OS user, which on the local runtime is clickplane's, with clickplane's
  environment, so it could read the store, the secret key, the CA's key and every other service's data.
- An attach installs the version on the service's ClickHouse within the request, and an attachment is `deployed`
  once answered (never `provisioning` or `error`: a failed install is a 424 that stores nothing): a
  service that is not running is a 424 saying how to get it running (clickhousectl wakes an idle one), and so is
  a ClickHouse without executable functions (18.16), as its server's own version tells.

Every change is recorded as an activity in the transaction that makes it."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth import permissions
from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.errors import BadRequest, Conflict, FailedDependency, Gone, NotFound
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.interface import ExecutableFunction, FunctionsUnsupported
from clickplane.services.lookup import visible
from clickplane.services.repository import Services
from clickplane.store.models import Service, Udf, UdfAttachment, UdfUpload, UdfVersion, utcnow
from clickplane.udfs import schemas
from clickplane.udfs.archive import Archive, ArchiveProblem, build, looks_like_zip
from clickplane.udfs.repository import Udfs, UdfUploads

# How long an upload URL may be used: long enough for a slow link to send the largest archive.
UPLOAD_LIFETIME = timedelta(minutes=15)
UPLOAD_PATH = "/udf-uploads/"
# The largest version number: beyond it no version exists (nor could, in a store's 32-bit integer).
MAX_VERSION = 2**31 - 1
# executable_pool's defaults, as the reference gives them.
DEFAULT_POOL_SIZE = 3
DEFAULT_MAX_COMMAND_EXECUTION_TIME = 10
# What clickhousectl needs to hear to wake a service (and try again); the other states say what to do.
_NOT_RUNNING: dict[str, tuple[str, bool, str]] = {
    "idle": ("SERVICE_IDLE", True, "wake it (PATCH .../services/{id}/state with {\"command\": \"awake\"}, or "
                                   "clickhousectl's --wake) and attach again"),
    "stopped": ("SERVICE_STOPPED", False, "start it (PATCH .../services/{id}/state with {\"command\": \"start\"}) "
                                          "and attach again"),
}
# The code of a 424 whose service runs a ClickHouse without executable functions: the reference's three codes are
# about a service that is not running, and clickhousectl takes any string here.
UNSUPPORTED_CODE = "UDF_UNSUPPORTED"
# The code of a 424 while executable functions are off (udf_execution_enabled), which only the operator changes.
DISABLED_CODE = "UDF_DISABLED"
# Upload URLs an organization may hold unused at once (each may keep an archive in the store until it expires).
MAX_PENDING_UPLOADS = 100


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def to_wire(udf: Udf, version: UdfVersion) -> schemas.Udf:
    return schemas.Udf.model_validate({
        **version.definition, "functionName": udf.name, "version": version.version, "status": "ready",
        "createdAt": version.created_at, "updatedAt": version.updated_at})


def attachment_to_wire(udf: Udf, attachment: UdfAttachment) -> schemas.UdfAttachment:
    return schemas.UdfAttachment(functionName=udf.name, serviceId=attachment.service_id, status="deployed",
                                 version=attachment.version)


def stored_definition(request: schemas.UdfDefinition) -> dict[str, Any]:
    """The definition as a version keeps it, executable_pool's defaults filled in; BadRequest for a field that does
    not apply to the function's type."""
    definition = request.model_dump(mode="json", exclude={"uploadId", "functionName"})
    names = [argument.name for argument in request.arguments]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise BadRequest(f"arguments: {repeated[0]!r} names more than one argument; give each its own name")
    if request.type == "executable":
        if request.poolSize is not None:
            raise BadRequest("poolSize: applies to executable_pool functions only; leave it out, or make type "
                             "executable_pool")
    else:
        definition["poolSize"] = request.poolSize or DEFAULT_POOL_SIZE
    definition["maxCommandExecutionTime"] = request.maxCommandExecutionTime or DEFAULT_MAX_COMMAND_EXECUTION_TIME
    return definition


def engine_function(name: str, definition: dict[str, Any], archive: Archive) -> ExecutableFunction:
    return ExecutableFunction(
        name=name, type=definition["type"], interpreter="python3" if definition["runtime"] == "python3.11" else None,
        command_file=archive.command_file,
        arguments=tuple((argument["name"], argument["type"]) for argument in definition["arguments"]),
        return_type=definition["returnType"], return_name=definition.get("returnName"),
        format=definition["format"], command_read_timeout_ms=definition["commandReadTimeout"],
        command_write_timeout_ms=definition["commandWriteTimeout"], send_chunk_header=definition["sendChunkHeader"],
        pool_size=definition.get("poolSize"), max_command_execution_time_s=definition.get("maxCommandExecutionTime"),
        deterministic=definition.get("deterministic"), files=archive.files)


def require_running(service: Service) -> None:
    """FailedDependency, with the reference's code, state and whether clickhousectl may wake it, unless the service
    runs."""
    if service.state == "running":
        return
    code, can_wake, advice = _NOT_RUNNING.get(service.state, (
        "SERVICE_NOT_RUNNING", False, "wait until it is running (GET .../services/{id}) and attach again"))
    raise FailedDependency(f"service {service.id} is {service.state}, and a function is installed on its running "
                           f"ClickHouse: {advice.replace('{id}', str(service.id))}",
                           fields={"code": code, "serviceState": service.state, "canWake": can_wake})


def require_enabled(enabled: bool, name: str) -> None:
    """FailedDependency, saying why and how the operator changes it, unless executable functions are on."""
    if enabled:
        return
    raise FailedDependency(
        f"UDF {name} cannot be attached: executable functions are disabled on this clickplane, because ClickHouse "
        "would run them as clickplane's own OS user, with its environment, able to read its store, secret key, CA "
        "key and every service's data. The operator enables them, accepting that, with "
        "CLICKPLANE_UDF_EXECUTION_ENABLED=true (setting udf_execution_enabled)",
        fields={"code": DISABLED_CODE, "canWake": False})


class UdfApi:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    # Uploads.

    def create_upload(self, caller: Caller, organization_id: uuid.UUID, host: str) -> schemas.UdfUploadSession:
        """An upload URL on `host`, the host the client reached the API at (so reachable by it), and the port of
        serve's upload listener."""
        port = self.context.udf_upload_port
        if port is None:
            raise Conflict("this clickplane process has no upload listener (`clickplane serve` starts one); send "
                           "the request to a clickplane serve")
        base_url = f"https://{f'[{host}]' if ':' in host else host}:{port}"
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.context.database.transaction() as session:
            uploads = UdfUploads(session)
            uploads.forget_expired(now)
            pending = uploads.pending(organization_id)
            if pending >= MAX_PENDING_UPLOADS:
                raise Conflict(f"organization {organization_id} has {pending} upload URLs not yet taken by a create, "
                               f"the most it may hold ({MAX_PENDING_UPLOADS}); use them, or wait until they expire "
                               f"({int(UPLOAD_LIFETIME.total_seconds() // 60)} minutes after they were made)")
            upload = UdfUpload(organization_id=organization_id, token_sha256=token_digest(token),
                               expires_at=now + UPLOAD_LIFETIME)
            uploads.add(upload)
            return schemas.UdfUploadSession(uploadId=upload.id, uploadUrl=f"{base_url}{UPLOAD_PATH}{token}",
                                            expiresAt=upload.expires_at)

    def receive_upload(self, token: str, archive: bytes) -> None:
        """The PUT of an upload URL: its archive, kept until a create takes it. The token is the credential."""
        if not looks_like_zip(archive):
            raise BadRequest("the body is not a ZIP archive; PUT the function's directory zipped, as "
                             "application/zip")
        with self.context.database.transaction() as session:
            upload = UdfUploads(session).by_token(token_digest(token))
            if upload is None or upload.expires_at < utcnow():
                raise Gone("this upload URL is expired or unknown; ask for a new one (POST "
                           ".../udfUploads/url)")
            if upload.archive is not None:
                raise Gone("this upload URL was used already: each takes one archive; ask for a new one (POST "
                           ".../udfUploads/url)")
            upload.archive = archive

    async def _built_upload(self, organization_id: uuid.UUID, upload_id: uuid.UUID, runtime: str) -> bytes:
        """The archive of the organization's upload, built (in a worker thread); BadRequest when it does not
        build. The upload stays until `_take_upload` takes it."""
        with self.context.database.looking() as session:
            archive = self._upload(UdfUploads(session), organization_id, upload_id, for_update=False).archive
        if archive is None:
            raise Gone(f"uploadId: nothing was uploaded to upload {upload_id} yet; PUT the archive to its uploadUrl "
                       "first")
        try:
            await asyncio.to_thread(build, archive, runtime)
        except ArchiveProblem as problem:
            raise BadRequest(f"uploadId: the archive does not build: {problem}") from None
        return archive

    def _take_upload(self, session: Session, organization_id: uuid.UUID, upload_id: uuid.UUID) -> None:
        """Remove the upload `_built_upload` built, so that no later request can take it again (expired uploads
        are forgotten then too). Its archive is still the one built: an upload takes one PUT and keeps it."""
        uploads = UdfUploads(session)
        uploads.forget_expired(utcnow())
        uploads.remove(self._upload(uploads, organization_id, upload_id, for_update=True))

    @staticmethod
    def _upload(uploads: UdfUploads, organization_id: uuid.UUID, upload_id: uuid.UUID, for_update: bool
                ) -> UdfUpload:
        upload = uploads.get(upload_id, for_update=for_update)
        if upload is None or upload.organization_id != organization_id or upload.expires_at < utcnow():
            raise Gone(f"uploadId: upload {upload_id} is unknown, expired or already taken by a create; ask for a "
                       "new upload URL (POST .../udfUploads/url), PUT the archive there, and send its uploadId")
        return upload

    # Functions and their versions.

    async def create(self, caller: Caller, organization_id: uuid.UUID, request: schemas.UdfCreateRequest
                     ) -> schemas.Udf:
        definition = stored_definition(request)
        built = await self._built_upload(organization_id, request.uploadId, definition["runtime"])
        with self.context.database.transaction() as session:
            udfs = Udfs(session)
            if udfs.named(organization_id, request.functionName) is not None:
                raise Conflict(f"functionName: a UDF named {request.functionName} exists; add a version to it (POST "
                               f".../udfs/{request.functionName}/versions), or choose another name")
            udf = Udf(organization_id=organization_id, name=request.functionName)
            udfs.add(udf)
            version = self._add_version(session, udf, definition, request.uploadId, built)
            _record(session, caller, "udf_create", udf, version=version.version)
            return to_wire(udf, version)

    async def create_version(self, caller: Caller, organization_id: uuid.UUID, name: str,
                             request: schemas.UdfVersionCreateRequest) -> schemas.Udf:
        definition = stored_definition(request)
        with self.context.database.looking() as session:
            self._udf(session, organization_id, name)  # a 404 before a build
        built = await self._built_upload(organization_id, request.uploadId, definition["runtime"])
        with self.context.database.transaction() as session:
            udf = self._udf(session, organization_id, name, for_update=True)
            version = self._add_version(session, udf, definition, request.uploadId, built)
            _record(session, caller, "udf_version_create", udf, version=version.version)
            return to_wire(udf, version)

    def _add_version(self, session: Session, udf: Udf, definition: dict[str, Any], upload_id: uuid.UUID,
                     built: bytes) -> UdfVersion:
        self._take_upload(session, udf.organization_id, upload_id)
        version = UdfVersion(udf_id=udf.id, version=udf.next_version, definition=definition, archive=built)
        udf.next_version += 1
        Udfs(session).add(version)
        return version

    def functions(self, organization_id: uuid.UUID) -> list[schemas.Udf]:
        with self.context.database.looking() as session:
            udfs = Udfs(session)
            functions = udfs.of_organization(organization_id)
            latest = udfs.latest_versions([udf.id for udf in functions])
            return [to_wire(udf, latest[udf.id]) for udf in functions if udf.id in latest]

    def get(self, organization_id: uuid.UUID, name: str) -> schemas.Udf:
        with self.context.database.looking() as session:
            udf = self._udf(session, organization_id, name)
            return to_wire(udf, self._latest(session, udf))

    def versions(self, organization_id: uuid.UUID, name: str) -> list[schemas.Udf]:
        with self.context.database.looking() as session:
            udf = self._udf(session, organization_id, name)
            return [to_wire(udf, version) for version in Udfs(session).versions(udf.id)]

    def delete(self, caller: Caller, organization_id: uuid.UUID, name: str) -> None:
        with self.context.database.transaction() as session:
            udfs = Udfs(session)
            udf = self._udf(session, organization_id, name, for_update=True)
            attached = udfs.attachments(udf.id)
            if attached:
                services = ", ".join(str(attachment.service_id) for attachment in attached)
                raise Conflict(f"UDF {name} is attached to service {services}: detach it from each first (DELETE "
                               f".../udfs/{name}/attachments/{{serviceId}})")
            _record(session, caller, "udf_delete", udf)
            udfs.remove(udf)

    def delete_version(self, caller: Caller, organization_id: uuid.UUID, name: str, number: int) -> None:
        with self.context.database.transaction() as session:
            udfs = Udfs(session)
            udf = self._udf(session, organization_id, name, for_update=True)
            version = udfs.version(udf.id, number) if 0 < number <= MAX_VERSION else None
            if version is None:
                raise NotFound(f"UDF {name} has no version {number}; GET .../udfs/{name}/versions lists them")
            if self._latest(session, udf).version == number:
                raise Conflict(f"version {number} is the latest of UDF {name}, which the function is: create a "
                               "newer version first, or delete the whole function")
            users = [str(a.service_id) for a in udfs.attachments(udf.id) if a.version == number]
            if users:
                raise Conflict(f"version {number} of UDF {name} is attached to service {', '.join(users)}: attach "
                               "another version there, or detach it, first")
            _record(session, caller, "udf_version_delete", udf, version=number)
            udfs.remove(version)

    # Attachments.

    async def attach(self, caller: Caller, organization_id: uuid.UUID, name: str, service_id: uuid.UUID,
                     request: schemas.UdfAttachRequest) -> schemas.UdfAttachment:
        with self.context.database.looking() as session:
            udf = self._udf(session, organization_id, name)
            version = self._attachable(session, udf, request.version)
            service = visible(Services(session), caller, organization_id, service_id)
            require_enabled(self.context.settings.udf_execution_enabled, name)
            require_running(service)
            number, definition, data = version.version, version.definition, version.archive
        try:
            archive = await asyncio.to_thread(build, data, definition["runtime"])
        except ArchiveProblem as problem:  # built for another machine than this one, which now runs it
            raise Conflict(f"version {number} of UDF {name} does not build here: {problem}; create a new "
                           "version") from None
        function = engine_function(name, definition, archive)
        try:
            await self.context.runtime.install_function(str(service_id), function)
        except FunctionsUnsupported as unsupported:
            raise FailedDependency(f"{unsupported}; attach it to a service whose ClickHouse has them",
                                   fields={"code": UNSUPPORTED_CODE, "serviceState": "running",
                                           "canWake": False}) from None
        except RuntimeFailure as failure:
            raise FailedDependency(f"UDF {name} could not be installed on service {service_id}: {failure}",
                                   fields={"code": "UDF_INSTALL_FAILED", "canWake": False}) from None
        with self.context.database.transaction() as session:
            udf = self._udf(session, organization_id, name, for_update=True)
            visible(Services(session), caller, organization_id, service_id)
            udfs = Udfs(session)
            attachment = udfs.attachment(udf.id, service_id)
            if attachment is None:
                attachment = UdfAttachment(udf_id=udf.id, service_id=service_id, version=number)
                udfs.add(attachment)
            else:
                attachment.version = number
            _record(session, caller, "udf_attach", udf, service_id=service_id, version=number)
            return attachment_to_wire(udf, attachment)

    def attachment(self, caller: Caller, organization_id: uuid.UUID, name: str, service_id: uuid.UUID
                   ) -> schemas.UdfAttachment:
        with self.context.database.looking() as session:
            udf = self._udf(session, organization_id, name)
            visible(Services(session), caller, organization_id, service_id)
            return attachment_to_wire(udf, self._attachment(session, udf, service_id))

    def attachments(self, caller: Caller, organization_id: uuid.UUID, name: str) -> list[schemas.UdfAttachment]:
        """The function's attachments to the services the caller may view (as the services list shows them)."""
        with self.context.database.looking() as session:
            udf = self._udf(session, organization_id, name)
            return [attachment_to_wire(udf, attachment) for attachment in Udfs(session).attachments(udf.id)
                    if permissions.allows(caller.policies, permissions.SERVICE_VIEW,
                                          f"instance/{attachment.service_id}")]

    async def detach(self, caller: Caller, organization_id: uuid.UUID, name: str, service_id: uuid.UUID) -> None:
        with self.context.database.looking() as session:
            udf = self._udf(session, organization_id, name)
            visible(Services(session), caller, organization_id, service_id)
            self._attachment(session, udf, service_id)
        try:
            await self.context.runtime.remove_function(str(service_id), name)
        except RuntimeFailure as failure:
            raise FailedDependency(f"UDF {name} could not be removed from service {service_id}'s ClickHouse: "
                                   f"{failure}; try again", fields={"code": "UDF_REMOVE_FAILED",
                                                                  "canWake": False}) from None
        with self.context.database.transaction() as session:
            udf = self._udf(session, organization_id, name, for_update=True)
            attachment = Udfs(session).attachment(udf.id, service_id)
            if attachment is not None:
                _record(session, caller, "udf_detach", udf, service_id=service_id, version=attachment.version)
                Udfs(session).remove(attachment)

    # Lookups.

    @staticmethod
    def _udf(session: Session, organization_id: uuid.UUID, name: str, for_update: bool = False) -> Udf:
        # A name no function may have is not looked up: PostgreSQL refuses some characters (NUL) in a query.
        possible = len(name) <= schemas.MAX_NAME_LENGTH and re.fullmatch(schemas.FUNCTION_NAME, name) is not None
        udf = Udfs(session).named(organization_id, name, for_update) if possible else None
        if udf is None:
            raise NotFound(f"no UDF named {name} in organization {organization_id}; GET .../udfs lists them")
        return udf

    @staticmethod
    def _latest(session: Session, udf: Udf) -> UdfVersion:
        latest = Udfs(session).latest(udf.id)
        assert latest is not None, "a function keeps at least its latest version"
        return latest

    @staticmethod
    def _attachable(session: Session, udf: Udf, number: int | None) -> UdfVersion:
        version = UdfApi._latest(session, udf) if number is None else Udfs(session).version(udf.id, number)
        if version is None:
            raise NotFound(f"UDF {udf.name} has no version {number}; GET .../udfs/{udf.name}/versions lists them")
        return version

    @staticmethod
    def _attachment(session: Session, udf: Udf, service_id: uuid.UUID) -> UdfAttachment:
        attachment = Udfs(session).attachment(udf.id, service_id)
        if attachment is None:
            raise NotFound(f"UDF {udf.name} is not attached to service {service_id}; attach it with PUT")
        return attachment


def _record(session: Session, caller: Caller, activity_type: RecordedActivityType, udf: Udf,
            service_id: uuid.UUID | None = None, version: int | None = None) -> None:
    details: dict[str, Any] = {"functionName": udf.name}
    if version is not None:
        details["version"] = version
    record(Activities(session), caller, activity_type, service_id=service_id, details=details)
