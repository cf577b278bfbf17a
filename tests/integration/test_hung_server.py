"""A ClickHouse that hangs (here: SIGSTOP) while its process stays is noticed and replaced by a new server."""

from __future__ import annotations

import os
import signal
from typing import Any

import httpx

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, wait_until
from tests.integration.test_lifecycle import clickhouse_pid, http_port, sql
from tests.integration.test_recovery import alive

pytestmark = needs_clickhouse


def test_a_stopped_clickhouse_is_killed_and_a_new_one_serves_the_data(fresh_server: ClickplaneServer) -> None:
    fresh_server.start()  # the harness checks running services every second
    created = fresh_server.create_service(name="hung")
    service_id, password = created["service"]["id"], created["password"]
    service = fresh_server.wait_for_state(service_id, "running")
    assert sql(http_port(service), password, "CREATE TABLE kept (n UInt8) ENGINE = TinyLog").status_code == 200
    assert sql(http_port(service), password, "INSERT INTO kept VALUES (4)").status_code == 200
    stopped = clickhouse_pid(fresh_server, service_id)
    os.kill(stopped, signal.SIGSTOP)
    try:
        def replaced() -> dict[str, Any] | None:
            now = fresh_server.service(service_id)
            if now["state"] != "running" or clickhouse_pid(fresh_server, service_id) == stopped:
                return None
            return now if httpx.get(f"http://127.0.0.1:{http_port(now)}/ping", timeout=1).text == "Ok.\n" else None

        running = wait_until(replaced, what="a new ClickHouse to answer for the stopped one")
        assert not alive(stopped)
        assert sql(http_port(running), password, "SELECT n FROM kept").text.strip() == "4"
    finally:
        if alive(stopped):
            os.kill(stopped, signal.SIGKILL)
