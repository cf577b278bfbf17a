"""The `clickplane` command: serve the API, bootstrap a store, accept invitations, take backups, export a Postman
collection, print a service's Kubernetes resources, stop services.

Only the commands that serve, answer in the API's shapes or render a service import `clickplane.server` (and with
it the web stack, about a second): `init`, `org create` and `stop-all`, which tests and scripts run often, do
without."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from sqlalchemy.exc import SQLAlchemyError

from clickplane import operations, postman
from clickplane.kit.errors import ApiError
from clickplane.members.service import DEFAULT_ADMIN_EMAIL, normalize_email
from clickplane.observability import logs
from clickplane.observability.logs import LogFormat
from clickplane.organizations.service import DEFAULT_ORGANIZATION_NAME, AlreadyInitialized, Bootstrap
from clickplane.runtime.tls import ca_certificate_path
from clickplane.settings import Settings
from clickplane.store.copy import TargetNotEmpty

app = typer.Typer(help="clickplane: a self-hosted control plane for ClickHouse, speaking the ClickHouse Cloud API.",
                  no_args_is_help=True, add_completion=False)

DataDir = Annotated[Path | None, typer.Option(help="Where the store and services live (env CLICKPLANE_DATA_DIR).")]


def _email(value: str) -> str:
    try:
        return normalize_email(value)
    except ApiError as error:
        raise typer.BadParameter(error.message) from None


AdminEmail = Annotated[str, typer.Option(callback=_email, help="Email of a new organization's first member, who "
                                                                "holds the Admin role.")]


def settings_with(**overrides: Any) -> Settings:
    """Environment settings, with the flags that were given on top."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def print_credentials(bootstrap: Bootstrap, base_url: str) -> None:
    typer.echo(
        "\nA new organization and an admin API key were created. The secret is shown only now:\n"
        f"  Organization ID: {bootstrap.organization_id}\n"
        f"  API key ID:      {bootstrap.key_id}\n"
        f"  API key secret:  {bootstrap.key_secret}\n"
        f"  Base URL:        {base_url}/v1\n\n"
        "Try:\n"
        f"  curl -u '{bootstrap.key_id}:{bootstrap.key_secret}' {base_url}/v1/organizations\n"
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (env CLICKPLANE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (env CLICKPLANE_PORT).")] = None,
    data_dir: DataDir = None,
    admin_email: AdminEmail = DEFAULT_ADMIN_EMAIL,
    tls: Annotated[bool, typer.Option(
        "--tls", help="Serve HTTPS, with --tls-certificate/--tls-private-key or a certificate from clickplane's CA "
                      "(env CLICKPLANE_TLS).")] = False,
    tls_certificate: Annotated[Path | None, typer.Option(help="PEM certificate for --tls.")] = None,
    tls_private_key: Annotated[Path | None, typer.Option(help="PEM private key for --tls.")] = None,
    cloud_limits: Annotated[bool, typer.Option(
        "--cloud-limits", help="Limit each API key to ClickHouse Cloud's 10 requests per 10 seconds "
                               "(env CLICKPLANE_CLOUD_LIMITS; else CLICKPLANE_RATE_LIMIT_REQUESTS per "
                               "CLICKPLANE_RATE_LIMIT_PERIOD_SECONDS, no limit by default).")] = False,
    log_format: Annotated[LogFormat | None, typer.Option(
        help="text for people (the default), json for log collectors: one object a line, with the requestId of "
             "the request it was logged for (env CLICKPLANE_LOG_FORMAT).")] = None,
) -> None:
    """Serve the API and run the reconciler. On an empty store, print a first admin key."""
    from clickplane import server

    settings = settings_with(host=host, port=port, data_dir=data_dir, cloud_limits=cloud_limits or None,
                             tls=tls or None, tls_certificate=tls_certificate, tls_private_key=tls_private_key,
                             log_format=log_format)
    logs.configure(settings.log_format, settings.access_log)
    with contextlib.suppress(AlreadyInitialized):
        print_credentials(operations.initialize(settings, DEFAULT_ORGANIZATION_NAME, admin_email),
                          settings.base_url)
    plane = server.build(settings)
    asyncio.run(server.serve(plane))


@app.command()
def init(
    data_dir: DataDir = None,
    org_name: Annotated[str, typer.Option(help="Name of the first organization.")] = DEFAULT_ORGANIZATION_NAME,
    as_json: Annotated[bool, typer.Option("--json", help="Print organizationId, keyId, keySecret as JSON.")] = False,
    admin_email: AdminEmail = DEFAULT_ADMIN_EMAIL,
) -> None:
    """Create the first organization, its admin API key and Admin member, without serving."""
    settings = settings_with(data_dir=data_dir)
    try:
        created = operations.initialize(settings, org_name, admin_email)
    except AlreadyInitialized:
        typer.echo(f"error: the store at {settings.resolved_database_url} is already initialized; nothing was "
                   "changed. Use the API key you were given, or start over with an empty --data-dir.", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps({"organizationId": str(created.organization_id), "keyId": created.key_id,
                               "keySecret": created.key_secret}))
    else:
        print_credentials(created, settings.base_url)


org_app = typer.Typer(help="Operator commands for organizations.", no_args_is_help=True)
app.add_typer(org_app, name="org")


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Option(help="Name of the new organization.")],
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print organizationId, keyId, keySecret as JSON.")] = False,
    admin_email: AdminEmail = DEFAULT_ADMIN_EMAIL,
) -> None:
    """Create another organization with its own admin API key and Admin member (keys never see other
    organizations)."""
    settings = settings_with(data_dir=data_dir)
    created = operations.create_organization(settings, name, admin_email)
    if as_json:
        typer.echo(json.dumps({"organizationId": str(created.organization_id), "keyId": created.key_id,
                               "keySecret": created.key_secret}))
    else:
        print_credentials(created, settings.base_url)


