"""The kubernetes runtime's calls, against a test double of the API server (fake_api.py) behind lightkube's
transport, and a stand-in for the ClickHouse servers' HTTP interface (the operator's pods, which no test here
runs)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx2
import pytest
from lightkube import AsyncClient

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.client import ClickHouseClient
from clickplane.runtime.clickhouse.interface import FunctionsUnsupported, ServiceSpec
from clickplane.runtime.kubernetes.client import KubernetesApi, client_factory
from clickplane.runtime.kubernetes.manifests import ClusterOptions
from clickplane.runtime.kubernetes.runtime import KubernetesClickHouseRuntime
from tests.crds import schema_errors
from tests.unit.runtime.clickhouse.test_functions import UPPER
from tests.unit.runtime.kubernetes.fake_api import APPLY, MERGE, FakeApiServer, kubeconfig

pytestmark = pytest.mark.anyio

SERVICE_ID = "0b6f1a2e-1111-4222-8333-944455556666"
OTHER_ID = "9f6f1a2e-1111-4222-8333-944455556666"
NAMESPACE = "services"
OPTIONS = ClusterOptions(namespace=NAMESPACE, clickhouse_image="clickhouse/clickhouse-server:25.3",
                         keeper_image="clickhouse/clickhouse-keeper:25.3", storage_size="20Gi",
                         control_plane_networks=("10.0.0.0/8",))
CHI, CHK, SECRETS = "clickhouseinstallations", "clickhousekeeperinstallations", "secrets"
ENDPOINT = f"clickhouse-{SERVICE_ID}.{NAMESPACE}.svc.cluster.local"


class FakeClickHouse:
    """What the servers' HTTP interface answers: /ping, and SQL by its first words."""

    def __init__(self) -> None:
        self.answering = True
        self.statements: list[tuple[str, str]] = []  # (url, sql)
        self.users_accepted: list[str] = []

    async def pings(self, _service_id: str, url: str) -> bool:
        return self.answering

    async def run_sql(self, _service_id: str, url: str, sql: str, timeout: float = 5.0) -> str:
        self.statements.append((url, sql))
        if sql == "SELECT version()":
            return "25.3.2.39\n"
        if sql.startswith("BACKUP"):
            return "backup-1\tBACKUP_CREATED\n"
        if "system.backups" in sql:
            return "123456\n"
        if "system.events" in sql:
            return "10\n"
        return ""

    async def wait_until_user_accepted(self, _service_id: str, _url: str, user: str, _password: str) -> None:
        self.users_accepted.append(user)


@pytest.fixture
def clickhouse(monkeypatch: pytest.MonkeyPatch) -> FakeClickHouse:
    fake = FakeClickHouse()
    for method in ("pings", "run_sql", "wait_until_user_accepted"):
        # Bound to the fake, so the runtime's client is not passed as self.
        monkeypatch.setattr(ClickHouseClient, method, getattr(fake, method))
    return fake


@pytest.fixture
def api() -> FakeApiServer:
    return FakeApiServer()


def runtime_of(api: FakeApiServer, tmp_path: Path, options: ClusterOptions = OPTIONS,
               start_timeout: float = 10.0) -> KubernetesClickHouseRuntime:
    return KubernetesClickHouseRuntime(options, KubernetesApi(NAMESPACE, lambda: api.client(NAMESPACE)),
                                       internal_password=lambda service_id: f"internal-{service_id}",
                                       ca_directory=tmp_path / "ca", start_timeout=start_timeout)


@pytest.fixture
async def runtime(api: FakeApiServer, tmp_path: Path,
                  clickhouse: FakeClickHouse) -> AsyncIterator[KubernetesClickHouseRuntime]:
    runtime = runtime_of(api, tmp_path)
    yield runtime
    await runtime.aclose()


def spec(**fields: Any) -> ServiceSpec:
    return ServiceSpec(SERVICE_ID, hashlib.sha256(b"secret").hexdigest(), **fields)


def reconciled(resource: dict[str, Any]) -> None:
    """What the operator writes once it has reconciled an installation."""
    if resource["kind"] == "ClickHouseInstallation":
        resource["status"] = {"status": "Completed", "endpoint": ENDPOINT, "hosts": 1}


