"""Access control on every operation: the operations `GET /v1` serves, each tried by every kind of caller.

The expectations are written out here, on purpose independently of `clickplane.auth.permissions`, so a
wrong entry in the server's operation map or a wrong policy check shows up as a failing cell:

* no credentials or a wrong secret: 401; a disabled or an expired key: 401 `Key is not active`;
* a key used from outside its IP access list: 403, whatever the operation;
* another organization's admin key: 404 on every path of this organization;
* a key with roles: 403 unless its roles grant the operation's permission (`NEEDS`, `Caller.grants`),
  and past authorization otherwise: 200 (or the 404 of a placeholder target, the 409 of an operation that
  needs a running server: the test's service is stopped).

Every response of every cell must also be a Cloud API envelope, show nothing of an organization the
caller does not belong to, and carry no secret unless the operation exists to hand one out. Requests
that destroy something aim at a throwaway made for them; a refused one must leave it in place, and a
refused create must make nothing. The test works in two organizations of its own and leaves them as it
found them.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.harness import ClickplaneServer, Credentials, clickplane, wait_until

# --- The expected decision table -----------------------------------------------------------------------

ORGANIZATION_VIEW = "control-plane:organization:view"
ORGANIZATION_MANAGE = "control-plane:organization:manage"
SERVICE_VIEW = "control-plane:service:view"
SERVICE_MANAGE = "control-plane:service:manage"
KEYS_VIEW = "control-plane:organization:api-keys:view"
KEYS_MANAGE = "control-plane:organization:api-keys:manage"
MEMBERS_VIEW = "control-plane:organization:members:view"
MEMBERS_MANAGE = "control-plane:organization:members:manage"
ROLES_VIEW = "control-plane:organization:roles:view"
ROLES_MANAGE = "control-plane:organization:roles:manage"
ACTIVITIES_VIEW = "control-plane:organization:activities:view"
BILLING_VIEW = "control-plane:organization:billing:view"
QUERY_ENDPOINTS = "sql-console:query-endpoints:use"
POSTGRES_VIEW = "control-plane:postgres-service:view"
POSTGRES_MANAGE = "control-plane:postgres-service:manage"

# The permission each operation needs; None: any valid key (it asks about itself).
NEEDS: dict[str, str | None] = {
    "whoami": None,
    "organizationGetList": ORGANIZATION_VIEW,
    "organizationGet": ORGANIZATION_VIEW,
    "organizationUpdate": ORGANIZATION_MANAGE,
    "organizationPrivateEndpointConfigGetList": ORGANIZATION_VIEW,
    "organizationQuotasGetList": ORGANIZATION_VIEW,
    "organizationQuotaGet": ORGANIZATION_VIEW,
    "organizationPrometheusGet": ORGANIZATION_VIEW,
    "postgresOrgPrometheusGet": POSTGRES_VIEW,
    "postgresInstancePrometheusGet": POSTGRES_VIEW,
    "postgresServiceGetList": POSTGRES_VIEW,
    "postgresServiceGet": POSTGRES_VIEW,
    "postgresServiceCertsGet": POSTGRES_VIEW,
    "postgresInstanceConfigGet": POSTGRES_VIEW,
    "postgresInstanceMetricsGet": POSTGRES_VIEW,
    "slowQueryPatternsGetList": POSTGRES_VIEW,
    "slowQueryPatternGet": POSTGRES_VIEW,
    "postgresBackupGetList": POSTGRES_VIEW,
    "postgresLogsGet": POSTGRES_VIEW,
    "postgresServiceCreate": POSTGRES_MANAGE,
    "postgresInstanceCreateReadReplica": POSTGRES_MANAGE,
    "postgresInstanceRestore": POSTGRES_MANAGE,
    "postgresServicePatch": POSTGRES_MANAGE,
    "postgresServiceDelete": POSTGRES_MANAGE,
    "postgresServiceSetPassword": POSTGRES_MANAGE,
    "postgresServicePatchState": POSTGRES_MANAGE,
    "postgresInstanceConfigPost": POSTGRES_MANAGE,
    "postgresInstanceConfigPatch": POSTGRES_MANAGE,
    "activityGetList": ACTIVITIES_VIEW,
    "activityGet": ACTIVITIES_VIEW,
    "usageCostGet": BILLING_VIEW,
    "instanceGetList": SERVICE_VIEW,
    "instanceGet": SERVICE_VIEW,
    "instancePrivateEndpointConfigGet": SERVICE_VIEW,
    "instanceQueryEndpointGet": SERVICE_VIEW,
    "backupConfigurationGet": SERVICE_VIEW,
    "instancePrometheusGet": SERVICE_VIEW,
    "serviceClickhouseSettingsListGet": SERVICE_VIEW,
    "serviceClickhouseSettingsSchemaGet": SERVICE_VIEW,
    "serviceClickhouseSettingGet": SERVICE_VIEW,
    "backupGetList": SERVICE_VIEW,
    "backupGet": SERVICE_VIEW,
    "backupBucketGet": SERVICE_VIEW,
    "instanceCreate": SERVICE_MANAGE,
    "instanceUpdate": SERVICE_MANAGE,
    "instanceDelete": SERVICE_MANAGE,
    "instanceStateUpdate": SERVICE_MANAGE,
    "instanceScalingUpdate": SERVICE_MANAGE,
    "instanceReplicaScalingUpdate": SERVICE_MANAGE,
    "instancePasswordUpdate": SERVICE_MANAGE,
    "instanceQueryEndpointUpsert": SERVICE_MANAGE,
    "instanceQueryEndpointDelete": SERVICE_MANAGE,
    "serviceClickhouseSettingsUpdate": SERVICE_MANAGE,
    "serviceClickhouseSettingDelete": SERVICE_MANAGE,
    "backupConfigurationUpdate": SERVICE_MANAGE,
    "backupBucketCreate": SERVICE_MANAGE,
    "backupBucketUpdate": SERVICE_MANAGE,
    "backupBucketDelete": SERVICE_MANAGE,
    "openapiKeyGetList": KEYS_VIEW,
    "openapiKeyGet": KEYS_VIEW,
    "openapiKeyCreate": KEYS_MANAGE,
    "openapiKeyUpdate": KEYS_MANAGE,
    "openapiKeyDelete": KEYS_MANAGE,
    "organizationRolesGetList": ROLES_VIEW,
    "organizationRoleGet": ROLES_VIEW,
    "organizationRolePost": ROLES_MANAGE,
    "organizationRolePatch": ROLES_MANAGE,
    "organizationRoleDelete": ROLES_MANAGE,
    "memberGetList": MEMBERS_VIEW,
    "memberGet": MEMBERS_VIEW,
    "memberUpdate": MEMBERS_MANAGE,
    "memberDelete": MEMBERS_MANAGE,
    "invitationGetList": MEMBERS_VIEW,
    "invitationGet": MEMBERS_VIEW,
    "invitationCreate": MEMBERS_MANAGE,
    "invitationDelete": MEMBERS_MANAGE,
    "clickPipeGetList": SERVICE_VIEW,
    "clickPipeGet": SERVICE_VIEW,
    "clickPipeSettingsGet": SERVICE_VIEW,
    "clickPipesContextGet": SERVICE_VIEW,
    "clickPipeCdcScalingGet": SERVICE_VIEW,
    "clickPipeReversePrivateEndpointGetList": SERVICE_VIEW,
    "clickPipeReversePrivateEndpointGet": SERVICE_VIEW,
    "clickPipeCreate": SERVICE_MANAGE,
    "clickPipeUpdate": SERVICE_MANAGE,
    "clickPipeDelete": SERVICE_MANAGE,
    "clickPipeStateUpdate": SERVICE_MANAGE,
    "clickPipeScalingUpdate": SERVICE_MANAGE,
    "clickPipeSettingsUpdate": SERVICE_MANAGE,
    "clickPipeSchemaDiscovery": SERVICE_MANAGE,
    "clickPipeCdcScalingUpdate": SERVICE_MANAGE,
    "clickPipeReversePrivateEndpointCreate": SERVICE_MANAGE,
    "clickPipeReversePrivateEndpointUpdate": SERVICE_MANAGE,
    "clickPipeReversePrivateEndpointDelete": SERVICE_MANAGE,
    # ClickStack reads and dry runs need service view; its changes service manage.
    "clickStackListSources": SERVICE_VIEW,
    "clickStackGetSource": SERVICE_VIEW,
    "clickStackCreateSource": SERVICE_MANAGE,
    "clickStackUpdateSource": SERVICE_MANAGE,
    "clickStackDeleteSource": SERVICE_MANAGE,
    "clickStackListSavedSearches": SERVICE_VIEW,
    "clickStackGetSavedSearch": SERVICE_VIEW,
    "clickStackCreateSavedSearch": SERVICE_MANAGE,
    "clickStackUpdateSavedSearch": SERVICE_MANAGE,
    "clickStackDeleteSavedSearch": SERVICE_MANAGE,
    "clickStackListDashboards": SERVICE_VIEW,
    "clickStackGetDashboard": SERVICE_VIEW,
    "clickStackCreateDashboard": SERVICE_MANAGE,
    "clickStackUpdateDashboard": SERVICE_MANAGE,
    "clickStackDeleteDashboard": SERVICE_MANAGE,
    "clickStackListAlerts": SERVICE_VIEW,
    "clickStackGetAlert": SERVICE_VIEW,
    "clickStackCreateAlert": SERVICE_MANAGE,
    "clickStackUpdateAlert": SERVICE_MANAGE,
    "clickStackDeleteAlert": SERVICE_MANAGE,
    "clickStackListWebhooks": SERVICE_VIEW,
    "clickStackCreateWebhook": SERVICE_MANAGE,
    "clickStackUpdateWebhook": SERVICE_MANAGE,
    "clickStackDeleteWebhook": SERVICE_MANAGE,
    "clickStackListRoles": SERVICE_VIEW,
    "clickStackGetRole": SERVICE_VIEW,
    "clickStackCreateRole": SERVICE_MANAGE,
    "clickStackUpdateRole": SERVICE_MANAGE,
    "clickStackDeleteRole": SERVICE_MANAGE,
    "clickStackValidateDashboard": SERVICE_VIEW,
    "clickStackValidateWebhook": SERVICE_VIEW,
    "savedQueryGetList": SERVICE_VIEW,
    "savedQueryGet": SERVICE_VIEW,
    "savedQueryCreate": SERVICE_MANAGE,
    "savedQueryUpdate": SERVICE_MANAGE,
    "savedQueryDelete": SERVICE_MANAGE,
    "queryApiEndpointGetList": SERVICE_VIEW,
    "queryApiEndpointGet": SERVICE_VIEW,
    "queryApiEndpointCreate": SERVICE_MANAGE,
    "queryApiEndpointUpdate": SERVICE_MANAGE,
    "queryApiEndpointDelete": SERVICE_MANAGE,
    "snapshotGetList": SERVICE_VIEW,
    "snapshotGet": SERVICE_VIEW,
    "snapshotConfigurationGet": SERVICE_VIEW,
    "snapshotConfigurationUpdate": SERVICE_MANAGE,
    "replicaAwareRoutingGet": SERVICE_VIEW,
    "replicaAwareRoutingUpdate": SERVICE_MANAGE,
    "serviceProfileGetList": ORGANIZATION_VIEW,
    "udfUploadSessionCreate": ORGANIZATION_MANAGE,
    "udfCreate": ORGANIZATION_MANAGE,
    "udfList": ORGANIZATION_VIEW,
    "udfGet": ORGANIZATION_VIEW,
    "udfDelete": ORGANIZATION_MANAGE,
    "udfVersionCreate": ORGANIZATION_MANAGE,
    "udfVersionList": ORGANIZATION_VIEW,
    "udfVersionDelete": ORGANIZATION_MANAGE,
    "udfAttachmentList": ORGANIZATION_VIEW,
    "udfAttachmentGet": SERVICE_VIEW,
    "udfAttach": SERVICE_MANAGE,
    "udfDetach": SERVICE_MANAGE,
    "scalingScheduleGet": SERVICE_VIEW,
    "scalingScheduleUpsert": SERVICE_MANAGE,
    "scalingScheduleDelete": SERVICE_MANAGE,
    "upgradeWindowGet": SERVICE_VIEW,
    "upgradeWindowUpdate": SERVICE_MANAGE,
    "upgradeWindowDelete": SERVICE_MANAGE,
    "instancePrivateEndpointCreate": SERVICE_MANAGE,
    "organizationByocInfrastructureCreate": ORGANIZATION_MANAGE,
    "organizationByocInfrastructureUpdate": ORGANIZATION_MANAGE,
    "organizationByocInfrastructureDelete": ORGANIZATION_MANAGE,
}

VIEWS = frozenset({ORGANIZATION_VIEW, SERVICE_VIEW, KEYS_VIEW, MEMBERS_VIEW, ROLES_VIEW, ACTIVITIES_VIEW,
                   BILLING_VIEW, POSTGRES_VIEW})
EVERYTHING = VIEWS | {ORGANIZATION_MANAGE, SERVICE_MANAGE, KEYS_MANAGE, MEMBERS_MANAGE, ROLES_MANAGE,
                      QUERY_ENDPOINTS, POSTGRES_MANAGE}

# The system roles' fixed ids, part of the API's contract.
ADMIN_ROLE = "00000000-0000-4000-8000-000000000001"
DEVELOPER_ROLE = "00000000-0000-4000-8000-000000000002"
QUERY_ENDPOINTS_ROLE = "00000000-0000-4000-8000-000000000003"
SYSTEM_ROLE_NAMES = {ADMIN_ROLE: "Admin", DEVELOPER_ROLE: "Developer", QUERY_ENDPOINTS_ROLE: "Query endpoints"}
CUSTOM_ROLE = "custom"  # stands for the custom role below, made per run
CUSTOM_POLICIES = [
    {"allowDeny": "ALLOW", "permissions": ["*"], "resources": ["*"]},
    {"allowDeny": "DENY", "permissions": [SERVICE_MANAGE], "resources": ["instance/*"]},
]
NOT_ACTIVE = "UNAUTHORIZED: Key is not active"


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str  # the error text starts with "CODE: "
    text: str | None = None  # the whole error text, when it is fixed


@dataclass(frozen=True)
class Caller:
    """A column of the matrix: who calls, and what it may do here."""

    name: str
    roles: tuple[str, ...] = ()  # the role ids its key holds
    grants: frozenset[str] = frozenset()  # what those roles allow here (on every service alike), written out
    refused: Refusal | None = None  # refused whatever the operation
    foreign: bool = False  # the other organization's admin key


CALLERS = (
    Caller("anonymous", refused=Refusal(401, "UNAUTHORIZED")),
    Caller("wrong-secret", refused=Refusal(401, "UNAUTHORIZED")),
    Caller("disabled", roles=(ADMIN_ROLE,), refused=Refusal(401, "UNAUTHORIZED", NOT_ACTIVE)),
    Caller("expired", roles=(ADMIN_ROLE,), refused=Refusal(401, "UNAUTHORIZED", NOT_ACTIVE)),
    Caller("outside-ip-list", roles=(ADMIN_ROLE,), refused=Refusal(403, "FORBIDDEN")),
    Caller("other-organization", foreign=True),
    Caller("no-role"),
    Caller("query-endpoints", roles=(QUERY_ENDPOINTS_ROLE,), grants=frozenset({QUERY_ENDPOINTS})),
    Caller("developer", roles=(DEVELOPER_ROLE,), grants=VIEWS),
    Caller("custom-deny-service-manage", roles=(CUSTOM_ROLE,), grants=EVERYTHING - {SERVICE_MANAGE}),
    Caller("admin", roles=(ADMIN_ROLE,), grants=EVERYTHING),
)

# Cells where the server is known to disagree with the table: (operationId, caller) -> reason.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Operation:
    id: str
    method: str
    path: str
    required_query: tuple[str, ...] = ()
    success_type: str = "application/json"  # what a 200 holds: the envelope, or e.g. Prometheus text


def expected(caller: Caller, operation: Operation) -> Refusal | None:
    """How the server must refuse `caller` on `operation`; None when it must let the request through."""
    if caller.refused is not None:
        return caller.refused
    if caller.foreign:
        return Refusal(404, "NOT_FOUND") if "{organizationId}" in operation.path else None
    need = NEEDS[operation.id]
    return None if need is None or need in caller.grants else Refusal(403, "FORBIDDEN")


# --- Requests --------------------------------------------------------------------------------------------

PATH_PARAMETER = re.compile(r"\{(\w+)\}")
QUERY_VALUES = {"cloud_provider": "aws", "region_id": "us-east-1", "from_date": "2024-01-01", "to_date": "2024-01-31",
                "db_name": "postgres", "db_user": "postgres", "db_operation": "SELECT"}
ENVELOPE_FIELDS = {"status", "requestId", "result", "error", "nextCursor", "limit", "totalCount"}
# Fields that carry a secret, and the only operations whose answers may hold them (each hands one out once).
SECRET_FIELDS: dict[str, set[str]] = {
    "keySecret": {"openapiKeyCreate"},
    "password": {"instanceCreate", "instancePasswordUpdate", "postgresServiceCreate", "postgresServiceSetPassword"},
    "secretAccessKey": set(),  # a backup bucket's: kept only as a hash
    "connectionString": {"postgresServiceCreate"},  # a Postgres service's, with its password
}


@dataclass
class Request:
    """One cell's request, and what to look at around it."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    # Statuses that also mean "past authorization": a placeholder target answers 404.
    also_allowed: set[int] = field(default_factory=set)
    # For a request that deletes: whether its target is still there.
    target_survives: Callable[[], bool] | None = None
    # For a request that creates: whether the thing it names was made.
    was_made: Callable[[], bool] | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    @property
    def sent_text(self) -> str:
        return f"{self.path} {json.dumps(self.params)} {json.dumps(self.body)}".lower()


