"""ClickPipes through the API: each request checked (against the source and the destination, for a create), its
intent recorded with its activity in one transaction, and the reconciler woken; the pipe's worker
(controller.py) does the rest."""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.auth.secrets import SecretBox
from clickplane.clickpipes import schemas
from clickplane.clickpipes.defaults import DEFAULT_SETTINGS
from clickplane.clickpipes.lifecycle import Command, table_of
from clickplane.clickpipes.repository import CdcScalings, ClickPipes
from clickplane.clickpipes.sources import check_source, credentials_of, edited_source, shown_source
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.errors import BadRequest, Conflict, FailedDependency, NotFound
from clickplane.kit.schemas import rfc3339
from clickplane.runtime.pipes.destination import Destination
from clickplane.services.lookup import visible
from clickplane.services.repository import Services
from clickplane.store.models import ClickPipe, Service

# The sources clickplane has a worker for, by the key under `source`.
WORKED_SOURCES = ("postgres", "objectStorage")
OTHER_SOURCES = ("kafka", "kinesis", "pubsub", "mysql", "bigquery", "mongodb")
DEFAULT_SCALING = {"replicas": 1, "concurrency": 0, "replicaCpuMillicores": 500, "replicaMemoryGb": 2.0}
def _plain(model: BaseModel | None) -> dict[str, Any]:
    return {} if model is None else model.model_dump(mode="json", exclude_none=True)


