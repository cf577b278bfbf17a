"""The official clickhousectl CLI drives Managed Postgres services against clickplane, and each effect is checked on
the PostgreSQL server itself (a psycopg login over `sslmode=verify-full` with the CA that `certs get` wrote), not
only in the CLI's output.

Covered, each with its exit code: `list` (plain, `--json`, `--filter`), `get` (by id and `--name`), `create`
(`--pg-version`, `--tag`, `--ip-allow`; refused `--ha-type async` and `--pg-bouncer-config-file`), `update`
(`--new-name`, `--add-tag`, `--remove-tag`, `--clear-tags`, `--add-ip-allow`, `--remove-ip-allow`), `certs get`,
`config get` / `replace --file` / `patch --set`, `reset-password` (`--password`, `--generate`), `restart`,
`delete` (and refused while the service has a read replica), `read-replica create` (`--source-name`, `--tag`;
refused of a replica), `promote` (and refused on a primary), `backup list` (plain, `--json`, `--limit`), `restore`
(`--restore-target`, `--ip-allow`, which the CLI applies with a PATCH of its own; refused before the backups),
`metrics` (`--bucket-size-seconds`), `slow-queries list` (`--db-user`, `--db-operation`, `--sort-by`) / `get`,
`prometheus service` (by id and `--name`, `--json`) / `org`, and `logs` (`--severity`, `--body-contains`,
`--sort-order`, `--limit`; refused a window that ends before it begins).

Not here: `query`, which needs OAuth: with an API key the CLI exits 4 before sending anything.
"""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import ClickplaneServer, wait_until
from tests.integration.test_clickhousectl_lifecycle import LifecycleCli, running_cli
from tests.integration.test_cloud_clients import CLICKHOUSECTL
from tests.integration.test_lifecycle import port_open
from tests.integration.test_postgres_services import SIZE, VERSIONS, connect, needs_postgres, port_of, refuses
from tests.integration.test_postgres_telemetry import cli_date

pytestmark = [pytest.mark.integration, needs_postgres,
              pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed "
                                 "(pip install clickhousectl)")]

# Statements run for the sampled server's statistics, each this many times.
CALLS = 25
# Meets the reference's rules (12 characters or more, a lowercase and an uppercase letter, a digit).
GIVEN_PASSWORD = "Given-Password-2024"


class PostgresCli(LifecycleCli):
    """LifecycleCli for `cloud postgres`: creates remember their service and its one-time password, and what the
    test did not delete itself is deleted through the API."""

    def create(self, name: str, *flags: str) -> tuple[dict[str, Any], str]:
        """`postgres create --json` (this machine's loopback allowed), then `get` until running; returns the create
        response (it alone has the connection string) and the password."""
        created = self.json("postgres", "create", "--name", name, "--region", "us-east-1", "--size", SIZE,
                            "--ip-allow", "127.0.0.1:5432=this machine", *flags)
        self.created.append(created["id"])
        assert created["state"] == "creating"
        assert created["password"]
        wait_until(lambda: self.state(created["id"]) == "running",
                   what=f"Postgres service {created['id']} to be running")
        return created, created["password"]

    def state(self, postgres_id: str) -> str:
        """The service's state, from `get`; a service that could not be started fails the test with serve's log,
        which alone says why (the API has no field for it)."""
        state: str = self.json("postgres", "get", postgres_id)["state"]
        if state == "unavailable":
            raise AssertionError(f"Postgres service {postgres_id} is unavailable: {self.server.log_tail()}")
        return state

    def ca(self, postgres_id: str) -> Path:
        """`certs get --output`: the service's CA, as a file in the working directory."""
        path = self.workdir / f"{postgres_id}.pem"
        assert "Wrote CA certificate" in self.run("postgres", "certs", "get", postgres_id, "--output", path.name)
        return path

    def clean_up(self) -> None:
        """Newest first: a read replica goes before its primary, which cannot be deleted while it has one."""
        with self.server.client() as client:
            for postgres_id in reversed(self.created):
                path = self.server.org_path(f"/postgres/{postgres_id}")
                if client.get(path).status_code == 404:
                    continue
                assert client.delete(path).status_code == 200
                wait_until(lambda path=path: client.get(path).status_code == 404,  # type: ignore[misc]
                           what=f"Postgres service {postgres_id} to be deleted")


