"""GET /v1 serves our OpenAPI document, and it matches the reference for what is implemented."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx

from tests.integration.harness import ClickplaneServer
from tests.shared import shared_file

EXPECTED_OPERATIONS = (
    "organizationGetList", "organizationGet", "organizationUpdate", "instanceGetList", "instanceCreate",
    "instanceGet", "instanceUpdate", "instanceDelete", "instanceStateUpdate", "instanceScalingUpdate",
    "instanceReplicaScalingUpdate", "instancePasswordUpdate", "instancePrivateEndpointConfigGet",
    "instanceQueryEndpointGet", "backupConfigurationGet", "backupConfigurationUpdate", "backupGetList", "backupGet",
    "backupBucketGet", "backupBucketCreate", "backupBucketUpdate", "backupBucketDelete",
    "memberGetList", "memberGet", "memberUpdate", "memberDelete",
    "invitationGetList", "invitationCreate", "invitationGet", "invitationDelete",
    "activityGetList", "activityGet", "organizationQuotasGetList", "organizationQuotaGet",
    "organizationPrometheusGet", "instancePrometheusGet", "postgresOrgPrometheusGet", "postgresInstancePrometheusGet",
    "organizationPrivateEndpointConfigGetList", "serviceClickhouseSettingsListGet",
    "serviceClickhouseSettingsSchemaGet", "serviceClickhouseSettingGet", "serviceClickhouseSettingsUpdate",
    "serviceClickhouseSettingDelete", "usageCostGet",
)


def test_document_is_public_and_names_the_base_url_the_client_used(server: ClickplaneServer) -> None:
    direct = httpx.get(f"{server.base_url}/v1").json()
    assert direct["info"]["title"] == "OpenAPI spec for ClickHouse Cloud"
    assert direct["servers"][0]["url"] == server.base_url
    assert direct["components"]["securitySchemes"]["basicAuth"]["scheme"] == "basic"
    proxied = httpx.get(f"{server.base_url}/v1", headers={"X-Forwarded-Proto": "https",
                                                         "X-Forwarded-Host": "api.example.com"}).json()
    assert proxied["servers"][0]["url"] == "https://api.example.com"
    renamed_host = httpx.get(f"{server.base_url}/v1", headers={"Host": "clickplane.internal:8443"}).json()
    assert renamed_host["servers"][0]["url"] == "http://clickplane.internal:8443"


def test_operations_carry_the_references_ids_summaries_and_tags(server: ClickplaneServer) -> None:
    document = httpx.get(f"{server.base_url}/v1").json()
    operation = document["paths"]["/v1/organizations/{organizationId}/services/{serviceId}"]["get"]
    assert (operation["operationId"], operation["summary"], operation["tags"]) == (
        "instanceGet", "Get service details", ["Service"])


def test_spec_conformance_shows_no_gaps_for_any_implemented_operation(server: ClickplaneServer) -> None:
    tool = shared_file("tools", "spec-conformance")
    run = subprocess.run([sys.executable, str(tool), f"{server.base_url}/v1"], capture_output=True, text=True,
                         timeout=60, check=True)
    lines = run.stdout.splitlines()
    summary = lines[-1]
    assert re.search(r"schema gaps 0, envelope ok$", summary), summary
    assert not [line for line in lines if line.startswith("[gap]")]
    for operation_id in EXPECTED_OPERATIONS:
        assert any(line.startswith("[ok ]") and f"({operation_id})" in line for line in lines), operation_id