class ClickPipesApi:
    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.box = SecretBox(context.hasher)

    # Reads.

    def list_all(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> list[schemas.ClickPipe]:
        with self.context.database.looking() as session:
            visible(Services(session), caller, organization_id, service_id)
            return [to_wire(pipe) for pipe in ClickPipes(session).of_service(organization_id, service_id)]

    def get(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, pipe_id: uuid.UUID
            ) -> schemas.ClickPipe:
        with self.context.database.looking() as session:
            return to_wire(self._pipe(session, caller, organization_id, service_id, pipe_id))

    def get_settings(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, pipe_id: uuid.UUID
                     ) -> schemas.ClickPipeSettings:
        with self.context.database.looking() as session:
            pipe = self._pipe(session, caller, organization_id, service_id, pipe_id)
            return schemas.ClickPipeSettings.model_validate(DEFAULT_SETTINGS | pipe.settings)

    def context_of(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID
                   ) -> schemas.ClickPipesServiceContext:
        with self.context.database.looking() as session:
            visible(Services(session), caller, organization_id, service_id)
        # No GCP here: workload identity is neither supported nor ready, and no principal exists.
        return schemas.ClickPipesServiceContext.model_validate(
            {"gcpWorkloadIdentity": {"supported": False, "ready": False, "principal": ""}})

    def cdc_scaling(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID
                    ) -> schemas.ClickPipesCdcScaling:
        with self.context.database.looking() as session:
            visible(Services(session), caller, organization_id, service_id)
            return _cdc_wire(session, service_id)

    # Changes.

    async def create(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                     request: schemas.ClickPipePostRequest) -> schemas.ClickPipe:
        with self.context.database.looking() as session:
            service = visible(Services(session), caller, organization_id, service_id)
            _require_running(service)
        if not request.name:
            raise BadRequest("name: give the pipe a name (1 to 255 characters)")
        if request.source is None:
            raise BadRequest(f"source: give one of {', '.join(WORKED_SOURCES)}")
        kind, source = _source_of(request.source)
        if request.scaling is not None and kind == "postgres":
            raise BadRequest("scaling: a Postgres pipe runs on its service's CDC compute; change it with PATCH "
                             ".../clickpipesCdcScaling")
        destination = _plain(request.destination)
        await check_source(kind, source, destination, await self._destination(service_id))
        pipe = ClickPipe(
            organization_id=organization_id, service_id=service_id, name=request.name, kind=kind,
            source=shown_source(kind, source), sealed_credentials=self._sealed(credentials_of(kind, source)),
            destination=destination, field_mappings=[_plain(m) for m in request.fieldMappings or ()],
            settings=_plain(request.settings), scaling=DEFAULT_SCALING | _plain(request.scaling) if kind != "postgres"
            else {}, state="Provisioning", desired_state="stopped" if request.startPaused else "running")
        with self.context.database.transaction() as session:
            pipes = ClickPipes(session)
            if pipes.name_taken(service_id, request.name):
                raise BadRequest(f"name: service {service_id} already has a ClickPipe named {request.name!r}; "
                                 "choose another name")
            pipes.add(pipe)
            self._record(session, caller, "clickpipe_create", pipe)
            wire = to_wire(pipe)
        self.context.reconcile_now.set()
        return wire

    def update(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, pipe_id: uuid.UUID,
               request: schemas.ClickPipePatchRequest) -> schemas.ClickPipe:
        changes = request.model_dump(exclude_unset=True, mode="json")
        with self.context.database.transaction() as session:
            pipe = self._pipe(session, caller, organization_id, service_id, pipe_id, for_update=True)
            if "name" in changes and changes["name"] is not None:
                if ClickPipes(session).name_taken(service_id, changes["name"], other_than=pipe_id):
                    raise BadRequest(f"name: service {service_id} already has a ClickPipe named "
                                     f"{changes['name']!r}; choose another name")
                pipe.name = changes["name"]
            if changes.get("source") or changes.get("destination") or "fieldMappings" in changes:
                self._edit(pipe, changes)
            if changes.get("settings"):
                pipe.settings = pipe.settings | changes["settings"]
                pipe.generation += 1
            self._record(session, caller, "clickpipe_update", pipe, changed=sorted(changes))
            wire = to_wire(pipe)
        self.context.reconcile_now.set()
        return wire

    def _edit(self, pipe: ClickPipe, changes: dict[str, Any]) -> None:
        """A change of what the pipe moves: a Postgres pipe's only while paused (lifecycle.py), which resumes it."""
        source, credentials = edited_source(pipe.kind, pipe.source, (changes.get("source") or {}).get(pipe.kind),
                                            self._opened(pipe))
        transition = table_of(pipe.kind).apply(pipe.state, "edit")
        if transition is not None:
            pipe.state = transition.state or pipe.state
            pipe.desired_state = transition.desired_state or pipe.desired_state
        pipe.source = source
        pipe.sealed_credentials = self._sealed(credentials)
        if changes.get("destination"):
            pipe.destination = pipe.destination | {key: value for key, value in changes["destination"].items()
                                                   if value is not None}
        if "fieldMappings" in changes:
            pipe.field_mappings = changes["fieldMappings"] or []
        pipe.generation += 1

    def delete(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, pipe_id: uuid.UUID) -> None:
        with self.context.database.transaction() as session:
            pipe = self._pipe(session, caller, organization_id, service_id, pipe_id)
            if pipe.desired_state == "deleted":
                return
            self._apply(pipe, "delete")
            self._record(session, caller, "clickpipe_delete", pipe)
        self.context.reconcile_now.set()

    def set_state(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, pipe_id: uuid.UUID,
                  request: schemas.ClickPipeStatePatchRequest) -> schemas.ClickPipe:
        activities: dict[str, RecordedActivityType] = {"start": "clickpipe_start", "stop": "clickpipe_stop",
                                                       "resync": "clickpipe_resync"}
        with self.context.database.transaction() as session:
            pipe = self._pipe(session, caller, organization_id, service_id, pipe_id, for_update=True)
            if request.command is None:
                raise BadRequest("command: give start, stop or resync")
            self._apply(pipe, request.command)
            if request.command == "resync":
                pipe.resync_requested = True
            self._record(session, caller, activities[request.command], pipe)
            wire = to_wire(pipe)
        self.context.reconcile_now.set()
        return wire

    def set_scaling(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, pipe_id: uuid.UUID,
                    request: schemas.ClickPipeScalingPatchRequest) -> schemas.ClickPipe:
        return self._reconfigure(caller, organization_id, service_id, pipe_id, "scaling", _plain(request),
                                 "clickpipe_update_scaling", "a Postgres ClickPipe runs on its service's CDC compute: "
                                 "scale it with PATCH .../clickpipesCdcScaling")

    def put_settings(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, pipe_id: uuid.UUID,
                     request: schemas.ClickPipeSettingsPutRequest) -> schemas.ClickPipeSettings:
        changed = self._reconfigure(caller, organization_id, service_id, pipe_id, "settings", _plain(request),
                                    "clickpipe_update_settings", "a Postgres ClickPipe has no pipe settings: its sync "
                                    "settings are in source.postgres.settings (PATCH the pipe while it is paused)")
        assert changed.settings is not None  # a pipe other than a Postgres one always shows them
        return changed.settings

    def _reconfigure(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, pipe_id: uuid.UUID,
                     column: Literal["scaling", "settings"], values: dict[str, Any], activity: RecordedActivityType,
                     refusal: str) -> schemas.ClickPipe:
        """Merge `values` into an object-storage pipe's scaling or settings; its worker starts again with them."""
        with self.context.database.transaction() as session:
            pipe = self._pipe(session, caller, organization_id, service_id, pipe_id, for_update=True)
            if pipe.kind == "postgres":
                raise BadRequest(refusal)
            setattr(pipe, column, getattr(pipe, column) | values)
            pipe.generation += 1
            self._record(session, caller, activity, pipe)
            wire = to_wire(pipe)
        self.context.reconcile_now.set()
        return wire

    def set_cdc_scaling(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                        request: schemas.ClickPipesCdcScalingPatchRequest) -> schemas.ClickPipesCdcScaling:
        with self.context.database.transaction() as session:
            visible(Services(session), caller, organization_id, service_id)
            cpu, memory = CdcScalings(session).of(service_id)
            cpu = request.replicaCpuMillicores if request.replicaCpuMillicores is not None else cpu
            memory = request.replicaMemoryGb if request.replicaMemoryGb is not None else memory
            if memory != 4 * cpu / 1000:
                raise BadRequest(f"replicaMemoryGb must be 4 GiB per CPU: {cpu} millicores take "
                                 f"{4 * cpu / 1000:g} GiB, not {memory:g}")
            CdcScalings(session).put(service_id, cpu, memory)
            record(Activities(session), caller, "service_update_clickpipes_cdc_scaling", service_id=service_id,
                   details={"replicaCpuMillicores": cpu, "replicaMemoryGb": memory})
            return _cdc_wire(session, service_id)

    # Helpers.

    def _pipe(self, session: Session, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
              pipe_id: uuid.UUID, for_update: bool = False) -> ClickPipe:
        """The pipe; one being deleted is shown (until what it made in its source is gone, then 404) but cannot be
        changed but by another delete."""
        visible(Services(session), caller, organization_id, service_id)
        pipe = ClickPipes(session).get(organization_id, pipe_id, for_update)
        if pipe is None or pipe.service_id != service_id:
            raise NotFound(f"ClickPipe {pipe_id} does not exist in service {service_id}")
        if for_update and pipe.desired_state == "deleted":
            raise Conflict(f"ClickPipe {pipe_id} is being deleted and can no longer be changed. "
                           f"Current state: '{pipe.state}'")
        return pipe

    @staticmethod
    def _apply(pipe: ClickPipe, command: Command) -> None:
        transition = table_of(pipe.kind).apply(pipe.state, command)
        if transition is None:
            return
        pipe.state = transition.state or pipe.state
        pipe.desired_state = transition.desired_state or pipe.desired_state
        pipe.generation += 1

    async def _destination(self, service_id: uuid.UUID) -> Destination:
        access = await self.context.runtime.sql_access(str(service_id))
        if access is None:
            raise FailedDependency(f"service {service_id} has no ClickHouse server answering; wait until it is "
                                   "running. Current state: starting")
        return Destination(self.context.http_client(), access)

    def _sealed(self, credentials: dict[str, Any]) -> str | None:
        return self.box.seal(json.dumps(credentials)) if credentials else None

    def _opened(self, pipe: ClickPipe) -> dict[str, Any]:
        return json.loads(self.box.open(pipe.sealed_credentials)) if pipe.sealed_credentials else {}

    @staticmethod
    def _record(session: Session, caller: Caller, activity: RecordedActivityType, pipe: ClickPipe,
                **details: Any) -> None:
        record(Activities(session), caller, activity, service_id=pipe.service_id,
               details={"clickPipeId": str(pipe.id), "name": pipe.name, **details})


def _require_running(service: Service) -> None:
    """ClickPipes need the service's server (424 otherwise, which Terraform reads to wake an idle service)."""
    if service.state != "running":
        raise FailedDependency(f"service {service.id} is not running, and ClickPipes need it to; start it and "
                               f"try again. Current state: {service.state}")


def _source_of(source: schemas.ClickPipePostSource) -> tuple[str, dict[str, Any]]:
    given = [name for name in (*WORKED_SOURCES, *OTHER_SOURCES) if getattr(source, name, None) is not None]
    if len(given) != 1:
        raise BadRequest(f"source: give exactly one of {', '.join((*WORKED_SOURCES, *OTHER_SOURCES))}; "
                         f"{'none was' if not given else ', '.join(given) + ' were'} given")
    kind = given[0]
    if kind not in WORKED_SOURCES:
        raise BadRequest(f"source.{kind}: clickplane has no {kind} worker; the sources it moves data from are "
                         f"{' and '.join(WORKED_SOURCES)}")
    return kind, _plain(getattr(source, kind))


def _cdc_wire(session: Session, service_id: uuid.UUID) -> schemas.ClickPipesCdcScaling:
    cpu, memory = CdcScalings(session).of(service_id)
    return schemas.ClickPipesCdcScaling(replicaCpuMillicores=cpu, replicaMemoryGb=memory)


def to_wire(pipe: ClickPipe) -> schemas.ClickPipe:
    return schemas.ClickPipe.model_validate({
        "id": str(pipe.id), "serviceId": str(pipe.service_id), "name": pipe.name, "state": pipe.state,
        "scaling": pipe.scaling or None, "source": {pipe.kind: pipe.source}, "destination": pipe.destination,
        "fieldMappings": pipe.field_mappings,
        # A Postgres pipe's sync settings are in its source; the pipe settings are the others' only.
        "settings": DEFAULT_SETTINGS | pipe.settings if pipe.kind != "postgres" else None,
        "createdAt": rfc3339(pipe.created_at), "updatedAt": rfc3339(pipe.updated_at or pipe.created_at),
        "stateReason": pipe.state_reason,
        "progress": {"rowsMoved": pipe.rows_moved or 0, "bytesMoved": pipe.bytes_moved or 0,
                     "lastMovedAt": pipe.last_moved_at and rfc3339(pipe.last_moved_at), "lagBytes": pipe.lag_bytes},
    })

