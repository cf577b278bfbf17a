"""clickplane's own observability, in process: request ids shared by envelope, header and logs; log formats;
metrics labelled by route template; the reconciler's and the logged problems' figures."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from clickplane import operations, server
from clickplane.app import create_app
from clickplane.observability.context import begin_request, end_request, note_caller, request_id
from clickplane.observability.logs import (
    ACCESS,
    JsonFormatter,
    LogFormat,
    ProblemCounts,
    TextFormatter,
    configure,
)
from clickplane.observability.metrics import LoggedProblems, ReconcilerMetrics
from clickplane.organizations.service import Bootstrap
from clickplane.services.controller import work_key
from clickplane.settings import Settings
from clickplane.store.database import Database

pytestmark = pytest.mark.anyio

SERVICES_ROUTE = "/v1/organizations/{organizationId}/services/{serviceId}"


@dataclass
class Served:
    client: httpx.AsyncClient
    bootstrap: Bootstrap
    plane: server.ControlPlane

    @property
    def auth(self) -> tuple[str, str]:
        return self.bootstrap.key_id, self.bootstrap.key_secret

    def org_path(self, suffix: str = "") -> str:
        return f"/v1/organizations/{self.bootstrap.organization_id}{suffix}"

    async def samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """GET /metrics, parsed: each sample's value by name and labels."""
        answer = await self.client.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        return {(sample.name, frozenset(sample.labels.items())): sample.value
                for family in text_string_to_metric_families(answer.text) for sample in family.samples}


