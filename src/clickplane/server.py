"""The composition root of `serve`: builds the store, the runtime, the reconciler and the API from settings; and the
operator commands that answer in the API's own shapes (members, backups)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import uvicorn

from clickplane.app import create_app
from clickplane.auth.authentication import VerifiedKeys
from clickplane.auth.rate_limit import RateLimiter
from clickplane.auth.secrets import SecretBox
from clickplane.backups.schemas import Backup
from clickplane.backups.service import to_wire as backup_to_wire
from clickplane.clickpipes.cdc import PostgresCdcWorker
from clickplane.clickpipes.controller import ClickPipesController
from clickplane.clickpipes.ingest import ObjectStorageWorker
from clickplane.clickstack.evaluator import AlertEvaluator, AlertPolicy
from clickplane.kit.context import AppContext
from clickplane.leadership import lead, lease_for
from clickplane.members import service as members
from clickplane.members.schemas import Member
from clickplane.operations import (
    MISSING_BINARY,
    backup_jobs,
    clickhouse_runtime,
    open_store,
    postgres_runtime,
    secret_hasher,
    with_store,
)
from clickplane.postgres.controller import PostgresController, PostgresPolicy
from clickplane.postgres.telemetry.sampler import PostgresSampler
from clickplane.reconcile.loop import LoopPolicy, ReconcileLoop, Slots
from clickplane.runtime.clickhouse.interface import ClickHouseRuntime
from clickplane.runtime.tls import ca_certificate_path, ensure_ca, ensure_server_certificate
from clickplane.scaling_schedules.controller import ScalingScheduleController
from clickplane.services.controller import ServiceController, ServicePolicy
from clickplane.settings import Settings
from clickplane.store import models
from clickplane.store.database import Database
from clickplane.store.models import utcnow
from clickplane.store.read_cache import ReadCache
from clickplane.upgrade_windows.controller import UpgradeController
from clickplane.usage.meter import Meter

log = logging.getLogger(__name__)


def accept_invitation(settings: Settings, invitation_id: uuid.UUID, name: str) -> Member:
    """Make the invited user a member: the operator accepts for them, as clickplane sends no invitation mail."""
    return with_store(settings, lambda session, _hasher: members.accept_invitation(session, invitation_id, name))


def take_backup(settings: Settings, service_id: uuid.UUID) -> Backup:
    """Back a running service up now (the Cloud API has no call for it); the backup as the API shows it."""
    database = open_store(settings)
    try:
        runtime = clickhouse_runtime(settings, secret_hasher(settings))
        jobs = backup_jobs(settings, database, runtime)

        async def take() -> models.Backup:
            async with aclosing(runtime):
                return await jobs.take(service_id)

        return backup_to_wire(asyncio.run(take()), utcnow())
    finally:
        database.dispose()


@dataclass
class ControlPlane:
    settings: Settings
    database: Database
    context: AppContext
    runtime: ClickHouseRuntime
    reconciler: ReconcileLoop


def release_channel_binaries(settings: Settings) -> dict[str, str]:
    try:
        return settings.release_channel_binaries
    except ValueError as error:
        raise SystemExit(f"error: {error} (CLICKPLANE_CLICKHOUSE_RELEASE_CHANNELS)") from None


def build(settings: Settings) -> ControlPlane:
    database = open_store(settings)
    hasher = secret_hasher(settings)
    runtime = clickhouse_runtime(settings, hasher)
    postgres = postgres_runtime(settings, hasher)
    limit = settings.rate_limit
    context = AppContext(settings=settings, database=database, hasher=hasher,
                         verified_keys=VerifiedKeys(settings.auth_cache_seconds), runtime=runtime,
                         postgres_runtime=postgres,
                         rate_limiter=RateLimiter(*limit) if limit else None,
                         read_cache=ReadCache(settings.read_cache_seconds))
    context.read_cache.watch(database.engine)
    slots = Slots(settings.reconcile_concurrency)
    services = ServiceController(
        database, runtime, backup_jobs(settings, database, runtime), slots,
        context.reconcile_now.set, ServicePolicy(watch_interval_seconds=settings.watch_interval_seconds,
                                                 idle_minute_seconds=settings.idle_minute_seconds))
    postgres_services = PostgresController(
        database, postgres, slots, context.reconcile_now.set,
        PostgresPolicy(watch_interval_seconds=settings.watch_interval_seconds,
                       start_timeout_seconds=settings.service_start_timeout_seconds),
        sampler=PostgresSampler(database, postgres, settings.postgres_metrics_interval_seconds,
                                settings.postgres_metrics_retention_hours))
    pipes = ClickPipesController(database, runtime, SecretBox(hasher),
                                 {"postgres": PostgresCdcWorker(), "objectStorage": ObjectStorageWorker()})
    alerts = AlertEvaluator(database, runtime, SecretBox(hasher),
                            AlertPolicy(minute_seconds=settings.alert_minute_seconds,
                                        backfill_windows=settings.alert_backfill_windows, base_url=settings.base_url))
    schedules = ScalingScheduleController(database, context.reconcile_now.set)
    upgrades = UpgradeController(database, context.reconcile_now.set, release_channel_binaries(settings),
                                 settings.resolved_clickhouse_binary or MISSING_BINARY)
    reconciler = ReconcileLoop([services, postgres_services, pipes, alerts, schedules, upgrades], context.reconcile_now,
                               LoopPolicy(settings.reconcile_interval_seconds))
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
    try:
        proxies = plane.settings.trusted_proxy_networks
    except ValueError as error:
        raise SystemExit(f"error: {error} (CLICKPLANE_TRUSTED_PROXIES)") from None
    # uvicorn logs through the handlers `clickplane serve` set up (log_config=None), in the same format; the
    # access lines are clickplane's own (observability.middleware).
    config = uvicorn.Config(create_app(plane.context, [plane.reconciler.metrics]), host=plane.settings.host,
                            port=plane.settings.port, access_log=False, log_config=None, log_level="info",
                            server_header=False,
                            # X-Forwarded-For and -Proto only from the proxies the operator names: believed from
                            # anyone else, they let a client pick the address its key's IP access list checks.
                            proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None,
                            ssl_certfile=certificate, ssl_keyfile=private_key,
                            # Longer than clients' polling intervals (clickhousectl polls every 5 s), so a pooled
                            # connection is not closed under a request; load balancers commonly keep 60 s.
                            timeout_keep_alive=75,
                            # httptools with a cap on a request's head and a deadline for it (slow clients).
                            http="clickplane.kit.limits:LimitedHttpProtocol")
    server = uvicorn.Server(config)
    lease = lease_for(plane.settings.resolved_database_url, plane.settings.data_dir)
    check_seconds = plane.settings.reconcile_interval_seconds
    leading = asyncio.create_task(lead(lease, partial(background_work, plane), check_seconds), name="leadership")
    try:
        await server.serve()
    finally:
        leading.cancel()
        await asyncio.gather(leading, return_exceptions=True)
        await plane.runtime.aclose()
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