@pytest.fixture
def cli(server: ClickplaneServer) -> Iterator[PostgresCli]:
    yield from running_cli(PostgresCli, server, "clickhousectl-postgres-")


@pytest.fixture
def sampled_cli(fresh_server: ClickplaneServer) -> Iterator[PostgresCli]:
    """A PostgresCli on a clickplane of its own that samples its Postgres servers every second (metrics,
    slow-queries and prometheus read those samples; the session's clickplane takes one a minute)."""
    fresh_server.settings["CLICKPLANE_POSTGRES_METRICS_INTERVAL_SECONDS"] = "1"
    fresh_server.start()
    yield from running_cli(PostgresCli, fresh_server, "clickhousectl-postgres-sampled-")


def answer(created: dict[str, Any], password: str, ca: Path, query: str) -> Any:
    """The first column of the first row of `query`, run as the superuser over verified TLS."""
    with connect(created, password, ca, port_of(created)) as connection:
        row = connection.execute(query).fetchone()
    assert row is not None
    return row[0]


def answer_if_up(created: dict[str, Any], password: str, ca: Path, query: str) -> Any:
    """As `answer`, or None while the server does not let us in (restarting, or its rules changing)."""
    try:
        return answer(created, password, ca, query)
    except psycopg.OperationalError:
        return None


def eventually(created: dict[str, Any], password: str, ca: Path, query: str, expected: Any, what: str) -> None:
    """Poll `query` until it answers `expected`: the service applies a change within a reconciler pass."""
    wait_until(lambda: answer_if_up(created, password, ca, query) == expected, what=what)


def access_refused(created: dict[str, Any], password: str, ca: Path) -> bool:
    """Whether the server's access rules turn this machine away (as opposed to a wrong password)."""
    try:
        connect(created, password, ca, port_of(created)).close()
    except psycopg.OperationalError as error:
        return "pg_hba.conf" in str(error)
    return False


def rule_id(service: dict[str, Any], source: str) -> str:
    found: str = next(rule["id"] for rule in service["ipAccessList"] if rule["source"] == source)
    return found


def api_port(cli: PostgresCli, postgres_id: str) -> int:
    """The service's port, from the API: the CLI's model of a Postgres service has no port field (its human output
    shows 5432 whatever the port), and only a create's connection string, which holds the password, has it."""
    with cli.server.client() as client:
        response = client.get(cli.server.org_path(f"/postgres/{postgres_id}"))
    assert response.status_code == 200, response.text
    return int(response.json()["result"]["port"])


def notes(found: dict[str, Any], password: str, ca: Path, port: int) -> list[str]:
    with connect(found, password, ca, port) as connection:
        return [row[0] for row in connection.execute("SELECT note FROM notes ORDER BY note").fetchall()]


def notes_if_up(found: dict[str, Any], password: str, ca: Path, port: int) -> list[str] | None:
    """As `notes`, or None while the server does not let us in yet (or has no such table yet)."""
    try:
        return notes(found, password, ca, port)
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return None