@pytest.fixture
async def served(database: Database, tmp_path: Path) -> AsyncIterator[Served]:
    """The application of a real composition root over a real store, driven in process (no ClickHouse)."""
    settings = Settings(data_dir=tmp_path, database_url=database.url, clickhouse_binary="/nonexistent/clickhouse")
    bootstrap = operations.initialize(settings, "observed", "admin@example.com")
    plane = server.build(settings)
    app = create_app(plane.context, [plane.reconciler.metrics])
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://clickplane") as client:
            yield Served(client, bootstrap, plane)
    finally:
        plane.database.dispose()


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What serve would log in JSON format (records and access lines) while the test runs."""
    yield from _captured(LogFormat.JSON)


@pytest.fixture
def text_lines() -> Iterator[io.StringIO]:
    yield from _captured(LogFormat.TEXT)


def _captured(log_format: LogFormat) -> Iterator[io.StringIO]:
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(JsonFormatter() if log_format is LogFormat.JSON else TextFormatter())
    root = logging.getLogger()
    level, access = root.level, (ACCESS.handler, ACCESS.json)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    ACCESS.handler, ACCESS.json = handler, log_format is LogFormat.JSON
    try:
        yield output
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        ACCESS.handler, ACCESS.json = access


def parsed(output: io.StringIO) -> list[dict[str, Any]]:
    ACCESS.flush()  # access lines pending until the event loop's turn ends
    return [json.loads(line) for line in output.getvalue().splitlines()]


def access_lines(output: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in parsed(output) if line["logger"] == "clickplane.access"]


async def test_envelope_header_and_log_lines_share_the_request_id(served: Served, json_lines: io.StringIO) -> None:
    answer = await served.client.get(served.org_path("/services"), auth=served.auth)
    refused = await served.client.get(served.org_path("/services"), auth=(served.bootstrap.key_id, "wrong"))
    assert answer.status_code == 200
    assert refused.status_code == 401
    for response in (answer, refused):
        assert response.headers["x-request-id"] == response.json()["requestId"]
    ok, unauthorized = access_lines(json_lines)
    assert ok["requestId"] == answer.json()["requestId"]
    assert ok["keyId"] == served.bootstrap.key_id
    assert {key: ok[key] for key in ("method", "path", "status", "level")} == {
        "method": "GET", "path": served.org_path("/services"), "status": 200, "level": "INFO"}
    assert ok["durationMs"] >= 0
    assert ok["message"].startswith(f"GET {served.org_path('/services')} 200 ")
    assert unauthorized["requestId"] == refused.json()["requestId"]
    assert "keyId" not in unauthorized  # the key was not authenticated


async def test_the_access_line_has_no_query_string_credentials_or_body(served: Served,
                                                                        json_lines: io.StringIO) -> None:
    created = await served.client.post(served.org_path("/keys?note=hidden-query-value"), auth=served.auth,
                                       json={"name": "reader", "roles": ["developer"]})
    assert created.status_code == 200, created.text
    secret = created.json()["result"]["keySecret"]
    written = "\n".join(json.dumps(line) for line in parsed(json_lines) if line["logger"] != "httpx")  # not ours
    for private in (secret, served.bootstrap.key_secret, "hidden-query-value", "reader"):
        assert private not in written
    (line,) = access_lines(json_lines)
    assert line["path"] == served.org_path("/keys")


async def test_requests_are_counted_by_route_template_and_bounded_method(served: Served) -> None:
    for _ in range(2):  # a different id each time: still one series
        missing = await served.client.get(served.org_path(f"/services/{served.bootstrap.organization_id}"),
                                          auth=served.auth)
        assert missing.status_code == 404
    await served.client.get("/no/such/path")
    await served.client.request("BREW", "/v1")
    samples = await served.samples()

    def requests(method: str, route: str, status: str) -> float:
        labels = frozenset({"method": method, "route": route, "status": status}.items())
        return samples.get(("clickplane_http_requests_total", labels), 0.0)

    assert requests("GET", SERVICES_ROUTE, "404") == 2
    assert requests("GET", "unmatched", "404") == 1
    assert requests("OTHER", "unmatched", "405") + requests("OTHER", "unmatched", "404") == 1
    latency = frozenset({"method": "GET", "route": SERVICES_ROUTE}.items())
    assert samples[("clickplane_http_request_duration_seconds_count", latency)] == 2
    assert not any(str(served.bootstrap.organization_id) in value
                   for _, labels in samples for _, value in labels)


async def test_services_are_counted_by_state_at_scrape_time(served: Served) -> None:
    created = await served.client.post(served.org_path("/services"), auth=served.auth, json={
        "name": "counted", "provider": "aws", "region": "us-east-1", "ipAccessList": [{"source": "127.0.0.1"}]})
    assert created.status_code == 200, created.text
    samples = await served.samples()
    assert samples[("clickplane_services", frozenset({("state", "provisioning")}))] == 1
    assert samples[("clickplane_services", frozenset({("state", "running")}))] == 0


async def test_reconciler_passes_are_counted_and_timed(served: Served) -> None:
    served.plane.reconciler.pass_once()
    metrics = served.plane.reconciler.metrics
    with metrics.measuring_pass():
        served.plane.reconciler.pass_once()
    with pytest.raises(RuntimeError), metrics.measuring_pass():
        raise RuntimeError("the store went away")
    samples = await served.samples()
    assert samples[("clickplane_reconciler_passes_total", frozenset())] == 2
    assert samples[("clickplane_reconciler_pass_duration_seconds_count", frozenset())] == 2
    assert samples[("clickplane_reconciler_errors_total", frozenset({("stage", "pass")}))] == 1


async def test_work_on_a_service_that_fails_unexpectedly_is_counted_and_logged_at_once(
        served: Served, json_lines: io.StringIO) -> None:
    reconciler = served.plane.reconciler
    service_id = uuid.uuid4()

    async def broken() -> None:
        raise OSError("the disk went away")

    reconciler._spawn(work_key(service_id), broken)
    await reconciler.drain()
    samples = await served.samples()
    assert samples[("clickplane_reconciler_errors_total", frozenset({("stage", "service")}))] == 1
    (logged,) = [line for line in parsed(json_lines) if line["logger"] == "clickplane.reconcile.loop"]
    assert logged["message"] == f"reconciling service {service_id} failed"
    assert "OSError: the disk went away" in logged["exception"]


async def test_applications_keep_registries_of_their_own(served: Served) -> None:
    other = create_app(served.plane.context, [ReconcilerMetrics()])  # same names, no clash
    async with httpx.AsyncClient(transport=httpx.ASGITransport(other), base_url="http://other") as client:
        assert (await client.get("/metrics")).status_code == 200
    await served.client.get("/healthz")
    assert (await served.samples())[("clickplane_http_requests_total", frozenset(
        {"method": "GET", "route": "/healthz", "status": "200"}.items()))] == 1


def test_logged_warnings_and_errors_are_counted_by_logger_and_level() -> None:
    problems = ProblemCounts()
    logger = logging.getLogger("clickplane.test_observability")
    logger.addHandler(problems)
    try:
        logger.info("fine")
        logger.warning("backup failed")
        logger.error("metering failed")
        logger.error("metering failed again")
    finally:
        logger.removeHandler(problems)
    (family,) = LoggedProblems(problems).collect()
    assert {(s.labels["logger"], s.labels["level"]): s.value for s in family.samples} == {
        ("clickplane.test_observability", "WARNING"): 1, ("clickplane.test_observability", "ERROR"): 2}


def test_json_lines_are_one_object_each_with_time_level_logger_and_traceback(json_lines: io.StringIO) -> None:
    logger = logging.getLogger("clickplane.test_observability")
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        logger.exception("it failed")
    (line,) = parsed(json_lines)
    assert {key: line[key] for key in ("level", "logger", "message")} == {
        "level": "ERROR", "logger": "clickplane.test_observability", "message": "it failed"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
    assert "ValueError: line one\nline two" in line["exception"]
    assert "requestId" not in line  # not logged for a request


def test_text_lines_keep_their_format_and_name_the_request(text_lines: io.StringIO) -> None:
    logger = logging.getLogger("clickplane.test_observability")
    logger.info("outside")
    context, token = begin_request()
    try:
        note_caller("key-1")
        logger.info("inside")
        ACCESS.write("GET", "/v1/organizations", 200, 1.5)
        assert request_id() == context.request_id
    finally:
        end_request(token)
    outside, inside, access = text_lines.getvalue().splitlines()
    # The layout bench/provisioning.py parses.
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO clickplane\.test_observability: outside",
                        outside)
    assert inside.endswith(f": inside requestId={context.request_id} keyId=key-1")
    assert re.fullmatch(r"\S+ \S+ INFO clickplane\.access: GET /v1/organizations 200 1\.5 ms "
                        f"requestId={context.request_id} keyId=key-1", access)
    assert request_id() != request_id()  # outside a request, each envelope gets a new one


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Puts back what configure() changes in the process's logging."""
    root, httpx_log = logging.getLogger(), logging.getLogger("httpx")
    handlers, levels, access = root.handlers[:], (root.level, httpx_log.level), (ACCESS.handler, ACCESS.json)
    yield
    root.handlers[:] = handlers
    root.setLevel(levels[0])
    httpx_log.setLevel(levels[1])
    ACCESS.handler, ACCESS.json = access
    logging.captureWarnings(False)


@pytest.mark.usefixtures("restored_logging")
def test_settings_and_configure_choose_the_format_and_the_access_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKPLANE_LOG_FORMAT", "json")
    monkeypatch.setenv("CLICKPLANE_ACCESS_LOG", "false")
    settings = Settings()
    root = logging.getLogger()
    configure(settings.log_format, settings.access_log)
    assert isinstance(root.handlers[0].formatter, JsonFormatter)
    assert ACCESS.handler is None
    configure(LogFormat.TEXT)
    assert isinstance(root.handlers[0].formatter, TextFormatter)
    assert root.level == logging.INFO
    assert (ACCESS.handler, ACCESS.json) == (root.handlers[0], False)
