"""ClickPipes: create, list, get, update, delete; state, scaling, settings, CDC scaling, context and schema
discovery."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.clickpipes.schemas import (
    ClickPipe,
    ClickPipePatchRequest,
    ClickPipePostRequest,
    ClickPipeScalingPatchRequest,
    ClickPipesCdcScaling,
    ClickPipesCdcScalingPatchRequest,
    ClickPipeSchemaDiscoveryRequest,
    ClickPipeSchemaDiscoveryResponse,
    ClickPipeSettings,
    ClickPipeSettingsPutRequest,
    ClickPipesServiceContext,
    ClickPipeStatePatchRequest,
)
from clickplane.clickpipes.service import ClickPipesApi
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.errors import BadRequest
from clickplane.kit.routes import Api

TAG = "ClickPipes"
SERVICE = "/v1/organizations/{organizationId}/services/{serviceId}"
PATH = SERVICE + "/clickpipes"
ONE = PATH + "/{clickPipeId}"
CHANGE_ERRORS = (400, 401, 404, 409, 424, 500)


def add_routes(api: Api, context: AppContext) -> None:
    pipes = ClickPipesApi(context)

    @api.route("GET", PATH, "clickPipeGetList", "List ClickPipes", TAG,
               "The service's ClickPipes, oldest first, with their state (moving data, paused, failed with the "
               "reason).", list[ClickPipe])
    async def list_pipes(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(pipes.list_all(caller, organizationId, serviceId))

    @api.route("POST", PATH, "clickPipeCreate", "Create ClickPipe", TAG,
               "Checks the source (reachable with the credentials given, the tables or files there, the types "
               "mapped) and the destination, records the pipe and returns it Provisioning; a worker then moves the "
               "data: a Postgres pipe makes its publication and slot, copies the tables and streams their changes; "
               "an object-storage pipe loads each matching file once, in key order, and with isContinuous the "
               "files added later. Sources without a worker here (Kafka, Kinesis, Pub/Sub, MySQL, BigQuery, "
               "MongoDB) are refused. 424 while the service is not running.", ClickPipe, errors=CHANGE_ERRORS,
               produces=Produces("clickPipeId", "/result/id"))
    async def create_pipe(caller: Caller, organizationId: UUID, serviceId: UUID,
                          body: JsonBody[ClickPipePostRequest]) -> Response:
        return ok(await pipes.create(caller, organizationId, serviceId, body.value))

    @api.route("GET", ONE, "clickPipeGet", "Get ClickPipe", TAG,
               "One ClickPipe. Its credentials are never shown.", ClickPipe)
    async def get_pipe(caller: Caller, organizationId: UUID, serviceId: UUID, clickPipeId: UUID) -> Response:
        return ok(pipes.get(caller, organizationId, serviceId, clickPipeId))

    @api.route("PATCH", ONE, "clickPipeUpdate", "Update ClickPipe", TAG,
               "Renames the pipe or changes its source's connection, credentials and sync settings, its table "
               "mappings (tableMappingsToAdd/Remove; an added table is copied, then streamed) or its field "
               "mappings. A Postgres pipe is edited only while Paused (400 otherwise) and resumes by itself.",
               ClickPipe, errors=CHANGE_ERRORS)
    async def update_pipe(caller: Caller, organizationId: UUID, serviceId: UUID, clickPipeId: UUID,
                          body: JsonBody[ClickPipePatchRequest]) -> Response:
        return ok(pipes.update(caller, organizationId, serviceId, clickPipeId, body.value))

    @api.route("DELETE", ONE, "clickPipeDelete", "Delete ClickPipe", TAG,
               "Stops the pipe and removes what it made in the source (a Postgres pipe's replication slot and "
               "publication); the destination tables and their data stay.", None, errors=CHANGE_ERRORS)
    async def delete_pipe(caller: Caller, organizationId: UUID, serviceId: UUID, clickPipeId: UUID) -> Response:
        pipes.delete(caller, organizationId, serviceId, clickPipeId)
        return acknowledged()

    @api.route("PATCH", ONE + "/state", "clickPipeStateUpdate", "Update ClickPipe state", TAG,
               "`stop` pauses a Postgres pipe (changes wait in its slot) and stops any other; `start` resumes one "
               "that is Paused, Stopped or Failed (400 \"ClickPipe is already running\" otherwise); `resync` loads "
               "a Postgres pipe's tables anew from a new slot and swaps them in.", ClickPipe, errors=CHANGE_ERRORS)
    async def set_state(caller: Caller, organizationId: UUID, serviceId: UUID, clickPipeId: UUID,
                        body: JsonBody[ClickPipeStatePatchRequest]) -> Response:
        return ok(pipes.set_state(caller, organizationId, serviceId, clickPipeId, body.value))

    @api.route("PATCH", ONE + "/scaling", "clickPipeScalingUpdate", "Update ClickPipe scaling", TAG,
               "Records an object-storage pipe's replicas and their size. A local worker is one process's task: "
               "the numbers are shown, not applied; a Postgres pipe uses its service's CDC scaling.", ClickPipe,
               errors=CHANGE_ERRORS)
    async def set_scaling(caller: Caller, organizationId: UUID, serviceId: UUID, clickPipeId: UUID,
                          body: JsonBody[ClickPipeScalingPatchRequest]) -> Response:
        return ok(pipes.set_scaling(caller, organizationId, serviceId, clickPipeId, body.value))

    @api.route("GET", ONE + "/settings", "clickPipeSettingsGet", "Get ClickPipe settings", TAG,
               "The pipe's advanced settings: those set, and the defaults for the rest.", ClickPipeSettings)
    async def get_settings(caller: Caller, organizationId: UUID, serviceId: UUID, clickPipeId: UUID) -> Response:
        return ok(pipes.get_settings(caller, organizationId, serviceId, clickPipeId))

    @api.route("PUT", ONE + "/settings", "clickPipeSettingsUpdate", "Update ClickPipe settings", TAG,
               "Sets the settings given (the others keep their values); the worker takes them at once "
               "(object_storage_polling_interval_ms, object_storage_max_file_count).", ClickPipeSettings,
               errors=CHANGE_ERRORS)
    async def put_settings(caller: Caller, organizationId: UUID, serviceId: UUID, clickPipeId: UUID,
                           body: JsonBody[ClickPipeSettingsPutRequest]) -> Response:
        return ok(pipes.put_settings(caller, organizationId, serviceId, clickPipeId, body.value))

    @api.route("POST", PATH + "/schemaDiscovery", "clickPipeSchemaDiscovery", "Discover a ClickPipe source's schema",
               TAG, "Samples a Kafka or Kinesis source to infer its fields. clickplane has no streaming worker, so "
               "this is refused with a 400 rather than answered with a schema it did not read.",
               ClickPipeSchemaDiscoveryResponse, errors=CHANGE_ERRORS)
    async def discover(caller: Caller, organizationId: UUID, serviceId: UUID,
                       body: JsonBody[ClickPipeSchemaDiscoveryRequest]) -> Response:
        pipes.list_all(caller, organizationId, serviceId)  # the service must be visible first
        raise BadRequest("source: clickplane has no Kafka, Kinesis or Pub/Sub worker, so it cannot sample one; the "
                         "sources it reads are postgres and objectStorage, whose columns a create checks")

    @api.route("GET", PATH + "/context", "clickPipesContextGet", "Get ClickPipes context", TAG,
               "What the service's ClickPipes can use of the cloud around them (clickhousectl's `clickpipe context "
               "get`; absent from the reference): here no GCP workload identity.", ClickPipesServiceContext)
    async def pipes_context(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(pipes.context_of(caller, organizationId, serviceId))

    @api.route("GET", SERVICE + "/clickpipesCdcScaling", "clickPipeCdcScalingGet", "Get CDC scaling", TAG,
               "The compute the service's database pipes share.", ClickPipesCdcScaling)
    async def get_cdc_scaling(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(pipes.cdc_scaling(caller, organizationId, serviceId))

    @api.route("PATCH", SERVICE + "/clickpipesCdcScaling", "clickPipeCdcScalingUpdate", "Update CDC scaling", TAG,
               "Sets the compute of the service's database pipes (4 GiB per CPU). Its CPUs are how many tables "
               "a snapshot copies at once.", ClickPipesCdcScaling, errors=CHANGE_ERRORS)
    async def set_cdc_scaling(caller: Caller, organizationId: UUID, serviceId: UUID,
                              body: JsonBody[ClickPipesCdcScalingPatchRequest]) -> Response:
        return ok(pipes.set_cdc_scaling(caller, organizationId, serviceId, body.value))
