"""What the Postgres runtime tells PostgreSQL: access rules, command lines, and the engine's refusals read back."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from clickplane.runtime.postgres.config import (
    PARAMETER_NAME,
    ServerFiles,
    archive_command,
    client_networks,
    config_check_command,
    engine_message,
    initdb_command,
    parameter_contexts,
    refusal_in,
    render_hba,
    restore_command,
    server_command,
)


def _rules(hba: str) -> list[str]:
    return [line for line in hba.splitlines() if line and not line.startswith("#")]


def test_an_empty_access_list_lets_clients_in_from_loopback_only_over_tls() -> None:
    assert _rules(render_hba((), ("127.0.0.1/32", "::1/128"))) == [
        "hostssl replication clickplane 127.0.0.1/32 scram-sha-256",
        "hostssl replication clickplane ::1/128 scram-sha-256",
        "hostssl all clickplane 127.0.0.1/32 scram-sha-256",
        "hostssl all clickplane ::1/128 scram-sha-256",
        "host all clickplane all reject",
        "hostssl all all 127.0.0.1/32 scram-sha-256",
        "hostssl all all ::1/128 scram-sha-256",
        "host all all all reject",
    ]


def test_each_access_list_entry_is_a_tls_rule_after_the_internal_roles_and_before_the_final_reject() -> None:
    rules = _rules(render_hba(("10.1.2.3", "192.168.0.0/16", "2001:db8::/32", "10.1.2.3/32"), ("127.0.0.1/32",)))
    assert rules == [
        "hostssl replication clickplane 127.0.0.1/32 scram-sha-256",
        "hostssl all clickplane 127.0.0.1/32 scram-sha-256",
        "host all clickplane all reject",
        "hostssl all all 10.1.2.3/32 scram-sha-256",
        "hostssl all all 192.168.0.0/16 scram-sha-256",
        "hostssl all all 2001:db8::/32 scram-sha-256",
        "host all all all reject",
    ]


def test_networks_are_normalized_and_a_bad_entry_is_refused() -> None:
    assert client_networks((" 10.0.0.7/8 ", "::1")) == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        client_networks(("example.com",))


def test_the_server_command_line_holds_every_setting_the_runtime_relies_on(tmp_path: Path) -> None:
    files = ServerFiles(tmp_path / "pg_hba.conf", tmp_path / "server.crt", tmp_path / "server.key",
                        tmp_path / "wal-archive", tmp_path / "log")
    argv = server_command(Path("/pg/bin/postgres"), tmp_path / "cluster", "127.0.0.1", 54321, files,
                          {"primary_slot_name": "replica_1"})
    assert argv[:3] == ["/pg/bin/postgres", "-D", str(tmp_path / "cluster")]
    options = dict(argument.split("=", 1) for argument in argv[4::2])
    assert argv[3::2] == ["-c"] * len(options)
    assert options == {
        "listen_addresses": "127.0.0.1",
        "port": "54321",
        "unix_socket_directories": "",
        "hba_file": str(files.hba),
        "ssl": "on",
        "ssl_cert_file": str(files.certificate),
        "ssl_key_file": str(files.private_key),
        "password_encryption": "scram-sha-256",
        "shared_preload_libraries": "pg_stat_statements",
        "compute_query_id": "on",
        "wal_level": "logical",
        "archive_mode": "on",
        "archive_command": archive_command(files.archive),
        "archive_timeout": "60s",
        "logging_collector": "on",
        "log_destination": "jsonlog",
        "log_directory": str(files.log_directory),
        "log_filename": "postgresql-%Y%m%dT%H%M%S.log",
        "log_rotation_size": "10MB",
        "log_file_mode": "0600",
        "log_timezone": "UTC",
        "primary_slot_name": "replica_1",
    }
    bare = server_command(Path("/pg/bin/postgres"), tmp_path / "cluster", "127.0.0.1", 54321,
                          ServerFiles(files.hba, files.certificate, files.private_key))
    assert not {"archive_mode", "logging_collector"} & {argument.split("=", 1)[0] for argument in bare[4::2]}


def _as_postgresql_runs(command: str, path: str, name: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run an archive or restore command as PostgreSQL does: %p, %f and %% replaced, by sh, in the data dir."""
    replaced = re.sub("%[pf%]", lambda found: {"%p": path, "%f": name, "%%": "%"}[found[0]], command)
    return subprocess.run(["sh", "-c", replaced], cwd=cwd, capture_output=True, check=False)


def _archive(data: Path, archive: Path, segment: bytes, completed: int | None = None) -> int:
    """Archive one segment holding `segment`, last written at `completed` (epoch seconds) when given."""
    wal = data / "pg_wal" / "000000010000000000000001"
    wal.parent.mkdir(parents=True, exist_ok=True)
    wal.write_bytes(segment)
    if completed is not None:
        os.utime(wal, (completed, completed))
    return _as_postgresql_runs(archive_command(archive), f"pg_wal/{wal.name}", wal.name, data).returncode


