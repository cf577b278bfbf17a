"""The `kubernetes` ClickHouse runtime: every service is a ClickHouseInstallation of the Altinity operator.

The runtime applies the service's resources (manifests.py) with server-side apply and leaves running them to the
operator: it never makes a pod or a StatefulSet itself. It observes a service through the installation's status
(the operator's `endpoint`, and its `status` and `errors` to say why a service is not up) and the server's `/ping`,
reached on the Service the operator makes, as the internal user `clickplane`, who may connect only from the control
plane's networks. Stopping is the operator's
`stop` (its StatefulSets scaled to zero, the volumes kept); deleting removes what bears the service's labels.

Backups are ClickHouse's own `BACKUP ... TO S3(...)` into the object storage the operator configures
(CLICKPLANE_KUBERNETES_BACKUP_URI), and a restore is `RESTORE ... FROM S3(...)` once the new service is up.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Callable
from pathlib import Path

from clickplane.runtime.base import Endpoint, RuntimeFailure, stop_each
from clickplane.runtime.clickhouse.backup import backup_directory
from clickplane.runtime.clickhouse.client import ClickHouseClient, base_url, sql_url
from clickplane.runtime.clickhouse.config import (
    SERVICE_PROFILE,
    SERVICE_READ_ONLY_PROFILE,
    clickhouse_networks,
    query_user_name,
    sha256_hex,
)
from clickplane.runtime.clickhouse.interface import (
    BackupResult,
    ExecutableFunction,
    FunctionsUnsupported,
    Observation,
    ServiceSpec,
    SqlAccess,
)
from clickplane.runtime.clickhouse.sql import literal
from clickplane.runtime.kubernetes.client import KINDS, KubernetesApi
from clickplane.runtime.kubernetes.manifests import (
    CLUSTER,
    HTTP_PORT,
    HTTPS_PORT,
    NATIVE_PORT,
    NATIVE_SECURE_PORT,
    RESTORED_FROM_ANNOTATION,
    SERVICE_LABEL,
    STOPPED,
    ClusterOptions,
    Manifest,
    TlsMaterial,
    label_selector,
    manifests,
    resource_name,
    service_host,
    tls_hosts,
    tls_secret_name,
)
from clickplane.runtime.tls import certificate_is_current, ensure_ca, issue_server_certificate

log = logging.getLogger(__name__)

INSTALLATION = "ClickHouseInstallation"
KEEPER = "ClickHouseKeeperInstallation"
# What the operator's status says once every host of an installation is reconciled.
COMPLETED = "Completed"
# Backoff of the polls of a starting service: from the first, doubled up to the last.
FIRST_POLL_SECONDS, LAST_POLL_SECONDS = 0.5, 8.0
# A BACKUP or RESTORE runs as one statement: as long as the data takes to copy.
_BACKUP_SQL_TIMEOUT_SECONDS = 3600.0
_SYSTEM_DATABASES = "system, information_schema, INFORMATION_SCHEMA"


class KubernetesClickHouseRuntime:
    """Runs each service as a ClickHouseInstallation in `options.namespace`, through `api`.

    `internal_password(service_id)` gives the password of the internal user `clickplane`; the Query API's users'
    passwords are derived from it, so that every replica of clickplane knows them. `ca_directory` holds
    clickplane's CA, which issues the services' certificates (every replica of clickplane must share it).
    """

    def __init__(self, options: ClusterOptions, api: KubernetesApi, *, internal_password: Callable[[str], str],
                 ca_directory: Path, start_timeout: float = 600.0) -> None:
        self.options = options
        self.api = api
        self.start_timeout = start_timeout
        self._internal_password = internal_password
        self._ca_directory = ca_directory
        self._client = ClickHouseClient(internal_password)
        # The specs `start` applied, until `wait_until_up` sees their service answer.
        self._started: dict[str, ServiceSpec] = {}
        # The Query API users made, by service.
        self._query_users: dict[str, set[str]] = {}
        self._query_user_lock = asyncio.Lock()

    def render(self, spec: ServiceSpec, *, stopped: bool, current_secret: Manifest | None = None) -> list[Manifest]:
        """The resources of the service, as `start` applies them: its TLS Secret keeps the certificate of
        `current_secret` (the Secret in the cluster) while that is current, else holds a new one. ValueError for a
        spec that cannot be written (a setting or network the domain layer should have refused)."""
        tls = self._tls_material(spec, current_secret) if self.options.tls else None
        return manifests(spec, self.options, sha256_hex(self._internal_password(spec.service_id)), stopped=stopped,
                         tls=tls)

    # The ClickHouseRuntime protocol.

    async def start(self, spec: ServiceSpec) -> None:
        """Apply the service's resources (the operator starts its pods, or restarts a stopped installation)."""
        name = resource_name(spec.service_id)
        current = await self.api.get("Secret", tls_secret_name(name)) if self.options.tls else None
        try:
            resources = await asyncio.to_thread(self.render, spec, stopped=False, current_secret=current)
        except ValueError as error:
            raise RuntimeFailure(f"service {spec.service_id} cannot be written for Kubernetes: {error}") from None
        for resource in resources:
            await self.api.apply(resource)
        self._started[spec.service_id] = spec

    async def wait_until_up(self, service_id: str) -> Observation:
        """Poll, with backoff, until the operator has reconciled the installation and ClickHouse answers; then
        restore the backup the service starts from, once."""
        spec = self._started.pop(service_id, None)
        if spec is None:
            raise RuntimeFailure(f"service {service_id} was not started: start it before waiting for it")
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + self.start_timeout, FIRST_POLL_SECONDS
        while not (observation := await self.observe(service_id)).running:
            if loop.time() >= deadline:
                raise RuntimeFailure(f"service {service_id} did not come up within {self.start_timeout:g} s: "
                                     f"{observation.reason or 'its installation is stopped'}")
            await asyncio.sleep(min(delay, max(deadline - loop.time(), 0)))
            delay = min(delay * 2, LAST_POLL_SECONDS)
        if spec.restore_from is not None:
            await self._restore_once(spec, spec.restore_from)
        return observation

    async def apply(self, spec: ServiceSpec) -> None:
        """Apply the resources again: the operator rewrites users and profiles, which ClickHouse reloads by itself
        (no restart)."""
        if await self.api.get(INSTALLATION, resource_name(spec.service_id)) is None:
            raise RuntimeFailure(f"service {spec.service_id} does not exist on this runtime")
        await self.start(spec)
        self._started.pop(spec.service_id, None)

    async def observe(self, service_id: str) -> Observation:
        """Running while ClickHouse answers on the installation's endpoint, even while the operator rolls a change
        through its replicas; else why not, in the operator's words when it has not finished."""
        installation = await self.api.get(INSTALLATION, resource_name(service_id))
        if installation is None:
            return Observation(running=False, reason=f"service {service_id} has no ClickHouseInstallation in "
                                                     f"namespace {self.options.namespace}")
        if _is_stopped(installation):
            return Observation(running=False)
        status = installation.get("status") or {}
        host = _endpoint_host(installation, self.options.namespace)
        endpoints = self._endpoints(host)
        extra = {"hosts": str(status.get("hosts", 0)), "operatorStatus": str(status.get("status", ""))}
        url = base_url(host, HTTP_PORT)
        if await self._client.pings(service_id, url):
            version = await self._client.version(service_id, url, installation["metadata"].get("uid"))
            return Observation(running=True, endpoints=endpoints, clickhouse_version=version, extra=extra)
        if status.get("status") != COMPLETED:
            errors = "; ".join(status.get("errors") or [])
            reason = (f"the operator has not finished with its installation (status "
                      f"{status.get('status') or 'not yet set'})" + (f": {errors}" if errors else ""))
        else:
            reason = f"ClickHouse does not answer /ping at {url}"
        return Observation(running=False, endpoints=endpoints, reason=reason, extra=extra)

    async def sql_access(self, service_id: str) -> SqlAccess | None:
        running = await self._running(service_id)
        return None if running is None else self._client.internal_access(service_id, running[0])

    async def query_access(self, service_id: str, caller: str, read_only: bool) -> SqlAccess | None:
        """A user of the caller's made with SQL (CREATE USER, on every replica), kept by ClickHouse in the replicas'
        volumes; its password derived from the internal user's."""
        running = await self._running(service_id)
        if running is None:
            return None
        url, replicas = running
        name = query_user_name(caller, read_only)
        password = hmac.new(self._internal_password(service_id).encode(), name.encode(), hashlib.sha256).hexdigest()
        async with self._query_user_lock:
            made = self._query_users.setdefault(service_id, set())
            if name not in made:
                for sql in query_user_statements(name, password, read_only, self.options.control_plane_networks,
                                                 replicas):
                    self._client.count_own_query(service_id)
                    await self._client.run_sql(service_id, url, sql)
                await self._client.wait_until_user_accepted(service_id, url, name, password)
                made.add(name)
        return SqlAccess(sql_url(url), name, password)

    async def query_count(self, service_id: str) -> int | None:
        running = await self._running(service_id)
        return None if running is None else await self._client.query_count(service_id, running[0])

    def count_own_query(self, service_id: str) -> None:
        self._client.count_own_query(service_id)

    async def backup(self, service_id: str, destination: str) -> BackupResult:
        """`BACKUP ALL` (the system databases excepted) to the object-storage URL of `destination` (see
        `object_storage_url`), on every replica when there are several; its size as ClickHouse counts it."""
        url = self.object_storage_url(destination)
        running = await self._running(service_id)
        if running is None:
            raise RuntimeFailure(f"service {service_id} is not running: a backup is taken from its running server")
        server, replicas = running
        answer = await self._run_backup_sql(
            service_id, server, f"BACKUP ALL EXCEPT DATABASES {_SYSTEM_DATABASES}{_on_cluster(replicas)} "
                                f"TO S3({literal(url)}) FORMAT TabSeparated")
        backup_id = answer.split("\t", 1)[0].strip()
        size = await self._run_backup_sql(
            service_id, server, f"SELECT compressed_size FROM system.backups WHERE id = {literal(backup_id)}")  # noqa: S608
        return BackupResult(size_in_bytes=int(size.strip() or 0))

    async def install_function(self, service_id: str, function: ExecutableFunction) -> None:
        # Each replica's pod would need the function's files (a volume of them) and its config: not made yet, and
        # said so, as the local runtime says so of a server without executable functions.
        raise FunctionsUnsupported(f"service {service_id} runs on Kubernetes, where clickplane does not install "
                                   f"executable functions yet (function {function.name} was not installed)")

    async def remove_function(self, service_id: str, name: str) -> None:
        """Nothing to remove: this runtime installs no functions."""

    async def stop(self, service_id: str) -> None:
        """The operator's stop: it scales the installation's StatefulSets to zero, keeping their volumes; then
        that of the Keeper installation, if the service has one, which no server uses any more."""
        name, stop = resource_name(service_id), {"spec": {"stop": STOPPED[True]}}
        if await self.api.merge_patch(INSTALLATION, name, stop):
            await self._client.disconnect(service_id)
            self._client.new_server(service_id)
            await self.api.merge_patch(KEEPER, name, stop)
        self._query_users.pop(service_id, None)

    async def stop_all(self) -> None:
        await stop_each(await self.list_service_ids(), self.stop)

    async def delete(self, service_id: str) -> None:
        """Delete every resource labelled as this service's and made by clickplane (the operator deletes the pods,
        StatefulSets, Services and volume claims it made for them)."""
        for kind in KINDS:
            for resource in await self.api.list(kind, label_selector(service_id)):
                await self.api.delete(kind, resource["metadata"]["name"])
        await self._client.disconnect(service_id)
        self._query_users.pop(service_id, None)
        log.info("deleted the resources of service %s", service_id)

    async def list_service_ids(self) -> list[str]:
        found: set[str] = set()
        for kind in KINDS:
            found.update(resource["metadata"]["labels"][SERVICE_LABEL]
                         for resource in await self.api.list(kind, label_selector()))
        return sorted(found)

    async def aclose(self) -> None:
        await self._client.aclose()
        await self.api.aclose()

    # Beyond the protocol.

    def object_storage_url(self, destination: str) -> str:
        """Where the backup the control plane names `destination` is kept: the control plane names each backup by
        the `file://` URI of a directory `.../<service id>/<backup id>`, which the object storage keeps as
        `<CLICKPLANE_KUBERNETES_BACKUP_URI>/<service id>/<backup id>/`."""
        if self.options.backup_uri is None:
            raise RuntimeFailure("the kubernetes runtime keeps backups in object storage, and none is configured: "
                                 "set CLICKPLANE_KUBERNETES_BACKUP_URI (and CLICKPLANE_KUBERNETES_BACKUP_SECRET)")
        try:
            directory = backup_directory(destination)
        except RuntimeFailure as failure:
            raise RuntimeFailure(f"{failure} (the kubernetes runtime maps it to object storage)") from None
        return "/".join([self.options.backup_uri.rstrip("/"), *directory.parts[-2:]]) + "/"

    # Internals.

    def _tls_material(self, spec: ServiceSpec, current_secret: Manifest | None) -> TlsMaterial:
        authority = ensure_ca(self._ca_directory)
        ca_certificate = authority.cert_path.read_bytes()
        hosts = tls_hosts(spec.service_id, self.options.namespace, spec.replicas)
        data = (current_secret or {}).get("data") or {}
        try:
            certificate, key = (base64.b64decode(data.get(k, ""), validate=True) for k in ("tls.crt", "tls.key"))
        except (binascii.Error, ValueError):
            certificate = key = b""
        if not (certificate and key and certificate_is_current(authority, certificate, hosts)):
            certificate, key = issue_server_certificate(authority, hosts)
        return TlsMaterial(certificate, key, ca_certificate)

    async def _running(self, service_id: str) -> tuple[str, int] | None:
        """The HTTP interface of an unstopped installation whose ClickHouse answers, and its replica count; None
        otherwise."""
        installation = await self.api.get(INSTALLATION, resource_name(service_id))
        if installation is None or _is_stopped(installation):
            return None
        url = base_url(_endpoint_host(installation, self.options.namespace), HTTP_PORT)
        if not await self._client.pings(service_id, url):
            return None
        clusters = installation["spec"]["configuration"]["clusters"]
        return url, int(clusters[0]["layout"].get("replicasCount", 1))

    async def _restore_once(self, spec: ServiceSpec, source: str) -> None:
        """RESTORE the backup the new service starts from, then mark the installation so that no later start
        restores it again."""
        name = resource_name(spec.service_id)
        installation = await self.api.get(INSTALLATION, name)
        annotations = ((installation or {}).get("metadata") or {}).get("annotations") or {}
        if annotations.get(RESTORED_FROM_ANNOTATION) == source:
            return
        running = await self._running(spec.service_id)
        if running is None:
            raise RuntimeFailure(f"service {spec.service_id} stopped before its backup was restored")
        url, replicas = running
        backup_url = self.object_storage_url(source)
        await self._run_backup_sql(spec.service_id, url, f"RESTORE ALL EXCEPT DATABASES {_SYSTEM_DATABASES}"
                                                         f"{_on_cluster(replicas)} FROM S3({literal(backup_url)})")
        await self.api.merge_patch(INSTALLATION, name,
                                   {"metadata": {"annotations": {RESTORED_FROM_ANNOTATION: source}}})
        log.info("restored service %s from %s", spec.service_id, source)

    async def _run_backup_sql(self, service_id: str, url: str, sql: str) -> str:
        self._client.count_own_query(service_id)
        return await self._client.run_sql(service_id, url, sql, _BACKUP_SQL_TIMEOUT_SECONDS)

    def _endpoints(self, host: str) -> tuple[Endpoint, ...]:
        plain = (Endpoint("http", host, HTTP_PORT), Endpoint("native", host, NATIVE_PORT))
        if not self.options.tls:
            return plain
        return (Endpoint("https", host, HTTPS_PORT, secure=True),
                Endpoint("nativesecure", host, NATIVE_SECURE_PORT, secure=True), *plain)