@app.command("ca-path")
def ca_path(data_dir: DataDir = None) -> None:
    """Print the CA certificate that signs services' TLS certificates (for curl --cacert and clients)."""
    path = ca_certificate_path(settings_with(data_dir=data_dir).data_dir)
    if not path.exists():
        typer.echo(f"error: no CA at {path} yet; clickplane creates it when it starts the first service", err=True)
        raise typer.Exit(1)
    typer.echo(path)


@app.command("stop-all")
def stop_all(data_dir: DataDir = None) -> None:
    """Stop every service's server (ClickHouse and PostgreSQL), keeping data. `serve` starts them again."""
    stopped = asyncio.run(operations.stop_all(settings_with(data_dir=data_dir)))
    typer.echo(f"stopped {stopped} server(s)")


@app.command("postman")
def export_postman(
    out: Annotated[Path, typer.Option(help="Directory to write collection.json and environment.json to.")] = Path(),
    url: Annotated[str | None, typer.Option(
        help="The server's base URL (default: http://CLICKPLANE_HOST:CLICKPLANE_PORT).")] = None,
    key_id: Annotated[str | None, typer.Option(envvar="CLICKHOUSE_CLOUD_API_KEY", help="API key ID.")] = None,
    key_secret: Annotated[str | None, typer.Option(envvar="CLICKHOUSE_CLOUD_API_SECRET",
                                                   help="API key secret.")] = None,
    service_id: Annotated[str | None, typer.Option(
        help="Service the requests address (default: the organization's first).")] = None,
) -> None:
    """Write a Postman collection and environment for the server, runnable with `newman run`."""
    settings = settings_with()
    if not key_id or not key_secret:
        typer.echo("error: no API key; pass --key-id and --key-secret, or set CLICKHOUSE_CLOUD_API_KEY and "
                   "CLICKHOUSE_CLOUD_API_SECRET", err=True)
        raise typer.Exit(1)
    try:
        document, target = postman.fetch(url or settings.base_url, key_id, key_secret,
                                         service_id)
        collection_file, environment_file = postman.write(out, document, target)
    except postman.ExportError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {collection_file} and {environment_file} (it holds the key secret) for organization "
               f"{target.organization_id}, service {target.service_id or '(none)'}\n"
               f"run: newman run {collection_file} -e {environment_file}")


