"""The sampler's records on a real store: what each pattern did between two looks (the first look a baseline unless
the server's statistics just began, a pattern gone and back counting from 0), the retention, and a service gone
meanwhile; then what the API's use cases answer from them."""

from __future__ import annotations

import socket
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clickplane.auth.authentication import Caller, VerifiedKeys
from clickplane.auth.permissions import ADMIN
from clickplane.auth.secrets import SecretHasher
from clickplane.kit.errors import BadRequest, NotFound
from clickplane.postgres.telemetry.patterns import pattern_query
from clickplane.postgres.telemetry.readings import Reading
from clickplane.postgres.telemetry.repository import PostgresSamples, PostgresStatements
from clickplane.postgres.telemetry.sampler import FRESH_SECONDS, Look, PostgresSampler, StatementReading, Statements
from clickplane.postgres.telemetry.service import PostgresTelemetry
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.postgres.interface import SqlLogin
from clickplane.settings import Settings
from clickplane.store import models
from clickplane.store.database import Database
from tests.unit.fakes import app_context

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SELECT = StatementReading(query_id="-7", db_name="shop", db_user="app", query_text="SELECT * FROM t WHERE id = $1",
                          calls=10, total_exec_time_ms=20.0, max_exec_time_ms=5.0, rows=10, shared_blks_hit=30,
                          shared_blks_read=2, wal_bytes=0)
INSERT = StatementReading(query_id="99", db_name="shop", db_user="app", query_text="INSERT INTO t VALUES ($1)",
                          calls=1, total_exec_time_ms=1.0, max_exec_time_ms=1.0, rows=1, shared_blks_hit=3,
                          shared_blks_read=0, wal_bytes=120)
HASHER = SecretHasher(b"k" * 32)


class NoServer:
    """A runtime whose servers are never running."""

    async def sql_login(self, service_id: str) -> SqlLogin | None:
        return None


class GoneServer:
    """A runtime whose server went away: nothing listens where it says."""

    async def sql_login(self, service_id: str) -> SqlLogin | None:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        return SqlLogin(f"host=127.0.0.1 port={port} user=clickplane password=x sslmode=disable")


class BrokenRuntime:
    async def sql_login(self, service_id: str) -> SqlLogin | None:
        raise RuntimeFailure("the service's files cannot be read")


def postgres_service(database: Database, state: str = "running") -> models.PostgresService:
    with database.transaction() as session:
        organization = models.Organization(id=uuid.uuid4(), name="org")
        session.add(organization)
        service = models.PostgresService(
            id=uuid.uuid4(), organization_id=organization.id, name="pg", provider="aws", region="us-east-1",
            postgres_version="18", size="r6gd.medium", state=state, desired_state="running",
            superuser_verifier="SCRAM-SHA-256$4096:x", storage_gib=1)
        session.add(service)
    return service


def sampler(database: Database, retention_hours: float = 168) -> PostgresSampler:
    return PostgresSampler(database, NoServer(), interval_seconds=60, retention_hours=retention_hours)  # type: ignore[arg-type]


def look(*patterns: StatementReading, began: datetime | None = None, **counters: int) -> Look:
    return Look(Reading(counters=counters, connections={"active": 1}, database_sizes={"shop": 8192}),
                Statements(began, patterns))


def later(pattern: StatementReading, **counted: Any) -> StatementReading:
    """The pattern after it ran some more: its counters plus `counted`."""
    return replace(pattern, **{name: getattr(pattern, name) + value for name, value in counted.items()})


def totals(database: Database, service_id: uuid.UUID, since: datetime | None = None,
           until: datetime | None = None) -> dict[str, tuple[int, float, int, int]]:
    with database.looking() as session:
        found = PostgresStatements(session).totals(service_id, since, until)
    return {pattern.query_id: (pattern.calls, pattern.total_exec_time_ms, pattern.rows, pattern.wal_bytes)
            for pattern in found}


def test_the_first_look_of_a_long_running_server_is_only_the_baseline(database: Database) -> None:
    service = postgres_service(database)
    recorder = sampler(database)

    assert recorder.store(service.id, START, look(SELECT, began=START - timedelta(days=30)))
    assert totals(database, service.id) == {}
    recorder.store(service.id, START + timedelta(minutes=1), look(later(SELECT, calls=5, total_exec_time_ms=1.5,
                                                                         rows=5), INSERT))

    assert totals(database, service.id) == {"-7": (5, 1.5, 5, 0), "99": (1, 1.0, 1, 120)}