def served_operations(base_url: str) -> dict[str, Operation]:
    document = httpx.get(f"{base_url}/v1", timeout=30).json()
    found = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if isinstance(operation, dict) and "operationId" in operation:
                query = tuple(p["name"] for p in operation.get("parameters", [])
                              if p.get("in") == "query" and p.get("required"))
                answer = operation["responses"].get("200") or operation["responses"]["201"]
                success = next(iter(answer.get("content") or {"application/json": None}))
                found[operation["operationId"]] = Operation(operation["operationId"], method.upper(), path, query,
                                                             success)
    return found


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json().get("result")


class Matrix:
    """Two organizations, a key per caller, and the resources the cells' requests act on."""

    def __init__(self, server: ClickplaneServer) -> None:
        self.server = server
        self.tag = uuid.uuid4().hex[:8]
        self.operations = served_operations(server.base_url)
        self.mine = server.create_organization(f"matrix-{self.tag}")
        self.other = server.create_organization(f"matrix-other-{self.tag}")
        self.admin = server.client(self.mine)  # the test organization's first key: sets up, cleans up
        self.other_admin = server.client(self.other)
        self.keys: dict[str, tuple[str, str]] = {}  # caller name -> (key id, secret) for Basic auth
        self.key_ids: dict[str, str] = {}  # caller name -> the key's id in /keys/{keyId}
        self.bucket_secret = f"AccountKey=matrix-bucket-secret-{self.tag}"
        self.secrets = {self.mine.key_secret, self.other.key_secret, self.bucket_secret}
        self.markers: dict[str, set[str]] = {}  # organization id -> strings only its own callers may see
        self.cache: dict[str, str | None] = {}
        self.victim: str | None = None
        self.victim_member: str | None = None
        self.disabled_at_once: httpx.Response | None = None
        self.undo: list[Callable[[], None]] = []  # run in reverse at the end
        self._clients: dict[str, httpx.Client] = {}
        self.at_start = self.contents()

    @staticmethod
    def path_of(credentials: Credentials, suffix: str = "") -> str:
        return f"/v1/organizations/{credentials.organization_id}{suffix}"

    def org_path(self, suffix: str = "") -> str:
        return self.path_of(self.mine, suffix)

    # Setup and teardown.

    def contents(self) -> dict[str, list[str]]:
        """What the two organizations hold, by listing (those served)."""
        found = {}
        for client, credentials in ((self.admin, self.mine), (self.other_admin, self.other)):
            for listing in ("/keys", "/roles", "/services", "/members", "/invitations"):
                response = client.get(self.path_of(credentials, listing))
                if response.status_code == 200:
                    found[credentials.organization_id + listing] = sorted(
                        str(item.get("id") or item.get("userId")) for item in response.json()["result"])
        return found

    def set_up(self) -> None:
        expire_at = datetime.now(UTC) + timedelta(seconds=3)
        self.make_key("expired", [ADMIN_ROLE], expireAt=expire_at.isoformat())
        with self.client("expired") as expiring:
            answer = expiring.get("/v1/whoami")
            if datetime.now(UTC) < expire_at - timedelta(seconds=1):
                assert answer.status_code == 200, answer.text  # refused later for its expiry, not for itself
        self.role_id = self.make_role(f"target {self.tag}", [])
        custom_role_id = self.make_role(f"all but service manage {self.tag}", CUSTOM_POLICIES)
        for caller in CALLERS:
            if caller.name in ("anonymous", "wrong-secret", "expired", "other-organization"):
                continue  # no key of theirs to make here, or made above
            access = [{"source": "10.0.0.0/8"}] if caller.name == "outside-ip-list" else []
            self.make_key(caller.name, [custom_role_id if role == CUSTOM_ROLE else role for role in caller.roles],
                          ipAccessList=access)
        self.keys["wrong-secret"] = (self.mine.key_id, f"not-the-secret-{self.tag}")
        self.spare_key_id = self.make_key("spare", [DEVELOPER_ROLE])
        self.service_id = self.make_stopped_service(self.admin, self.org_path(), f"matrix-{self.tag}")
        self.undo.append(lambda: self.delete(self.org_path(f"/services/{self.service_id}/backupBucket")))
        # The other organization holds things of its own, which no answer to this one's callers may show.
        other_path = self.path_of(self.other)
        other_role = ok(self.other_admin.post(f"{other_path}/roles", json={
            "name": f"other role {self.tag}", "actors": [], "policies": []}))["id"]
        self.undo.append(lambda: self.delete(f"{other_path}/roles/{other_role}", self.other_admin))
        other_key = ok(self.other_admin.post(f"{other_path}/keys", json={"name": f"other key {self.tag}"}))["key"]
        self.undo.append(lambda: self.delete(f"{other_path}/keys/{other_key['id']}", self.other_admin))
        other_service = self.make_stopped_service(self.other_admin, other_path, f"other-{self.tag}")
        self.markers = {
            self.mine.organization_id: {self.mine.organization_id, f"matrix-{self.tag}", self.mine.key_id,
                                        self.service_id, self.spare_key_id, self.role_id, f"target {self.tag}"},
            self.other.organization_id: {self.other.organization_id, f"matrix-other-{self.tag}",
                                         self.other.key_id, other_role, other_key["id"], other_service,
                                         f"other-{self.tag}", f"other key {self.tag}", f"other role {self.tag}"},
        }
        self._check_the_callers()

    def _check_the_callers(self) -> None:
        """Each key is what its column says: the roles exist, the disabled key worked until disabled, the
        expiring one has expired. (Whether each is then refused is for the cells to tell.)"""
        roles = {role["id"]: role["name"] for role in ok(self.admin.get(self.org_path("/roles")))}
        assert {role: roles.get(role) for role in SYSTEM_ROLE_NAMES} == SYSTEM_ROLE_NAMES
        with self.client("disabled") as disabled:
            assert disabled.get("/v1/whoami").status_code == 200  # verified, and so remembered for a while
            ok(self.admin.patch(self.org_path(f"/keys/{self.key_ids['disabled']}"), json={"state": "disabled"}))
            self.disabled_at_once = disabled.get("/v1/whoami")
        with self.client("expired") as expired, contextlib.suppress(AssertionError):  # then the cells fail
            wait_until(lambda: expired.get("/v1/whoami").status_code == 401, 30, "the expiring key to expire")

    def tear_down(self) -> None:
        """Remove everything made here (the two organizations stay: there is no way to delete one)."""
        for client in self._clients.values():
            client.close()
        failures = []
        for undo in reversed(self.undo):
            try:
                undo()
            except (AssertionError, httpx.HTTPError) as error:  # carry on: remove all that can be removed
                failures.append(str(error))
        left = self.contents()
        self.admin.close()
        self.other_admin.close()
        assert not failures, f"clean-up failed: {failures}"
        assert left == self.at_start, "the organizations do not hold what they held before the test"

    def delete(self, path: str, client: httpx.Client | None = None) -> None:
        response = (client or self.admin).delete(path)
        assert response.status_code in (200, 404), response.text

    # Things to act on.

    def make_key(self, caller: str, role_ids: list[str], **fields: Any) -> str:
        made = ok(self.admin.post(self.org_path("/keys"), json={
            "name": f"{caller} {self.tag}", "assignedRoleIds": role_ids, **fields}))
        key_id = str(made["key"]["id"])
        self.undo.append(lambda: self.delete(self.org_path(f"/keys/{key_id}")))
        self.keys[caller] = (made["keyId"], made["keySecret"])
        self.key_ids[caller] = key_id
        self.secrets.add(made["keySecret"])
        return key_id

    def make_role(self, name: str, policies: list[dict[str, Any]]) -> str:
        role_id = str(ok(self.admin.post(self.org_path("/roles"), json={
            "name": name, "actors": [], "policies": policies}))["id"])
        self.undo.append(lambda: self.delete(self.org_path(f"/roles/{role_id}")))
        return role_id

    def make_stopped_service(self, client: httpx.Client, org_path: str, name: str) -> str:
        """A real service, stopped at once: nothing of it runs while the cells act on it."""
        service_id = str(ok(client.post(f"{org_path}/services", json={
            "name": name, "provider": "aws", "region": "us-east-1", "ipAccessList": [{"source": "127.0.0.1"}],
        }))["service"]["id"])
        path = f"{org_path}/services/{service_id}"
        self.undo.append(lambda: self.dispose_service(client, path))
        ok(client.patch(f"{path}/state", json={"command": "stop"}))
        wait_until(lambda: ok(client.get(path))["state"] == "stopped", what=f"service {service_id} to stop")
        return service_id

    def dispose_service(self, client: httpx.Client, path: str) -> None:
        """Stop, delete and wait until the service is gone, its server and data with it."""
        def stopped_or_gone() -> bool:
            response = client.get(path)
            if response.status_code == 404:
                return True
            state = ok(response)["state"]
            if state not in ("stopped", "stopping", "terminating"):
                client.patch(f"{path}/state", json={"command": "stop"})
            return state in ("stopped", "terminating")

        wait_until(stopped_or_gone, what=f"{path} to stop")
        self.delete(path, client)
        wait_until(lambda: client.get(path).status_code == 404, what=f"{path} to be deleted")

    def service_alive(self, service_id: str) -> bool:
        response = self.admin.get(self.org_path(f"/services/{service_id}"))
        return response.status_code == 200 and response.json()["result"]["state"] != "terminating"

    def exists(self, path: str) -> bool:
        return self.admin.get(self.org_path(path)).status_code == 200

    def named(self, listing: str, field_name: str, value: str) -> str | None:
        """The id of the item of an admin listing whose `field_name` is `value`."""
        items = ok(self.admin.get(self.org_path(listing)))
        return next((str(item["id"]) for item in items if item.get(field_name) == value), None)

    def first(self, listing: str, field_name: str) -> str | None:
        """A real value to aim at, from the admin's listing; None when there is none (or no such listing)."""
        if listing not in self.cache:
            response = self.admin.get(self.org_path(listing))
            items = response.json().get("result") if response.status_code == 200 else None
            self.cache[listing] = str(items[0][field_name]) if items else None
        return self.cache[listing]

    def shared_invitation(self) -> str | None:
        if "invitation" not in self.cache:
            response = self.admin.post(self.org_path("/invitations"), json={
                "email": f"matrix-{self.tag}@example.com", "assignedRoleIds": [DEVELOPER_ROLE]})
            invitation = str(response.json()["result"]["id"]) if response.status_code == 200 else None
            if invitation:
                self.undo.append(lambda: self.delete(self.org_path(f"/invitations/{invitation}")))
            self.cache["invitation"] = invitation
        return self.cache["invitation"]

    def make_member(self) -> str | None:
        """A member with the Developer role: invited, and accepted by the operator (clickplane sends no mail)."""
        email = _unique(self, "member") + "@example.com"
        invited = self.admin.post(self.org_path("/invitations"), json={"email": email,
                                                                      "assignedRoleIds": [DEVELOPER_ROLE]})
        if invited.status_code != 200:
            return None
        accepted = clickplane("invitation", "accept", invited.json()["result"]["id"], "--name", "Doomed Member",
                              env=self.server.env)
        assert accepted.returncode == 0, accepted.stderr
        user_id = str(json.loads(accepted.stdout)["userId"])
        self.undo.append(lambda: self.delete(self.org_path(f"/members/{user_id}")))
        return user_id

    def path_value(self, name: str) -> str | None:
        """A real value for a path parameter; None: use a placeholder."""
        values: dict[str, Callable[[], str | None]] = {
            "organizationId": lambda: self.mine.organization_id,
            "serviceId": lambda: self.service_id,
            "keyId": lambda: self.spare_key_id,
            "roleId": lambda: self.role_id,
            "userId": lambda: self.first("/members", "userId"),
            "invitationId": self.shared_invitation,
            "activityId": lambda: self.first("/activities", "id"),
            "quotaCode": lambda: self.first("/quotas", "quotaCode"),
            "settingName": lambda: "max_threads",
            "version": lambda: "1",  # a UDF's: a number, or the path does not parse (400, before any check)
            "backupId": lambda: self.first(f"/services/{self.service_id}/backups", "id"),
        }
        return values.get(name, lambda: None)()

    # Preparing and sending a cell's request.

    def prepare(self, operation: Operation) -> Request:
        request = Request(operation.method, operation.path)
        for name in PATH_PARAMETER.findall(operation.path):
            value = self.path_value(name)
            if value is None:
                value = str(uuid.uuid4())
                request.also_allowed.add(404)
            request.path = request.path.replace(f"{{{name}}}", value)
        for name in operation.required_query:
            assert name in QUERY_VALUES, f"{operation.id} needs query parameter {name}: add it to QUERY_VALUES"
            request.params[name] = QUERY_VALUES[name]
        if operation.method in ("POST", "PATCH"):
            request.body = {}
        if operation.id in PREPARE:
            PREPARE[operation.id](self, request)
        return request

    def client(self, caller: str) -> httpx.Client:
        return httpx.Client(base_url=self.server.base_url, auth=self.keys.get(caller), timeout=30)

    def send(self, caller: Caller, request: Request) -> httpx.Response:
        if caller.foreign:
            client = self.other_admin
        else:
            if caller.name not in self._clients:
                self._clients[caller.name] = self.client(caller.name)
            client = self._clients[caller.name]
        return client.request(request.method, request.path, params=request.params, json=request.body)

    def home_of(self, caller: Caller) -> str | None:
        """The organization a caller acts in; None when it is refused before it acts anywhere."""
        if caller.refused is not None:
            return None
        return self.other.organization_id if caller.foreign else self.mine.organization_id


