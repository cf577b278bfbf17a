"""Several `clickplane serve` processes on one store and data dir: each serves the same API, exactly one
does the background work (reconciling, metering) at a time and another takes over when it dies, and
conflicting requests sent to different replicas at the same moment end in one winner.

On PostgreSQL the replicas share the database through row locks and an advisory lock; on SQLite through
its write lock and a file lock. The suite runs on both (tests/stores.py)."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from uuid import UUID

import httpx
import pytest
from sqlalchemy import select

from clickplane.store.models import Activity, ApiKey
from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, delete_services, wait_until
from tests.integration.test_clickpipes_object_storage import clickhouse, csv_rows, pipe_body
from tests.integration.test_lifecycle import command
from tests.integration.test_recovery import clickhouse_processes_of
from tests.s3 import create_bucket, moto_server, put_objects

LEASE_TAKEN = "holds the reconciler lease"

Request = Callable[[httpx.Client], httpx.Response]


@pytest.fixture
def replicas(fresh_server: ClickplaneServer) -> Iterator[tuple[ClickplaneServer, ClickplaneServer]]:
    """Two replicas; the first holds the lease."""
    fresh_server.start()
    wait_until(lambda: LEASE_TAKEN in fresh_server.log(), what="the first replica to take the lease")
    second = fresh_server.replica()
    try:
        second.start()
        yield fresh_server, second
    finally:
        second.stop()


def at_once(calls: list[tuple[ClickplaneServer, Request]]) -> list[httpx.Response]:
    """Send each request to its replica from a thread of its own, all released together."""
    clients = [server.client() for server, _ in calls]
    for client, (server, _) in zip(clients, calls, strict=True):
        client.get(server.org_path())  # connect first, so that the requests leave together
    start = threading.Barrier(len(calls))
    responses: list[httpx.Response | None] = [None] * len(calls)

    def send(index: int) -> None:
        start.wait()
        responses[index] = calls[index][1](clients[index])

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for client in clients:
        client.close()
    assert all(response is not None for response in responses), "a request did not come back"
    return [response for response in responses if response is not None]


def activity_counts(server: ClickplaneServer, service_id: str | None = None) -> Counter[str]:
    query = select(Activity.type)
    if service_id is not None:
        query = query.where(Activity.service_id == UUID(service_id))
    with server.store() as session:
        return Counter(session.scalars(query))


def processes_by_service(server: ClickplaneServer, service_ids: list[str]) -> dict[str, int]:
    running = clickhouse_processes_of(server)
    return {service_id: sum(service_id in line for line in running) for service_id in service_ids}


def test_both_replicas_serve_the_same_api(replicas: tuple[ClickplaneServer, ClickplaneServer]) -> None:
    first, second = replicas
    with second.client() as client:
        created = client.post(second.org_path("/keys"), json={"name": "made on the second", "roles": ["admin"]})
    assert created.status_code == 200, created.text
    key_uuid = created.json()["result"]["key"]["id"]
    with first.client() as client:
        seen = client.get(first.org_path(f"/keys/{key_uuid}"))
    assert seen.json()["result"]["name"] == "made on the second"
    assert LEASE_TAKEN not in second.log()  # the second waits for the lease while the first holds it


@needs_clickhouse
def test_a_replica_takes_over_from_a_killed_lease_holder(replicas: tuple[ClickplaneServer, ClickplaneServer]) -> None:
    holder, other = replicas
    service_ids = [other.create_service(name=f"replicated-{n}")["service"]["id"] for n in range(4)]
    # Kill the holder while it is bringing the services up: some of their servers started, not all reported.
    wait_until(lambda: clickhouse_processes_of(holder), what="the lease holder to start a ClickHouse server")
    holder.stop(signal.SIGKILL)

    wait_until(lambda: LEASE_TAKEN in other.log(), timeout=15, what="the other replica to take the lease")
    for service_id in service_ids:
        other.wait_for_state(service_id, "running")
    # Nothing lost or duplicated: the services, one server each, one creation and one start each.
    with other.client() as client:
        listed = [service["id"] for service in client.get(other.org_path("/services")).json()["result"]]
    assert sorted(listed) == sorted(service_ids)
    wait_until(lambda: set(processes_by_service(other, service_ids).values()) == {1},
               what="exactly one ClickHouse server per service")
    for service_id in service_ids:
        recorded = activity_counts(other, service_id)
        assert (recorded["service_create"], recorded["service_running"]) == (1, 1), recorded


def test_keys_created_with_one_name_at_once_have_one_winner(
        replicas: tuple[ClickplaneServer, ClickplaneServer]) -> None:
    body = {"name": "contested", "roles": ["developer"]}
    responses = at_once([(server, lambda client, s=server: client.post(s.org_path("/keys"), json=body))
                         for server in replicas * 4])
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: 1, 409: 7}, [response.text for response in responses]
    assert all(response.json()["error"].startswith("CONFLICT: ") for response in responses
               if response.status_code == 409)
    with replicas[0].store() as session:
        assert session.scalars(select(ApiKey.name).where(ApiKey.name == "contested")).all() == ["contested"]
    assert activity_counts(replicas[0])["key_create"] == 1


@needs_clickhouse
def test_deletes_and_state_changes_at_once_are_applied_one_at_a_time(
        replicas: tuple[ClickplaneServer, ClickplaneServer]) -> None:
    first, second = replicas
    service_id = first.create_service(name="contested")["service"]["id"]
    first.wait_for_state(service_id, "running")
    path = first.org_path(f"/services/{service_id}")

    def state(name: str) -> Request:
        return lambda client: client.patch(f"{path}/state", json={"command": name})

    # Two stops and a start at once: each lands on the state the one before left, so the service is
    # stopped once, and started again only if the start came after the server was already down.
    changed = at_once([(first, state("stop")), (second, state("start")), (second, state("stop"))])
    assert {response.status_code for response in changed} <= {200, 409}, [r.text for r in changed]
    recorded = activity_counts(first, service_id)
    assert recorded["service_stop"] == 1, recorded
    first.wait_for_state(service_id, "running" if recorded["service_start"] else "stopped")
    assert command(first, service_id, "stop").status_code == 200
    first.wait_for_state(service_id, "stopped")

    # Two deletes at once on each replica: one teardown, recorded once. The others change nothing: one that comes
    # while the service is being torn down is acknowledged (a retried delete must not fail), one that comes after
    # it is gone is a 404.
    deleted = at_once([(server, lambda client: client.delete(path)) for server in replicas * 2])
    statuses = Counter(response.status_code for response in deleted)
    assert statuses[200] >= 1, [r.text for r in deleted]
    assert set(statuses) <= {200, 404}, [r.text for r in deleted]
    assert activity_counts(first, service_id)["service_delete"] == 1
    with first.client() as client:
        wait_until(lambda: client.get(path).status_code == 404, what="the deleted service to be gone")
    assert command(second, service_id, "start").status_code == 404


@needs_clickhouse
def test_the_service_quota_holds_against_creates_on_every_replica(fresh_server: ClickplaneServer) -> None:
    fresh_server.settings["CLICKPLANE_QUOTA_SERVICES_PER_ORGANIZATION"] = "2"
    fresh_server.start()
    other = fresh_server.replica()
    try:
        other.start()
        body = {"name": "quota", "provider": "aws", "region": "us-east-1", "ipAccessList": [{"source": "127.0.0.1"}]}
        created = at_once([(server, lambda client, s=server: client.post(s.org_path("/services"), json=body))
                           for server in (fresh_server, other) * 3])
        assert Counter(response.status_code for response in created) == {200: 2, 400: 4}, [
            response.text for response in created]
        with fresh_server.client() as client:
            assert len(client.get(fresh_server.org_path("/services")).json()["result"]) == 2
    finally:
        other.stop()


@needs_clickhouse
def test_a_pipe_goes_on_in_the_replica_that_takes_over_from_a_killed_lease_holder(
        replicas: tuple[ClickplaneServer, ClickplaneServer]) -> None:
    holder, other = replicas
    created = other.create_service(name="piped")
    service = other.wait_for_state(created["service"]["id"], "running") | {"password": created["password"]}
    with moto_server() as s3:
        create_bucket(s3, "events", {"data/001.csv": csv_rows(1, 10)})
        with other.client() as client:
            made = client.post(other.org_path(f"/services/{service['id']}/clickpipes"),
                               json=pipe_body(s3, "events", continuous=True, pattern="data/*"))
        assert made.status_code == 200, made.text
        wait_until(lambda: clickhouse(service, "EXISTS TABLE default.events") == "1", what="the pipe's table")
        wait_until(lambda: clickhouse(service, "SELECT count() FROM default.events") == "10",
                   what="the lease holder's worker to load the first file")
        holder.stop(signal.SIGKILL)
        wait_until(lambda: LEASE_TAKEN in other.log(), timeout=15, what="the other replica to take the lease")
        put_objects(s3, "events", {"data/002.csv": csv_rows(11, 10)})
        wait_until(lambda: clickhouse(service, "SELECT count() FROM default.events") == "20",
                   what="the new lease holder's worker to load the file added after the kill")
        assert clickhouse(service, "SELECT uniqExact(id) FROM default.events") == "20"
        delete_services(other)
