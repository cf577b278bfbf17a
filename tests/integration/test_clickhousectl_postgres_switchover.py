"""`clickhousectl cloud postgres switchover` against clickplane: the service moves onto a new server at the same
address, which holds its data (checked on the server itself, over verified TLS)."""

from __future__ import annotations

import pytest

from tests.integration.harness import ClickplaneServer, wait_until
from tests.integration.test_clickhousectl_postgres import PostgresCli, answer, cli  # noqa: F401 (cli: a fixture)
from tests.integration.test_cloud_clients import CLICKHOUSECTL
from tests.integration.test_postgres_services import connect, needs_postgres, port_of

pytestmark = [pytest.mark.integration, needs_postgres,
              pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed "
                                 "(pip install clickhousectl)")]


def test_switchover_moves_the_service_onto_a_new_server_that_keeps_its_data(server: ClickplaneServer,
                                                                           cli: PostgresCli) -> None:  # noqa: F811
    created, password = cli.create("ctl-pg-switchover")
    postgres_id, ca = created["id"], cli.ca(created["id"])
    with connect(created, password, ca, port_of(created)) as connection:
        connection.execute("CREATE TABLE kept AS SELECT 42 AS n")
    cluster = server.data_dir / "postgres" / postgres_id / "cluster"
    old_cluster = cluster.stat().st_ino

    switched = cli.attempt("postgres", "switchover", postgres_id)
    assert switched.returncode == 0, switched.stdout + switched.stderr
    assert "switchover accepted" in switched.stdout
    assert "State: restarting" in switched.stdout
    assert "Switchover is asynchronous" in switched.stderr

    def on_a_new_server() -> bool:  # the answer showed it restarting: running again means done
        return cli.state(postgres_id) == "running" and cluster.stat().st_ino != old_cluster

    wait_until(on_a_new_server, what="the switchover to be done")
    assert answer(created, password, ca, "SELECT n FROM kept") == 42