# What some operations need beyond filled-in paths: a body that passes validation, throwaway targets for
# requests that destroy, and clean-up for requests that make something.

def _unique(matrix: Matrix, what: str) -> str:
    return f"{what}-{matrix.tag}-{uuid.uuid4().hex[:6]}"


def _body(make: Callable[[Matrix], dict[str, Any]]) -> Callable[[Matrix, Request], None]:
    def prepare(matrix: Matrix, request: Request) -> None:
        request.body = make(matrix)

    return prepare


def _create(listing: str, field_name: str, body: Callable[[str], dict[str, Any]], suffix: str = "",
            remove: Callable[[Matrix, str], None] | None = None) -> Callable[[Matrix, Request], None]:
    """A create: a body naming something new, a way to tell whether it was made, and its removal."""
    def prepare(matrix: Matrix, request: Request) -> None:
        value = _unique(matrix, "made") + suffix
        request.body = body(value)
        request.was_made = lambda: matrix.named(listing, field_name, value) is not None

        def cleanup() -> None:
            made = matrix.named(listing, field_name, value)
            if made is not None:
                (remove or (lambda m, i: m.delete(m.org_path(f"{listing}/{i}"))))(matrix, made)

        request.cleanup.append(cleanup)

    return prepare


def _throwaway(listing: str, body: Callable[[str], dict[str, Any]]) -> Callable[[Matrix, Request], None]:
    """A delete: aimed at a thing made for this request alone, removed afterwards if the request left it."""
    def prepare(matrix: Matrix, request: Request) -> None:
        made = ok(matrix.admin.post(matrix.org_path(listing), json=body(_unique(matrix, "doomed"))))
        target = str((made.get("key") or made)["id"])
        request.path = matrix.org_path(f"{listing}/{target}")
        request.target_survives = lambda: matrix.exists(f"{listing}/{target}")
        request.cleanup.append(lambda: matrix.delete(matrix.org_path(f"{listing}/{target}")))

    return prepare


