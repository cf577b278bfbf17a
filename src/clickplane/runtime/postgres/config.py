"""What the runtime tells PostgreSQL: the access rules (pg_hba.conf), the server's command line, initdb's, and the
engine's own words when it refuses a parameter."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
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


def render_hba(access_list: Sequence[str], internal_networks: Iterable[str]) -> str:
    """pg_hba.conf, first match wins: the internal role from `internal_networks` only, every role over TLS from the
    access list's networks (loopback when it is empty), and nothing else, encrypted or not. Replication
    connections match no line (`all` does not cover them), so they are refused."""
    lines = ["# Written by clickplane at each start and change of the service: edits here are lost.",
             "# TYPE   DATABASE USER ADDRESS METHOD"]
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


def server_command(postgres: Path, data: Path, listen_host: str, port: int, files: ServerFiles) -> list[str]:
    """The postmaster's command line. Every setting the runtime relies on is an option of it: a command line wins
    over postgresql.conf and over what users set with ALTER SYSTEM (postgresql.auto.conf), so no user can move the
    server off its address, turn TLS off or drop what replication, statistics and passwords need."""
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
        "wal_level": "logical",
    }
    return [str(postgres), "-D", str(data), *_options(settings.items())]


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
