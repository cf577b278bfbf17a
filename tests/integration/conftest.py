"""Fixtures that run clickplane for real: HTTP on loopback, a SQLite file, ClickHouse processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clickplane.settings import discover_clickhouse_binary
from tests.integration.harness import ClickplaneServer, new_server

CLICKHOUSE = discover_clickhouse_binary()
needs_clickhouse = pytest.mark.skipif(CLICKHOUSE is None, reason="no ClickHouse binary found "
                                      "(install clickhouse-server or set CLICKPLANE_CLICKHOUSE_BINARY)")


@pytest.fixture(scope="session")
def server() -> Iterator[ClickplaneServer]:
    """One running clickplane for the session's tests that do not restart it."""
    running = new_server()
    try:
        running.start()
        yield running
    finally:
        running.destroy()
        assert not running.data_dir.exists()


@pytest.fixture
def fresh_server() -> Iterator[ClickplaneServer]:
    """A clickplane of its own (not started), for tests that stop, kill or restart it."""
    created = new_server()
    try:
        yield created
    finally:
        created.destroy()




@pytest.fixture
def postgres_server(server: ClickplaneServer) -> Iterator[ClickplaneServer]:
    """The session's clickplane, its Postgres services deleted after the test (replicas before their primaries)."""
    yield server
    with server.client() as client:
        for item in sorted(client.get(server.org_path("/postgres")).json()["result"], key=lambda i: i["isPrimary"]):
            client.delete(server.org_path(f"/postgres/{item['id']}"))
