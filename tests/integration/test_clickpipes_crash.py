"""ClickPipes across a killed `clickplane serve`: SIGKILL while a Postgres CDC pipe streams a writer's changes, and
while an object-storage pipe loads a bucket of files; after each restart (the ClickHouse and PostgreSQL servers run
on and are adopted) the pipe resumes from its checkpoint, and once it has caught up the destination holds exactly
what the source does: the same rows (count and checksum), none of them twice.

The kills land wherever the workers happen to be (between a ClickHouse write and the slot's confirmation, inside a
file's move or its journal entry, ...); the test waits for progress it can see before each kill, so it always
kills while data is still flowing, never at a set time."""

from __future__ import annotations

import hashlib
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, wait_until
from tests.integration.test_clickpipes_object_storage import Pipes, clickhouse, pipe_body
from tests.integration.test_clickpipes_postgres import Setup
from tests.integration.test_lifecycle import command
from tests.processes import processes_mentioning
from tests.s3 import create_bucket, moto_server

pytestmark = [pytest.mark.integration, needs_clickhouse]

CATCH_UP_SECONDS = 180.0  # the destination in step with the source after the last restart
PROGRESS_SECONDS = 90.0  # the next piece of progress to kill at


@pytest.fixture
def crash_server(fresh_server: ClickplaneServer) -> Iterator[ClickplaneServer]:
    """A started clickplane of its own; at the end its pipes, then its services are deleted through the API and
    the test waits until no process of its data dir is left but `serve` (the fixture then removes the rest)."""
    fresh_server.start()
    yield fresh_server
    if fresh_server.process is None or fresh_server.process.poll() is not None:
        fresh_server.start()
    with fresh_server.client() as client:
        services = client.get(fresh_server.org_path("/services")).json()["result"]
        for service in services:
            base = f"/services/{service['id']}/clickpipes"
            for pipe in client.get(fresh_server.org_path(base)).json()["result"]:
                client.delete(fresh_server.org_path(f"{base}/{pipe['id']}"))
                wait_until(lambda b=base, p=pipe: client.get(fresh_server.org_path(f"{b}/{p['id']}")).status_code
                           == 404, what=f"pipe {pipe['id']} to be gone")
        for service in services:  # a running service is stopped before it may be deleted
            command(fresh_server, service["id"], "stop")
        for service in services:
            fresh_server.wait_for_state(service["id"], "stopped")
            deleted = client.delete(fresh_server.org_path(f"/services/{service['id']}"))
            assert deleted.status_code == 200, deleted.text
        for item in sorted(client.get(fresh_server.org_path("/postgres")).json()["result"],
                           key=lambda i: i["isPrimary"]):
            client.delete(fresh_server.org_path(f"/postgres/{item['id']}"))
        left: list[str] = []

        def all_gone() -> bool:
            left[:] = [f"{item['name']} {item['state']}" for kind in ("/services", "/postgres")
                       for item in client.get(fresh_server.org_path(kind)).json()["result"]]
            return not left

        try:
            wait_until(all_gone, what="every service to be gone")
        except AssertionError as error:
            raise AssertionError(f"{error}: left {left}; {fresh_server.log_tail()}") from None
    serve = str(fresh_server.process.pid) if fresh_server.process else ""
    wait_until(lambda: [line for line in processes_mentioning(fresh_server.data_dir)
                        if not line.startswith(f"{serve}:")] == [],
               what=f"no server of {fresh_server.data_dir} left running")


def kill_and_restart(server: ClickplaneServer) -> None:
    server.stop(signal.SIGKILL)
    server.start()


def checksum(rows: Iterable[tuple[str, ...]]) -> int:
    """An order-free checksum of rows: the sum, mod 2**64, of a 64-bit hash of each row's tab-joined text."""
    return sum(int.from_bytes(hashlib.blake2b("\t".join(row).encode(), digest_size=8).digest(), "big")
               for row in rows) % 2**64


def wait_for_progress(condition: Callable[[], bool], what: str, server: ClickplaneServer) -> None:
    try:
        wait_until(condition, timeout=PROGRESS_SECONDS, what=what)
    except AssertionError as error:
        raise AssertionError(f"{error}; {server.log_tail()}") from None


# --- Postgres CDC ------------------------------------------------------------------------------------------