def _victim_service(matrix: Matrix, request: Request) -> None:
    """instanceDelete: a stopped service of its own, made again only after a delete took the last one."""
    if matrix.victim is None or not matrix.service_alive(matrix.victim):
        matrix.victim = matrix.make_stopped_service(matrix.admin, matrix.org_path(), _unique(matrix, "victim"))
    victim = matrix.victim
    request.path = matrix.org_path(f"/services/{victim}")
    request.target_survives = lambda: matrix.service_alive(victim)


def _query_endpoint(matrix: Matrix, request: Request) -> None:
    """The service gets a query endpoint first, so that reading it answers 200 and deleting it has a target."""
    endpoint = f"/services/{matrix.service_id}/serviceQueryEndpoint"
    if matrix.admin.post(matrix.org_path(endpoint), json={"roles": ["sql_console_read_only"]}).status_code != 200:
        request.also_allowed.add(404)  # no way to make one here: reading finds none
    elif request.method == "DELETE":
        request.target_survives = lambda: matrix.exists(endpoint)


def _member_update(matrix: Matrix, request: Request) -> None:
    member = matrix.admin.get(request.path)
    roles = [role["roleId"] for role in member.json()["result"]["assignedRoles"]] if member.is_success else []
    request.body = {"assignedRoleIds": roles}  # the roles the member has: changes nothing


