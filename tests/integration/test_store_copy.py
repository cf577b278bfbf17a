"""`clickplane store copy`: an embedded SQLite store moved to another database (PostgreSQL when the run is
on it), after which `serve` on the new one answers as before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.harness import ClickplaneServer, clickplane, new_server
from tests.stores import drop_database, new_database_url


@pytest.fixture
def sqlite_server() -> Iterator[ClickplaneServer]:
    created = new_server(sqlite=True)
    try:
        yield created
    finally:
        created.destroy()


def test_a_copied_store_serves_the_same_organization_and_keys(sqlite_server: ClickplaneServer) -> None:
    sqlite_server.start()
    with sqlite_server.client() as client:
        made = client.post(sqlite_server.org_path("/keys"), json={"name": "moved along", "roles": ["developer"]})
    assert made.status_code == 200, made.text
    second_key = (made.json()["result"]["keyId"], made.json()["result"]["keySecret"])
    sqlite_server.stop()

    target = new_database_url(sqlite_server.data_dir / "copy.db")
    try:
        copied = clickplane("store", "copy", "--to", target, env=sqlite_server.env)
        assert copied.returncode == 0, copied.stderr
        assert "organizations: 1 rows" in copied.stdout
        assert "api_keys: 2 rows" in copied.stdout
        again = clickplane("store", "copy", "--to", target, env=sqlite_server.env)
        assert again.returncode == 1
        assert "already has rows in organizations" in again.stderr

        sqlite_server.settings["CLICKPLANE_DATABASE_URL"] = target
        sqlite_server.start()
        with sqlite_server.client() as client:
            keys = client.get(sqlite_server.org_path("/keys")).json()["result"]
            as_second = client.get(sqlite_server.org_path(), auth=second_key)
        assert len(keys) == 2  # the admin key these requests were made with, and the second one
        assert "moved along" in [key["name"] for key in keys]
        assert as_second.status_code == 200, as_second.text
    finally:
        sqlite_server.stop()
        drop_database(target)


def test_copying_into_an_unreachable_database_says_so(sqlite_server: ClickplaneServer) -> None:
    refused = clickplane("store", "copy", "--to", "postgresql+psycopg://nobody@127.0.0.1:1/none",
                         env=sqlite_server.env)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ")
    assert "Traceback" not in refused.stderr
