"""The forms of cloud ids the API records (private endpoints, BYOC accounts) and the rules of a BYOC create."""

from __future__ import annotations

import uuid

import pytest

from clickplane.byoc.schemas import ByocInfrastructurePostRequest
from clickplane.byoc.service import new_infrastructure, to_wire
from clickplane.kit.cloud_ids import check_account_id, check_endpoint_id
from clickplane.kit.errors import BadRequest
from clickplane.services.schemas import ServicPrivateEndpointePostRequest
from clickplane.services.service import register_private_endpoint
from clickplane.store import models

AZURE_ID = ("/subscriptions/0123abcd-0123-4567-89ab-0123456789ab/resourceGroups/rg/providers/Microsoft.Network/"
            "privateEndpoints/pe")


@pytest.mark.parametrize(("provider", "endpoint_id"), [
    ("aws", "vpce-0123abcd"), ("aws", "vpce-0123456789abcdef0"), ("gcp", "12345678901234"),
    ("azure", "0123abcd-0123-4567-89ab-0123456789ab"), ("azure", AZURE_ID)])
def test_each_providers_endpoint_ids_are_taken(provider: str, endpoint_id: str) -> None:
    assert check_endpoint_id(provider, endpoint_id, "id") == endpoint_id


@pytest.mark.parametrize(("provider", "endpoint_id", "fragment"), [
    ("aws", "vpce-0123ABCD", "vpce-"), ("aws", "vpce-0123abc", "8 or 17"), ("aws", "12345", "AWS"),
    ("gcp", "vpce-0123abcd", "digits"), ("azure", "12345", "GUID"), ("azure", AZURE_ID + "/x", "resource id"),
    ("azure", AZURE_ID + " x", "resource id"), ("azure", AZURE_ID + "\n", "resource id"),
    ("azure", AZURE_ID.replace("/rg/", "/r\tg/"), "resource id"), ("azure", AZURE_ID + "\x1b[2J", "resource id"),
    ("azure", AZURE_ID + "\u200b", "resource id")])
def test_ids_of_another_form_are_refused_saying_which_form_is_wanted(provider: str, endpoint_id: str,
                                                                      fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment):
        check_endpoint_id(provider, endpoint_id, "id")


def test_account_ids_follow_their_provider() -> None:
    assert check_account_id("aws", "123456789012", "accountId") == "123456789012"
    assert check_account_id("gcp", "my-project-1", "accountId") == "my-project-1"
    with pytest.raises(BadRequest, match="12 digits"):
        check_account_id("aws", "my-project-1", "accountId")


def create(**fields: object) -> dict[str, object]:
    request = ByocInfrastructurePostRequest.model_validate({"regionId": "us-east-1", "accountId": "123456789012",
                                                            **fields})
    return to_wire(new_infrastructure(uuid.uuid4(), request)).model_dump(exclude_none=True)


def test_a_create_is_recorded_in_its_regions_provider_and_never_ready() -> None:
    made = create(vpcCidrRange="10.1.0.0/16", availabilityZoneSuffixes=["a", "b"])
    assert {key: made[key] for key in ("state", "accountName", "regionId", "cloudProvider", "displayName")} == {
        "state": "infra-provisioning", "accountName": "123456789012", "regionId": "us-east-1",
        "cloudProvider": "aws", "displayName": "123456789012"}
    assert create(regionId="eastus", accountId="0123abcd-0123-4567-89ab-0123456789ab")["cloudProvider"] == "azure"


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"regionId": None}, "regionId required"), ({"accountId": None}, "accountId required"),
    ({"availabilityZoneSuffixes": ["a", "a"]}, "twice"), ({"vpcCidrRange": "8.8.0.0/16"}, "private IPv4"),
    ({"vpcCidrRange": "10.0.0.0/8"}, "/16 to /24"), ({"vpcCidrRange": "10.0.0.1/16"}, "host bits"),
    ({"regionId": "us-central1"}, "GCP project id")])
def test_bad_creates_are_refused_naming_the_field(fields: dict[str, object], fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment):
        create(**fields)


def test_a_registered_endpoint_already_attached_by_a_patch_is_not_attached_twice() -> None:
    organization = models.Organization(id=uuid.uuid4(), name="org", private_endpoints=[])
    service = models.Service(provider="azure", region="eastus", options={"privateEndpointIds": [AZURE_ID]})
    endpoint = register_private_endpoint(organization, service,
                                         ServicPrivateEndpointePostRequest(id=AZURE_ID, description="pe"))
    assert endpoint["id"] == AZURE_ID
    assert service.options["privateEndpointIds"] == [AZURE_ID]
    assert [known["id"] for known in organization.private_endpoints] == [AZURE_ID]