invitation_app = typer.Typer(help="Operator commands for invitations (clickplane sends no mail).",
                             no_args_is_help=True)
app.add_typer(invitation_app, name="invitation")


@invitation_app.command("accept")
def invitation_accept(
    invitation_id: Annotated[uuid.UUID, typer.Argument(help="The invitation's id, as the API returned it.")],
    name: Annotated[str, typer.Option(help="The new member's name.")],
    data_dir: DataDir = None,
) -> None:
    """Accept a pending invitation for the invitee: they become a member with its roles. Prints the member."""
    from clickplane import server

    try:
        member = server.accept_invitation(settings_with(data_dir=data_dir), invitation_id, name)
    except ApiError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(member.model_dump_json(exclude_none=True))


store_app = typer.Typer(help="Operator commands for the metadata store.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("copy")
def store_copy(
    to: Annotated[str, typer.Option("--to", help="SQLAlchemy URL of the empty database to copy into, e.g. "
                                                 "postgresql+psycopg://user:password@host/clickplane.")],
    data_dir: DataDir = None,
) -> None:
    """Copy this store (CLICKPLANE_DATABASE_URL, else the SQLite file in the data dir) into another database,
    to move from SQLite to PostgreSQL. Stop `serve` first; afterwards start it with CLICKPLANE_DATABASE_URL
    set to the new URL and the same data dir (it holds the key that API key secrets are hashed with)."""
    settings = settings_with(data_dir=data_dir)
    try:
        copied = operations.copy_store(settings, to)
    except (TargetNotEmpty, SQLAlchemyError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    for table, rows in copied.items():
        typer.echo(f"{table}: {rows} rows")


backup_app = typer.Typer(help="Operator commands for backups.", no_args_is_help=True)
app.add_typer(backup_app, name="backup")


@backup_app.command("create")
def backup_create(
    service_id: Annotated[uuid.UUID, typer.Argument(help="The service's id, as the API returned it.")],
    data_dir: DataDir = None,
) -> None:
    """Back a running service up now (the Cloud API has no call for it), beside or without `serve`. Prints the
    backup as JSON; exits 1 when it failed."""
    from clickplane import server

    try:
        backup = server.take_backup(settings_with(data_dir=data_dir), service_id)
    except ApiError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(backup.model_dump_json(exclude_none=True))
    if backup.status != "done":
        raise typer.Exit(1)


kubernetes_app = typer.Typer(help="Operator commands for the kubernetes runtime.", no_args_is_help=True)
app.add_typer(kubernetes_app, name="kubernetes")


@kubernetes_app.command("manifests")
def kubernetes_manifests(
    service_id: Annotated[uuid.UUID, typer.Option(help="The service's id, as the API returned it.")],
    with_secret_data: Annotated[bool, typer.Option(
        help="Print the TLS Secret's data too: a private key of a certificate that clickplane's CA signed for the "
             "service's names, which lets whoever holds it pose as the service. Never for Git.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Print, as YAML, the resources the kubernetes runtime applies for the service (for review and GitOps): its
    TLS Secret (without its data unless --with-secret-data: the runtime makes it from clickplane's CA), its Keeper
    installation when it has several replicas, and its ClickHouseInstallation. The CLICKPLANE_KUBERNETES_*
    settings apply."""
    from clickplane import server

    try:
        resources = server.kubernetes_manifests(settings_with(data_dir=data_dir), service_id)
    except (LookupError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    if not with_secret_data:
        resources = [_without_secret_data(resource) for resource in resources]
    typer.echo(yaml.safe_dump_all(resources, sort_keys=False), nl=False)


def _without_secret_data(resource: dict[str, Any]) -> dict[str, Any]:
    """A Secret without its data, an annotation saying where it comes from (an apply of it changes no key)."""
    if resource.get("kind") != "Secret":
        return resource
    metadata = resource["metadata"]
    annotations = {**metadata.get("annotations", {}),
                   "clickplane.io/data": f"left out ({', '.join(resource.get('data', {}))}): the kubernetes runtime "
                                         "makes them from clickplane's CA"}
    return {key: value for key, value in resource.items() if key != "data"} | {
        "metadata": {**metadata, "annotations": annotations}}
