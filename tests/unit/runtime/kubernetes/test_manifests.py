"""Every resource the kubernetes runtime can write, checked against the Altinity operator's CRD schemas (0.25.6),
and what each field of a service becomes in it."""

from __future__ import annotations

import base64
import copy
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from clickplane.runtime.clickhouse.interface import ServiceSpec
from clickplane.runtime.kubernetes.client import KubernetesApi
from clickplane.runtime.kubernetes.manifests import ClusterOptions, TlsMaterial, manifests, tls_hosts
from clickplane.runtime.kubernetes.runtime import KubernetesClickHouseRuntime, query_user_statements
from clickplane.runtime.tls import ensure_ca
from tests.crds import schema_errors

SERVICE_ID = "0b6f1a2e-1111-4222-8333-944455556666"
PASSWORD_SHA256 = hashlib.sha256(b"secret").hexdigest()
INTERNAL_SHA256 = hashlib.sha256(b"internal").hexdigest()
OPTIONS = ClusterOptions(namespace="services", clickhouse_image="clickhouse/clickhouse-server:25.3",
                         keeper_image="clickhouse/clickhouse-keeper:25.3", storage_size="20Gi",
                         control_plane_networks=("10.0.0.0/8", "fd00::/8"))
PLAIN = replace(OPTIONS, tls=False)
TLS = TlsMaterial(b"-----BEGIN CERTIFICATE-----\n", b"-----BEGIN PRIVATE KEY-----\n", b"-----BEGIN CERTIFICATE-----\n")


def spec(**fields: Any) -> ServiceSpec:
    return ServiceSpec(SERVICE_ID, PASSWORD_SHA256, **fields)


def render(service: ServiceSpec, options: ClusterOptions = OPTIONS, stopped: bool = False) -> list[dict[str, Any]]:
    return manifests(service, options, INTERNAL_SHA256, stopped=stopped, tls=TLS if options.tls else None)