def _victim_member(matrix: Matrix, request: Request) -> None:
    """memberDelete: a member of its own (never the last Admin), made again only after a delete took it."""
    if matrix.victim_member is None or not matrix.exists(f"/members/{matrix.victim_member}"):
        matrix.victim_member = matrix.make_member()
    victim = matrix.victim_member
    if victim is None:  # members cannot be made here: aim at no one
        request.path = request.path.rsplit("/", 1)[0] + f"/{uuid.uuid4()}"
        request.also_allowed.add(404)
        return
    request.path = request.path.rsplit("/", 1)[0] + f"/{victim}"
    request.target_survives = lambda: matrix.exists(f"/members/{victim}")


def _needs_running(matrix: Matrix, request: Request) -> None:
    # The service is stopped, and these read what its running server knows: 409, once past authorization.
    request.also_allowed.add(409)


def _pipe_needs_running(matrix: Matrix, request: Request) -> None:
    # A ClickPipe is made only on a running service (424 FAILED_DEPENDENCY, as the real API answers).
    request.also_allowed.add(424)


def _refused_discovery(matrix: Matrix, request: Request) -> None:
    # clickplane samples no Kafka or Kinesis source: past authorization, the request is refused with a 400.
    request.also_allowed.add(400)


def _clickstack(matrix: Matrix, request: Request) -> None:
    # ClickStack objects name others of their service (a source, a search, a webhook) that the matrix does not
    # make, and sources and searches are checked on the running server (the matrix's service is stopped): past
    # authorization these requests are refused for themselves (400, 404, 424).
    request.also_allowed.update({400, 404, 424})
    if request.method == "PUT":
        request.body = {}