def test_patterns_are_counted_from_the_first_look_that_read_pg_stat_statements_even_an_empty_one(
        database: Database) -> None:
    service = postgres_service(database)
    recorder = sampler(database)
    long_ago = START - timedelta(days=30)
    recorder.store(service.id, START, Look(Reading(), None))  # no extension yet
    recorder.store(service.id, START + timedelta(minutes=1), look(INSERT, began=long_ago))  # the baseline
    recorder.store(service.id, START + timedelta(minutes=2), look(later(INSERT, calls=1), began=long_ago))
    assert totals(database, service.id) == {"99": (1, 0.0, 0, 0)}

    other = postgres_service(database)
    recorder.store(other.id, START, look(began=long_ago))  # only clickplane's own statements: none kept
    recorder.store(other.id, START + timedelta(minutes=1), look(SELECT, began=long_ago))
    assert totals(database, other.id) == {"-7": (10, 20.0, 10, 0)}


def test_the_first_look_of_a_new_server_counts_what_it_did_since_its_statistics_began(database: Database) -> None:
    service = postgres_service(database)

    sampler(database).store(service.id, START, look(SELECT, began=START - timedelta(seconds=FRESH_SECONDS - 1)))

    assert totals(database, service.id) == {"-7": (10, 20.0, 10, 0)}


def test_only_what_ran_is_recorded_and_a_pattern_gone_and_back_counts_from_zero(database: Database) -> None:
    service = postgres_service(database)
    recorder = sampler(database)
    minute = timedelta(minutes=1)
    inserted = later(INSERT, calls=2, wal_bytes=10)
    recorder.store(service.id, START, look(SELECT, INSERT, began=START - timedelta(days=1)))
    recorder.store(service.id, START + minute, look(SELECT, inserted))
    recorder.store(service.id, START + 2 * minute, look(inserted))  # SELECT evicted (or reset)
    recorder.store(service.id, START + 3 * minute, look(replace(SELECT, calls=3, total_exec_time_ms=0.5, rows=3),
                                                        inserted))

    with database.looking() as session:
        ran = session.query(models.PostgresStatementSample).count()
    assert ran == 2  # only INSERT at minute 1, SELECT at minute 3
    assert totals(database, service.id) == {"-7": (3, 0.5, 3, 0), "99": (2, 0.0, 0, 10)}
    assert totals(database, service.id, since=START + 2 * minute) == {"-7": (3, 0.5, 3, 0)}
    assert totals(database, service.id, until=START + 2 * minute) == {"99": (2, 0.0, 0, 10)}


def test_a_counter_reset_counts_the_new_value(database: Database) -> None:
    service = postgres_service(database)
    recorder = sampler(database)
    recorder.store(service.id, START, look(SELECT, began=START - timedelta(days=1)))
    recorder.store(service.id, START + timedelta(minutes=1), look(replace(SELECT, calls=4, total_exec_time_ms=2.0,
                                                                          rows=4)))

    assert totals(database, service.id) == {"-7": (4, 2.0, 4, 0)}


def test_samples_older_than_the_retention_go_with_patterns_left_with_nothing(database: Database) -> None:
    service = postgres_service(database)
    recorder = sampler(database, retention_hours=1)
    recorder.store(service.id, START, look(SELECT, INSERT, began=START))
    recorder.store(service.id, START + timedelta(minutes=30), look(INSERT))  # SELECT gone
    recorder.store(service.id, START + timedelta(minutes=90), look(later(INSERT, calls=1)))

    with database.looking() as session:
        kept = PostgresSamples(session).between(service.id, START, START + timedelta(hours=2))
        patterns = [pattern.query_id for pattern in PostgresStatements(session).of(service.id)]
    assert [sample.taken_at for sample in kept] == [START + timedelta(minutes=30), START + timedelta(minutes=90)]
    assert patterns == ["99"]
    assert totals(database, service.id) == {"99": (1, 0.0, 0, 0)}


def test_a_look_at_a_service_deleted_meanwhile_is_dropped(database: Database) -> None:
    service = postgres_service(database)
    with database.transaction() as session:
        session.delete(session.get(models.PostgresService, service.id))

    assert not sampler(database).store(service.id, START, look(SELECT))


