"""The resources a service becomes on Kubernetes, as plain JSON-like dicts: what the runtime applies and what
`clickplane kubernetes manifests` prints.

- a ClickHouseInstallation (the Altinity operator's CRD) of one cluster, one shard and `spec.replicas` replicas:
  the `default` user (its SHA-256 password, its access list as networks), clickplane's internal user, the profiles
  of the service's settings and memory limit, TLS from a Secret, a data volume claim per replica, and `stop`;
- a ClickHouseKeeperInstallation of three Keeper servers when the service has more than one replica, which the
  replicas share (ReplicatedMergeTree, ON CLUSTER);
- the Secret of the service's TLS certificate, issued by clickplane's CA.

Every one is labelled with the service's id and `app.kubernetes.io/managed-by: clickplane`: what the runtime deletes
is what bears those labels, nothing else.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from clickplane.runtime.clickhouse.config import (
    INTERNAL_USER,
    OPENSSL_SERVER,
    SERVICE_PROFILE,
    SERVICE_READ_ONLY_PROFILE,
    checked_settings,
    clickhouse_networks,
)
from clickplane.runtime.clickhouse.interface import ServiceSpec

Manifest = dict[str, Any]

INSTALLATION_API_VERSION = "clickhouse.altinity.com/v1"
KEEPER_API_VERSION = "clickhouse-keeper.altinity.com/v1"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "clickplane"
SERVICE_LABEL = "clickplane.io/service-id"
# The annotation of an installation that says which backup its data was restored from (restored only once).
RESTORED_FROM_ANNOTATION = "clickplane.io/restored-from"
# The installation's one cluster: ON CLUSTER statements name it.
CLUSTER = "main"
KEEPER_CLUSTER = "keeper"
KEEPER_REPLICAS = 3  # a quorum that outlives one lost server
KEEPER_PORT = 2181
KEEPER_STORAGE = "1Gi"
HTTP_PORT, NATIVE_PORT, HTTPS_PORT, NATIVE_SECURE_PORT = 8123, 9000, 8443, 9440
TLS_DIRECTORY = "/etc/clickhouse-server/tls"
# The operator's stop (and any boolean of its CRDs) is a string.
STOPPED = {True: "yes", False: "no"}
# The endpoint config of backups' object storage (`<s3><clickplane_backups>`): ClickHouse signs the requests to
# URLs under it with the credentials of its environment.
BACKUP_ENDPOINT = "clickplane_backups"
# A service id as the control plane makes them (a UUID): a DNS label short enough for the names the operator
# derives from it (StatefulSet `chi-<name>-main-0-<replica>`, at most 52 characters for its pods' labels).
_NAME = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_POD_TEMPLATE, _VOLUME_TEMPLATE, _SERVICE_TEMPLATE = "clickhouse", "data", "clickhouse"


@dataclass(frozen=True)
class ClusterOptions:
    """How the runtime lays services out in the cluster (from settings)."""

    namespace: str
    clickhouse_image: str
    keeper_image: str
    storage_size: str
    storage_class: str | None = None
    tls: bool = True
    # Where clickplane connects from: the networks of its internal user and of the Query API's users.
    control_plane_networks: tuple[str, ...] = ()
    backup_uri: str | None = None
    backup_secret: str | None = None


@dataclass(frozen=True)
class TlsMaterial:
    """A service's certificate and key (PEM) and the CA certificate that issued it."""

    certificate: bytes
    private_key: bytes
    ca_certificate: bytes


def resource_name(service_id: str) -> str:
    """The name of a service's resources; ValueError for an id that is not a lowercase UUID."""
    if not _NAME.fullmatch(service_id):
        raise ValueError(f"service id {service_id!r} is not a lowercase UUID, as the control plane makes them")
    return service_id


def labels(service_id: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY, SERVICE_LABEL: service_id}


def label_selector(service_id: str | None = None) -> dict[str, str]:
    """The labels of what clickplane made (for one service, or for all)."""
    return labels(service_id) if service_id is not None else {MANAGED_BY_LABEL: MANAGED_BY}


def tls_secret_name(service_id: str) -> str:
    return f"{resource_name(service_id)}-tls"


def service_host(service_id: str, namespace: str) -> str:
    """The DNS name of the Service the operator makes for an installation (`clickhouse-<name>`): every replica."""
    return f"clickhouse-{resource_name(service_id)}.{namespace}.svc.cluster.local"


def keeper_host(service_id: str, namespace: str) -> str:
    """The DNS name of the Service the operator makes for a Keeper installation (`keeper-<name>`)."""
    return f"keeper-{resource_name(service_id)}.{namespace}.svc.cluster.local"


