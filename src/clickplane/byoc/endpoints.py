"""BYOC infrastructure of an organization: create, update, delete (recorded; nothing is provisioned)."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.byoc.schemas import ByocInfrastructurePatchRequest, ByocInfrastructurePostRequest
from clickplane.byoc.service import ByocService
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.routes import Api
from clickplane.organizations.schemas import ByocConfig

TAG = "Organization"
PATH = "/v1/organizations/{organizationId}/byocInfrastructure"
ONE = PATH + "/{byocInfrastructureId}"
LOCAL = (" clickplane runs services on its own machine: the infrastructure is recorded and listed in the "
         "organization's byocConfig, in state infra-provisioning, but nothing is provisioned in the account and "
         "no service can be created in it.")
ERRORS = (400, 401, 404, 409, 500)


def add_routes(api: Api, context: AppContext) -> None:
    infrastructures = ByocService(context)

    @api.route("POST", PATH, "organizationByocInfrastructureCreate", "Create BYOC Infrastructure", TAG,
               "Records BYOC infrastructure for a cloud account in a region: the account id must have its "
               "provider's form (AWS 12 digits, a GCP project id, an Azure subscription GUID), the zones be "
               "distinct and the VPC range private IPv4, /16 to /24. 409 for an account and region recorded "
               "already." + LOCAL, ByocConfig, errors=ERRORS,
               produces=Produces("byocInfrastructureId", "/result/id"))
    async def create_infrastructure(caller: Caller, organizationId: UUID,
                                    body: JsonBody[ByocInfrastructurePostRequest]) -> Response:
        return ok(infrastructures.create(caller, organizationId, body.value))

    @api.route("PATCH", ONE, "organizationByocInfrastructureUpdate", "Update BYOC Infrastructure", TAG,
               "Renames the infrastructure (displayName)." + LOCAL, ByocConfig, errors=ERRORS)
    async def update_infrastructure(caller: Caller, organizationId: UUID, byocInfrastructureId: UUID,
                                    body: JsonBody[ByocInfrastructurePatchRequest]) -> Response:
        return ok(infrastructures.update(caller, organizationId, byocInfrastructureId, body.value))

    @api.route("DELETE", ONE, "organizationByocInfrastructureDelete", "Remove a BYOC infrastructure", TAG,
               "Removes the record." + LOCAL, None, errors=ERRORS)
    async def delete_infrastructure(caller: Caller, organizationId: UUID, byocInfrastructureId: UUID) -> Response:
        infrastructures.delete(caller, organizationId, byocInfrastructureId)
        return acknowledged()