def by_kind(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {resource["kind"]: resource for resource in resources}


CASES = {
    "no replicas (one server), no TLS": (spec(), PLAIN, False),
    "one server with TLS": (spec(), OPTIONS, False),
    "three replicas": (spec(replicas=3), OPTIONS, False),
    "stopped": (spec(replicas=2), OPTIONS, True),
    "custom settings and memory": (spec(settings=(("max_threads", "4"), ("readonly", "1")),
                                        max_memory_bytes=8 << 30), OPTIONS, False),
    "access list of IPv4 and IPv6": (spec(ip_access_list=("203.0.113.0/24", "198.51.100.7", "2001:db8::/32")),
                                     OPTIONS, False),
    "empty access list": (spec(ip_access_list=()), OPTIONS, False),
    "backups to object storage": (spec(), replace(OPTIONS, backup_uri="https://s3.example.com/bucket/cp",
                                                   backup_secret="backup-credentials",
                                                   storage_class="fast"), False),
}


@pytest.mark.parametrize("case", CASES)
def test_every_manifest_validates_against_the_operator_crds(case: str) -> None:
    service, options, stopped = CASES[case]
    resources = render(service, options, stopped)
    assert resources
    for resource in resources:
        assert schema_errors(resource) == [], (case, resource["kind"])


def test_the_schemas_catch_what_the_operator_would_refuse() -> None:
    installation = by_kind(render(spec()))["ClickHouseInstallation"]
    for breaking in (lambda r: r["spec"].update(stop="maybe"),
                     lambda r: r["spec"]["configuration"]["clusters"][0].update(name="a" * 16),
                     lambda r: r["spec"]["configuration"]["clusters"][0]["layout"].update(replicasCount="3"),
                     lambda r: r["spec"]["templates"]["volumeClaimTemplates"][0].update(reclaimPolicy="Keep")):
        broken = copy.deepcopy(installation)
        breaking(broken)
        assert schema_errors(broken), broken
    secret = by_kind(render(spec()))["Secret"]
    assert schema_errors({**secret, "data": "not a map"})
    assert schema_errors({**secret, "unknownField": 1})


def test_one_server_is_one_shard_of_one_replica_without_keeper() -> None:
    resources = by_kind(render(spec(), PLAIN))
    assert set(resources) == {"ClickHouseInstallation"}
    configuration = resources["ClickHouseInstallation"]["spec"]["configuration"]
    assert configuration["clusters"] == [{"name": "main", "layout": {"shardsCount": 1, "replicasCount": 1}}]
    assert "zookeeper" not in configuration


def test_replicas_share_a_keeper_installation_applied_first() -> None:
    resources = render(spec(replicas=3))
    assert [r["kind"] for r in resources] == ["Secret", "ClickHouseKeeperInstallation", "ClickHouseInstallation"]
    keeper, installation = resources[1], resources[2]
    assert keeper["spec"]["configuration"]["clusters"][0]["layout"]["replicasCount"] == 3
    configuration = installation["spec"]["configuration"]
    assert configuration["clusters"][0]["layout"] == {"shardsCount": 1, "replicasCount": 3}
    assert configuration["zookeeper"]["nodes"] == [
        {"host": f"keeper-{SERVICE_ID}.services.svc.cluster.local", "port": 2181}]


def test_stop_is_the_operators_stop_of_the_installation_and_its_keeper() -> None:
    assert by_kind(render(spec(), stopped=True))["ClickHouseInstallation"]["spec"]["stop"] == "yes"
    assert by_kind(render(spec()))["ClickHouseInstallation"]["spec"]["stop"] == "no"
    for stopped, stop in ((True, "yes"), (False, "no")):
        resources = by_kind(render(spec(replicas=2), stopped=stopped))
        assert {resources[kind]["spec"]["stop"] for kind in ("ClickHouseInstallation", "ClickHouseKeeperInstallation")
                } == {stop}


def test_users_hold_the_password_hash_and_the_access_list_as_networks() -> None:
    users = by_kind(render(spec(ip_access_list=("203.0.113.0/24", "2001:db8::/32", "0.0.0.0/0"))))[
        "ClickHouseInstallation"]["spec"]["configuration"]["users"]
    assert users["default/password_sha256_hex"] == PASSWORD_SHA256
    # IPv4 networks as the local runtime writes them (IPv6-mapped), which ClickHouse matches right.
    assert users["default/networks/ip"] == ["::ffff:203.0.113.0/120", "2001:db8::/32", "::/0"]
    assert users["default/profile"] == "service"
    assert users["clickplane/password_sha256_hex"] == INTERNAL_SHA256
    assert users["clickplane/networks/ip"] == ["::ffff:10.0.0.0/104", "fd00::/8"]
    assert users["clickplane/access_management"] == 1
    # Nobody: an empty list would get the operator's defaults, so loopback (inside the pod) only.
    empty = by_kind(render(spec()))["ClickHouseInstallation"]["spec"]["configuration"]["users"]
    assert empty["default/networks/ip"] == ["::1"]


def test_settings_and_memory_limit_are_profiles() -> None:
    profiles = by_kind(render(spec(settings=(("max_threads", "4"),), max_memory_bytes=1 << 30)))[
        "ClickHouseInstallation"]["spec"]["configuration"]["profiles"]
    assert profiles == {"default/max_memory_usage": str(1 << 30), "service/profile": "default",
                        "service/max_threads": "4", "service_read_only/profile": "service",
                        "service_read_only/readonly": "1"}


def test_the_profile_users_name_is_there_without_settings() -> None:
    # The operator makes a profile only of keys given: without one, users would name a profile ClickHouse lacks.
    installation = by_kind(render(spec()))["ClickHouseInstallation"]["spec"]["configuration"]
    profiles = {key.split("/")[0] for key in installation["profiles"]}
    named = {value for key, value in installation["users"].items() if key.endswith("/profile")}
    assert named <= profiles | {"default"}
    assert "service" in profiles


def test_a_setting_that_could_break_the_config_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid setting name"):
        render(spec(settings=(("max threads", "4"),)))
    with pytest.raises(ValueError, match=r"\$\{"):
        render(spec(settings=(("max_threads", "${other}"),)))


def test_tls_comes_from_the_services_secret() -> None:
    resources = by_kind(render(spec()))
    secret = resources["Secret"]
    assert secret["type"] == "kubernetes.io/tls"
    assert base64.b64decode(secret["data"]["tls.crt"]) == TLS.certificate
    installation = resources["ClickHouseInstallation"]["spec"]
    pod = installation["templates"]["podTemplates"][0]["spec"]
    assert pod["volumes"] == [{"name": "tls", "secret": {"secretName": f"{SERVICE_ID}-tls", "defaultMode": 0o440}}]
    settings = installation["configuration"]["settings"]
    assert settings["openSSL/server/certificateFile"] == "/etc/clickhouse-server/tls/tls.crt"
    assert {settings["https_port"], settings["tcp_port_secure"]} == {8443, 9440}
    ports = {port["name"] for port in installation["templates"]["serviceTemplates"][0]["spec"]["ports"]}
    assert ports == {"https", "nativesecure", "http", "native"}
    plain = by_kind(render(spec(), PLAIN))["ClickHouseInstallation"]["spec"]
    assert "settings" not in plain["configuration"]
    assert "volumes" not in plain["templates"]["podTemplates"][0]["spec"]


def test_storage_is_a_volume_claim_template_deleted_with_the_installation() -> None:
    installation = by_kind(render(spec(), replace(OPTIONS, storage_class="fast")))["ClickHouseInstallation"]["spec"]
    assert installation["defaults"]["templates"]["dataVolumeClaimTemplate"] == "data"
    assert installation["templates"]["volumeClaimTemplates"] == [{"name": "data", "reclaimPolicy": "Delete", "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}, "storageClassName": "fast"}}]


def test_every_resource_bears_the_owner_labels() -> None:
    for resource in render(spec(replicas=2)):
        assert resource["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "clickplane",
                                                  "clickplane.io/service-id": SERVICE_ID}
        assert resource["metadata"]["namespace"] == "services"


def test_a_service_id_that_is_no_uuid_is_refused() -> None:
    with pytest.raises(ValueError, match="UUID"):
        render(ServiceSpec("Not-A-UUID", PASSWORD_SHA256))


def test_the_certificate_names_the_service_and_each_replica_and_is_kept_while_current(tmp_path: Path) -> None:
    runtime = KubernetesClickHouseRuntime(OPTIONS, KubernetesApi("services", lambda: pytest.fail("no cluster")),
                                          internal_password=lambda _: "internal", ca_directory=tmp_path / "ca")
    first = by_kind(runtime.render(spec(replicas=2), stopped=False))["Secret"]
    certificate = x509.load_pem_x509_certificate(base64.b64decode(first["data"]["tls.crt"]))
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(name.value) for name in names} == set(tls_hosts(SERVICE_ID, "services", 2))
    assert f"chi-{SERVICE_ID}-main-0-1.services.svc.cluster.local" in tls_hosts(SERVICE_ID, "services", 2)
    assert base64.b64decode(first["data"]["ca.crt"]) == ensure_ca(tmp_path / "ca").cert_path.read_bytes()
    again = by_kind(runtime.render(spec(replicas=2), stopped=False, current_secret=first))["Secret"]
    assert again == first
    # A third replica needs a name the certificate lacks: a new one.
    scaled = by_kind(runtime.render(spec(replicas=3), stopped=False, current_secret=first))["Secret"]
    assert scaled["data"]["tls.crt"] != first["data"]["tls.crt"]


def test_query_users_are_made_on_every_replica_from_the_control_planes_networks_only() -> None:
    one = query_user_statements("query_admin_" + "a" * 32, "pw", False, ("10.0.0.0/8",), 1)
    assert one == [f"CREATE USER IF NOT EXISTS query_admin_{'a' * 32} IDENTIFIED WITH sha256_hash BY "
                   f"'{hashlib.sha256(b'pw').hexdigest()}' HOST IP '::ffff:10.0.0.0/104' SETTINGS PROFILE 'service'",
                   f"GRANT ALL ON *.* TO query_admin_{'a' * 32}"]
    many = query_user_statements("query_read_only_" + "a" * 32, "pw", True, ("10.0.0.0/8", "fd00::/8"), 3)
    assert " ON CLUSTER main IDENTIFIED" in many[0]
    assert "HOST IP '::ffff:10.0.0.0/104', IP 'fd00::/8'" in many[0]
    assert "SETTINGS PROFILE 'service_read_only'" in many[0]
    assert many[1].startswith("GRANT ON CLUSTER main ALL")