def tls_hosts(service_id: str, namespace: str, replicas: int) -> list[str]:
    """The names the service's certificate holds: its Service, and each replica's own (`chi-<name>-main-0-<n>`)."""
    name = resource_name(service_id)
    short = [f"clickhouse-{name}", *(f"chi-{name}-{CLUSTER}-0-{replica}" for replica in range(max(replicas, 1)))]
    return [host for base in short for host in (f"{base}.{namespace}.svc.cluster.local", f"{base}.{namespace}.svc")]


def manifests(spec: ServiceSpec, options: ClusterOptions, internal_password_sha256_hex: str, *, stopped: bool,
              tls: TlsMaterial | None) -> list[Manifest]:
    """Every resource of the service, in the order they are applied: the TLS Secret and the Keeper before the
    installation that uses them."""
    if options.tls and tls is None:
        raise ValueError("TLS is on: the service's certificate is needed")
    resources: list[Manifest] = []
    if options.tls and tls is not None:
        resources.append(tls_secret(spec.service_id, options.namespace, tls))
    if spec.replicas > 1:
        resources.append(keeper_installation(spec.service_id, options, stopped=stopped))
    resources.append(installation(spec, options, internal_password_sha256_hex, stopped=stopped))
    return resources


def installation(spec: ServiceSpec, options: ClusterOptions, internal_password_sha256_hex: str, *,
                 stopped: bool) -> Manifest:
    """The service's ClickHouseInstallation."""
    configuration: Manifest = {
        "users": _users(spec, options, internal_password_sha256_hex),
        "profiles": _profiles(spec),
        "clusters": [{"name": CLUSTER, "layout": {"shardsCount": 1, "replicasCount": max(spec.replicas, 1)}}],
    }
    settings = _server_settings(options)
    if settings:
        configuration["settings"] = settings
    if spec.replicas > 1:
        configuration["zookeeper"] = {"nodes": [{"host": keeper_host(spec.service_id, options.namespace),
                                                 "port": KEEPER_PORT}]}
    return {
        "apiVersion": INSTALLATION_API_VERSION,
        "kind": "ClickHouseInstallation",
        "metadata": _metadata(spec.service_id, options.namespace),
        "spec": {
            "stop": STOPPED[stopped],
            "defaults": {"templates": {"podTemplate": _POD_TEMPLATE, "dataVolumeClaimTemplate": _VOLUME_TEMPLATE,
                                       "serviceTemplate": _SERVICE_TEMPLATE}},
            "configuration": configuration,
            "templates": {
                "podTemplates": [{"name": _POD_TEMPLATE, "spec": _pod_spec(spec.service_id, options)}],
                "volumeClaimTemplates": [_volume_claim(options.storage_size, options.storage_class)],
                "serviceTemplates": [_service_template(options.tls)],
            },
        },
    }


def keeper_installation(service_id: str, options: ClusterOptions, *, stopped: bool) -> Manifest:
    """The ClickHouseKeeperInstallation a service of several replicas coordinates through, stopped with it."""
    return {
        "apiVersion": KEEPER_API_VERSION,
        "kind": "ClickHouseKeeperInstallation",
        "metadata": _metadata(service_id, options.namespace),
        "spec": {
            "stop": STOPPED[stopped],
            "defaults": {"templates": {"podTemplate": "keeper", "dataVolumeClaimTemplate": _VOLUME_TEMPLATE}},
            "configuration": {
                "clusters": [{"name": KEEPER_CLUSTER, "layout": {"replicasCount": KEEPER_REPLICAS}}],
                "settings": {"keeper_server/tcp_port": str(KEEPER_PORT)},
            },
            "templates": {
                "podTemplates": [{"name": "keeper", "spec": {"containers": [
                    {"name": "clickhouse-keeper", "image": options.keeper_image}]}}],
                "volumeClaimTemplates": [_volume_claim(KEEPER_STORAGE, options.storage_class)],
            },
        },
    }


