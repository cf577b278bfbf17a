"""The official clickhousectl CLI drives Managed Postgres services against clickplane, and each effect is checked on
the PostgreSQL server itself (a psycopg login over `sslmode=verify-full` with the CA that `certs get` wrote), not
only in the CLI's output.

Covered, each with its exit code: `list` (plain, `--json`, `--filter`), `get` (by id and `--name`), `create`
(`--pg-version`, `--tag`, `--ip-allow`; refused `--ha-type async` and `--pg-bouncer-config-file`), `update`
(`--new-name`, `--add-tag`, `--remove-tag`, `--clear-tags`, `--add-ip-allow`, `--remove-ip-allow`), `certs get`,
`config get` / `replace --file` / `patch --set`, `reset-password` (`--password`, `--generate`), `restart` and
`delete`.

Not served yet, so not here (they are being built): `read-replica create`, `restore`, `promote`, `switchover`,
`metrics`, `slow-queries list` / `get`, `prometheus service` / `org`, `logs`, `backup list`. `query` needs OAuth:
with an API key the CLI exits 4 before sending anything.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.harness import ClickplaneServer, wait_until
from tests.integration.test_clickhousectl_lifecycle import LifecycleCli, running_cli
from tests.integration.test_cloud_clients import CLICKHOUSECTL
from tests.integration.test_lifecycle import port_open
from tests.integration.test_postgres_services import SIZE, VERSIONS, connect, needs_postgres, port_of, refuses

pytestmark = [pytest.mark.integration, needs_postgres,
              pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed "
                                 "(pip install clickhousectl)")]

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
        with self.server.client() as client:
            for postgres_id in self.created:
                path = self.server.org_path(f"/postgres/{postgres_id}")
                if client.get(path).status_code == 404:
                    continue
                assert client.delete(path).status_code == 200
                wait_until(lambda path=path: client.get(path).status_code == 404,  # type: ignore[misc]
                           what=f"Postgres service {postgres_id} to be deleted")


@pytest.fixture
def cli(server: ClickplaneServer) -> Iterator[PostgresCli]:
    yield from running_cli(PostgresCli, server, "clickhousectl-postgres-")


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
    return next(rule["id"] for rule in service["ipAccessList"] if rule["source"] == source)


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
