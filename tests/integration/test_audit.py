"""Every change made through the API shows up exactly once in /activities, with its type and its actor.

Runs in an organization of its own, so that nothing else writes to the log it reads."""

from __future__ import annotations

import ssl
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from clickplane.server import accept_invitation
from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, wait_until
from tests.integration.test_udfs_api import zipped
from tests.s3 import http_file_server

DEVELOPER_ROLE = "00000000-0000-4000-8000-000000000002"
SERVICE = {"name": "audited", "provider": "aws", "region": "us-east-1", "ipAccessList": [{"source": "127.0.0.1"}]}


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.is_success, response.text
    return response.json()  # type: ignore[no-any-return]


MUTATING = ("POST", "PATCH", "PUT", "DELETE")


def mutating_operations(server: ClickplaneServer) -> set[str]:
    """The operationIds of every change the served document offers."""
    document = httpx.get(f"{server.base_url}/v1", timeout=30).json()
    return {operation["operationId"] for methods in document["paths"].values()
            for method, operation in methods.items()
            if method.upper() in MUTATING and isinstance(operation, dict) and "operationId" in operation}


@needs_clickhouse
def test_each_change_is_in_the_log_once_with_its_type_and_actor(server: ClickplaneServer) -> None:
    """Every mutating operation the document serves is made once here, and each leaves its activity."""
    credentials = server.create_organization("audit")
    org = f"/v1/organizations/{credentials.organization_id}"
    with server.client(credentials) as client:
        actor = ok(client.get("/v1/whoami"))["result"]["keyId"]

        def service_change(path: str, method: str = "PATCH", **body: Any) -> Callable[[], Any]:
            return lambda: ok(client.request(method, f"{org}/services/{state['service']}{path}", json=body or None))

        state: dict[str, str] = {}

        def create_service() -> None:
            state["service"] = ok(client.post(f"{org}/services", json=SERVICE))["result"]["service"]["id"]
            server.wait_for_state_in(credentials, state["service"], "running")  # its settings are the server's

        def create_byoc() -> None:
            state["byoc"] = ok(client.post(f"{org}/byocInfrastructure", json={
                "regionId": "us-east-1", "accountId": "123456789012", "displayName": "audited byoc"}))["result"]["id"]

        def create_key() -> None:
            state["key"] = ok(client.post(f"{org}/keys", json={"name": "spare"}))["result"]["key"]["id"]

        def create_role() -> None:
            state["role"] = ok(client.post(f"{org}/roles", json={
                "name": "auditors", "actors": [], "policies": [
                    {"allowDeny": "ALLOW", "permissions": ["control-plane:organization:view"], "resources": ["*"]}]}
            ))["result"]["id"]

        def invite(email: str) -> Callable[[], None]:
            def made() -> None:
                state[email] = ok(client.post(f"{org}/invitations", json={"email": email}))["result"]["id"]
            return made

        def update_member() -> None:
            # The operator accepts for the invitee (a system activity, not the key's).
            state["member"] = accept_invitation(server.operator_settings, uuid.UUID(state["member@example.com"]),
                                                "Audited Member").userId
            ok(client.patch(f"{org}/members/{state['member']}", json={"assignedRoleIds": [DEVELOPER_ROLE]}))

        def postgres_create(path: str, key: str, **body: Any) -> Callable[[], None]:
            def made() -> None:
                state[key] = ok(client.post(f"{org}/postgres{path}", json=body))["result"]["id"]
                wait_for_postgres(key, "running")
            return made

        def wait_for_postgres(key: str, wanted: str) -> None:
            wait_until(lambda: ok(client.get(f"{org}/postgres/{state[key]}"))["result"]["state"] == wanted,
                       what=f"Postgres service {key} to be {wanted}")

        def postgres_change(path: str, method: str = "PATCH", **body: Any) -> Callable[[], Any]:
            return lambda: ok(client.request(method, f"{org}/postgres/{state['postgres']}{path}", json=body))

        def postgres_command(command: str) -> Callable[[], None]:
            def done() -> None:  # the answer shows it restarting: then running once done
                postgres_change("/state", command=command)()
                wait_for_postgres("postgres", "running")
            return done

        def restore_postgres() -> None:
            # The earliest moment its first base backup covers: always inside the window.
            found = wait_until(lambda: ok(client.get(f"{org}/postgres/{state['postgres']}"))["result"].get(
                "earliestRestoreTime"), what="the first base backup")
            postgres_create(f"/{state['postgres']}/restoredService", "restored", name="restored",
                            restoreTarget=found)()

        def delete_postgres(key: str) -> Callable[[], None]:
            def deleted() -> None:
                ok(client.delete(f"{org}/postgres/{state[key]}"))
                wait_until(lambda: client.get(f"{org}/postgres/{state[key]}").status_code == 404,
                           what=f"Postgres service {key} to be gone")
            return deleted

        def create_pipe() -> None:
            state["pipe"] = ok(client.post(f"{org}/services/{state['service']}/clickpipes", json={
                "name": "audited pipe", "source": {"objectStorage": {
                    "type": "s3", "url": f"{state['files']}/audited.csv", "format": "CSV", "isContinuous": True}},
                "destination": {"database": "default", "table": "audited", "managedTable": True,
                                "columns": [{"name": "n", "type": "UInt32"}, {"name": "s", "type": "String"}]},
            }))["result"]["id"]

        def pipe_change(path: str, method: str = "PATCH", **body: Any) -> Callable[[], Any]:
            return lambda: ok(client.request(method, f"{org}/services/{state['service']}/clickpipes/"
                                                     f"{state['pipe']}{path}", json=body or None))

        def refused_discovery() -> None:  # clickplane samples no streaming source: refused, so not logged
            answer = client.post(f"{org}/services/{state['service']}/clickpipes/schemaDiscovery",
                                 json={"source": {"kafka": {"brokers": "b:9092", "topics": "t"}}})
            assert answer.status_code == 400, answer.text

        def create_endpoint() -> None:
            state["endpoint"] = ok(client.post(
                f"{org}/services/{state['service']}/clickpipesReversePrivateEndpoints", json={
                    "description": "audited", "type": "VPC_ENDPOINT_SERVICE",
                    "vpcEndpointServiceName": "com.amazonaws.vpce.us-east-1.vpce-svc-audited"}))["result"]["id"]

        def on_service(path: str, method: str = "POST", key: str | None = None, **body: Any) -> Callable[[], Any]:
            """A request under the service's path; with `key`, the id it answers with is kept under that key."""
            def sent() -> None:
                made = ok(client.request(method, f"{org}/services/{state['service']}/{path}".format(
                    **state), json=body or None)).get("result")
                if key:
                    state[key] = made["id"]
            return sent

        def stack(path: str, method: str = "POST", key: str | None = None, **body: Any) -> Callable[[], Any]:
            return on_service(f"clickstack/{path}", method, key, **body)

        def source_body() -> dict[str, Any]:  # over a table every ClickHouse has
            return {"kind": "log", "name": "audited", "connection": state["service"].replace("-", "")[:24],
                    "from": {"databaseName": "system", "tableName": "one"}, "defaultTableSelectExpression": "dummy",
                    "timestampValueExpression": "now()"}

        def stack_body(make: Callable[[], dict[str, Any]], path: str, method: str, key: str | None = None
                       ) -> Callable[[], Any]:
            return lambda: stack(path, method, key, **make())()

        tile = {"name": "t", "x": 0, "y": 0, "w": 1, "h": 1}
        webhook = {"name": "audited", "service": "generic", "url": "http://127.0.0.1:9/hook"}
        search = lambda: {"name": "audited", "sourceId": state["source"]}  # noqa: E731
        board = lambda: {"name": "audited", "tiles": [tile | {"config": {  # noqa: E731
            "displayType": "number", "sourceId": state["source"], "select": [{"aggFn": "count"}]}}]}
        alert = lambda: {"source": "saved_search", "savedSearchId": state["search"], "threshold": 1.0,  # noqa: E731
                         "thresholdType": "above", "interval": "1h",
                         "channel": {"type": "webhook", "webhookId": state["webhook"]}}
        stack_steps: list[tuple[str, str | None, Callable[[], Any]]] = [
            ("clickStackCreateSource", "clickstack_source_create", stack_body(source_body, "sources", "POST",
                                                                               "source")),
            ("clickStackUpdateSource", "clickstack_source_update", stack_body(source_body, "sources/{source}",
                                                                               "PUT")),
            ("clickStackCreateSavedSearch", "clickstack_saved_search_create", stack_body(
                search, "saved-searches", "POST", "search")),
            ("clickStackUpdateSavedSearch", "clickstack_saved_search_update", stack_body(
                search, "saved-searches/{search}", "PUT")),
            ("clickStackValidateDashboard", None, stack_body(board, "dashboards/validate", "POST")),
            ("clickStackCreateDashboard", "clickstack_dashboard_create", stack_body(
                board, "dashboards", "POST", "board")),
            ("clickStackUpdateDashboard", "clickstack_dashboard_update", stack_body(
                board, "dashboards/{board}", "PUT")),
            ("clickStackValidateWebhook", None, stack("webhooks/validate", **webhook)),
            ("clickStackCreateWebhook", "clickstack_webhook_create", stack("webhooks", key="webhook", **webhook)),
            ("clickStackUpdateWebhook", "clickstack_webhook_update", stack("webhooks/{webhook}", "PUT", **webhook)),
            ("clickStackCreateAlert", "clickstack_alert_create", stack_body(alert, "alerts", "POST", "alert")),
            ("clickStackUpdateAlert", "clickstack_alert_update", stack_body(alert, "alerts/{alert}", "PUT")),
            ("clickStackCreateRole", "clickstack_role_create", stack("roles", key="role", name="audited",
                                                                     permissions=[])),
            ("clickStackUpdateRole", "clickstack_role_update", stack("roles/{role}", "PUT", name="audited2",
                                                                     permissions=[])),
            ("clickStackDeleteRole", "clickstack_role_delete", stack("roles/{role}", "DELETE")),
            ("clickStackDeleteAlert", "clickstack_alert_delete", stack("alerts/{alert}", "DELETE")),
            ("clickStackDeleteWebhook", "clickstack_webhook_delete", stack("webhooks/{webhook}", "DELETE")),
            ("clickStackDeleteDashboard", "clickstack_dashboard_delete", stack("dashboards/{board}", "DELETE")),
            ("clickStackDeleteSavedSearch", "clickstack_saved_search_delete", stack("saved-searches/{search}",
                                                                                    "DELETE")),
            ("clickStackDeleteSource", "clickstack_source_delete", stack("sources/{source}", "DELETE")),
        ]
        trust = ssl.create_default_context(cafile=server.data_dir / "ca" / "ca.pem")

        def udf_upload() -> str:
            session = ok(client.post(f"{org}/udfUploads/url"))["result"]
            put = httpx.put(session["uploadUrl"], content=zipped({"main.py": b"print(1)\n"}), verify=trust,
                            headers={"content-type": "application/zip"}, timeout=30)
            assert put.status_code == 200, put.text
            return str(session["uploadId"])

        def udf_attachment(method: str) -> Callable[[], None]:
            """Attach, or detach: on a ClickHouse without executable functions (18.16) refused, so not logged."""
            def sent() -> None:
                answer = client.request(method, f"{org}/udfs/audited/attachments/{state['service']}", json={})
                assert answer.status_code in (200, 424 if method == "PUT" else 404), answer.text
                if answer.status_code == 200:
                    state[f"udf {method}"] = "logged"
            return sent

        udf = {"runtime": "python3.11", "type": "executable", "arguments": [], "returnType": "String"}
        udf_steps: list[tuple[str, str | None, Callable[[], Any]]] = [
            # An upload URL changes nothing the organization holds: not logged (a create that takes it is).
            ("udfUploadSessionCreate", None, udf_upload),
            ("udfCreate", "udf_create", lambda: ok(client.post(f"{org}/udfs", json={
                **udf, "functionName": "audited", "uploadId": udf_upload()}))),
            ("udfVersionCreate", "udf_version_create", lambda: ok(client.post(f"{org}/udfs/audited/versions", json={
                **udf, "uploadId": udf_upload()}))),
            ("udfVersionDelete", "udf_version_delete", lambda: ok(client.delete(f"{org}/udfs/audited/versions/1"))),
            ("udfAttach", None, udf_attachment("PUT")),
            ("udfDetach", None, udf_attachment("DELETE")),
            ("udfDelete", "udf_delete", lambda: ok(client.delete(f"{org}/udfs/audited"))),
        ]
        postgres = {"name": "audited pg", "provider": "aws", "region": "us-east-1", "size": "r6gd.medium"}
        bucket = {"bucketProvider": "AZURE", "containerName": "audited"}
        # (operationId, the activity it records, the request)
        steps: list[tuple[str, str | None, Callable[[], Any]]] = [
            ("organizationUpdate", "organization_update_name", lambda: ok(client.patch(org, json={
                "name": "audited org"}))),
            ("openapiKeyCreate", "key_create", create_key),
            ("openapiKeyUpdate", "openapi_key_update", lambda: ok(client.patch(f"{org}/keys/{state['key']}", json={
                "name": "spare2"}))),
            ("openapiKeyDelete", "key_delete", lambda: ok(client.delete(f"{org}/keys/{state['key']}"))),
            ("organizationRolePost", "role_create", create_role),
            ("organizationRolePatch", "role_update", lambda: ok(client.patch(f"{org}/roles/{state['role']}", json={
                "name": "auditors2"}))),
            ("organizationRoleDelete", "role_delete", lambda: ok(client.delete(f"{org}/roles/{state['role']}"))),
            ("invitationCreate", "organization_invite_create", invite("audit@example.com")),
            ("invitationDelete", "organization_invite_delete", lambda: ok(client.delete(
                f"{org}/invitations/{state['audit@example.com']}"))),
            ("invitationCreate", "organization_invite_create", invite("member@example.com")),
            ("memberUpdate", "organization_member_update_roles", update_member),
            ("memberDelete", "organization_member_delete", lambda: ok(client.delete(
                f"{org}/members/{state['member']}"))),
            ("instanceCreate", "service_create", create_service),
            ("instanceUpdate", "service_update_name", service_change("", name="audited2")),
            ("instanceUpdate", "service_update_ip_access_list", service_change("", ipAccessList={
                "add": [{"source": "10.0.0.0/8"}]})),
            ("instancePasswordUpdate", "service_update_password", service_change("/password")),
            ("instanceReplicaScalingUpdate", "service_update_autoscaling_memory", service_change(
                "/replicaScaling", maxReplicaMemoryGb=12)),
            ("instanceScalingUpdate", "service_update_autoscaling_memory", service_change(
                "/scaling", maxTotalMemoryGb=48)),
            ("backupConfigurationUpdate", "service_update_backup_configuration", service_change(
                "/backupConfiguration", backupRetentionPeriodInHours=48)),
            ("backupBucketCreate", "service_create_backup_bucket", service_change("/backupBucket", "POST", **bucket)),
            ("backupBucketUpdate", "service_update_backup_bucket", service_change("/backupBucket",
                                                                                  containerName="audited2")),
            ("backupBucketDelete", "service_delete_backup_bucket", service_change("/backupBucket", "DELETE")),
            ("instanceQueryEndpointUpsert", "service_update_query_endpoint", service_change(
                "/serviceQueryEndpoint", "POST", roles=["sql_console_read_only"], openApiKeys=[actor])),
            ("instanceQueryEndpointDelete", "service_delete_query_endpoint", service_change(
                "/serviceQueryEndpoint", "DELETE")),
            ("serviceClickhouseSettingsUpdate", "service_update_clickhouse_settings", service_change(
                "/clickhouseSettings", settings={"max_threads": "4"})),
            ("serviceClickhouseSettingDelete", "service_update_clickhouse_settings", service_change(
                "/clickhouseSettings/max_threads", "DELETE")),
            ("clickPipeCreate", "clickpipe_create", create_pipe),
            ("clickPipeUpdate", "clickpipe_update", pipe_change("", name="audited pipe 2")),
            ("clickPipeScalingUpdate", "clickpipe_update_scaling", pipe_change("/scaling", replicas=2)),
            ("clickPipeSettingsUpdate", "clickpipe_update_settings", pipe_change(
                "/settings", "PUT", object_storage_polling_interval_ms=1000)),
            ("clickPipeStateUpdate", "clickpipe_stop", pipe_change("/state", command="stop")),
            ("clickPipeStateUpdate", "clickpipe_start", pipe_change("/state", command="start")),
            ("clickPipeDelete", "clickpipe_delete", pipe_change("", "DELETE")),
            ("clickPipeSchemaDiscovery", None, refused_discovery),
            ("clickPipeCdcScalingUpdate", "service_update_clickpipes_cdc_scaling", service_change(
                "/clickpipesCdcScaling", replicaCpuMillicores=4000, replicaMemoryGb=16.0)),
            ("clickPipeReversePrivateEndpointCreate", "reverse_private_endpoint_create", create_endpoint),
            ("clickPipeReversePrivateEndpointUpdate", "reverse_private_endpoint_update", lambda: ok(client.patch(
                f"{org}/services/{state['service']}/clickpipesReversePrivateEndpoints/{state['endpoint']}",
                json={"customPrivateDnsMappings": []}))),
            ("clickPipeReversePrivateEndpointDelete", "reverse_private_endpoint_delete", lambda: ok(client.delete(
                f"{org}/services/{state['service']}/clickpipesReversePrivateEndpoints/{state['endpoint']}"))),
            *stack_steps,
            ("savedQueryCreate", "saved_query_create", on_service(
                "saved-queries", key="saved", name="audited", sql="SELECT 1", database="default")),
            ("savedQueryUpdate", "saved_query_update", on_service(
                "saved-queries/{saved}", "PUT", name="audited2", sql="SELECT 2", database="default")),
            ("savedQueryDelete", "saved_query_delete", on_service("saved-queries/{saved}", "DELETE")),
            ("queryApiEndpointCreate", "query_api_endpoint_create", on_service(
                "query-api-endpoints", key="query_api", name="audited", sql="SELECT 1", database="default",
                apiKeyIds=[actor], roles=["sql_console_read_only"])),
            ("queryApiEndpointUpdate", "query_api_endpoint_update", on_service(
                "query-api-endpoints/{query_api}", "PUT", name="audited2", sql="SELECT 2", database="default",
                apiKeyIds=[actor], roles=["sql_console_read_only"])),
            ("queryApiEndpointDelete", "query_api_endpoint_delete", on_service(
                "query-api-endpoints/{query_api}", "DELETE")),
            ("snapshotConfigurationUpdate", "service_update_snapshot_configuration", service_change(
                "/snapshotConfiguration", gap=720.0, timeFrame=2880.0)),
            ("replicaAwareRoutingUpdate", "service_update_replica_aware_routing", service_change(
                "/replicaAwareRouting", httpEnabled=True)),
            *udf_steps,
            # An entry with no scaling of its own: in force or not, it changes nothing (no system activity).
            ("scalingScheduleUpsert", "service_update_scaling_schedule", service_change(
                "/scalingSchedule", "POST", entries=[{"name": "audited", "weekdays": [0, 1, 2, 3, 4, 5, 6],
                                                      "startHourUtc": 0, "endHourUtc": 24}])),
            ("scalingScheduleDelete", "service_delete_scaling_schedule", service_change("/scalingSchedule", "DELETE")),
            ("upgradeWindowUpdate", "service_update_upgrade_window", service_change(
                "/upgradeWindow", "PUT", weekday=3, startHourUtc=12)),
            ("upgradeWindowDelete", "service_delete_upgrade_window", service_change("/upgradeWindow", "DELETE")),
            ("instancePrivateEndpointCreate", "service_update_private_endpoints", service_change(
                "/privateEndpoint", "POST", id="vpce-0a1b2c3d", description="audited")),
            ("organizationByocInfrastructureCreate", "byoc_infrastructure_create", create_byoc),
            ("organizationByocInfrastructureUpdate", "byoc_infrastructure_update", lambda: ok(client.patch(
                f"{org}/byocInfrastructure/{state['byoc']}", json={"displayName": "audited byoc 2"}))),
            ("organizationByocInfrastructureDelete", "byoc_infrastructure_delete", lambda: ok(client.delete(
                f"{org}/byocInfrastructure/{state['byoc']}"))),
            ("instanceStateUpdate", "service_stop", service_change("/state", command="stop")),
            ("postgresServiceCreate", "postgres_service_create", postgres_create("", "postgres", **postgres)),
            ("postgresServicePatch", "postgres_service_update", postgres_change("", name="audited pg2")),
            ("postgresServicePatch", "postgres_service_update_ip_access_list", postgres_change("", ipAccessList={
                "add": [{"source": "10.0.0.0/8", "portRange": "5432"}], "remove": []})),
            ("postgresServiceSetPassword", "postgres_service_update_password", postgres_change("/password")),
            ("postgresInstanceConfigPatch", "postgres_service_update_config", postgres_change(
                "/config", pgConfig={"work_mem": "8MB"}, pgBouncerConfig={})),
            ("postgresInstanceConfigPost", "postgres_service_update_config", postgres_change(
                "/config", "POST", pgConfig={}, pgBouncerConfig={})),
            ("postgresServicePatchState", "postgres_service_restart", postgres_command("restart")),
            ("postgresServicePatchState", "postgres_service_switchover", postgres_command("switchover")),
            ("postgresInstanceCreateReadReplica", "postgres_service_create", lambda: postgres_create(
                f"/{state['postgres']}/readReplica", "replica", name="audited replica")()),
            ("postgresServicePatchState", "postgres_service_promote", lambda: ok(client.patch(
                f"{org}/postgres/{state['replica']}/state", json={"command": "promote"}))),
            ("postgresInstanceRestore", "postgres_service_create", restore_postgres),
            ("postgresServiceDelete", "postgres_service_delete", delete_postgres("replica")),
            ("postgresServiceDelete", "postgres_service_delete", delete_postgres("restored")),
            ("postgresServiceDelete", "postgres_service_delete", delete_postgres("postgres")),
        ]
        with http_file_server({"audited.csv": b"1,a\n2,b\n"}) as state["files"]:
            for _, _, step in steps:
                step()
        server.wait_for_state_in(credentials, state["service"], "stopped")
        ok(client.delete(f"{org}/services/{state['service']}"))
        steps.append(("instanceDelete", "service_delete", lambda: None))
        steps.extend((operation, kind, lambda: None) for operation, kind, method in (
            ("udfAttach", "udf_attach", "PUT"), ("udfDetach", "udf_detach", "DELETE")) if state.get(f"udf {method}"))
        expected = Counter(kind for _, kind, _ in steps if kind is not None)

        logged = ok(client.get(f"{org}/activities"))["result"]
        by_api = [a for a in logged if a["actorType"] == "api"]
        assert Counter(a["type"] for a in by_api) == expected
        assert {a["actorId"] for a in by_api} == {actor}
        assert all(a["organizationId"] == credentials.organization_id for a in logged)
        service_activities = [a for a in by_api if a["type"].startswith("service_")]
        assert {a["serviceId"] for a in service_activities} == {state["service"]}
        key_activities = [a for a in by_api if a["type"] in ("key_create", "openapi_key_update", "key_delete")]
        assert {a["targetKeyId"] for a in key_activities} == {state["key"]}
        assert [a.get("keyUpdateType") for a in key_activities if a["type"] == "openapi_key_update"] == [
            "name-changed"]
    assert {operation for operation, _, _ in steps} == mutating_operations(server), \
        "every change the API serves must be made, and so audited, here"