def _clickstack_create(collection: str, body: Callable[[str], dict[str, Any]]) -> Callable[[Matrix, Request], None]:
    """A webhook or a role, which name nothing else: really made."""
    return lambda m, r: _create(f"/services/{m.service_id}/clickstack/{collection}", "name", body)(m, r)


def _udf(matrix: Matrix, request: Request) -> None:
    # The matrix makes no UDF (an archive needs an upload): past authorization these requests name a function that
    # does not exist (404) or an upload that has no archive (410), or send a body that is not one (400); an upload
    # URL is made (201).
    request.also_allowed.update({201, 400, 404, 410})
    if request.method == "PUT":
        request.body = {}


def _settings_update(matrix: Matrix, request: Request) -> None:
    request.body = {"settings": {"max_threads": "4"}}
    _needs_running(matrix, request)


# An entry for Sundays 00:00 to 01:00 UTC that changes nothing of the service's scaling when in force.
SCHEDULE = {"entries": [{"name": "matrix", "weekdays": [0], "startHourUtc": 0, "endHourUtc": 1}]}
WINDOW = {"weekday": 0, "startHourUtc": 0}


def _service_part(suffix: str, body: dict[str, Any]) -> Callable[[Matrix, Request], None]:
    """The service gets a scaling schedule or an upgrade window first, so reading it answers 200, deleting it has
    a target, and a write sends one like it."""
    def prepare(matrix: Matrix, request: Request) -> None:
        part = f"/services/{matrix.service_id}{suffix}"
        ok(matrix.admin.request("POST" if "entries" in body else "PUT", matrix.org_path(part), json=body))
        if request.method in ("POST", "PUT"):
            request.body = body
        elif request.method == "DELETE":
            request.target_survives = lambda: matrix.exists(part)

    return prepare


def _private_endpoint(matrix: Matrix, request: Request) -> None:
    endpoint_id = f"vpce-{uuid.uuid4().hex[:8]}"
    request.body = {"id": endpoint_id, "description": _unique(matrix, "endpoint")}

    def attached() -> bool:
        return endpoint_id in ok(matrix.admin.get(matrix.org_path(f"/services/{matrix.service_id}")))[
            "privateEndpointIds"]

    def cleanup() -> None:
        ok(matrix.admin.patch(matrix.org_path(), json={"privateEndpoints": {"remove": [{"id": endpoint_id}]}}))
        ok(matrix.admin.patch(matrix.org_path(f"/services/{matrix.service_id}"),
                              json={"privateEndpointIds": {"remove": [endpoint_id]}}))

    request.was_made = attached
    request.cleanup.append(cleanup)


def _byoc_body(matrix: Matrix) -> dict[str, Any]:
    return {"regionId": "us-east-1", "accountId": f"{uuid.uuid4().int % 10**12:012d}",
            "displayName": _unique(matrix, "byoc")}


def _byoc_named(matrix: Matrix, name: str) -> str | None:
    listed = ok(matrix.admin.get(matrix.org_path()))["byocConfig"]
    return next((str(item["id"]) for item in listed if item["displayName"] == name), None)


def _byoc(matrix: Matrix, request: Request) -> None:
    """A create names new infrastructure; an update or delete is aimed at infrastructure made for it alone."""
    body = _byoc_body(matrix)
    if request.method == "POST":
        request.body = body
        request.was_made = lambda: _byoc_named(matrix, body["displayName"]) is not None
    else:
        made = str(ok(matrix.admin.post(matrix.org_path("/byocInfrastructure"), json=body))["id"])
        request.path = matrix.org_path(f"/byocInfrastructure/{made}")
        request.body = {"displayName": body["displayName"]} if request.method == "PATCH" else None
        if request.method == "DELETE":
            request.target_survives = lambda: _byoc_named(matrix, body["displayName"]) is not None

    def cleanup() -> None:
        left = _byoc_named(matrix, body["displayName"])
        if left is not None:
            matrix.delete(matrix.org_path(f"/byocInfrastructure/{left}"))

    request.cleanup.append(cleanup)


def _bucket_body(matrix: Matrix) -> dict[str, Any]:
    """A bucket in a directory under the data directory, with a credential that must never be shown again."""
    return {"bucketProvider": "AZURE", "containerName": f"matrix-{matrix.tag}",
            "connectionString": matrix.bucket_secret}


def _backup_bucket(matrix: Matrix, request: Request) -> None:
    """The service gets a backup bucket first (or, for a create, has none), so each request has its target."""
    bucket = matrix.org_path(f"/services/{matrix.service_id}/backupBucket")
    if request.method == "POST":
        matrix.delete(bucket)
        request.body = _bucket_body(matrix)
        request.was_made = lambda: matrix.admin.get(bucket).status_code == 200
        return
    made = matrix.admin.post(bucket, json=_bucket_body(matrix)).status_code
    if made not in (200, 409):  # 409: it has one already
        request.also_allowed.add(404)
    if request.method == "PATCH":
        request.body = {"containerName": f"matrix-{matrix.tag}"}  # the one it has: changes nothing
    elif request.method == "DELETE":
        request.target_survives = lambda: matrix.admin.get(bucket).status_code == 200


def _victim_postgres(matrix: Matrix, request: Request) -> None:
    """postgresServiceDelete: a service of its own; deleted means gone or on its way (state deleting)."""
    _throwaway("/postgres", lambda name: {"name": name, "provider": "aws", "region": "us-east-1",
                                          "size": "r6gd.medium"})(matrix, request)

    def survives() -> bool:
        found = matrix.admin.get(request.path)
        return found.status_code == 200 and found.json()["result"]["state"] != "deleting"

    request.target_survives = survives


def _query_api_body(matrix: Matrix, name: str) -> dict[str, Any]:
    """A Query API endpoint the spare key may run (the service is stopped: its SQL is kept unchecked)."""
    return {"name": name, "sql": "SELECT 1", "database": "default", "apiKeyIds": [matrix.spare_key_id],
            "roles": ["sql_console_read_only"]}


def _params(**params: str) -> Callable[[Matrix, Request], None]:
    """Query parameters an operation needs though the document marks none required (one of several will do)."""
    def prepare(matrix: Matrix, request: Request) -> None:
        request.params.update(params)

    return prepare


def _dispose(matrix: Matrix, service_id: str) -> None:
    matrix.dispose_service(matrix.admin, matrix.org_path(f"/services/{service_id}"))


