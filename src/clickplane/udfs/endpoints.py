"""UDFs: the reference's 12 operations, and the PUT of an upload URL, which serve's HTTPS upload listener serves
(no credentials: its token is one).

Lists are answered as clickhousectl reads them: `result` an array, with `nextCursor`, `limit` and `totalCount`
beside it, not the reference's `{items, pagination}` object, which the CLI cannot read ("invalid type: map,
expected a sequence"). A client written to the reference asks for its shape with `shape=reference`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from blacksheep import Request, Response, Router

from clickplane.auth.authentication import Caller
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces, base_url
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.errors import BadRequest
from clickplane.kit.paging import MAX_PAGE, page_of
from clickplane.kit.routes import Api
from clickplane.udfs import schemas
from clickplane.udfs.service import MAX_VERSION, UPLOAD_PATH, UdfApi

TAG = "UDF"
PATH = "/v1/organizations/{organizationId}"
ONE = PATH + "/udfs/{functionName}"
CHANGE_ERRORS = (400, 401, 404, 409, 500)
CREATE_ERRORS = (*CHANGE_ERRORS, 410)
ATTACH_ERRORS = (*CHANGE_ERRORS, 424)
# How a list is answered: as clickhousectl reads it (the default), or as the reference document has it.
SHAPES = ("clickhousectl", "reference")
PAGE: dict[str, dict[str, Any]] = {"limit": {"minimum": 1, "maximum": MAX_PAGE}, "shape": {"enum": list(SHAPES)}}
PAGED = (f"With `limit` (1 to {MAX_PAGE}) or `cursor`, one page, with `nextCursor` (absent on the last page), "
         "`limit` and `totalCount` beside the result array, which is what clickhousectl reads; with "
         "`shape=reference`, the reference's `{items, pagination}` result instead, a page of at most `limit` (100 "
         "when absent).")


def add_routes(api: Api, context: AppContext) -> None:
    udfs = UdfApi(context)

    def paged(items: list[Any], limit: int | None, cursor: str | None, shape: str | None, id_of: Any, what: str
              ) -> Response:
        if shape is not None and shape not in SHAPES:
            raise BadRequest(f"shape must be one of {', '.join(SHAPES)} (clickhousectl when absent)")
        if shape == "reference":  # a page of at most 100 at a time, its paging inside the result
            page, paging = page_of(items, limit or MAX_PAGE, cursor, id_of, what)
            assert paging is not None, "a page was asked for"
            # With their nulls: the reference's items require returnName, poolSize and error, null or not.
            return ok({"items": [item.model_dump(mode="json") for item in page], "pagination": {
                "totalRecords": paging.totalCount, "currentCursor": cursor, "nextCursor": paging.nextCursor,
                "limit": paging.limit}})
        page, paging = page_of(items, limit, cursor, id_of, what)
        return ok(list(page), page=paging)

    @api.route("POST", PATH + "/udfUploads/url", "udfUploadSessionCreate", "Create UDF upload URL", TAG,
               "An https URL of clickplane's upload listener, on the host the request was sent to, to PUT one ZIP "
               "archive to (content-type application/zip, no credentials), within 15 minutes; its uploadId then "
               "goes in one create or version create. The listener's certificate is the API's under --tls, else "
               "one from clickplane's CA (`clickplane ca-path`; clients trust it with SSL_CERT_FILE).",
               schemas.UdfUploadSession,
               errors=(400, 401, 404, 409, 500), success_status=201)
    async def create_upload(caller: Caller, organizationId: UUID, request: Request) -> Response:
        host = urlsplit(base_url(request)).hostname or context.settings.host
        return ok(udfs.create_upload(caller, organizationId, host), status=201)

    @api.route("POST", PATH + "/udfs", "udfCreate", "Create UDF", TAG,
               "Creates a function from an uploaded archive (taken by the create that succeeds: each upload "
               "makes one version), built at once: the archive must hold the runtime's command at its root (a "
               "main.py that compiles, for python3.11; an executable amd64/main or arm64/main for this machine, for "
               "native), else a 400 says why and nothing is stored. Its version 1 is ready when answered.",
               schemas.Udf, errors=CREATE_ERRORS, success_status=201,
               produces=Produces("functionName", "/result/functionName"))
    async def create(caller: Caller, organizationId: UUID, body: JsonBody[schemas.UdfCreateRequest]) -> Response:
        return ok(await udfs.create(caller, organizationId, body.value), status=201)

    @api.route("GET", PATH + "/udfs", "udfList", "List UDFs", TAG,
               "The latest version of each function of the organization, by name. " + PAGED,
               schemas.UdfListResponse | list[schemas.Udf], paged=True, parameters=PAGE)
    async def list_udfs(caller: Caller, organizationId: UUID, cursor: str | None = None,
                        limit: int | None = None, shape: str | None = None) -> Response:
        return paged(udfs.functions(organizationId), limit, cursor, shape, lambda udf: udf.functionName,
                     "a UDF")

    @api.route("GET", ONE, "udfGet", "Get UDF", TAG, "The function's latest version.", schemas.Udf)
    async def get(caller: Caller, organizationId: UUID, functionName: str) -> Response:
        return ok(udfs.get(organizationId, functionName))

    @api.route("DELETE", ONE, "udfDelete", "Delete UDF", TAG,
               "Deletes the function and every version of it; 409 while it is attached to a service (detach it "
               "first).", None, errors=CHANGE_ERRORS)
    async def delete(caller: Caller, organizationId: UUID, functionName: str) -> Response:
        udfs.delete(caller, organizationId, functionName)
        return acknowledged()

    @api.route("POST", ONE + "/versions", "udfVersionCreate", "Create UDF version", TAG,
               "Adds a version (the next number) from an uploaded archive, built as a create's is. Attachments "
               "keep their version until attached again.", schemas.Udf, errors=CREATE_ERRORS, success_status=201)
    async def create_version(caller: Caller, organizationId: UUID, functionName: str,
                             body: JsonBody[schemas.UdfVersionCreateRequest]) -> Response:
        return ok(await udfs.create_version(caller, organizationId, functionName, body.value), status=201)

    @api.route("GET", ONE + "/versions", "udfVersionList", "List UDF versions", TAG,
               "The function's versions, oldest first. " + PAGED,
               schemas.UdfVersionListResponse | list[schemas.Udf], paged=True, parameters=PAGE)
    async def list_versions(caller: Caller, organizationId: UUID, functionName: str, cursor: str | None = None,
                            limit: int | None = None, shape: str | None = None) -> Response:
        return paged(udfs.versions(organizationId, functionName), limit, cursor, shape,
                     lambda udf: str(udf.version), "a version of this UDF")

    @api.route("DELETE", ONE + "/versions/{version}", "udfVersionDelete", "Delete UDF version", TAG,
               "Deletes a version; 409 for the latest one (delete the function instead) and for one attached to a "
               "service.", None, errors=CHANGE_ERRORS, parameters={"version": {"minimum": 1, "maximum": MAX_VERSION}})
    async def delete_version(caller: Caller, organizationId: UUID, functionName: str, version: int) -> Response:
        udfs.delete_version(caller, organizationId, functionName, version)
        return acknowledged()

    @api.route("PUT", ONE + "/attachments/{serviceId}", "udfAttach", "Attach UDF to service", TAG,
               "Installs the version (the latest when absent) on the service's ClickHouse, replacing the one "
               "attached: its <function> config and archive files, then SYSTEM RELOAD FUNCTIONS; deployed when "
               "answered. 424 with `code` and `canWake` while the service is not running (SERVICE_IDLE: wake it "
               "and retry), with code UDF_DISABLED unless the operator enabled executable functions "
               "(CLICKPLANE_UDF_EXECUTION_ENABLED: they run as clickplane's OS user), and with code UDF_UNSUPPORTED "
               "when its ClickHouse has no executable functions (before 21.11, as 18.16).", schemas.UdfAttachment,
               errors=ATTACH_ERRORS)
    async def attach(caller: Caller, organizationId: UUID, functionName: str, serviceId: UUID,
                     body: JsonBody[schemas.UdfAttachRequest]) -> Response:
        return ok(await udfs.attach(caller, organizationId, functionName, serviceId, body.value))

    @api.route("GET", ONE + "/attachments/{serviceId}", "udfAttachmentGet", "Get UDF attachment", TAG,
               "The function's attachment to the service.", schemas.UdfAttachment)
    async def get_attachment(caller: Caller, organizationId: UUID, functionName: str, serviceId: UUID) -> Response:
        return ok(udfs.attachment(caller, organizationId, functionName, serviceId))

    @api.route("DELETE", ONE + "/attachments/{serviceId}", "udfDetach", "Detach UDF from service", TAG,
               "Removes the function from the service's ClickHouse (a stopped service's server will not load it "
               "when it starts) and forgets the attachment.", None, errors=ATTACH_ERRORS)
    async def detach(caller: Caller, organizationId: UUID, functionName: str, serviceId: UUID) -> Response:
        await udfs.detach(caller, organizationId, functionName, serviceId)
        return acknowledged()

    @api.route("GET", ONE + "/attachments", "udfAttachmentList", "List UDF attachments", TAG,
               "The services the function is attached to, of those the caller may view. " + PAGED,
               schemas.UdfAttachmentListResponse | list[schemas.UdfAttachment], paged=True, parameters=PAGE)
    async def list_attachments(caller: Caller, organizationId: UUID, functionName: str, cursor: str | None = None,
                               limit: int | None = None, shape: str | None = None) -> Response:
        return paged(udfs.attachments(caller, organizationId, functionName), limit, cursor, shape,
                     lambda attachment: str(attachment.serviceId), "a service this UDF is attached to")


def add_upload_route(router: Router, context: AppContext) -> None:
    """The PUT of an upload URL, for serve's upload listener: no credentials, the token in the path is one."""
    udfs = UdfApi(context)

    async def receive(request: Request, token: str) -> Response:
        udfs.receive_upload(token, await request.read() or b"")
        return acknowledged()

    router.add("PUT", UPLOAD_PATH + "{token}", receive)