@pytest.mark.anyio
@pytest.mark.parametrize("runtime", [NoServer(), GoneServer(), BrokenRuntime()])
async def test_a_server_that_cannot_be_looked_at_is_not_sampled_and_nothing_raises(database: Database,
                                                                                  runtime: Any) -> None:
    service = postgres_service(database)
    recorder = PostgresSampler(database, runtime, interval_seconds=60, retention_hours=1)

    assert not await recorder.sample(service.id)
    await recorder.sample_when_due(service.id)

    with database.looking() as session:
        assert PostgresSamples(session).between(service.id, START - timedelta(days=1), datetime.now(UTC)) == []


def telemetry(database: Database, tmp_path: Path) -> PostgresTelemetry:
    settings = Settings(data_dir=tmp_path, database_url=database.url, postgres_metrics_interval_seconds=60)
    return PostgresTelemetry(app_context(settings, database, HASHER, VerifiedKeys(ttl_seconds=60)))


def admin_of(service: models.PostgresService) -> Caller:
    return Caller(uuid.uuid4(), "admin", service.organization_id, (str(ADMIN.id),), ADMIN.policies)


def test_the_use_cases_answer_from_the_samples(database: Database, tmp_path: Path) -> None:
    service = postgres_service(database)
    recorder = sampler(database)
    now = datetime.now(UTC).replace(microsecond=0)
    recorder.store(service.id, now - timedelta(minutes=2), look(SELECT, began=now - timedelta(days=1),
                                                                xact_commit=100))
    recorder.store(service.id, now - timedelta(minutes=1), look(later(SELECT, calls=6, total_exec_time_ms=3.0),
                                                                xact_commit=160))
    api, caller = telemetry(database, tmp_path), admin_of(service)
    since, until = (now - timedelta(minutes=3)).isoformat(), now.isoformat()

    metrics = {metric.key: metric for metric in api.metrics(caller, service.organization_id, service.id, since,
                                                            until, 60).metrics}
    [commits] = [one for one in metrics["transactions"].series if one.label == "Commits"]
    assert [point.value for point in commits.dataPoints] == [1.0]
    listed = api.slow_query_patterns(caller, service.organization_id, service.id, pattern_query(since, until))
    assert [(pattern.queryId, pattern.callCount, pattern.dbOperation) for pattern in listed] == [("-7", 6, "SELECT")]
    detail = api.slow_query_pattern(caller, service.organization_id, service.id, "-7", "shop", "app", "select")
    assert detail.aggregate is not None
    assert (detail.aggregate.callCount, detail.recentExecutions) == (6, [])
    text = api.prometheus_service(caller, service.organization_id, service.id)
    assert "PostgresServer_TransactionsCommitted_Total{" in text
    assert api.prometheus_organization(caller, service.organization_id).count("PostgresServiceInfo{") == 1


def test_the_use_cases_refuse_what_they_cannot_find(database: Database, tmp_path: Path) -> None:
    service = postgres_service(database)
    api, caller = telemetry(database, tmp_path), admin_of(service)

    with pytest.raises(NotFound, match="no samples of query pattern -7"):
        api.slow_query_pattern(caller, service.organization_id, service.id, "-7", "shop", "app", "SELECT")
    with pytest.raises(NotFound, match="does not exist"):
        api.metrics(caller, service.organization_id, uuid.uuid4(), "2026-12-01", "2026-12-02", None)
    with pytest.raises(BadRequest, match="more than the 250 allowed"):
        api.metrics(caller, service.organization_id, service.id, "2026-12-01", "2026-12-02", 60)
    with pytest.raises(BadRequest, match="application_name"):
        api.slow_query_pattern(caller, service.organization_id, service.id, "-7", "shop", "app", "SELECT", app="x")


def test_a_stopped_service_shows_its_info_line_only(database: Database, tmp_path: Path) -> None:
    service = postgres_service(database, state="stopped")
    sampler(database).store(service.id, datetime.now(UTC), look(xact_commit=1))

    text = telemetry(database, tmp_path).prometheus_service(admin_of(service), service.organization_id, service.id)

    assert 'postgres_status="stopped"' in text
    assert "PostgresServer_" not in text