async def test_start_applies_the_secret_and_the_installation_server_side(
        api: FakeApiServer, runtime: KubernetesClickHouseRuntime) -> None:
    await runtime.start(spec())
    applies = [call for call in api.calls if call.method == "PATCH"]
    assert [call.path for call in applies] == [
        f"/api/v1/namespaces/{NAMESPACE}/secrets/{SERVICE_ID}-tls",
        f"/apis/clickhouse.altinity.com/v1/namespaces/{NAMESPACE}/clickhouseinstallations/{SERVICE_ID}"]
    assert {call.content_type for call in applies} == {APPLY}
    assert all(call.params == {"fieldManager": "clickplane", "force": "true"} for call in applies)
    installation = api.find(CHI, SERVICE_ID)
    assert installation is not None
    assert installation["spec"]["stop"] == "no"
    assert api.find(CHK, SERVICE_ID) is None
    for stored in api.objects.values():
        assert schema_errors({k: v for k, v in stored.items() if k != "status"}) == []


async def test_replicas_get_a_keeper_installation(api: FakeApiServer, runtime: KubernetesClickHouseRuntime) -> None:
    await runtime.start(spec(replicas=3))
    keeper = api.find(CHK, SERVICE_ID)
    assert keeper is not None
    assert keeper["spec"]["configuration"]["clusters"][0]["layout"]["replicasCount"] == 3
    installation = api.find(CHI, SERVICE_ID)
    assert installation is not None
    assert installation["spec"]["configuration"]["clusters"][0]["layout"]["replicasCount"] == 3


async def test_wait_until_up_polls_with_backoff_until_clickhouse_answers(
        api: FakeApiServer, runtime: KubernetesClickHouseRuntime, clickhouse: FakeClickHouse) -> None:
    gets = 0
    clickhouse.answering = False

    def operator(resource: dict[str, Any]) -> None:
        nonlocal gets
        gets += 1
        if gets >= 3:
            reconciled(resource)
            clickhouse.answering = True
        else:
            resource["status"] = {"status": "InProgress"}

    api.on_get = operator
    await runtime.start(spec())
    observation = await runtime.wait_until_up(SERVICE_ID)
    assert observation.running
    assert observation.clickhouse_version == "25.3.2.39"
    assert [(e.protocol, e.host, e.port) for e in observation.endpoints] == [
        ("https", ENDPOINT, 8443), ("nativesecure", ENDPOINT, 9440), ("http", ENDPOINT, 8123),
        ("native", ENDPOINT, 9000)]
    assert gets >= 3


async def test_a_service_that_does_not_come_up_fails_with_the_operators_errors(
        api: FakeApiServer, tmp_path: Path, clickhouse: FakeClickHouse) -> None:
    runtime = runtime_of(api, tmp_path, start_timeout=0.8)
    clickhouse.answering = False
    api.on_get = lambda resource: resource.update(status={"status": "Aborted", "errors": ["PVC pending"]})
    await runtime.start(spec())
    with pytest.raises(RuntimeFailure, match=r"did not come up within 0.8 s: .*status Aborted.*PVC pending"):
        await runtime.wait_until_up(SERVICE_ID)


async def test_observe_says_why_a_reconciled_service_is_not_running(
        api: FakeApiServer, runtime: KubernetesClickHouseRuntime, clickhouse: FakeClickHouse) -> None:
    missing = await runtime.observe(SERVICE_ID)
    assert not missing.running
    assert missing.reason is not None
    assert "no ClickHouseInstallation" in missing.reason
    api.on_get = reconciled
    await runtime.start(spec())
    clickhouse.answering = False
    silent = await runtime.observe(SERVICE_ID)
    assert not silent.running
    assert silent.reason == f"ClickHouse does not answer /ping at http://{ENDPOINT}:8123"
    assert silent.pid is None  # nothing the runtime can end: the controller restarts it at once
    assert await runtime.sql_access(SERVICE_ID) is None
    # While the operator rolls a change through the replicas, a service that answers is running.
    clickhouse.answering = True
    api.on_get = lambda resource: resource.update(status={"status": "InProgress", "endpoint": ENDPOINT})
    rolling = await runtime.observe(SERVICE_ID)
    assert rolling.running
    assert rolling.extra["operatorStatus"] == "InProgress"


async def test_stop_is_a_merge_patch_of_the_operators_stop_and_start_undoes_it(
        api: FakeApiServer, runtime: KubernetesClickHouseRuntime) -> None:
    api.on_get = reconciled
    await runtime.start(spec())
    await runtime.stop(SERVICE_ID)
    patch = api.calls[-1]
    assert (patch.method, patch.content_type) == ("PATCH", MERGE)
    installation = api.find(CHI, SERVICE_ID)
    assert installation is not None
    assert installation["spec"]["stop"] == "yes"
    stopped = await runtime.observe(SERVICE_ID)
    assert (stopped.running, stopped.reason) == (False, None)
    assert await runtime.sql_access(SERVICE_ID) is None
    await runtime.stop(OTHER_ID)  # none there: a no-op
    await runtime.start(spec())
    installation = api.find(CHI, SERVICE_ID)
    assert installation is not None
    assert installation["spec"]["stop"] == "no"