PREPARE: dict[str, Callable[[Matrix, Request], None]] = {
    "organizationUpdate": _body(lambda m: {"name": f"matrix-{m.tag}"}),  # its own name: changes nothing
    "instanceCreate": _create("/services", "name", lambda name: {
        "name": name, "provider": "aws", "region": "us-east-1", "ipAccessList": [{"source": "127.0.0.1"}]},
        remove=_dispose),
    "instanceUpdate": _body(lambda m: {"name": f"matrix-{m.tag}"}),
    "instanceStateUpdate": _body(lambda m: {"command": "stop"}),  # it is stopped: changes nothing
    "instanceDelete": _victim_service,
    "instanceQueryEndpointGet": _query_endpoint,
    "instanceQueryEndpointUpsert": _body(lambda m: {"roles": ["sql_console_read_only"]}),
    "instanceQueryEndpointDelete": _query_endpoint,
    "openapiKeyCreate": _create("/keys", "name", lambda name: {"name": name}),
    "openapiKeyUpdate": _body(lambda m: {"name": f"spare {m.tag}"}),
    "openapiKeyDelete": _throwaway("/keys", lambda name: {"name": name}),
    "organizationRolePost": _create("/roles", "name", lambda name: {"name": name, "actors": [], "policies": []}),
    "organizationRolePatch": _body(lambda m: {"name": f"target {m.tag}"}),
    "organizationRoleDelete": _throwaway("/roles", lambda name: {"name": name, "actors": [], "policies": []}),
    "memberUpdate": _member_update,
    "memberDelete": _victim_member,
    "invitationCreate": _create("/invitations", "email", lambda email: {
        "email": email, "assignedRoleIds": [DEVELOPER_ROLE]}, suffix="@example.com"),
    "invitationDelete": _throwaway("/invitations", lambda name: {"email": f"{name}@example.com"}),
    "serviceClickhouseSettingsSchemaGet": _needs_running,
    "serviceClickhouseSettingGet": _needs_running,  # max_threads, never set here: its default, from the server
    "serviceClickhouseSettingsUpdate": _settings_update,
    "postgresServiceCreate": _create("/postgres", "name", lambda name: {
        "name": name, "provider": "aws", "region": "us-east-1", "size": "r6gd.medium"}),
    "postgresServiceDelete": _victim_postgres,
    "postgresServicePatchState": _body(lambda m: {"command": "restart"}),
    "postgresInstanceCreateReadReplica": _body(lambda m: {"name": f"replica {m.tag}"}),
    "postgresInstanceRestore": _body(lambda m: {"name": f"restored {m.tag}", "restoreTarget": "2026-01-01T00:00:00Z"}),
    "postgresInstanceConfigPost": _body(lambda m: {"pgConfig": {}, "pgBouncerConfig": {}}),
    "postgresInstanceConfigPatch": _body(lambda m: {"pgConfig": {}, "pgBouncerConfig": {}}),
    "clickPipeCreate": _pipe_needs_running,
    "clickPipeSchemaDiscovery": _refused_discovery,
    "clickPipeReversePrivateEndpointCreate": lambda m, r: _create(
        f"/services/{m.service_id}/clickpipesReversePrivateEndpoints", "description", lambda name: {
            "description": name, "type": "VPC_ENDPOINT_SERVICE",
            "vpcEndpointServiceName": "com.amazonaws.vpce.us-east-1.vpce-svc-matrix"})(m, r),
    **{operation: _clickstack for operation in NEEDS if operation.startswith("clickStack")},
    "clickStackCreateWebhook": _clickstack_create("webhooks", lambda name: {
        "name": name, "service": "generic", "url": "http://127.0.0.1:9/hook"}),
    "clickStackCreateRole": _clickstack_create("roles", lambda name: {"name": name, "permissions": []}),
    "savedQueryCreate": lambda m, r: _create(f"/services/{m.service_id}/saved-queries", "name", lambda name: {
        "name": name, "sql": "SELECT 1", "database": "default"})(m, r),
    "savedQueryUpdate": _body(lambda m: {"name": f"matrix {m.tag}", "sql": "SELECT 1", "database": "default"}),
    "queryApiEndpointCreate": lambda m, r: _create(f"/services/{m.service_id}/query-api-endpoints", "name",
                                                   lambda name: _query_api_body(m, name))(m, r),
    "queryApiEndpointUpdate": _body(lambda m: _query_api_body(m, f"matrix {m.tag}")),
    "serviceProfileGetList": _params(region_id="us-east-1"),
    **{operation: _udf for operation in NEEDS if operation.startswith("udf")},
    **{operation: _service_part("/scalingSchedule", SCHEDULE) for operation in NEEDS
       if operation.startswith("scalingSchedule")},
    **{operation: _service_part("/upgradeWindow", WINDOW) for operation in NEEDS
       if operation.startswith("upgradeWindow")},
    "instancePrivateEndpointCreate": _private_endpoint,
    **{operation: _byoc for operation in NEEDS if operation.startswith("organizationByoc")},
    "backupBucketGet": _backup_bucket,
    "backupBucketCreate": _backup_bucket,
    "backupBucketUpdate": _backup_bucket,
    "backupBucketDelete": _backup_bucket,
}


# --- Checks every response must pass ---------------------------------------------------------------------

def check_envelope(response: httpx.Response, operation: Operation | None = None) -> dict[str, Any]:
    """The Cloud API's envelope; for an operation whose 200 is not JSON (Prometheus text), that type instead."""
    content_type = response.headers.get("content-type", "")
    if response.is_success and operation is not None and operation.success_type != "application/json":
        assert content_type.startswith(operation.success_type), response.headers
        return {}
    assert content_type.startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) <= ENVELOPE_FIELDS, body
    assert body["status"] == response.status_code, body
    uuid.UUID(body["requestId"])
    if response.is_success:
        assert "error" not in body, body
    else:
        # A 424 also says why, in fields a client acts on (clickhousectl wakes an idle service).
        extra = {"code", "serviceState", "canWake"} if response.status_code == 424 else set()
        assert {"status", "requestId", "error"} <= set(body) <= {"status", "requestId", "error", *extra}, body
        assert re.match(r"^[A-Z_]+: \S", body["error"]), body
    return body


def fields_named(value: Any, names: set[str]) -> set[str]:
    """Which of `names` occur as a field anywhere in a JSON value, with a value."""
    if isinstance(value, dict):
        here = {name for name in names if value.get(name) is not None}
        return here.union(*(fields_named(item, names) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(fields_named(item, names) for item in value))
    return set()


def check_reveals_nothing(matrix: Matrix, caller: Caller, operation: Operation, request: Request,
                          response: httpx.Response) -> None:
    text = response.text.lower()
    home = matrix.home_of(caller)
    foreign = {marker.lower() for org, markers in matrix.markers.items() if org != home for marker in markers}
    leaked = sorted(marker for marker in foreign if marker in text and marker not in request.sent_text)
    assert not leaked, f"shows data of an organization {caller.name} does not act in {leaked}: {response.text[:500]}"
    is_json = response.headers.get("content-type", "").startswith("application/json")
    for name in fields_named(response.json() if is_json else None, set(SECRET_FIELDS)):
        assert operation.id in SECRET_FIELDS[name], f"a {name} field in the answer: {response.text[:500]}"
    assert not [secret for secret in matrix.secrets if secret in response.text], "a key's secret in the answer"


# --- The matrix ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def matrix(server: ClickplaneServer) -> Iterator[Matrix]:
    made = Matrix(server)
    try:
        made.set_up()
        yield made
    finally:
        made.tear_down()


def cells() -> list[Any]:
    return [pytest.param(operation_id, caller, id=f"{operation_id}-{caller.name}",
                         marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[operation_id, caller.name])]
                         if (operation_id, caller.name) in KNOWN_BUGS else [])
            for operation_id in NEEDS for caller in CALLERS]


def test_every_served_operation_is_in_the_matrix(matrix: Matrix) -> None:
    missing = sorted(set(matrix.operations) - set(NEEDS))
    assert not missing, f"operations served without an expected permission in NEEDS: {missing}"


def test_disabling_a_key_refuses_it_at_once(matrix: Matrix) -> None:
    """The key was verified (and so remembered) just before it was disabled through the API."""
    assert matrix.disabled_at_once is not None
    assert matrix.disabled_at_once.status_code == 401
    assert matrix.disabled_at_once.json()["error"] == NOT_ACTIVE