def tls_secret(service_id: str, namespace: str, tls: TlsMaterial) -> Manifest:
    """The Secret of the service's certificate (type kubernetes.io/tls), mounted into its pods."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": tls_secret_name(service_id), "namespace": namespace, "labels": labels(service_id)},
        "type": "kubernetes.io/tls",
        "data": {key: base64.b64encode(value).decode() for key, value in
                 (("tls.crt", tls.certificate), ("tls.key", tls.private_key), ("ca.crt", tls.ca_certificate))},
    }


def _metadata(service_id: str, namespace: str) -> Manifest:
    return {"name": resource_name(service_id), "namespace": namespace, "labels": labels(service_id)}


def _users(spec: ServiceSpec, options: ClusterOptions, internal_password_sha256_hex: str) -> Manifest:
    """The operator's flat `user/field` form of users.xml. An empty access list lets clients in from nowhere: the
    `default` user is then reachable from inside its own pods only."""
    users: Manifest = {
        "default/password_sha256_hex": spec.password_sha256_hex,
        "default/networks/ip": _networks(spec.ip_access_list),
        "default/profile": SERVICE_PROFILE,
        "default/quota": "default",
    }
    users.update({
        f"{INTERNAL_USER}/password_sha256_hex": internal_password_sha256_hex,
        f"{INTERNAL_USER}/networks/ip": _networks(options.control_plane_networks),
        f"{INTERNAL_USER}/profile": "default",
        f"{INTERNAL_USER}/quota": "default",
        # It makes the Query API's users with SQL (CREATE USER), kept in the replicas' volumes.
        f"{INTERNAL_USER}/access_management": 1,
    })
    return users


def _networks(entries: tuple[str, ...]) -> list[str]:
    """Networks as ClickHouse takes them; none as loopback only, since the operator fills an empty list with its
    own defaults."""
    return clickhouse_networks(entries) or ["::1"]


def _profiles(spec: ServiceSpec) -> Manifest:
    profiles: Manifest = {}
    if spec.max_memory_bytes is not None:
        profiles["default/max_memory_usage"] = str(spec.max_memory_bytes)
    # The operator makes a profile only of the keys it is given, and users name this one: it always has one, the
    # default profile inherited (which the server applies first anyway), then the service's settings over it.
    profiles[f"{SERVICE_PROFILE}/profile"] = "default"
    profiles.update({f"{SERVICE_PROFILE}/{name}": value for name, value in checked_settings(spec)})
    # Inherited first, so that readonly = 1 comes last and wins over a readonly the service's settings set.
    profiles[f"{SERVICE_READ_ONLY_PROFILE}/profile"] = SERVICE_PROFILE
    profiles[f"{SERVICE_READ_ONLY_PROFILE}/readonly"] = "1"
    return profiles


def _server_settings(options: ClusterOptions) -> Manifest:
    settings: Manifest = {}
    if options.tls:
        settings.update({
            "https_port": HTTPS_PORT,
            "tcp_port_secure": NATIVE_SECURE_PORT,
            "openSSL/server/certificateFile": f"{TLS_DIRECTORY}/tls.crt",
            "openSSL/server/privateKeyFile": f"{TLS_DIRECTORY}/tls.key",
            **{f"openSSL/server/{name}": value for name, value in OPENSSL_SERVER.items()},
        })
    if options.backup_uri is not None:
        settings[f"s3/{BACKUP_ENDPOINT}/endpoint"] = options.backup_uri.rstrip("/") + "/"
        settings[f"s3/{BACKUP_ENDPOINT}/use_environment_credentials"] = "true"
    return settings


def _pod_spec(service_id: str, options: ClusterOptions) -> Manifest:
    container: Manifest = {"name": "clickhouse", "image": options.clickhouse_image}
    pod: Manifest = {"containers": [container]}
    if options.backup_secret is not None:
        container["envFrom"] = [{"secretRef": {"name": options.backup_secret}}]
    if options.tls:
        container["volumeMounts"] = [{"name": "tls", "mountPath": TLS_DIRECTORY, "readOnly": True}]
        pod["volumes"] = [{"name": "tls", "secret": {"secretName": tls_secret_name(service_id),
                                                     "defaultMode": 0o440}}]
        # ClickHouse runs as user and group 101 in the official images: the group may read the key.
        pod["securityContext"] = {"fsGroup": 101}
    return pod


def _volume_claim(size: str, storage_class: str | None) -> Manifest:
    claim: Manifest = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        claim["storageClassName"] = storage_class
    # Delete: the claims go with the installation, which only a deleted service loses.
    return {"name": _VOLUME_TEMPLATE, "reclaimPolicy": "Delete", "spec": claim}


def _service_template(tls: bool) -> Manifest:
    ports = [("http", HTTP_PORT), ("native", NATIVE_PORT)]
    if tls:
        ports = [("https", HTTPS_PORT), ("nativesecure", NATIVE_SECURE_PORT), *ports]
    return {
        "name": _SERVICE_TEMPLATE,
        "generateName": "clickhouse-{chi}",
        "spec": {"type": "ClusterIP", "ports": [{"name": name, "port": port, "targetPort": port}
                                                for name, port in ports]},
    }
