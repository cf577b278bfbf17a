"""What the runtime tells PostgreSQL: the access rules (pg_hba.conf), the command lines of the server, initdb and
pg_basebackup, the shell commands that archive and restore WAL, and the engine's own words when it refuses a
parameter."""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# The runtime's own login (the cluster's bootstrap superuser), which users are not told about.
INTERNAL_ROLE = "clickplane"
LOOPBACK_NETWORKS = ("127.0.0.1/32", "::1/128")
# A server parameter's name as PostgreSQL spells them (extensions' have a dot); anything else would not reach the
# engine's parser as one name on a `-c name=value` command line.
PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# What starts each line a server writes to its log or stderr: `2026-12-02 14:40:04.410 GMT [4654] FATAL:  ...`.
_LOG_LINE = re.compile(r"^.*?\b(?P<level>FATAL|ERROR|HINT|DETAIL):\s+(?P<text>.*)$")
# The server's log files, named by the moment each was opened (in UTC: the log's time zone), one more each time it
# rotates; PostgreSQL writes its JSON log to the same name with .json for .log (logs.py reads those).
LOG_FILENAME = "postgresql-%Y%m%dT%H%M%S.log"
# A log file this big is closed and the next one begun.
LOG_ROTATION_SIZE = "10MB"
# WAL is archived at least this often while anything is written (a partly filled segment is archived then), so
# that what a quiet database did is restorable within a minute, as the real service's.
ARCHIVE_TIMEOUT = "60s"


def render_hba(access_list: Sequence[str], internal_networks: Iterable[str]) -> str:
    """pg_hba.conf, first match wins: the internal role from `internal_networks` only, every role over TLS from the
    access list's networks (loopback when it is empty), and nothing else, encrypted or not. Replication
    connections (which `all` does not cover) are the internal role's only, over TLS from `internal_networks`: its
    base backups and its replicas' WAL streams."""
    internal_networks = list(internal_networks)
    lines = ["# Written by clickplane at each start and change of the service: edits here are lost.",
             "# TYPE   DATABASE USER ADDRESS METHOD"]
    lines += [f"hostssl replication {INTERNAL_ROLE} {network} scram-sha-256" for network in internal_networks]
    lines += [f"hostssl all {INTERNAL_ROLE} {network} scram-sha-256" for network in internal_networks]
    lines.append(f"host all {INTERNAL_ROLE} all reject")
    lines += [f"hostssl all all {network} scram-sha-256" for network in client_networks(access_list)]
    lines.append("host all all all reject")
    return "\n".join(lines) + "\n"


def client_networks(access_list: Sequence[str]) -> list[str]:
    """The access list's entries as networks (an address alone is a network of one), loopback for an empty list.
    ValueError for an entry that is neither an address nor a network."""
    if not access_list:
        return list(LOOPBACK_NETWORKS)
    networks = (ipaddress.ip_network(entry.strip(), strict=False) for entry in access_list)
    return list(dict.fromkeys(str(network) for network in networks))


@dataclass(frozen=True)
class ServerFiles:
    """The files of one service's server that the runtime writes outside its data directory."""

    hba: Path
    certificate: Path
    private_key: Path
    # Where its WAL segments are archived, and where it writes its logs: the runtime's servers have both; a
    # server without (bench/postgres.py's bare one) archives nothing and logs to its standard error.
    archive: Path | None = None
    log_directory: Path | None = None


def server_command(postgres: Path, data: Path, listen_host: str, port: int, files: ServerFiles,
                   recovery: Mapping[str, str] | None = None) -> list[str]:
    """The postmaster's command line. Every setting the runtime relies on is an option of it: a command line wins
    over postgresql.conf and over what users set with ALTER SYSTEM (postgresql.auto.conf), so no user can move the
    server off its address, turn TLS off or drop what replication, archiving, logs, statistics and passwords need.
    `recovery` adds the settings of a cluster in recovery (a replica's link to its primary, a restore's target)."""
    settings = {
        "listen_addresses": listen_host,
        "port": str(port),
        "unix_socket_directories": "",  # TCP only: nothing of the server in a shared socket directory
        "hba_file": str(files.hba),
        "ssl": "on",
        "ssl_cert_file": str(files.certificate),
        "ssl_key_file": str(files.private_key),
        "password_encryption": "scram-sha-256",
        "shared_preload_libraries": "pg_stat_statements",
        "compute_query_id": "on",  # pg_stat_statements' query ids, which slow query patterns are grouped by
        "wal_level": "logical",
    }
    if files.archive is not None:
        settings.update(archive_mode="on", archive_command=archive_command(files.archive),
                        archive_timeout=ARCHIVE_TIMEOUT)
    if files.log_directory is not None:
        # A JSON object per entry: messages and statements may span lines, which a text log could not tell apart.
        settings.update(logging_collector="on", log_destination="jsonlog", log_directory=str(files.log_directory),
                        log_filename=LOG_FILENAME, log_rotation_size=LOG_ROTATION_SIZE,
                        log_file_mode="0600",  # what it logs may tell of users' statements
                        log_timezone="UTC")
    settings.update(recovery or {})
    return [str(postgres), "-D", str(data), *_options(settings.items())]


