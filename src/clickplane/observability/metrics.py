"""The control plane's own Prometheus metrics, in a registry per application (GET /metrics).

They hold counts, durations and route templates only: no ids, names or secrets of any organization.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import accumulate
from typing import get_args

from blacksheep import Content, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from clickplane.kit.enums import ServiceState
from clickplane.observability.logs import PROBLEMS, ProblemCounts
from clickplane.store.database import Database
from clickplane.store.models import ClickPipe, Service

log = logging.getLogger(__name__)

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
# Any other method a client makes up is counted as OTHER, so it cannot add series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
# prometheus_client's default buckets, for requests.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
BUCKET_NAMES = [*map(floatToGoString, LATENCY_BUCKETS), "+Inf"]
PASS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(slots=True)
class _Series:
    """Requests of one method, route and status: how many, their seconds in all, and how many in each bucket."""

    count: int = 0
    seconds: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))  # the last: +Inf

    def add(self, other: _Series) -> None:
        self.count += other.count
        self.seconds += other.seconds
        self.buckets = [mine + theirs for mine, theirs in zip(self.buckets, other.buckets, strict=True)]


class HttpMetrics(Collector):
    """Requests by method, route template and status, and their latency by method and route template.

    Kept as plain numbers and made into metric families when scraped: prometheus_client's Counter and Histogram
    take a lock for each of several increments a request (17k instructions, against about 5k here). Requests and
    scrapes alike run on the event loop, so nothing else touches them meanwhile."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, bytes | None, int], _Series] = {}

    def observe(self, method: str, route: bytes | None, status: int, seconds: float) -> None:
        """`route` is the matched route's pattern, None when no route matched."""
        key = (method if method in METHODS else "OTHER", route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        series.count += 1
        series.seconds += seconds
        series.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily("clickplane_http_requests", "HTTP requests answered, by method, route "
                                       "template and status.", labels=["method", "route", "status"])
        latency: dict[tuple[str, str], _Series] = {}
        for (method, route, status), series in self._series.items():
            label = route.decode() if route and route != b"*" else UNMATCHED  # `*`: the router's fallback
            requests.add_metric([method, label, str(status)], series.count)
            latency.setdefault((method, label), _Series()).add(series)
        histogram = HistogramMetricFamily("clickplane_http_request_duration_seconds", "Time from a request's "
                                          "arrival to the end of its response, by method and route template.",
                                          labels=["method", "route"])
        for labels, series in latency.items():
            histogram.add_metric(list(labels), list(zip(BUCKET_NAMES, accumulate(series.buckets), strict=True)),
                                 series.seconds)
        yield requests
        yield histogram


class ReconcilerMetrics(Collector):
    """What the reconciler does, kept by it and exposed by the application serving beside it."""

    def __init__(self) -> None:
        self.passes = Counter("clickplane_reconciler_passes", "Reconciler passes (each reads what needs work and "
                              "dispatches it).", registry=None)
        self.pass_seconds = Histogram("clickplane_reconciler_pass_duration_seconds", "Time a reconciler pass "
                                      "takes.", buckets=PASS_BUCKETS, registry=None)
        self.errors = Counter("clickplane_reconciler_errors", "Reconciler failures: a pass that failed, or work "
                              "on a service that ended in an unexpected error.", ["stage"], registry=None)

    @contextmanager
    def measuring_pass(self) -> Iterator[None]:
        """Count and time a pass; one that raises also counts as an error (and the error goes on)."""
        started = time.perf_counter()
        try:
            yield
        except Exception:
            self.errors.labels("pass").inc()
            raise
        finally:
            self.passes.inc()
            self.pass_seconds.observe(time.perf_counter() - started)

    def service_failed(self) -> None:
        self.errors.labels("service").inc()

    def collect(self) -> Iterable[Metric]:
        for metric in (self.passes, self.pass_seconds, self.errors):
            yield from metric.collect()


class ServicesByState(Collector):
    """How many services (of all organizations) are in each state, read from the store at scrape time."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterable[Metric]:
        try:
            with self.database.reading() as connection:
                counts = dict(connection.execute(select(Service.state, func.count()).group_by(Service.state)).all())
        except SQLAlchemyError as error:  # the other metrics still say something; /readyz says the rest
            log.warning("metrics: the store did not answer for services by state (%s)", type(error).__name__)
            return
        gauge = GaugeMetricFamily("clickplane_services", "Services by state, all organizations.", labels=["state"])
        for state in sorted({*get_args(ServiceState), *counts}):
            gauge.add_metric([state], counts.get(state, 0))
        yield gauge


class ClickPipesProgress(Collector):
    """What each ClickPipe moved (rows and bytes, since it was made) and how far behind its source it is, read
    from the store at scrape time, where the pipes' workers count it as they go."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterable[Metric]:
        columns = (ClickPipe.id, ClickPipe.service_id, ClickPipe.kind, ClickPipe.rows_moved, ClickPipe.bytes_moved,
                   ClickPipe.lag_bytes)
        try:
            with self.database.reading() as connection:
                pipes = connection.execute(select(*columns).order_by(ClickPipe.created_at)).all()
        except SQLAlchemyError as error:
            log.warning("metrics: the store did not answer for ClickPipes (%s)", type(error).__name__)
            return
        labels = ["clickpipe_id", "service_id", "source"]
        rows = CounterMetricFamily("clickplane_clickpipe_rows", "Rows a ClickPipe has written to its destination.",
                                   labels=labels)
        moved = CounterMetricFamily("clickplane_clickpipe_bytes", "Bytes a ClickPipe has read from its source.",
                                    labels=labels)
        lag = GaugeMetricFamily("clickplane_clickpipe_lag_bytes", "WAL a Postgres ClickPipe's slot holds that the "
                                "destination does not have yet, as last seen.", labels=labels)
        for pipe_id, service_id, kind, row_count, byte_count, lag_bytes in pipes:
            names = [str(pipe_id), str(service_id), kind]
            rows.add_metric(names, row_count)
            moved.add_metric(names, byte_count)
            if lag_bytes is not None:
                lag.add_metric(names, lag_bytes)
        yield from (rows, moved, lag)


class LoggedProblems(Collector):
    """Warnings and errors logged, by logger and level (metering and backup failures among them)."""

    def __init__(self, problems: ProblemCounts) -> None:
        self.problems = problems

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily("clickplane_log_messages", "Warnings and errors logged, by logger and level.",
                                     labels=["logger", "level"])
        for (logger, level), count in sorted(self.problems.counts.items()):
            family.add_metric([logger, level], count)
        yield family


def registry_of(database: Database, collectors: Iterable[Collector]) -> tuple[CollectorRegistry, HttpMetrics]:
    """An application's registry: its HTTP metrics, services by state, ClickPipes' progress, logged problems and
    `collectors`."""
    registry, http = CollectorRegistry(), HttpMetrics()
    for collector in (http, ServicesByState(database), ClickPipesProgress(database), LoggedProblems(PROBLEMS),
                      *collectors):
        registry.register(collector)
    return registry, http


def scrape_handler(registry: CollectorRegistry) -> Callable[[], Awaitable[Response]]:
    """GET /metrics: the registry in Prometheus' text format."""
    async def scrape() -> Response:
        return Response(200, None, Content(CONTENT_TYPE, generate_latest(registry)))

    return scrape
