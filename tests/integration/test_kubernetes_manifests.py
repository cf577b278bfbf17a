"""`clickplane kubernetes manifests`, run as an operator runs it on a store that holds services: its YAML is what
the kubernetes runtime applies, and validates against the operator's CRD schemas."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import yaml
from cryptography import x509

from clickplane.store import models
from tests.crds import schema_errors
from tests.integration.harness import ClickplaneServer, clickplane

CASES: dict[str, dict[str, Any]] = {
    "one server": {},
    "replicas": {"num_replicas": 3},
    "stopped": {"desired_state": "stopped", "num_replicas": 2},
    "custom settings": {"clickhouse_settings": {"max_threads": "4", "join_use_nulls": "1"}},
    "access list": {"ip_access_list": [{"source": "203.0.113.0/24", "description": "office"},
                                       {"source": "2001:db8::/32", "description": "v6"}]},
}


def add_service(server: ClickplaneServer, **fields: Any) -> uuid.UUID:
    with server.store() as session:
        service = models.Service(
            id=uuid.uuid4(), organization_id=uuid.UUID(server.credentials.organization_id), name="k8s",
            provider="aws", region="us-east-1", password_sha256_hex=hashlib.sha256(b"secret").hexdigest(),
            min_replica_memory_gb=8, max_replica_memory_gb=8, data_warehouse_id=uuid.uuid4(), **fields)
        session.add(service)
        return service.id


def manifests(server: ClickplaneServer, service_id: uuid.UUID, *options: str, **settings: str
              ) -> list[dict[str, Any]]:
    done = clickplane("kubernetes", "manifests", "--service-id", str(service_id), *options,
                      env={**server.env, "CLICKPLANE_KUBERNETES_NAMESPACE": "services", **settings})
    assert done.returncode == 0, done.stderr
    return list(yaml.safe_load_all(done.stdout))


def test_manifests_of_every_kind_of_service_validate_against_the_crds(fresh_server: ClickplaneServer) -> None:
    for case, fields in CASES.items():
        service_id = add_service(fresh_server, **fields)
        resources = manifests(fresh_server, service_id)
        kinds = [resource["kind"] for resource in resources]
        replicas = fields.get("num_replicas", 1)
        assert kinds == ["Secret", *(["ClickHouseKeeperInstallation"] if replicas > 1 else []),
                         "ClickHouseInstallation"], case
        for resource in resources:
            assert schema_errors(resource) == [], (case, resource["kind"])
            assert resource["metadata"]["labels"]["clickplane.io/service-id"] == str(service_id)
        installation = resources[-1]["spec"]
        assert installation["stop"] == ("yes" if fields.get("desired_state") == "stopped" else "no"), case
        assert installation["configuration"]["clusters"][0]["layout"]["replicasCount"] == replicas, case
        assert installation["configuration"]["profiles"]["default/max_memory_usage"] == str(8 << 30)
        for name, value in fields.get("clickhouse_settings", {}).items():
            assert installation["configuration"]["profiles"][f"service/{name}"] == value
    # The Secret's key is left out unless asked for: it would let whoever holds the output pose as the service.
    assert "data" not in resources[0]
    assert "tls.key" in resources[0]["metadata"]["annotations"]["clickplane.io/data"]
    secret = manifests(fresh_server, service_id, "--with-secret-data")[0]
    assert set(secret["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    # The certificate is from the CA of the data dir, as a started service's would be.
    certificate = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    authority = x509.load_pem_x509_certificate((fresh_server.data_dir / "ca" / "ca.pem").read_bytes())
    certificate.verify_directly_issued_by(authority)


def test_manifests_follow_the_kubernetes_settings(fresh_server: ClickplaneServer) -> None:
    service_id = add_service(fresh_server, ip_access_list=[{"source": "198.51.100.7", "description": ""}])
    resources = manifests(fresh_server, service_id, CLICKPLANE_KUBERNETES_TLS="false",
                          CLICKPLANE_KUBERNETES_STORAGE_SIZE="50Gi", CLICKPLANE_KUBERNETES_STORAGE_CLASS="fast",
                          CLICKPLANE_KUBERNETES_BACKUP_URI="https://s3.example.com/backups",
                          CLICKPLANE_KUBERNETES_BACKUP_SECRET="backup-credentials")
    assert [resource["kind"] for resource in resources] == ["ClickHouseInstallation"]
    assert schema_errors(resources[0]) == []
    spec = resources[0]["spec"]
    assert spec["configuration"]["users"]["default/networks/ip"] == ["198.51.100.7"]
    claim = spec["templates"]["volumeClaimTemplates"][0]["spec"]
    assert (claim["resources"]["requests"]["storage"], claim["storageClassName"]) == ("50Gi", "fast")
    container = spec["templates"]["podTemplates"][0]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "backup-credentials"}}]
    assert spec["configuration"]["settings"]["s3/clickplane_backups/endpoint"] == "https://s3.example.com/backups/"


def test_an_unknown_service_is_an_error(fresh_server: ClickplaneServer) -> None:
    service_id = uuid.uuid4()
    done = clickplane("kubernetes", "manifests", "--service-id", str(service_id), env=fresh_server.env)
    assert done.returncode == 1
    assert f"no service {service_id}" in done.stderr
    assert done.stdout == ""
