"""Where the local Postgres runtime keeps each service: `<data dir>/postgres/<service id>/`.

The service's directory belongs to the control plane and may be passed through by PostgreSQL's user (0711): it
holds the files the runtime writes for the server (access rules, certificate, the server's key and the internal
role's password file, which alone belong to that user) and, in `cluster/`, the cluster itself, which belongs to that
user, as do the directories the server and its tools write in: `wal-archive/`, `base-backups/` and `log/`. The
service's CA is in `ca/`, which only the control plane reads.

A cluster made as a copy of another service's (a replica, a restore) has its origin noted beside it (origin.py):
`login-of`, `replica-of.json`, `restore.json`. A switchover makes its new server in `successor/`, laid out as a
service's directory of its own (switchover.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Service ids are UUIDs (as the API's are), in their canonical form: they become directory names.
_SERVICE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SUCCESSOR = "successor"


@dataclass(frozen=True)
class ServicePaths:
    """Everything of one service."""

    root: Path

    @property
    def service_id(self) -> str:
        return self.root.name

    @property
    def server(self) -> str:
        """The server these paths are of, as messages name it."""
        if self.root.name == _SUCCESSOR:
            return f"the successor of service {self.root.parent.name}"
        return f"service {self.service_id}"

    @property
    def data(self) -> Path:
        """The cluster (PGDATA)."""
        return self.root / "cluster"

    @property
    def data_being_made(self) -> Path:
        """Where the cluster is made (by initdb, or copied from another's), renamed to `data` once whole: a cluster
        left half made is never used."""
        return self.root / "cluster.new"

    @property
    def version_file(self) -> Path:
        return self.data / "PG_VERSION"

    @property
    def standby_signal(self) -> Path:
        """There while the cluster is a standby (a replica); PostgreSQL removes it when promoted."""
        return self.data / "standby.signal"

    @property
    def recovery_signal(self) -> Path:
        """There while the cluster recovers from archived WAL (a restore); PostgreSQL removes it when done."""
        return self.data / "recovery.signal"

    @property
    def postmaster_pid(self) -> Path:
        """PostgreSQL's own record of its running server, which it removes when it stops."""
        return self.data / "postmaster.pid"

    @property
    def initdb_password(self) -> Path:
        """The internal role's password for initdb, there only while initdb runs."""
        return self.root / "initdb-password"

    @property
    def ca(self) -> Path:
        return self.root / "ca"

    @property
    def certificate(self) -> Path:
        return self.root / "server.crt"

    @property
    def private_key(self) -> Path:
        return self.root / "server.key"

    @property
    def hba(self) -> Path:
        return self.root / "pg_hba.conf"

    @property
    def ports_file(self) -> Path:
        return self.root / "ports.json"

    @property
    def log(self) -> Path:
        """The server's standard output and error: what it says before its log collector runs (a failed start)."""
        return self.root / "postgresql.log"

    @property
    def log_directory(self) -> Path:
        """The server's log files, written by its log collector (config.LOG_FILENAME)."""
        return self.root / "log"

    @property
    def archive(self) -> Path:
        """The WAL segments the server has archived (config.archive_command), and its timelines' history files."""
        return self.root / "wal-archive"

    @property
    def backups(self) -> Path:
        """The service's base backups, a directory each (backups.py)."""
        return self.root / "base-backups"

    @property
    def passfile(self) -> Path:
        """The internal role's password, for the programs that log in as it (pg_basebackup, a replica's WAL
        receiver) without the password on their command line."""
        return self.root / "internal.pgpass"

    @property
    def login_of(self) -> Path:
        """For a cluster copied from another service's: that service's id, whose internal password it has."""
        return self.root / "login-of"

    @property
    def replica_of(self) -> Path:
        """For a replica until it is promoted: its primary and its replication slot there."""
        return self.root / "replica-of.json"

    @property
    def restore(self) -> Path:
        """For a restore until its recovery is done: where its WAL comes from and where recovery stops."""
        return self.root / "restore.json"

    @property
    def successor(self) -> ServicePaths:
        """A switchover's new server while it is made and catches up with the primary (switchover.py), in a
        directory of its own: its cluster, port, log and login."""
        return ServicePaths(self.root / _SUCCESSOR)

    @property
    def taking_over(self) -> Path:
        """In a successor's directory: there once the successor, stopped, holds all of the primary's WAL. From then
        on it is the service's cluster, even if the control plane dies before it is moved into place."""
        return self.root / "taking-over"

    @property
    def replaced_data(self) -> Path:
        """A switchover's old cluster, there only while the successor's is moved into its place."""
        return self.root / "cluster.replaced"

    @property
    def should_run(self) -> Path:
        """There from a start until a stop: a server missing while it is there has exited unexpectedly."""
        return self.root / "should-run"


@dataclass(frozen=True)
class ServiceTree:
    """The services' directories, `<root>/<service id>/`."""

    root: Path

    def of(self, service_id: str) -> ServicePaths:
        """ValueError for an id that is not a UUID in its canonical form (it becomes a directory name)."""
        if not _SERVICE_ID.fullmatch(service_id):
            raise ValueError(f"invalid Postgres service id {service_id!r}: a lowercase UUID is expected")
        return ServicePaths(self.root / service_id)

    def service_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(entry.name for entry in self.root.iterdir()
                      if entry.is_dir() and _SERVICE_ID.fullmatch(entry.name))

    @property
    def config_check(self) -> Path:
        """An empty config file and an empty directory for checking parameters (`config_check_command`); not a
        service id, so never listed as one."""
        return self.root / "config-check"