def archive_command(archive: Path) -> str:
    """The shell command that archives one WAL segment (%p, its path from the data directory; %f, its name) into
    `archive`, as the PostgreSQL docs require: it never overwrites an archived file (one there already is a success
    when identical, as after a crash between the copy and PostgreSQL's noting it, and a failure otherwise) and never
    leaves a part of one under its name (copied to a temporary name, flushed to disk, then renamed). The copy keeps
    the segment's modification time, the moment it was completed, which is as far as it can restore to."""
    directory = _in_command(archive)
    temporary = f"{directory}/.%f.tmp"
    return (f"if test -f {directory}/%f; then cmp -s %p {directory}/%f; "
            f"else cp --preserve=timestamps %p {temporary} && sync {temporary} && mv {temporary} {directory}/%f "
            f"&& sync {directory}; fi")


def restore_command(archive: Path) -> str:
    """The shell command that fetches one archived file (%f) from `archive` into %p for a server in recovery;
    failing, without a word in the log, for one that is not there (the end of the archive, a timeline that
    does not exist)."""
    directory = _in_command(archive)
    return f"test -f {directory}/%f && cp {directory}/%f %p"


def _in_command(path: Path) -> str:
    """`path` as one word of a shell command that PostgreSQL runs (where it replaces %p, %f and %%)."""
    return shlex.quote(str(path)).replace("%", "%%")


def base_backup_command(pg_basebackup: Path, conninfo: str, target: Path, label: str) -> list[str]:
    """pg_basebackup of a running primary into `target`, as a tar file with no WAL: that is archived, and
    pg_basebackup returns only once the WAL the copy needs to be consistent is (a copy whose WAL never got archived
    fails rather than looking restorable)."""
    return [str(pg_basebackup), f"--dbname={conninfo}", "--no-password", f"--pgdata={target}", "--format=tar",
            "--wal-method=none", "--checkpoint=fast", f"--label={label}"]


def clone_command(pg_basebackup: Path, conninfo: str, target: Path, slot: str | None) -> list[str]:
    """pg_basebackup of a running primary into the data directory `target` of a standby, with the WAL it needs
    streamed alongside: through the standby's `slot` (a replica's), which from then on keeps on the primary the WAL
    the standby has not received, or through a slot that lasts as long as the copy (a switchover's successor,
    which catches up in seconds and may read the archive meanwhile)."""
    return [str(pg_basebackup), f"--dbname={conninfo}", "--no-password", f"--pgdata={target}", "--format=plain",
            "--wal-method=stream", *([f"--slot={slot}"] if slot is not None else []), "--checkpoint=fast"]


def initdb_command(initdb: Path, data: Path, password_file: Path) -> list[str]:
    """initdb of a new cluster whose only role is the internal one, with `password_file`'s password. UTF-8 with the
    builtin C.UTF-8 locale (PostgreSQL 17+): the same on every machine, whatever locales its C library has."""
    return [str(initdb), "-D", str(data), "-U", INTERNAL_ROLE, "--auth=scram-sha-256", f"--pwfile={password_file}",
            "-E", "UTF8", "--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--no-instructions"]


def config_check_command(postgres: Path, empty_config: Path, empty_directory: Path,
                         config: Iterable[tuple[str, str]]) -> list[str]:
    """A postgres that parses `config` as command-line options, prints one setting and exits, no server started:
    the engine's own check of names and values (`-C` needs a config file and a data directory; empty ones do)."""
    return [str(postgres), f"--config-file={empty_config}", "-D", str(empty_directory), *_options(config),
            "-C", "work_mem"]


def parameter_contexts(described: str) -> dict[str, str]:
    """{parameter: context} from what `postgres --describe-config` prints, a line per parameter whose fields are
    tab-separated, the name first, then the context ("postmaster" for those read only at server start)."""
    contexts: dict[str, str] = {}
    for line in described.splitlines():
        fields = line.split("\t")
        if len(fields) >= 2 and fields[0]:
            contexts[fields[0]] = fields[1]
    return contexts


def _options(settings: Iterable[tuple[str, str]]) -> list[str]:
    return [argument for name, value in settings for argument in ("-c", f"{name}={value}")]


def engine_message(primary: str, hint: str | None) -> str:
    """One message from what PostgreSQL says: its primary message (no final period, by its style), then its hint
    (a sentence)."""
    return f"{primary}. {hint}" if hint else primary


def refusal_in(stderr: str) -> str | None:
    """The message of the first FATAL or ERROR a postgres wrote to stderr, with its HINT, without the log prefix;
    None when it wrote none."""
    primary: str | None = None
    for line in stderr.splitlines():
        match = _LOG_LINE.match(line)
        if match is None:
            continue
        level, text = match["level"], match["text"].strip()
        if primary is None and level in ("FATAL", "ERROR"):
            primary = text
        elif primary is not None and level == "HINT":
            return engine_message(primary, text)
        elif primary is not None and level in ("FATAL", "ERROR"):
            break
    return primary
