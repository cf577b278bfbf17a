"""The composition root: builds the store, the runtime, the reconciler and the API from settings."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

import uvicorn
from sqlalchemy.orm import Session

from clickplane.api.app import create_app
from clickplane.api.backups import to_wire as backup_to_wire
from clickplane.api.context import AppContext
from clickplane.api.schemas.backup import Backup
from clickplane.api.schemas.members import Member
from clickplane.api.users import member_to_wire
from clickplane.backup_jobs import BackupJobs
from clickplane.domain import members
from clickplane.domain.auth import VerifiedKeys
from clickplane.domain.backups import Storage
from clickplane.domain.organizations import Bootstrap, bootstrap, create_organization_with_admin_key
from clickplane.domain.rate_limit import RateLimiter
from clickplane.domain.secrets import SecretHasher, load_or_create_secret_key
from clickplane.leadership import lead, lease_for
from clickplane.metering import Meter
from clickplane.reconciler import Policy, Reconciler
from clickplane.runtime.base import Runtime
from clickplane.runtime.local import LocalRuntime, ca_certificate_path
from clickplane.runtime.tls import ensure_ca, ensure_server_certificate
from clickplane.settings import Settings
from clickplane.store import copy as store_copy
from clickplane.store.database import Database
from clickplane.store.models import utcnow
from clickplane.store.read_cache import ReadCache
from clickplane.store.repositories import Activities, ApiKeys, Invitations, Members, Organizations, Roles

log = logging.getLogger(__name__)

MISSING_BINARY = "/nonexistent/clickhouse"  # a runtime without a binary fails each start with a clear reason

T = TypeVar("T")


def open_store(settings: Settings) -> Database:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url)
    database.migrate()
    return database


def secret_hasher(settings: Settings) -> SecretHasher:
    if settings.secret_key:
        return SecretHasher(settings.secret_key.encode())
    return SecretHasher(load_or_create_secret_key(settings.data_dir / "secret.key"))


def internal_password_for(hasher: SecretHasher) -> Callable[[str], str]:
    return lambda service_id: hasher.derive(f"clickhouse-internal-user:{service_id}")


def local_runtime(settings: Settings, hasher: SecretHasher) -> LocalRuntime:
    return LocalRuntime(
        settings.data_dir, settings.resolved_clickhouse_binary or MISSING_BINARY,
        settings.service_listen_host, settings.service_advertised_host,
        internal_password=internal_password_for(hasher), start_timeout=settings.service_start_timeout_seconds,
    )


def _with_store(settings: Settings, act: Callable[[Session, SecretHasher], T]) -> T:
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
    return _with_store(settings, lambda session, hasher: bootstrap(
        Organizations(session), ApiKeys(session), Members(session), hasher, organization_name, admin_email))


def create_organization(settings: Settings, organization_name: str, admin_email: str) -> Bootstrap:
    """Another organization with its own admin key and Admin member."""
    return _with_store(settings, lambda session, hasher: create_organization_with_admin_key(
        Organizations(session), ApiKeys(session), Members(session), hasher, organization_name, admin_email))


def accept_invitation(settings: Settings, invitation_id: uuid.UUID, name: str) -> Member:
    """Make the invited user a member: the operator accepts for them, as clickplane sends no invitation mail."""
    def act(session: Session, hasher: SecretHasher) -> Member:
        joined = members.accept(invitation_id, name, Members(session), Invitations(session), Roles(session),
                                Activities(session), datetime.now(UTC))
        return member_to_wire(joined, Roles(session))

    return _with_store(settings, act)


def copy_store(settings: Settings, target_url: str) -> dict[str, int]:
    """Copy the store of `settings` into the empty database at `target_url`; rows copied per table."""
    source, target = open_store(settings), Database(target_url)
    try:
        return store_copy.copy_store(source, target)
    finally:
        source.dispose()
        target.dispose()


def backup_jobs(settings: Settings, database: Database, runtime: Runtime) -> BackupJobs:
    return BackupJobs(database, runtime, Storage(settings.data_dir.resolve()))


def take_backup(settings: Settings, service_id: uuid.UUID) -> Backup:
    """Back a running service up now (the Cloud API has no call for it); the backup as the API shows it."""
    database = open_store(settings)
    try:
        jobs = backup_jobs(settings, database, local_runtime(settings, secret_hasher(settings)))
        return backup_to_wire(asyncio.run(jobs.take(service_id)), utcnow())
    finally:
        database.dispose()


@dataclass
class ControlPlane:
    settings: Settings
    database: Database
    context: AppContext
    runtime: LocalRuntime
    reconciler: Reconciler


def build(settings: Settings) -> ControlPlane:
    database = open_store(settings)
    hasher = secret_hasher(settings)
    runtime = local_runtime(settings, hasher)
    limit = settings.rate_limit
    context = AppContext(settings=settings, database=database, hasher=hasher,
                         verified_keys=VerifiedKeys(settings.auth_cache_seconds), runtime=runtime,
                         rate_limiter=RateLimiter(*limit) if limit else None,
                         read_cache=ReadCache(settings.read_cache_seconds))
    context.read_cache.watch(database.engine)
    policy = Policy(interval_seconds=settings.reconcile_interval_seconds, concurrency=settings.reconcile_concurrency,
                    idle_minute_seconds=settings.idle_minute_seconds)
    reconciler = Reconciler(database, runtime, backup_jobs(settings, database, runtime), context.reconcile_now, policy)
    return ControlPlane(settings, database, context, runtime, reconciler)


def api_certificate(settings: Settings) -> tuple[Path | None, Path | None]:
    """The HTTPS certificate and key of the API: the ones given, or one issued by clickplane's CA (the one that
    signs the services' certificates, so one `clickplane ca-path` file verifies both); none without --tls."""
    if not settings.tls:
        return None, None
    if settings.tls_certificate or settings.tls_private_key:
        if not (settings.tls_certificate and settings.tls_private_key):
            raise SystemExit("error: --tls-certificate and --tls-private-key go together")
        return settings.tls_certificate, settings.tls_private_key
    directory = settings.data_dir / "api-tls"
    certificate, private_key = directory / "server.crt", directory / "server.key"
    directory.mkdir(parents=True, exist_ok=True)
    authority = ensure_ca(ca_certificate_path(settings.data_dir).parent)
    ensure_server_certificate(authority, {settings.host, "localhost", "127.0.0.1"}, certificate, private_key)
    return certificate, private_key