@pytest.mark.parametrize(("operation_id", "caller"), cells())
def test_access_is_decided_by_the_rules(matrix: Matrix, operation_id: str, caller: Caller) -> None:
    operation = matrix.operations.get(operation_id)
    if operation is None:
        pytest.skip(f"{operation_id} is not served")
    request = matrix.prepare(operation)
    try:
        response = matrix.send(caller, request)
        body = check_envelope(response, operation)
        refusal = expected(caller, operation)
        seen = f"{request.method} {request.path} as {caller.name}: {response.status_code} {response.text[:300]}"
        if refusal is not None:
            assert response.status_code == refusal.status, seen
            assert body["error"].startswith(f"{refusal.code}: "), seen
            assert refusal.text is None or body["error"] == refusal.text, seen
            assert request.target_survives is None or request.target_survives(), f"refused, yet deleted: {seen}"
            assert request.was_made is None or not request.was_made(), f"refused, yet made: {seen}"
        else:
            assert response.status_code in {200, *request.also_allowed}, seen
            if response.status_code == 200:
                assert request.target_survives is None or not request.target_survives(), f"not deleted: {seen}"
                assert request.was_made is None or request.was_made(), f"not made: {seen}"
        check_reveals_nothing(matrix, caller, operation, request, response)
    finally:
        for cleanup in request.cleanup:
            cleanup()


@pytest.mark.parametrize("caller", [c for c in CALLERS if c.name in ("developer", "other-organization")],
                         ids=lambda caller: caller.name)
def test_a_refused_caller_is_refused_whatever_its_body(matrix: Matrix, caller: Caller) -> None:
    """The refusal does not wait for the body: with a body that fails validation, a role that may not
    still gets 403 and another organization's key still gets 404."""
    mismatches = []
    for operation in matrix.operations.values():
        refusal = expected(caller, operation)
        if operation.method not in ("POST", "PATCH") or refusal is None:
            continue
        request = matrix.prepare(operation)
        request.body = {"notAField": True}
        try:
            response = matrix.send(caller, request)
        finally:
            for cleanup in request.cleanup:
                cleanup()
        check_envelope(response, operation)
        if response.status_code != refusal.status:
            mismatches.append(f"{operation.id}: {response.status_code} {response.json()['error'][:80]}")
    assert not mismatches, "\n".join(mismatches)


# --- Granting: nobody ends up with more than the caller holds -------------------------------------------

ALL = None  # what the Admin role or ALLOW * on * gives: every permission, today's and tomorrow's, everywhere


@dataclass(frozen=True)
class GrantPath:
    """A request that hands permissions to someone: what it needs to be made at all, and what it gives."""

    name: str
    needs: str
    gives: frozenset[str] | None  # None: ALL
    request: Callable[[Matrix, str], tuple[str, str, dict[str, Any]]]  # (method, path, body) for a caller


def _made_by(matrix: Matrix, caller: str) -> str:
    return f"grant {caller} {uuid.uuid4().hex[:6]}"


GRANT_PATHS = (
    GrantPath("key-with-admin", KEYS_MANAGE, ALL, lambda m, c: (
        "POST", m.org_path("/keys"), {"name": _made_by(m, c), "assignedRoleIds": [ADMIN_ROLE]})),
    GrantPath("key-with-developer", KEYS_MANAGE, VIEWS, lambda m, c: (
        "POST", m.org_path("/keys"), {"name": _made_by(m, c), "assignedRoleIds": [DEVELOPER_ROLE]})),
    GrantPath("own-key-made-admin", KEYS_MANAGE, ALL, lambda m, c: (
        "PATCH", m.org_path(f"/keys/{m.key_ids[c]}"), {"assignedRoleIds": [ADMIN_ROLE]})),
    GrantPath("role-allowing-everything", ROLES_MANAGE, ALL, lambda m, c: (
        "POST", m.org_path("/roles"), {"name": _made_by(m, c), "actors": [f"apiKey/{m.key_ids[c]}"],
                                       "policies": [{"allowDeny": "ALLOW", "permissions": ["*"],
                                                     "resources": ["*"]}]})),
    GrantPath("role-allowing-views", ROLES_MANAGE, VIEWS, lambda m, c: (
        "POST", m.org_path("/roles"), {"name": _made_by(m, c), "actors": [],
                                       "policies": [{"allowDeny": "ALLOW", "permissions": sorted(VIEWS),
                                                     "resources": ["*"]}]})),
    GrantPath("invitation-as-admin", MEMBERS_MANAGE, ALL, lambda m, c: (
        "POST", m.org_path("/invitations"), {"email": f"{_made_by(m, c).replace(' ', '-')}@example.com",
                                             "assignedRoleIds": [ADMIN_ROLE]})),
)
# The callers that act in the organization with roles, and whether they hold ALL (only the Admin role does:
# the custom role denies service management on every service).
GRANTERS = {caller.name: caller for caller in CALLERS if caller.refused is None and not caller.foreign}
HOLDS_ALL = {"admin"}


def expected_grant(caller: Caller, path: GrantPath) -> str:
    """'guard': refused for the operation; 'beyond': refused for giving more than it holds; 'granted'."""
    if path.needs not in caller.grants:
        return "guard"
    holds = caller.name in HOLDS_ALL
    return "granted" if holds or (path.gives is not ALL and path.gives <= caller.grants) else "beyond"


def _roles_of_keys(matrix: Matrix) -> dict[str, list[str]]:
    return {name: [role["roleId"] for role in ok(matrix.admin.get(matrix.org_path(f"/keys/{key_id}")))["assignedRoles"]]
            for name, key_id in matrix.key_ids.items()}


def _undo_grant(matrix: Matrix, method: str, path: str, answer: httpx.Response, roles: list[str]) -> None:
    if answer.status_code != 200:
        return
    made = answer.json()["result"]
    if method == "POST":
        matrix.delete(f"{path}/{(made.get('key') or made)['id']}")
    else:  # the caller's own key, given Admin: back to the roles it had
        ok(matrix.admin.patch(path, json={"assignedRoleIds": roles}))


@pytest.mark.parametrize("path", GRANT_PATHS, ids=lambda path: path.name)
@pytest.mark.parametrize("caller", GRANTERS.values(), ids=lambda caller: caller.name)
def test_a_caller_grants_only_what_it_holds(matrix: Matrix, caller: Caller, path: GrantPath) -> None:
    roles_before = _roles_of_keys(matrix)
    at_start = matrix.contents()
    method, url, body = path.request(matrix, caller.name)
    with matrix.client(caller.name) as client:
        answer = client.request(method, url, json=body)
    try:
        check_envelope(answer)
        seen = f"{path.name} as {caller.name}: {answer.status_code} {answer.text[:300]}"
        outcome = expected_grant(caller, path)
        if outcome == "granted":
            assert answer.status_code == 200, seen
            return
        assert answer.status_code == 403, seen
        wording = "this API key's roles do not allow" if outcome == "guard" else "this change would give"
        assert wording in answer.json()["error"], seen
        assert matrix.contents() == at_start, f"refused, yet something changed: {seen}"
        assert _roles_of_keys(matrix) == roles_before, f"refused, yet a key's roles changed: {seen}"
    finally:
        _undo_grant(matrix, method, url, answer, roles_before[caller.name])
