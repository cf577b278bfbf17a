"""The composition root of `serve`: builds the store, the runtime, the reconciler and the API from settings; and the
operator commands that answer in the API's own shapes (members, backups)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Iterator
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import uvicorn
from sqlalchemy.orm import Session

from clickplane.app import create_app, create_upload_app
from clickplane.auth.authentication import VerifiedKeys
from clickplane.auth.rate_limit import RateLimiter
from clickplane.auth.secrets import SecretBox, SecretHasher
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
    kubernetes_runtime,
    open_store,
    postgres_runtime,
    secret_hasher,
    with_store,
)
from clickplane.postgres.controller import PostgresController, PostgresPolicy
from clickplane.postgres.telemetry.sampler import PostgresSampler
from clickplane.quotas.service import Limits
from clickplane.reconcile.loop import LoopPolicy, ReconcileLoop, Slots
from clickplane.runtime.clickhouse.interface import ClickHouseRuntime
from clickplane.runtime.kubernetes.manifests import Manifest
from clickplane.runtime.tls import ca_certificate_path, ensure_ca, ensure_server_certificate
from clickplane.scaling_schedules.controller import ScalingScheduleController
from clickplane.services.controller import Intent, ServiceController, ServicePolicy, intent_of
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


def kubernetes_manifests(settings: Settings, service_id: uuid.UUID) -> list[Manifest]:
    """The resources the kubernetes runtime applies for the service as the store has it now (the installation
    stopped when the service is to be stopped or idle). Its TLS Secret holds a certificate newly issued by
    clickplane's CA, as on the service's first start: later starts keep the one in the cluster while it is
    current. LookupError when the store has no such service."""
    def intent(session: Session, _hasher: SecretHasher) -> Intent:
        service = session.get(models.Service, service_id)
        if service is None or service.desired_state == "deleted":
            raise LookupError(f"no service {service_id} in the store at {settings.resolved_database_url}")
        return intent_of(service)

    wanted = with_store(settings, intent)
    runtime = kubernetes_runtime(settings, secret_hasher(settings))
    return runtime.render(wanted.spec, stopped=wanted.desired_state != "running")


@dataclass
class ControlPlane:
    settings: Settings
    database: Database
    context: AppContext
    runtime: ClickHouseRuntime
    reconciler: ReconcileLoop


def release_channel_binaries(settings: Settings) -> dict[str, str]:
    try:
        channels = settings.release_channel_binaries
    except ValueError as error:
        raise SystemExit(f"error: {error} (CLICKPLANE_CLICKHOUSE_RELEASE_CHANNELS)") from None
    if channels and settings.clickhouse_runtime == "kubernetes":
        # The binaries are this machine's; pods run the image of the kubernetes settings, which no upgrade changes.
        raise SystemExit("error: CLICKPLANE_CLICKHOUSE_RELEASE_CHANNELS names local binaries, which the kubernetes "
                         "runtime does not run: its services run CLICKPLANE_KUBERNETES_CLICKHOUSE_IMAGE; unset the "
                         "channels")
    return channels


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
    channels = release_channel_binaries(settings)
    services = ServiceController(
        database, runtime, backup_jobs(settings, database, runtime), slots,
        context.reconcile_now.set, ServicePolicy(watch_interval_seconds=settings.watch_interval_seconds,
                                                 idle_minute_seconds=settings.idle_minute_seconds),
        channel_binaries=channels)
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
    schedules = ScalingScheduleController(database, context.reconcile_now.set, limits=Limits.of(settings))
    upgrades = UpgradeController(database, context.reconcile_now.set, channels,
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
    return issued_certificate(settings, "api-tls")


def issued_certificate(settings: Settings, name: str) -> tuple[Path, Path]:
    """A certificate and key for the listen host, issued by clickplane's CA, kept in <data dir>/<name>."""
    directory = settings.data_dir / name
    certificate, private_key = directory / "server.crt", directory / "server.key"
    directory.mkdir(parents=True, exist_ok=True)
    authority = ensure_ca(ca_certificate_path(settings.data_dir).parent)
    ensure_server_certificate(authority, {settings.host, "localhost", "127.0.0.1"}, certificate, private_key)
    return certificate, private_key


class ListenerBeside(uvicorn.Server):
    """A uvicorn server run beside the API's, which handles the signals: this one stops when told to."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def upload_listener(settings: Settings, context: AppContext) -> tuple[ListenerBeside, socket.socket, int]:
    """The HTTPS listener UDF archives are PUT to, whatever the API serves: clickhousectl sends them only to an
    https URL. On the API's host (its certificate under --tls, else one from clickplane's CA) and
    udf_upload_port (a free port for 0). The server, its socket, and its port."""
    certificate, private_key = api_certificate(settings)
    if certificate is None or private_key is None:
        certificate, private_key = issued_certificate(settings, "udf-uploads-tls")
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((settings.host, settings.udf_upload_port))
    except OSError as error:
        listening.close()
        raise SystemExit(f"error: the UDF upload listener cannot listen on {settings.host}:"
                         f"{settings.udf_upload_port}: {error} (CLICKPLANE_UDF_UPLOAD_PORT)") from None
    port = listening.getsockname()[1]
    config = uvicorn.Config(create_upload_app(context), access_log=False, log_config=None, log_level="info",
                            server_header=False, ssl_certfile=certificate, ssl_keyfile=private_key,
                            timeout_keep_alive=75, http="clickplane.kit.limits:LimitedHttpProtocol")
    return ListenerBeside(config), listening, int(port)


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
    uploads, upload_socket, plane.context.udf_upload_port = upload_listener(plane.settings, plane.context)
    uploading = asyncio.create_task(uploads.serve(sockets=[upload_socket]), name="udf-uploads")
    log.info("UDF archives are uploaded to https://%s:%d (the uploadUrl of udfUploads/url, on the host a client "
             "reaches the API at)", plane.settings.host, plane.context.udf_upload_port)
    lease = lease_for(plane.settings.resolved_database_url, plane.settings.data_dir)
    check_seconds = plane.settings.reconcile_interval_seconds
    leading = asyncio.create_task(lead(lease, partial(background_work, plane), check_seconds), name="leadership")
    try:
        await server.serve()
    finally:
        uploads.should_exit = True
        leading.cancel()
        await asyncio.gather(leading, uploading, return_exceptions=True)
        upload_socket.close()
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