async def serve(plane: ControlPlane) -> None:
    """Serve the API and reconcile until SIGINT/SIGTERM. Services keep running after it returns."""
    certificate, private_key = api_certificate(plane.settings)
    # uvicorn logs through the handlers `clickplane serve` set up (log_config=None), in the same format; the
    # access lines are clickplane's own (observability.middleware).
    config = uvicorn.Config(create_app(plane.context, [plane.reconciler.metrics]), host=plane.settings.host,
                            port=plane.settings.port, access_log=False, log_config=None, log_level="info",
                            server_header=False,
                            ssl_certfile=certificate, ssl_keyfile=private_key,
                            # Longer than clients' polling intervals (clickhousectl polls every 5 s), so a pooled
                            # connection is not closed under a request; load balancers commonly keep 60 s.
                            timeout_keep_alive=75,
                            # httptools with a cap on a request's head and a deadline for it (slow clients).
                            http="clickplane.api.limits:LimitedHttpProtocol")
    server = uvicorn.Server(config)
    lease = lease_for(plane.settings.resolved_database_url, plane.settings.data_dir)
    check_seconds = plane.settings.reconcile_interval_seconds
    leading = asyncio.create_task(lead(lease, partial(background_work, plane), check_seconds), name="leadership")
    try:
        await server.serve()
    finally:
        leading.cancel()
        await asyncio.gather(leading, return_exceptions=True)
        plane.database.dispose()


async def background_work(plane: ControlPlane) -> None:
    """What the lease holder does besides serving: reconcile services and meter their use."""
    tasks = [asyncio.create_task(plane.reconciler.run_forever(), name="reconciler"),
             asyncio.create_task(Meter.of(plane.context).run_forever(), name="meter")]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await plane.reconciler.shutdown()


async def stop_all(settings: Settings) -> int:
    """Stop every local service's ClickHouse process (data is kept); returns how many were running."""
    hasher = secret_hasher(settings)
    runtime = local_runtime(settings, hasher)
    running = [sid for sid in await runtime.list_service_ids() if (await runtime.observe(sid)).running]
    await runtime.stop_all()
    return len(running)


def data_dir_of(path: Path | None) -> dict[str, Path]:
    return {"data_dir": path} if path else {}