def test_the_archive_command_copies_a_segment_whole_and_never_overwrites_one_that_differs(tmp_path: Path) -> None:
    archive = tmp_path / "wal archive %p"  # a space and a % in the path stay one word, and no placeholder
    archive.mkdir()
    data = tmp_path / "data"
    assert _archive(data, archive, b"segment one") == 0
    assert (archive / "000000010000000000000001").read_bytes() == b"segment one"
    assert _archive(data, archive, b"segment one") == 0  # archived before a crash: done
    assert _archive(data, archive, b"other bytes") != 0
    assert (archive / "000000010000000000000001").read_bytes() == b"segment one"
    assert sorted(entry.name for entry in archive.iterdir()) == ["000000010000000000000001"]


def test_the_archive_keeps_the_time_a_segment_was_completed(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    assert _archive(tmp_path / "data", archive, b"segment", completed=1_700_000_000) == 0
    assert (archive / "000000010000000000000001").stat().st_mtime == 1_700_000_000


def test_the_restore_command_fetches_an_archived_file_and_fails_quietly_for_one_missing(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "00000002.history").write_text("1\t0/3000000\tno recovery target specified\n")
    fetched = _as_postgresql_runs(restore_command(archive), "got", "00000002.history", tmp_path)
    assert fetched.returncode == 0
    assert (tmp_path / "got").read_text().startswith("1\t")
    missing = _as_postgresql_runs(restore_command(archive), "none", "00000003.history", tmp_path)
    assert (missing.returncode, missing.stderr) == (1, b"")
    assert not (tmp_path / "none").exists()


def test_initdb_makes_the_internal_role_the_only_one_with_scram() -> None:
    argv = initdb_command(Path("/pg/bin/initdb"), Path("/d/cluster"), Path("/d/pw"))
    assert argv[:5] == ["/pg/bin/initdb", "-D", "/d/cluster", "-U", "clickplane"]
    assert {"--auth=scram-sha-256", "--pwfile=/d/pw", "--no-instructions"} <= set(argv)


def test_the_config_check_passes_each_parameter_as_an_option() -> None:
    argv = config_check_command(Path("/pg/bin/postgres"), Path("/c/empty.conf"), Path("/c/empty"),
                                (("work_mem", "8MB"), ("statement_timeout", "5s")))
    assert argv == ["/pg/bin/postgres", "--config-file=/c/empty.conf", "-D", "/c/empty", "-c", "work_mem=8MB",
                    "-c", "statement_timeout=5s", "-C", "work_mem"]


@pytest.mark.parametrize("name", ["work_mem", "pg_stat_statements.max", "_x1"])
def test_parameter_names_as_postgresql_spells_them(name: str) -> None:
    assert PARAMETER_NAME.fullmatch(name)


@pytest.mark.parametrize("name", ["", "work mem", "a=b", "1abc", "-c", "a.", "x;y"])
def test_other_names_are_not_parameters(name: str) -> None:
    assert not PARAMETER_NAME.fullmatch(name)


def test_a_refusal_is_the_fatal_message_and_its_hint_without_the_log_prefix() -> None:
    stderr = ('2026-12-02 14:40:04.410 GMT [4654] FATAL:  invalid value for parameter "work_mem": "64XB"\n'
              '2026-12-02 14:40:04.410 GMT [4654] HINT:  Valid units for this parameter are "B", "kB", "MB", "GB", '
              'and "TB".\n')
    assert refusal_in(stderr) == ('invalid value for parameter "work_mem": "64XB". Valid units for this parameter '
                                  'are "B", "kB", "MB", "GB", and "TB".')


def test_a_refusal_without_a_hint_and_log_lines_around_it() -> None:
    stderr = ('2026-12-02 14:42:52.412 GMT [5807] LOG:  skipping missing configuration file "/x/postgresql.auto.conf"\n'
              '2026-12-02 14:42:52.396 GMT [5805] FATAL:  unrecognized configuration parameter "x"\n'
              '2026-12-02 14:42:52.396 GMT [5805] FATAL:  a second one, not reported\n'
              '2026-12-02 14:42:52.396 GMT [5805] HINT:  the second one\'s hint\n')
    assert refusal_in(stderr) == 'unrecognized configuration parameter "x"'


def test_no_refusal_in_output_without_a_fatal_or_error() -> None:
    assert refusal_in('2026-12-02 LOG:  skipping missing configuration file "x"\n4096\n') is None


def test_an_engine_message_is_its_primary_message_then_its_hint() -> None:
    assert engine_message("permission denied", None) == "permission denied"
    assert engine_message("bad", "Do this.") == "bad. Do this."


def test_parameters_contexts_are_read_from_the_engine_s_description() -> None:
    described = ("max_connections\tpostmaster\tConnections and Authentication\tINTEGER\t100\t1\t262143\tSets the "
                 "maximum number of concurrent connections.\t\n"
                 "work_mem\tuser\tResource Usage / Memory\tINTEGER\t4096\t64\t2147483647\tSets ...\t\n\n")
    assert parameter_contexts(described) == {"max_connections": "postmaster", "work_mem": "user"}