async def test_a_replicated_service_stops_its_keeper_after_its_servers_and_starts_it_first(
        api: FakeApiServer, runtime: KubernetesClickHouseRuntime) -> None:
    api.on_get = reconciled
    await runtime.start(spec(replicas=2))
    await runtime.stop(SERVICE_ID)
    patches = [call.path.rsplit("/", 2)[-2] for call in api.calls if call.content_type == MERGE]
    assert patches == ["clickhouseinstallations", "clickhousekeeperinstallations"]
    assert {api.find(kind, SERVICE_ID)["spec"]["stop"] for kind in (CHI, CHK)} == {"yes"}  # type: ignore[index]
    await runtime.start(spec(replicas=2))
    assert {api.find(kind, SERVICE_ID)["spec"]["stop"] for kind in (CHI, CHK)} == {"no"}  # type: ignore[index]


async def test_apply_rewrites_users_of_an_existing_installation_only(
        api: FakeApiServer, runtime: KubernetesClickHouseRuntime) -> None:
    with pytest.raises(RuntimeFailure, match="does not exist"):
        await runtime.apply(spec())
    await runtime.start(spec())
    await runtime.apply(spec(ip_access_list=("203.0.113.7",)))
    installation = api.find(CHI, SERVICE_ID)
    assert installation is not None
    assert installation["spec"]["configuration"]["users"]["default/networks/ip"] == ["203.0.113.7"]
    assert installation["metadata"]["generation"] == 2


async def test_the_certificate_in_the_cluster_is_kept_across_starts(
        api: FakeApiServer, runtime: KubernetesClickHouseRuntime) -> None:
    await runtime.start(spec())
    first = api.find(SECRETS, f"{SERVICE_ID}-tls")
    await runtime.start(spec())
    assert api.find(SECRETS, f"{SERVICE_ID}-tls") == first