class Writer(threading.Thread):
    """Inserts, updates and deletes rows of `orders` in transactions of 1 to 400 changes (some larger than the
    pipe's pull batch), paced so that the changes flow for several seconds, until `total` changes or `stop()`.
    Deleted ids are inserted again now and then; one transaction may change a row several times."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]], first_ids: Iterable[int], total: int,
                 seed: int) -> None:
        super().__init__(name="cdc-writer", daemon=True)
        self.connect, self.total, self.random = connect, total, random.Random(seed)
        self.live, self.dead = sorted(first_ids), []  # lists: random.choice needs a sequence
        self.next_id = max(self.live, default=0) + 1
        self.changes, self.transactions = 0, 0
        self.error: BaseException | None = None
        self._stop_requested = threading.Event()

    def stop(self) -> None:
        self._stop_requested.set()
        self.join(timeout=60)
        assert not self.is_alive(), "the writer did not stop"
        if self.error is not None:
            raise AssertionError(f"the writer failed: {self.error!r}") from self.error

    def run(self) -> None:
        try:
            with self.connect() as connection:
                while self.changes < self.total and not self._stop_requested.is_set():
                    size = self.random.choice((1, 1, 2, 3, 5, 8, 13, 30, 60, 120, 400))
                    with connection.transaction():
                        for _ in range(size):
                            self._change(connection)
                    self.changes += size
                    self.transactions += 1
                    self._stop_requested.wait(0.02 + size / 300)  # at most 300 changes a second
        except BaseException as error:  # reported by stop()
            self.error = error

    def _change(self, connection: psycopg.Connection[Any]) -> None:
        dice = self.random.random()
        if dice < 0.4 or len(self.live) < 10:
            if self.dead and dice < 0.1:
                row_id = self.dead.pop(self.random.randrange(len(self.dead)))
            else:
                row_id, self.next_id = self.next_id, self.next_id + 1
            connection.execute("INSERT INTO orders (id, name, amount) VALUES (%s, %s, %s)",
                               (row_id, f"new {row_id} {self.random.getrandbits(32):08x}",
                                self.random.randrange(-10**12, 10**12)))
            self.live.append(row_id)
        elif dice < 0.8:
            row_id = self.random.choice(self.live)
            connection.execute("UPDATE orders SET name = %s, amount = amount + %s WHERE id = %s",
                               (f"changed {self.changes} {self.random.getrandbits(32):08x}",
                                self.random.randrange(1, 1000), row_id))
        else:
            row_id = self.live.pop(self.random.randrange(len(self.live)))
            connection.execute("DELETE FROM orders WHERE id = %s", (row_id,))
            self.dead.append(row_id)


def changes_written(setup: Setup) -> int:
    """Change rows in the destination (every write of a change, replays included: not FINAL)."""
    return int(setup.clickhouse("SELECT count() FROM default.orders WHERE _peerdb_version > 0").strip() or 0)


def test_a_cdc_pipe_killed_twice_while_changes_stream_ends_with_exactly_the_source_rows(
        crash_server: ClickplaneServer, tmp_path: Path) -> None:
    server = crash_server
    setup = Setup(server, tmp_path)
    with setup.source() as connection:
        connection.execute("CREATE TABLE orders (id int PRIMARY KEY, name text NOT NULL, amount bigint NOT NULL)")
        connection.execute("INSERT INTO orders (id, name, amount) SELECT n, 'first ' || n, n * 1000 "
                           "FROM generate_series(1, 500) n")
    with server.client() as client:
        created = client.post(setup.pipes_path(), json=setup.create_body(pullBatchSize=150))
    assert created.status_code == 200, created.text
    pipe_id = created.json()["result"]["id"]
    setup.wait_for(pipe_id, "Running")
    wait_for_progress(lambda: len(setup.destination_rows()) == 500, "the snapshot to arrive", server)

    seed = random.SystemRandom().randrange(2**32)
    print(f"writer seed {seed}")
    writer = Writer(setup.source, range(1, 501), total=8000, seed=seed)
    writer.start()
    try:
        for kill in (1, 2):
            seen = changes_written(setup)
            wait_for_progress(lambda s=seen: changes_written(setup) >= s + 400 or not writer.is_alive(),
                              f"400 more changes in the destination before kill {kill}", server)
            assert writer.is_alive(), f"the writer ended before kill {kill} ({writer.changes} changes, " \
                                      f"{writer.error!r}): nothing was in flight"
            print(f"kill {kill}: {changes_written(setup)} change rows written, {writer.changes} changes made")
            kill_and_restart(server)
    finally:
        writer.stop()
    print(f"writer: {writer.changes} changes in {writer.transactions} transactions")

    expected = setup.source_rows()
    assert len(expected) == len(writer.live)
    try:
        wait_until(lambda: setup.destination_rows() == expected, timeout=CATCH_UP_SECONDS,
                   what="the destination to hold exactly the source's rows")
    except AssertionError as error:
        found = setup.destination_rows()
        differing = sorted(set(expected) ^ set(found))[:10]
        raise AssertionError(f"{error}: source {len(expected)} rows (checksum {checksum(expected)}), destination "
                             f"{len(found)} (checksum {checksum(found)}); differing rows {differing}; "
                             f"{server.log_tail()}") from None
    found = setup.destination_rows()
    assert (len(found), checksum(found)) == (len(expected), checksum(expected))
    counts = setup.clickhouse("SELECT count(), uniqExact(id) FROM default.orders FINAL FORMAT TSV").split()
    assert counts[0] == counts[1], f"a row is doubled in FINAL: count {counts[0]}, distinct ids {counts[1]}"
    assert setup.pipe(pipe_id)["state"] == "Running"


# --- object storage ----------------------------------------------------------------------------------------

FILES, ROWS_PER_FILE = 60, 2000


def object_rows(file_number: int) -> list[tuple[str, str]]:
    first = file_number * ROWS_PER_FILE + 1
    tag = hashlib.blake2b(str(file_number).encode(), digest_size=6).hexdigest()
    return [(str(n), f"file {file_number} row {n} {tag}") for n in range(first, first + ROWS_PER_FILE)]


@pytest.fixture
def s3() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


def test_an_object_storage_pipe_killed_during_its_batches_loads_every_file_exactly_once(
        crash_server: ClickplaneServer, s3: str) -> None:
    server = crash_server
    files = {f"data/{number:04d}.csv": object_rows(number) for number in range(FILES)}
    create_bucket(s3, "events", {key: "".join(f"{n},{label}\n" for n, label in rows).encode()
                                 for key, rows in files.items()})
    uploaded = [row for rows in files.values() for row in rows]
    total = len(uploaded)
    created = server.create_service(name="object pipes crash")
    service = server.wait_for_state(created["service"]["id"], "running") | {"password": created["password"]}
    pipes = Pipes(server, service)
    body = pipe_body(s3, "events", continuous=True)
    body["settings"] |= {"object_storage_max_file_count": 4}
    pipe_id = pipes.create(body)["id"]

    def loaded() -> int:
        return int(clickhouse(service, "SELECT count() FROM default.events")
                   if clickhouse(service, "EXISTS TABLE default.events") == "1" else 0)

    # Kill after a tenth of the rows, after half, and once more as soon as the restarted worker has moved a file.
    for kill, share in enumerate((0.1, 0.5, 0.0), start=1):
        seen = loaded()
        wait_for_progress(lambda s=seen, h=share: loaded() >= max(s + 1, h * total), f"rows loaded before kill {kill}",
                          server)
        now = loaded()
        assert now < total, f"every file was loaded before kill {kill}: nothing was in flight"
        print(f"kill {kill}: {now} of {total} rows loaded")
        kill_and_restart(server)

    try:
        wait_until(lambda: loaded() >= total, timeout=CATCH_UP_SECONDS, what=f"{total} rows to be loaded")
        time.sleep(1)  # a duplicate move would land now, after the last file
    except AssertionError as error:
        raise AssertionError(f"{error}: {loaded()} loaded; {pipes.get(pipe_id)}; {server.log_tail()}") from None
    summary = clickhouse(service, "SELECT count(), uniqExact(id), sum(id) FROM default.events FORMAT TSV").split()
    assert summary == [str(total), str(total), str(sum(int(n) for n, _ in uploaded))], \
        f"count, distinct ids, sum of ids: {summary}; {server.log_tail()}"
    found = [tuple(line.split("\t")) for line in
             clickhouse(service, "SELECT toString(id), label FROM default.events FORMAT TSV").splitlines()]
    assert (len(found), checksum(found)) == (total, checksum(uploaded))
    assert clickhouse(service, "SELECT count() FROM default.events_clickpipes_error") == "0"
    assert pipes.get(pipe_id)["state"] == "Running"
