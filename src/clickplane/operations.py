"""What operator commands do beside (or without) `serve`: open the store, bootstrap organizations, copy the store,
stop every service. Nothing here loads the web stack, so `clickplane init` and `stop-all` start quickly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session

from clickplane.auth.secrets import SecretHasher, load_or_create_secret_key
from clickplane.backups.jobs import BackupJobs
from clickplane.backups.service import Storage
from clickplane.keys.repository import ApiKeys
from clickplane.members.repository import Members
from clickplane.organizations.repository import Organizations
from clickplane.organizations.service import Bootstrap, bootstrap, create_organization_with_admin_key
from clickplane.runtime.base import stop_each
from clickplane.runtime.clickhouse.interface import ClickHouseRuntime
from clickplane.runtime.clickhouse.local import LocalClickHouseRuntime
from clickplane.runtime.files import private_directory
from clickplane.runtime.postgres.binaries import default_bin_dirs
from clickplane.runtime.postgres.interface import PostgresRuntime
from clickplane.runtime.postgres.local import LocalPostgresRuntime
from clickplane.runtime.tls import ca_certificate_path
from clickplane.settings import Settings
from clickplane.store import copy as store_copy
from clickplane.store.database import Database

if TYPE_CHECKING:
    from clickplane.runtime.kubernetes.runtime import KubernetesClickHouseRuntime

MISSING_BINARY = "/nonexistent/clickhouse"  # a runtime without a binary fails each start with a clear reason

T = TypeVar("T")


def open_store(settings: Settings) -> Database:
    private_directory(settings.data_dir)
    database = Database(settings.resolved_database_url)
    database.migrate()
    return database


def secret_hasher(settings: Settings) -> SecretHasher:
    if settings.secret_key:
        return SecretHasher(settings.secret_key.encode())
    return SecretHasher(load_or_create_secret_key(settings.data_dir / "secret.key"))


def internal_password_for(hasher: SecretHasher) -> Callable[[str], str]:
    return lambda service_id: hasher.derive(f"clickhouse-internal-user:{service_id}")


def clickhouse_runtime(settings: Settings, hasher: SecretHasher) -> ClickHouseRuntime:
    """The ClickHouse runtime that `settings.clickhouse_runtime` names."""
    match settings.clickhouse_runtime:
        case "local":
            return LocalClickHouseRuntime(
                settings.data_dir, settings.resolved_clickhouse_binary or MISSING_BINARY,
                settings.service_listen_host, settings.service_advertised_host,
                internal_password=internal_password_for(hasher), start_timeout=settings.service_start_timeout_seconds,
            )
        case "kubernetes":
            return kubernetes_runtime(settings, hasher)


def kubernetes_runtime(settings: Settings, hasher: SecretHasher) -> KubernetesClickHouseRuntime:
    """The kubernetes runtime of `settings`; it reaches the cluster only when first asked to do something there.
    Imported when chosen: lightkube and its models take a sixth of a second that `init` and `stop-all` need not
    pay."""
    from clickplane.runtime.kubernetes.client import KubernetesApi, client_factory
    from clickplane.runtime.kubernetes.manifests import ClusterOptions
    from clickplane.runtime.kubernetes.runtime import KubernetesClickHouseRuntime

    options = ClusterOptions(
        namespace=settings.kubernetes_namespace, clickhouse_image=settings.kubernetes_clickhouse_image,
        keeper_image=settings.kubernetes_keeper_image, storage_size=settings.kubernetes_storage_size,
        storage_class=settings.kubernetes_storage_class, tls=settings.kubernetes_tls,
        control_plane_networks=tuple(entry.strip() for entry in settings.kubernetes_control_plane_networks.split(",")
                                     if entry.strip()),
        backup_uri=settings.kubernetes_backup_uri, backup_secret=settings.kubernetes_backup_secret)
    api = KubernetesApi(options.namespace, client_factory(settings.kubernetes_kubeconfig, options.namespace))
    return KubernetesClickHouseRuntime(options, api, internal_password=internal_password_for(hasher),
                                       ca_directory=ca_certificate_path(settings.data_dir).parent,
                                       start_timeout=settings.service_start_timeout_seconds)


def postgres_runtime(settings: Settings, hasher: SecretHasher) -> PostgresRuntime:
    """The Postgres runtime that `settings.postgres_runtime` names, with the configured binaries, else those
    scripts/install puts in place."""
    match settings.postgres_runtime:
        case "local":
            return LocalPostgresRuntime(
                settings.data_dir, {**default_bin_dirs(), **settings.postgres_bin_dir_overrides},
                settings.service_listen_host, settings.service_advertised_host,
                internal_password=lambda service_id: hasher.derive(f"postgres-internal-role:{service_id}"),
                os_user=settings.postgres_os_user, start_timeout=settings.service_start_timeout_seconds)


def backup_jobs(settings: Settings, database: Database, runtime: ClickHouseRuntime) -> BackupJobs:
    return BackupJobs(database, runtime, Storage(settings.data_dir.resolve(), settings.resolved_backup_bucket_root))


def with_store(settings: Settings, act: Callable[[Session, SecretHasher], T]) -> T:
    """`act` in one transaction on the store, for an operator command run beside (or without) `serve`."""
    database = open_store(settings)
    try:
        hasher = secret_hasher(settings)
        with database.transaction() as session:
            return act(session, hasher)
    finally:
        database.dispose()


def initialize(settings: Settings, organization_name: str, admin_email: str) -> Bootstrap:
    """First organization, admin key and Admin member; raises AlreadyInitialized on a store that has them."""
    return with_store(settings, lambda session, hasher: bootstrap(
        Organizations(session), ApiKeys(session), Members(session), hasher, organization_name, admin_email))


def create_organization(settings: Settings, organization_name: str, admin_email: str) -> Bootstrap:
    """Another organization with its own admin key and Admin member."""
    return with_store(settings, lambda session, hasher: create_organization_with_admin_key(
        Organizations(session), ApiKeys(session), Members(session), hasher, organization_name, admin_email))


def copy_store(settings: Settings, target_url: str) -> dict[str, int]:
    """Copy the store of `settings` into the empty database at `target_url`; rows copied per table."""
    source, target = open_store(settings), Database(target_url)
    try:
        return store_copy.copy_store(source, target)
    finally:
        source.dispose()
        target.dispose()


async def stop_all(settings: Settings) -> int:
    """Stop every service's ClickHouse and PostgreSQL server (data is kept); returns how many were running."""
    hasher = secret_hasher(settings)
    async with aclosing(clickhouse_runtime(settings, hasher)) as runtime:
        running = [sid for sid in await runtime.list_service_ids() if (await runtime.observe(sid)).running]
        await runtime.stop_all()
    postgres = postgres_runtime(settings, hasher)
    postgres_ids = await postgres.list_service_ids()
    observed = await asyncio.gather(*(postgres.observe(service_id) for service_id in postgres_ids))
    await stop_each(postgres_ids, postgres.stop)
    return len(running) + sum(observation.running for observation in observed)