async def test_delete_removes_what_clickplane_made_for_the_service_and_nothing_else(
        api: FakeApiServer, runtime: KubernetesClickHouseRuntime) -> None:
    await runtime.start(spec(replicas=2))
    await runtime.start(replace(spec(), service_id=OTHER_ID))
    foreign = {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": f"{SERVICE_ID}-tls-copy", "labels": {"clickplane.io/service-id": SERVICE_ID}}, "data": {}}
    api.put(NAMESPACE, SECRETS, foreign)  # bears the service's id but was not made by clickplane
    assert await runtime.list_service_ids() == [SERVICE_ID, OTHER_ID]
    await runtime.delete(SERVICE_ID)
    assert {key[1:] for key in api.objects} == {(CHI, OTHER_ID), (SECRETS, f"{OTHER_ID}-tls"),
                                                (SECRETS, f"{SERVICE_ID}-tls-copy")}
    await runtime.delete(SERVICE_ID)  # idempotent
    assert await runtime.list_service_ids() == [OTHER_ID]


async def test_refusals_a_missing_operator_and_an_unreachable_api_server_are_runtime_failures(
        api: FakeApiServer, runtime: KubernetesClickHouseRuntime, tmp_path: Path) -> None:
    api.refuse_with = 403
    with pytest.raises(RuntimeFailure, match=r"refused to get Secret .* clickplane may not do that"):
        await runtime.start(spec())

    def unreachable(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    def client() -> AsyncClient:
        return AsyncClient(kubeconfig(NAMESPACE), namespace=NAMESPACE, transport=httpx2.MockTransport(unreachable))

    api.refuse_with = None
    api.missing_kinds = {CHI}
    with pytest.raises(RuntimeFailure, match="Altinity clickhouse-operator"):
        await runtime.start(spec())
    with pytest.raises(RuntimeFailure, match="Altinity clickhouse-operator"):
        await runtime.list_service_ids()

    cut_off = KubernetesClickHouseRuntime(OPTIONS, KubernetesApi(NAMESPACE, client),
                                          internal_password=lambda _: "x", ca_directory=tmp_path / "ca")
    with pytest.raises(RuntimeFailure, match="cannot be reached"):
        await cut_off.observe(SERVICE_ID)


async def test_sql_access_and_query_count_go_to_the_operators_endpoint(
        api: FakeApiServer, runtime: KubernetesClickHouseRuntime, clickhouse: FakeClickHouse) -> None:
    assert await runtime.sql_access(SERVICE_ID) is None
    api.on_get = reconciled
    await runtime.start(spec())
    access = await runtime.sql_access(SERVICE_ID)
    assert access is not None
    assert (access.url, access.user, access.password) == (f"http://{ENDPOINT}:8123/", "clickplane",
                                                          f"internal-{SERVICE_ID}")
    runtime.count_own_query(SERVICE_ID)
    assert await runtime.query_count(SERVICE_ID) == 9


async def test_query_users_are_made_once_with_sql(
        api: FakeApiServer, runtime: KubernetesClickHouseRuntime, clickhouse: FakeClickHouse) -> None:
    api.on_get = reconciled
    await runtime.start(spec())
    caller = "5c0ffee0-0000-4000-8000-000000000001"
    first = await runtime.query_access(SERVICE_ID, caller, read_only=True)
    again = await runtime.query_access(SERVICE_ID, caller, read_only=True)
    assert first == again
    assert first is not None
    assert first.user == "query_read_only_5c0ffee0000040008000000000000001"
    made = [sql for _, sql in clickhouse.statements if sql.startswith(("CREATE USER", "GRANT"))]
    assert len(made) == 2
    assert hashlib.sha256(first.password.encode()).hexdigest() in made[0]
    assert clickhouse.users_accepted == [first.user]


async def test_backups_go_to_object_storage(api: FakeApiServer, tmp_path: Path,
                                            clickhouse: FakeClickHouse) -> None:
    destination = (tmp_path / "backups" / SERVICE_ID / "b4c1").as_uri()
    without = runtime_of(api, tmp_path)
    with pytest.raises(RuntimeFailure, match="CLICKPLANE_KUBERNETES_BACKUP_URI"):
        await without.backup(SERVICE_ID, destination)
    runtime = runtime_of(api, tmp_path, replace(OPTIONS, backup_uri="https://s3.example.com/bucket/cp/"))
    with pytest.raises(RuntimeFailure, match="not running"):
        await runtime.backup(SERVICE_ID, destination)
    api.on_get = reconciled
    await runtime.start(spec(replicas=2))
    result = await runtime.backup(SERVICE_ID, destination)
    assert result.size_in_bytes == 123456
    backup = next(sql for _, sql in clickhouse.statements if sql.startswith("BACKUP"))
    assert backup == ("BACKUP ALL EXCEPT DATABASES system, information_schema, INFORMATION_SCHEMA ON CLUSTER main "
                      f"TO S3('https://s3.example.com/bucket/cp/{SERVICE_ID}/b4c1/') FORMAT TabSeparated")
    with pytest.raises(RuntimeFailure, match="file://"):
        await runtime.backup(SERVICE_ID, "s3://elsewhere/x")


async def test_a_restored_service_restores_its_backup_once(api: FakeApiServer, tmp_path: Path,
                                                           clickhouse: FakeClickHouse) -> None:
    runtime = runtime_of(api, tmp_path, replace(OPTIONS, backup_uri="https://s3.example.com/bucket"))
    api.on_get = reconciled
    source = (tmp_path / "backups" / OTHER_ID / "b4c1").as_uri()
    restored = spec(restore_from=source)
    for _ in range(2):
        await runtime.start(restored)
        await runtime.wait_until_up(SERVICE_ID)
    restores = [sql for _, sql in clickhouse.statements if sql.startswith("RESTORE")]
    assert restores == ["RESTORE ALL EXCEPT DATABASES system, information_schema, INFORMATION_SCHEMA FROM "
                        f"S3('https://s3.example.com/bucket/{OTHER_ID}/b4c1/')"]
    installation = api.find(CHI, SERVICE_ID)
    assert installation is not None
    assert installation["metadata"]["annotations"] == {"clickplane.io/restored-from": source}


async def test_a_missing_kubeconfig_is_a_runtime_failure_when_first_needed(tmp_path: Path) -> None:
    runtime = KubernetesClickHouseRuntime(
        OPTIONS, KubernetesApi(NAMESPACE, client_factory(tmp_path / "no-kubeconfig", NAMESPACE)),
        internal_password=lambda _: "x", ca_directory=tmp_path / "ca")
    assert runtime.render(spec(), stopped=False)  # rendering needs no cluster
    with pytest.raises(RuntimeFailure, match="no-kubeconfig"):
        await runtime.observe(SERVICE_ID)


async def test_executable_functions_are_refused_saying_why_and_their_removal_is_nothing(
        api: FakeApiServer, runtime: KubernetesClickHouseRuntime) -> None:
    with pytest.raises(FunctionsUnsupported, match=r"runs on Kubernetes.*function upper was not installed"):
        await runtime.install_function(SERVICE_ID, UPPER)
    await runtime.remove_function(SERVICE_ID, "upper")
    assert api.calls == []
