"""The control plane's own Prometheus metrics, in a registry per application (GET /metrics).

They hold counts, durations and route templates only: no ids, names or secrets of any organization.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import get_args

from blacksheep import Content, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from clickplane.domain.enums import ServiceState
from clickplane.observability.logs import PROBLEMS, ProblemCounts
from clickplane.store.database import Database
from clickplane.store.models import Service

log = logging.getLogger(__name__)

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
# Any other method a client makes up is counted as OTHER, so it cannot add series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
PASS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class HttpMetrics:
    """Requests by method, route template and status, and their latency by method and route template."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("clickplane_http_requests", "HTTP requests answered, by method, route template "
                                "and status.", ["method", "route", "status"], registry=registry)
        self.latency = Histogram("clickplane_http_request_duration_seconds", "Time from a request's arrival to "
                                 "the end of its response, by method and route template.", ["method", "route"],
                                 registry=registry)
        # The labelled children, looked up once per series: labels() costs more than the increment itself.
        self._series: dict[tuple[str, bytes | None, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: bytes | None, status: int, seconds: float) -> None:
        """`route` is the matched route's pattern, None when no route matched."""
        key = (method if method in METHODS else "OTHER", route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = self._children(*key)
        requests, latency = series
        requests.inc()
        latency.observe(seconds)

    def _children(self, method: str, route: bytes | None, status: int) -> tuple[Counter, Histogram]:
        route_label = route.decode() if route and route != b"*" else UNMATCHED  # `*`: the router's fallback
        return self.requests.labels(method, route_label, str(status)), self.latency.labels(method, route_label)


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
    """An application's registry: its HTTP metrics, services by state, logged problems and `collectors`."""
    registry = CollectorRegistry()
    http = HttpMetrics(registry)
    for collector in (ServicesByState(database), LoggedProblems(PROBLEMS), *collectors):
        registry.register(collector)
    return registry, http


def scrape_handler(registry: CollectorRegistry) -> Callable[[], Awaitable[Response]]:
    """GET /metrics: the registry in Prometheus' text format."""
    async def scrape() -> Response:
        return Response(200, None, Content(CONTENT_TYPE, generate_latest(registry)))

    return scrape