def query_user_statements(name: str, password: str, read_only: bool, networks: tuple[str, ...],
                          replicas: int) -> list[str]:
    """The SQL that makes a Query API user (`name` as `query_user_name` makes them): reachable from `networks`
    only, under the service's settings (read-only ones with readonly = 1 on top), on every replica."""
    hosts = ", ".join(f"IP {literal(network)}" for network in clickhouse_networks(networks) or ["::1"])
    profile = SERVICE_READ_ONLY_PROFILE if read_only else SERVICE_PROFILE
    cluster = _on_cluster(replicas)
    return [f"CREATE USER IF NOT EXISTS {name}{cluster} IDENTIFIED WITH sha256_hash BY "
            f"{literal(sha256_hex(password))} HOST {hosts} SETTINGS PROFILE {literal(profile)}",
            f"GRANT{cluster} ALL ON *.* TO {name}"]


def _on_cluster(replicas: int) -> str:
    """Statements run on every replica when there are several (through the Keeper they share)."""
    return f" ON CLUSTER {CLUSTER}" if replicas > 1 else ""


def _is_stopped(installation: Manifest) -> bool:
    return str((installation.get("spec") or {}).get("stop", "")).lower() in {"yes", "true", "1", "on", "enable",
                                                                            "enabled"}


def _endpoint_host(installation: Manifest, namespace: str) -> str:
    """Where the installation is reached: the endpoint the operator reports, else the Service it makes."""
    endpoint = (installation.get("status") or {}).get("endpoint")
    return str(endpoint) if endpoint else service_host(installation["metadata"]["name"], namespace)
