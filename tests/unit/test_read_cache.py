"""The read cache: fresh for its time to live, cleared when this process commits a change, and never left
holding what a read overlapping a change returned."""

from __future__ import annotations

from sqlalchemy import select, update

from clickplane.store.database import Database
from clickplane.store.models import Organization
from clickplane.store.read_cache import ReadCache


class Seconds:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_reused_until_its_time_is_up() -> None:
    clock = Seconds()
    cache = ReadCache(1.0, clock=clock)
    loads = iter(["first", "second"])
    assert cache.get("k", lambda: next(loads)) == "first"
    clock.now += 0.9
    assert cache.get("k", lambda: next(loads)) == "first"
    clock.now += 0.2
    assert cache.get("k", lambda: next(loads)) == "second"


def test_no_time_to_live_means_no_caching() -> None:
    cache = ReadCache(0)
    loads = iter(["first", "second"])
    assert cache.get("k", lambda: next(loads)) == "first"
    assert cache.get("k", lambda: next(loads)) == "second"


def test_a_read_that_overlapped_a_clear_is_not_kept() -> None:
    cache = ReadCache(60)

    def read_while_someone_writes() -> str:
        cache.clear()  # a change committed while this read was under way
        return "maybe stale"

    assert cache.get("k", read_while_someone_writes) == "maybe stale"
    assert cache.get("k", lambda: "fresh") == "fresh"


def test_the_cache_never_holds_more_than_its_bound() -> None:
    cache = ReadCache(60, max_entries=3)
    loads: list[int] = []
    for key in [*range(10), 9]:
        cache.get(key, lambda key=key: loads.append(key))  # type: ignore[misc]
    assert loads == list(range(10))  # the last key was still held: the bound drops all at once, then refills
    for key in range(3):
        cache.get(key, lambda key=key: loads.append(key))  # type: ignore[misc]
    assert loads[10:] == [0, 1, 2]


def test_committed_changes_clear_it_and_reads_and_rollbacks_do_not(database: Database) -> None:
    cache = ReadCache(60)
    cache.watch(database.engine)
    with database.transaction() as session:
        session.add(Organization(name="before"))
    cache.get("k", lambda: "cached")
    with database.transaction() as session:
        session.scalars(select(Organization)).all()
    with database.reading() as connection:
        connection.execute(select(Organization)).all()
    assert cache.get("k", lambda: "reloaded") == "cached"

    try:
        with database.transaction() as session:
            session.execute(update(Organization).values(name="rolled back"))
            raise RuntimeError("abandon the change")
    except RuntimeError:
        pass
    assert cache.get("k", lambda: "reloaded") == "cached"

    with database.transaction() as session:
        session.execute(update(Organization).values(name="after"))
    assert cache.get("k", lambda: "reloaded") == "reloaded"