def write(created: dict[str, Any], password: str, ca: Path, *statements: str) -> None:
    with connect(created, password, ca, port_of(created)) as connection:
        for statement in statements:
            connection.execute(statement)


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_create_get_list_certs_and_a_verified_login_with_the_printed_password(cli: PostgresCli, version: str
                                                                              ) -> None:
    created, password = cli.create(f"ctl-pg-{version}", "--pg-version", version, "--tag", "env=dev", "--tag", "team")
    postgres_id = created["id"]
    assert (created["postgresVersion"], created["username"], created["isPrimary"]) == (version, "postgres", True)
    assert created["tags"] == [{"key": "env", "value": "dev"}, {"key": "team", "value": ""}]
    assert [(r["source"], r["portRange"], r["description"]) for r in created["ipAccessList"]] == [
        ("127.0.0.1", "5432", "this machine")]
    assert created["connectionString"].startswith(f"postgresql://postgres:{password}@{created['hostname']}:")

    got = cli.json("postgres", "get", postgres_id)
    assert (got["id"], got["state"], got["hostname"]) == (postgres_id, "running", created["hostname"])
    assert "password" not in got
    assert "connectionString" not in got
    assert cli.json("postgres", "get", "--name", f"ctl-pg-{version}")["id"] == postgres_id
    shown = cli.run("postgres", "get", postgres_id)
    assert f"ID: {postgres_id}" in shown
    assert "State: running" in shown

    assert postgres_id in [item["id"] for item in cli.json("postgres", "list")]
    assert [item["id"] for item in cli.json("postgres", "list", "--filter", f"name=ctl-pg-{version}")] == [postgres_id]
    assert postgres_id in cli.run("postgres", "list")

    ca = cli.ca(postgres_id)
    assert stat.S_IMODE(ca.stat().st_mode) == 0o600
    pem = ca.read_text()
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    assert pem.rstrip().endswith("-----END CERTIFICATE-----")
    assert cli.run("postgres", "certs", "get", postgres_id) == pem
    assert cli.json("postgres", "certs", "get", postgres_id) == {"certificate": pem}

    assert answer(created, password, ca, "SELECT current_setting('server_version_num')::int / 10000") == int(version)
    assert answer(created, password, ca, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True


def test_update_renames_retags_and_rewrites_the_servers_access_rules(cli: PostgresCli) -> None:
    created, password = cli.create("ctl-pg-before", "--tag", "env=dev", "--tag", "team=a")
    postgres_id, ca = created["id"], cli.ca(created["id"])

    renamed = cli.json("postgres", "update", postgres_id, "--new-name", "ctl-pg-after")
    assert (renamed["id"], renamed["name"]) == (postgres_id, "ctl-pg-after")
    assert cli.json("postgres", "get", "--name", "ctl-pg-after")["id"] == postgres_id

    retagged = cli.json("postgres", "update", postgres_id, "--add-tag", "owner=ada", "--remove-tag", "team")
    assert retagged["tags"] == [{"key": "env", "value": "dev"}, {"key": "owner", "value": "ada"}]
    assert cli.json("postgres", "update", postgres_id, "--clear-tags")["tags"] == []
    assert cli.json("postgres", "get", postgres_id)["tags"] == []

    widened = cli.json("postgres", "update", postgres_id, "--add-ip-allow", "10.1.2.0/24:5432..6432=office")
    assert [(r["source"], r["portRange"], r["description"]) for r in widened["ipAccessList"]] == [
        ("127.0.0.1", "5432", "this machine"), ("10.1.2.0/24", "5432..6432", "office")]
    eventually(created, password, ca, "SELECT count(*) FROM pg_hba_file_rules WHERE address = '10.1.2.0'", 1,
               "the server's access rules to hold the office network")

    narrowed = cli.run("postgres", "update", postgres_id, "--remove-ip-allow", rule_id(widened, "127.0.0.1"))
    assert "Postgres service updated" in narrowed
    assert [r["source"] for r in cli.json("postgres", "get", postgres_id)["ipAccessList"]] == ["10.1.2.0/24"]
    wait_until(lambda: access_refused(created, password, ca), what="the server to turn this machine away")

    cli.run("postgres", "update", postgres_id, "--add-ip-allow", "127.0.0.1:5432")
    eventually(created, password, ca, "SELECT 1", 1, "the server to let this machine in again")


def test_config_patch_and_replace_reach_the_server_and_restart_applies_the_rest(cli: PostgresCli) -> None:
    created, password = cli.create("ctl-pg-config")
    postgres_id, ca = created["id"], cli.ca(created["id"])
    assert cli.json("postgres", "config", "get", postgres_id) == {"pgConfig": {}, "pgBouncerConfig": {}}

    patched = cli.json("postgres", "config", "patch", postgres_id, "--set", "work_mem=8MB")
    assert patched["pgConfig"] == {"work_mem": "8MB"}
    eventually(created, password, ca, "SHOW work_mem", "8MB", "work_mem to be reloaded")

    restart_bound = cli.run("postgres", "config", "patch", postgres_id, "--set", "max_connections=50")
    assert "Note:" in restart_bound
    assert "max_connections" in restart_bound
    assert "restart" in restart_bound
    eventually(created, password, ca, "SELECT pending_restart FROM pg_settings WHERE name = 'max_connections'",
               True, "the server to hold max_connections for its next start")
    assert answer(created, password, ca, "SHOW max_connections") != "50"
    started = answer(created, password, ca, "SELECT pg_postmaster_start_time()")

    assert "accepted" in cli.run("postgres", "restart", postgres_id)
    def restarted() -> bool:
        moment = answer_if_up(created, password, ca, "SELECT pg_postmaster_start_time()")
        return moment is not None and moment > started

    wait_until(restarted, what="the server to have restarted")
    wait_until(lambda: cli.state(postgres_id) == "running", what="the service to be running again")
    assert answer(created, password, ca, "SHOW max_connections") == "50"

    file = cli.workdir / "config.json"
    file.write_text(json.dumps({"pgConfig": {"work_mem": "16MB"}, "pgBouncerConfig": {}}))
    assert "Configuration replaced" in cli.run("postgres", "config", "replace", postgres_id, "--file", file.name)
    assert cli.json("postgres", "config", "get", postgres_id) == {"pgConfig": {"work_mem": "16MB"},
                                                                  "pgBouncerConfig": {}}
    eventually(created, password, ca, "SHOW work_mem", "16MB", "the replaced work_mem to be reloaded")

    refused = cli.attempt("postgres", "config", "patch", postgres_id, "--set", "work_mem=64XB")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert 'invalid value for parameter "work_mem"' in refused.stderr
    assert cli.json("postgres", "config", "get", postgres_id)["pgConfig"] == {"work_mem": "16MB"}


def test_reset_password_with_a_given_then_a_generated_password(cli: PostgresCli) -> None:
    created, first = cli.create("ctl-pg-password")
    postgres_id, ca = created["id"], cli.ca(created["id"])

    given = cli.run("postgres", "reset-password", postgres_id, "--password", GIVEN_PASSWORD)
    assert "Password reset successfully" in given
    assert GIVEN_PASSWORD not in given  # the CLI does not echo a password it was given
    wait_until(lambda: refuses(created, first, ca, port_of(created)), what="the first password to be refused")
    assert answer(created, GIVEN_PASSWORD, ca, "SELECT current_user") == "postgres"

    again = cli.attempt("postgres", "reset-password", postgres_id, "--password", GIVEN_PASSWORD)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "current password" in again.stderr
    weak = cli.attempt("postgres", "reset-password", postgres_id, "--password", "short")
    assert weak.returncode == 1  # refused by the CLI itself, nothing sent
    assert "at least 12 characters" in weak.stderr

    printed = cli.run("postgres", "reset-password", postgres_id, "--generate")
    lines = printed.splitlines()
    generated = lines[lines.index("Generated password (save this — not recoverable):") + 1].strip()
    wait_until(lambda: refuses(created, GIVEN_PASSWORD, ca, port_of(created)), what="the given password to be refused")
    assert answer(created, generated, ca, "SELECT 1") == 1

    newest = cli.json("postgres", "reset-password", postgres_id, "--generate")["password"]
    assert newest != generated
    wait_until(lambda: refuses(created, generated, ca, port_of(created)), what="the first generated one to be refused")
    assert answer(created, newest, ca, "SELECT 1") == 1


def test_delete_stops_the_server_and_removes_its_files(server: ClickplaneServer, cli: PostgresCli) -> None:
    created, password = cli.create("ctl-pg-doomed")
    postgres_id, port, ca = created["id"], port_of(created), cli.ca(created["id"])
    directory = server.data_dir / "postgres" / postgres_id
    assert directory.is_dir()
    assert answer(created, password, ca, "SELECT 1") == 1

    deleted = cli.json("postgres", "delete", postgres_id)  # --json prints what the GET before it saw
    assert (deleted["id"], deleted["state"]) == (postgres_id, "running")
    with server.client() as client:
        wait_until(lambda: client.get(server.org_path(f"/postgres/{postgres_id}")).status_code == 404,
                   what="the deleted service to answer 404")
    assert not directory.exists()
    assert not port_open(port)
    gone = cli.attempt("postgres", "get", postgres_id)
    assert gone.returncode == 1
    assert f"No such Postgres service: {postgres_id}" in gone.stderr
    assert postgres_id not in [item["id"] for item in cli.json("postgres", "list")]
    again = cli.attempt("postgres", "delete", postgres_id)
    assert again.returncode == 1
    assert "No such Postgres service" in again.stderr


@pytest.mark.parametrize(("flags", "complaint"), [
    (("--ha-type", "async"), "no HA standbys"),
    (("--pg-bouncer-config-file", "pgbouncer.json"), "no PgBouncer"),
])
def test_a_create_clickplane_cannot_honour_is_refused_and_makes_nothing(cli: PostgresCli, flags: tuple[str, ...],
                                                                        complaint: str) -> None:
    (cli.workdir / "pgbouncer.json").write_text(json.dumps({"pool_mode": "session"}))
    refused = cli.attempt("postgres", "create", "--name", "ctl-pg-refused", "--region", "us-east-1", "--size", SIZE,
                          *flags)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "BAD_REQUEST" in refused.stderr
    assert complaint in refused.stderr
    assert [item for item in cli.json("postgres", "list") if item["name"] == "ctl-pg-refused"] == []


def test_a_read_replica_serves_its_primarys_rows_read_only_until_promoted(cli: PostgresCli) -> None:
    primary, password = cli.create("ctl-pg-primary")
    primary_id, primary_ca = primary["id"], cli.ca(primary["id"])
    write(primary, password, primary_ca, "CREATE TABLE notes (note text)", "INSERT INTO notes VALUES ('before')")

    made = cli.json("postgres", "read-replica", "create", "--source-name", "ctl-pg-primary", "--name",
                    "ctl-pg-replica", "--tag", "role=reader")
    replica_id = made["id"]
    cli.created.append(replica_id)
    assert (made["name"], made["isPrimary"], made["state"]) == ("ctl-pg-replica", False, "creating")
    assert (made["postgresVersion"], made["size"]) == (primary["postgresVersion"], primary["size"])
    assert made["tags"] == [{"key": "role", "value": "reader"}]
    assert "password" not in made  # it has its primary's superuser
    wait_until(lambda: cli.state(replica_id) == "running", what="the read replica to be running")
    replica, replica_ca, replica_port = cli.json("postgres", "get", replica_id), cli.ca(replica_id), \
        api_port(cli, replica_id)
    assert replica_port != port_of(primary)
    wait_until(lambda: notes_if_up(replica, password, replica_ca, replica_port) == ["before"],
               what="the replica to hold the primary's row")

    write(primary, password, primary_ca, "INSERT INTO notes VALUES ('after')")
    wait_until(lambda: notes(replica, password, replica_ca, replica_port) == ["after", "before"],
               what="the replica to replay the primary's new row")
    with connect(replica, password, replica_ca, replica_port) as connection:
        assert connection.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            connection.execute("INSERT INTO notes VALUES ('refused')")

    held = cli.attempt("postgres", "delete", primary_id)
    assert held.returncode == 1, held.stdout + held.stderr
    assert "still has read replicas" in held.stderr
    assert replica_id in held.stderr
    chained = cli.attempt("postgres", "read-replica", "create", replica_id, "--name", "ctl-pg-chain")
    assert chained.returncode == 1, chained.stdout + chained.stderr
    assert "itself a read replica" in chained.stderr
    assert [item for item in cli.json("postgres", "list") if item["name"] == "ctl-pg-chain"] == []
    not_a_replica = cli.attempt("postgres", "promote", primary_id)
    assert not_a_replica.returncode == 1, not_a_replica.stdout + not_a_replica.stderr
    assert "promote applies to a read replica" in not_a_replica.stderr

    promoted = cli.attempt("postgres", "promote", replica_id)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "promote accepted" in promoted.stdout
    assert f"ID: {replica_id}" in promoted.stdout
    assert "Promotion is asynchronous" in promoted.stderr  # exit 0 means accepted, not done
    wait_until(lambda: cli.json("postgres", "get", replica_id)["isPrimary"] is True,
               what="`get` to show the replica promoted")
    with connect(replica, password, replica_ca, replica_port) as connection:
        assert connection.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        connection.execute("INSERT INTO notes VALUES ('own')")
    assert notes(replica, password, replica_ca, replica_port) == ["after", "before", "own"]
    assert notes(primary, password, primary_ca, port_of(primary)) == ["after", "before"]  # the two are apart now
    assert cli.json("postgres", "get", primary_id)["isPrimary"] is True


def test_backup_list_and_a_restore_between_two_writes_holds_the_first_only(cli: PostgresCli) -> None:
    source, password = cli.create("ctl-pg-source")
    source_id, source_ca = source["id"], cli.ca(source["id"])

    def completed() -> list[dict[str, Any]]:
        listed = cli.json("postgres", "backup", "list", source_id)
        assert set(listed) == {"result"}  # no page asked for, so no page keys
        return [backup for backup in listed["result"] if backup["status"] == "completed"]

    first_backup = wait_until(completed, what="the first base backup")[0]
    assert first_backup["key"] in cli.run("postgres", "backup", "list", source_id)
    paged = cli.json("postgres", "backup", "list", source_id, "--limit", "1")
    assert ([backup["key"] for backup in paged["result"]], paged["limit"]) == ([first_backup["key"]], 1)
    assert paged["totalCount"] >= 1

    with connect(source, password, source_ca, port_of(source)) as connection:
        connection.execute("CREATE TABLE notes (note text)")
        connection.execute("INSERT INTO notes VALUES ('first')")
        time.sleep(1.1)  # the target must fall strictly between the two commits' timestamps
        target = datetime.now(UTC)
        time.sleep(1.1)
        connection.execute("INSERT INTO notes VALUES ('second')")
        connection.execute("SELECT pg_switch_wal()")  # archive the WAL holding both now, not in a minute
    earliest = cli.json("postgres", "get", source_id)["earliestRestoreTime"]
    assert earliest <= target.strftime("%Y-%m-%dT%H:%M:%SZ")

    too_early = cli.attempt("postgres", "restore", source_id, "--name", "ctl-pg-too-early", "--restore-target",
                            "2001-01-01T00:00:00Z")
    assert too_early.returncode == 1, too_early.stdout + too_early.stderr
    assert "outside what the backups" in too_early.stderr
    assert [item for item in cli.json("postgres", "list") if item["name"] == "ctl-pg-too-early"] == []

    def restored_once_archived() -> dict[str, Any] | None:
        done = cli.attempt("postgres", "restore", source_id, "--name", "ctl-pg-restored", "--restore-target",
                           target.isoformat(), "--ip-allow", "127.0.0.1:5432..6432=restored", "--json")
        if done.returncode == 0:
            made: dict[str, Any] = json.loads(done.stdout)
            cli.created.append(made["id"])
            return made
        # A restore can make its service and still fail at the rules step: adopt what it made, for the clean-up.
        cli.created.extend(item["id"] for item in cli.json("postgres", "list", "--filter", "name=ctl-pg-restored"))
        assert done.returncode == 1, done.stdout + done.stderr
        assert "outside what the backups" in done.stderr, done.stderr
        return None  # the WAL past the target is not archived yet

    restored = wait_until(restored_once_archived, what="the WAL past the target to be archived")
    restored_id = restored["id"]
    assert restored["state"] in ("creating", "restoring_backup")
    assert "password" not in restored  # it keeps the source's
    # The CLI restores without rules, then PATCHes the new service to the --ip-allow ones and shows its GET.
    [rule] = restored["ipAccessList"]
    assert (rule["source"], rule["portRange"], rule["description"]) == ("127.0.0.1", "5432..6432", "restored")
    assert rule["id"] != rule_id(source, "127.0.0.1")
    assert cli.json("postgres", "get", restored_id)["ipAccessList"] == [rule]
    assert [(r["source"], r["portRange"]) for r in cli.json("postgres", "get", source_id)["ipAccessList"]] == [
        ("127.0.0.1", "5432")]  # the source is untouched

    wait_until(lambda: cli.state(restored_id) == "running", what="the restored service to be running")
    running = cli.json("postgres", "get", restored_id)
    assert running["isPrimary"] is True
    assert notes(running, password, cli.ca(restored_id), api_port(cli, restored_id)) == ["first"]
    assert notes(source, password, source_ca, port_of(source)) == ["first", "second"]


def test_metrics_slow_queries_prometheus_and_logs_show_what_was_run(sampled_cli: PostgresCli) -> None:
    cli = sampled_cli
    began = datetime.now(UTC) - timedelta(seconds=5)
    created, password = cli.create("ctl-pg-sampled")
    postgres_id, ca = created["id"], cli.ca(created["id"])
    window = ("--from-date", cli_date(began), "--to-date", cli_date(datetime.now(UTC) + timedelta(minutes=2)))

    def metrics_now() -> dict[str, Any]:
        shown = cli.json("postgres", "metrics", postgres_id, *window, "--bucket-size-seconds", "5")
        return {metric["key"]: metric for metric in shown["metrics"]}

    def series_of(metrics: dict[str, Any], key: str, label: str) -> list[dict[str, Any]]:
        return next((series["dataPoints"] for series in metrics[key]["series"] if series["label"] == label), [])

    # Rates are counted from the first sample on: what the server did before it is its baseline.
    wait_until(lambda: series_of(metrics_now(), "database_size", "postgres"), what="a first sample")
    with connect(created, password, ca, port_of(created)) as connection:
        connection.execute("CREATE TABLE kept (n int)")
        for n in range(CALLS):
            connection.execute("INSERT INTO kept VALUES (%s)", [n])
            connection.execute(f"SELECT count(*) FROM kept WHERE n > {n}")  # noqa: S608 (a literal, normalized to $1)
        with pytest.raises(psycopg.errors.UndefinedTable):
            connection.execute("SELECT * FROM ctl_no_such_table")

    def patterns_seen() -> dict[str, dict[str, Any]] | None:
        listed = cli.json("postgres", "slow-queries", "list", postgres_id, *window, "--db-user", "postgres",
                          "--sort-by", "call_count")
        found = {pattern["dbOperation"]: pattern for pattern in listed if "kept" in pattern["queryText"]}
        calls = [found[operation]["callCount"] for operation in ("INSERT", "SELECT") if operation in found]
        return found if len(calls) == 2 and min(calls) >= CALLS else None

    patterns = wait_until(patterns_seen, what="the statements to show in slow-queries list")
    insert, select = patterns["INSERT"], patterns["SELECT"]
    assert insert["queryText"] == "INSERT INTO kept VALUES ($1)"
    assert select["queryText"] == "SELECT count(*) FROM kept WHERE n > $1"
    assert (select["dbName"], select["dbUser"], select["callCount"], select["totalRows"]) == (
        "postgres", "postgres", CALLS, CALLS)
    assert select["totalDurationUs"] > 0
    table = cli.run("postgres", "slow-queries", "list", postgres_id, *window, "--db-user", "postgres")
    assert select["queryId"] in table
    assert "SELECT count(*) FROM kept WHERE n > $1" in table
    selects = cli.json("postgres", "slow-queries", "list", postgres_id, *window, "--db-operation", "SELECT")
    assert select["queryId"] in [pattern["queryId"] for pattern in selects]
    assert {pattern["dbOperation"] for pattern in selects} == {"SELECT"}

    detail = cli.json("postgres", "slow-queries", "get", postgres_id, select["queryId"], "--db-name", "postgres",
                      "--db-user", "postgres", "--db-operation", "SELECT")
    assert (detail["aggregate"]["queryId"], detail["aggregate"]["queryText"]) == (select["queryId"],
                                                                                  select["queryText"])
    assert detail["aggregate"]["callCount"] >= CALLS
    assert detail["recentExecutions"] == []  # pg_stat_statements keeps no single executions
    unknown = cli.attempt("postgres", "slow-queries", "get", postgres_id, "1", "--db-name", "postgres", "--db-user",
                          "postgres", "--db-operation", "SELECT")
    assert unknown.returncode == 1, unknown.stdout + unknown.stderr
    assert "NOT_FOUND" in unknown.stderr

    def metrics_seen() -> dict[str, Any] | None:
        metrics = metrics_now()
        inserted = series_of(metrics, "throughput", "Inserted")
        return metrics if any(point["value"] > 0 for point in inserted) else None

    metrics = wait_until(metrics_seen, what="the inserts to show in metrics")
    assert max(point["value"] for point in series_of(metrics, "transactions", "Commits")) > 0
    assert series_of(metrics, "database_size", "postgres")[-1]["value"] > 1_000_000
    assert "key: throughput" in cli.run("postgres", "metrics", postgres_id, *window)

    def families(text: str) -> dict[str, Any]:
        return {family.name: family for family in text_string_to_metric_families(text)}

    def exposition_seen() -> dict[str, Any] | None:
        found = families(cli.run("postgres", "prometheus", "service", postgres_id))
        inserted = found.get("PostgresServer_TuplesInserted_Total")
        return found if inserted is not None and inserted.samples[0].value >= CALLS else None

    exposition = wait_until(exposition_seen, what="the inserts to show in prometheus service")
    [info] = exposition["PostgresServiceInfo"].samples
    assert info.labels == {"clickhouse_org": cli.server.credentials.organization_id, "postgres_service": postgres_id,
                           "postgres_service_name": "ctl-pg-sampled", "postgres_status": "running",
                           "postgres_version": created["postgresVersion"]}
    assert exposition["PostgresServer_TransactionsCommitted_Total"].samples[0].value > CALLS
    assert "postgres" in {sample.labels["database"]
                          for sample in exposition["PostgresServer_DatabaseSizeBytes"].samples}
    assert 0 < exposition["PostgresServer_CacheHitRatio"].samples[0].value <= 100
    as_json = cli.json("postgres", "prometheus", "service", "--name", "ctl-pg-sampled")
    assert isinstance(as_json, str)  # the text, as one JSON string
    assert "PostgresServer_TuplesInserted_Total" in families(as_json)
    organization = families(cli.run("postgres", "prometheus", "org"))
    assert postgres_id in [sample.labels["postgres_service"] for sample in organization["PostgresServiceInfo"].samples]
    assert postgres_id in [sample.labels["postgres_service"]
                           for sample in organization["PostgresServer_TransactionsCommitted_Total"].samples]

    log_window = ("--from-date", cli_date(began), "--to-date", cli_date(datetime.now(UTC) + timedelta(minutes=1)))
    expected = {"severity": "ERROR",
                "body": 'relation "ctl_no_such_table" does not exist\nSTATEMENT:  SELECT * FROM ctl_no_such_table'}

    def errors_logged() -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = cli.json("postgres", "logs", postgres_id, *log_window, "--severity", "ERROR",
                                                 "--body-contains", "ctl_no_such_table")
        return entries

    [entry] = wait_until(errors_logged, what="the failed statement to show in logs")
    assert {key: entry[key] for key in ("severity", "body")} == expected
    assert 'relation "ctl_no_such_table" does not exist' in cli.run("postgres", "logs", postgres_id, *log_window,
                                                                    "--severity", "ERROR")
    [newest] = cli.json("postgres", "logs", postgres_id, *log_window, "--sort-order", "desc", "--limit", "1")
    assert newest["timestamp"] >= entry["timestamp"]
    everything = cli.json("postgres", "logs", postgres_id, *log_window, "--limit", "1000")
    assert len(everything) > 1  # the server's own entries (its start, checkpoints) besides the error
    assert {key: entry[key] for key in ("severity", "body")} in [
        {key: item[key] for key in ("severity", "body")} for item in everything]
    backwards = cli.attempt("postgres", "logs", postgres_id, "--from-date", log_window[3], "--to-date", log_window[1])
    assert backwards.returncode == 1, backwards.stdout + backwards.stderr
    assert "to-date must be after from-date" in backwards.stderr  # the CLI's own check: nothing sent
