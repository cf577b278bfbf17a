"""Webhook delivery (clickstack/delivery.py) against a real HTTP server on loopback that records each request and
answers from a script: the request a receiver gets, retries with one Idempotency-Key, what is not retried, no
redirects, timeouts, and URLs that are refused or redacted."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from clickplane.clickstack.delivery import (
    DeliveryOutcome,
    DeliveryPolicy,
    Notification,
    WebhookTarget,
    check_webhook_url,
    deliver,
    redact,
)
from clickplane.clickstack.messages import idempotency_key

pytestmark = pytest.mark.anyio

START = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
END = datetime(2024, 1, 1, 12, 5, tzinfo=UTC)
MESSAGE = Notification(title='🚨 Alert for "Errors" - 12 lines found', body="12 lines found\n```\nrow\n```",
                       link="http://127.0.0.1:8000/alerts/a1", state="ALERT", start=START, end=END, event_id="e1",
                       idempotency_key=idempotency_key("e1", START, END, "ALERT"))
# No waiting between attempts, and a timeout no answer in these tests comes near but the hanging one.
QUICK = DeliveryPolicy(timeout_seconds=10, attempts=3, first_backoff_seconds=0)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hang: bool = False  # answer only when the test ends, long past any client's timeout


@dataclass(frozen=True)
class Seen:
    method: str
    target: str  # the request line's target: a path and query, or, through a proxy, the whole URL
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    base: str = ""
    answers: list[Answer] = field(default_factory=list)  # in order, then 200
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    def requests(self) -> list[Seen]:
        with self.lock:
            return list(self.seen)

    def wait_for(self, count: int) -> list[Seen]:
        """The requests once `count` have come: a request is recorded by the server's thread, maybe just after
        the client gave up on it."""
        deadline = time.monotonic() + 10
        while len(self.requests()) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.requests()


def handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with receiver.lock:
                receiver.seen.append(Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                answer = receiver.answers.pop(0) if receiver.answers else Answer()
            if answer.hang:
                receiver.released.wait(timeout=30)
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except OSError:
                pass  # the client gave up (a timeout test)

        def log_message(self, *_: Any) -> None:  # quiet: the tests read what they need from `seen`
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(receiver))
    receiver.base = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll, so that shutting the server down at each test's end takes no noticeable time.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


async def send(target: WebhookTarget, policy: DeliveryPolicy = QUICK, proxy: str | None = None,
               follow_redirects: bool = False) -> DeliveryOutcome:
    async with httpx.AsyncClient(trust_env=False, proxy=proxy, follow_redirects=follow_redirects) as client:
        return await deliver(client, target, MESSAGE, policy)


def generic(receiver: Receiver, **more: Any) -> WebhookTarget:
    return WebhookTarget(url=more.pop("url", receiver.url()), service=more.pop("service", "generic"), **more)


# What a receiver gets.

async def test_a_generic_webhook_gets_one_post_with_the_default_body(receiver: Receiver) -> None:
    outcome = await send(generic(receiver))
    assert outcome == DeliveryOutcome(delivered=True, attempts=1, status_code=200, error=None)
    [request] = receiver.requests()
    assert (request.method, request.target) == ("POST", "/hook")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == MESSAGE.idempotency_key
    assert request.json() == {"text": f"{MESSAGE.title} | {MESSAGE.body} | {MESSAGE.link} | ALERT | "
                                      f"1704110400000 | 1704110700000 | e1"}


async def test_the_body_template_is_rendered(receiver: Receiver) -> None:
    template = '{"summary": "{{title}}", "status": "{{#eq state "ALERT"}}firing{{else}}resolved{{/eq}}", ' \
               '"dedup": "{{eventId}}", "at": {{startTime}}}'
    await send(generic(receiver, service="incidentio", body_template=template))
    [request] = receiver.requests()
    assert request.json() == {"summary": MESSAGE.title, "status": "firing", "dedup": "e1", "at": 1704110400000}


async def test_query_params_are_appended_to_the_url_s_own(receiver: Receiver) -> None:
    await send(generic(receiver, url=receiver.url("/hook?team=ops&a=1"), query_params={"token": "t0k", "a": "2"}))
    [request] = receiver.requests()
    assert urlsplit(request.target).path == "/hook"
    assert request.query == {"team": ["ops"], "a": ["1", "2"], "token": ["t0k"]}


async def test_user_headers_override_the_content_type_but_not_the_idempotency_key(receiver: Receiver) -> None:
    headers = {"content-type": "application/vnd.custom+json", "Authorization": "Bearer abc",
               "Idempotency-Key": "mine"}
    await send(generic(receiver, headers=headers))
    [request] = receiver.requests()
    assert request.headers["content-type"] == "application/vnd.custom+json"
    assert request.headers["authorization"] == "Bearer abc"
    assert request.headers["idempotency-key"] == MESSAGE.idempotency_key


async def test_slack_gets_its_fixed_payload(receiver: Receiver) -> None:
    # Through the receiver as an HTTP proxy, so that a slack.com URL reaches it without any name lookup.
    target = WebhookTarget(url="http://hooks.slack.com/services/T0/B0/secret", service="slack",
                           body_template='{"ignored": true}')
    outcome = await send(target, proxy=receiver.base)
    assert outcome.delivered
    [request] = receiver.requests()
    assert request.target == "http://hooks.slack.com/services/T0/B0/secret"
    assert request.headers["idempotency-key"] == MESSAGE.idempotency_key
    assert request.json() == {"text": MESSAGE.title, "blocks": [{"type": "section", "text": {
        "type": "mrkdwn", "text": f"*<{MESSAGE.link} | {MESSAGE.title}>*\n{MESSAGE.body}"}}]}


# Retries.

async def test_a_5xx_is_retried_with_the_same_key_and_body(receiver: Receiver) -> None:
    receiver.answers = [Answer(500), Answer(502)]
    outcome = await send(generic(receiver))
    assert outcome == DeliveryOutcome(delivered=True, attempts=3, status_code=200, error=None)
    requests = receiver.requests()
    assert len(requests) == 3
    assert {request.headers["idempotency-key"] for request in requests} == {MESSAGE.idempotency_key}
    assert len({request.body for request in requests}) == 1


@pytest.mark.parametrize("status", [408, 429])
async def test_busy_answers_are_retried(receiver: Receiver, status: int) -> None:
    receiver.answers = [Answer(status)]
    outcome = await send(generic(receiver))
    assert (outcome.delivered, outcome.attempts) == (True, 2)
    assert len(receiver.requests()) == 2


async def test_retries_stop_at_the_policy_s_attempts(receiver: Receiver) -> None:
    receiver.answers = [Answer(503, body=b"down for\nmaintenance")] * 5
    outcome = await send(generic(receiver))
    assert outcome == DeliveryOutcome(delivered=False, attempts=3, status_code=503,
                                      error="HTTP 503 Service Unavailable: down for maintenance")
    assert len(receiver.requests()) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_a_4xx_is_not_retried(receiver: Receiver, status: int) -> None:
    receiver.answers = [Answer(status)]
    outcome = await send(generic(receiver))
    assert (outcome.delivered, outcome.attempts, outcome.status_code) == (False, 1, status)
    assert outcome.error is not None
    assert outcome.error.startswith(f"HTTP {status}")
    assert len(receiver.requests()) == 1


async def test_a_long_answer_is_kept_short(receiver: Receiver) -> None:
    receiver.answers = [Answer(400, body=b"x" * 100_000)]
    outcome = await send(generic(receiver))
    assert outcome.error == "HTTP 400 Bad Request: " + "x" * 200


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_not_followed(receiver: Receiver, status: int) -> None:
    receiver.answers = [Answer(status, headers={"Location": receiver.url("/elsewhere")})]
    outcome = await send(generic(receiver), follow_redirects=True)  # a client that would follow: delivery won't
    assert outcome == DeliveryOutcome(delivered=False, attempts=1, status_code=status,
                                      error=f"HTTP {status}: a redirect, which webhook deliveries do not follow")
    assert [request.target for request in receiver.requests()] == ["/hook"]


async def test_each_attempt_times_out_and_is_retried(receiver: Receiver) -> None:
    receiver.answers = [Answer(hang=True), Answer(hang=True)]
    outcome = await send(generic(receiver), DeliveryPolicy(timeout_seconds=0.2, attempts=2, first_backoff_seconds=0))
    assert outcome == DeliveryOutcome(delivered=False, attempts=2, status_code=None, error="no answer within 0.2s")
    requests = receiver.wait_for(2)
    assert len(requests) == 2
    assert requests[0].headers["idempotency-key"] == requests[1].headers["idempotency-key"]


async def test_a_timeout_then_an_answer_delivers(receiver: Receiver) -> None:
    receiver.answers = [Answer(hang=True)]
    outcome = await send(generic(receiver), DeliveryPolicy(timeout_seconds=0.2, attempts=2, first_backoff_seconds=0))
    assert (outcome.delivered, outcome.attempts, outcome.status_code) == (True, 2, 200)


async def test_a_refused_connection_is_retried() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, and that no one listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = await send(WebhookTarget(url=f"http://127.0.0.1:{port}/hook", service="generic"))
    assert (outcome.delivered, outcome.attempts, outcome.status_code) == (False, 3, None)
    assert outcome.error is not None
    assert outcome.error.startswith("the request failed: ConnectError")


async def test_backoff_doubles_up_to_its_cap(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", no_wait)
    receiver.answers = [Answer(500)] * 6
    policy = DeliveryPolicy(timeout_seconds=10, attempts=6, first_backoff_seconds=1, backoff_factor=2,
                            max_backoff_seconds=10)
    outcome = await send(generic(receiver), policy)
    assert outcome.attempts == 6
    assert waits == [1, 2, 4, 8, 10]


# What is never sent.

@pytest.mark.parametrize(("target", "problem"), [
    (lambda r: generic(r, service="slack"), "a Slack webhook's URL must have a host that ends in slack.com"),
    (lambda r: generic(r, url=r.url().replace("http://", "http://user:pw@")), "must not hold credentials"),
    (lambda r: generic(r, body_template="{{#each x}}{{/each}}"), "the webhook's body template: unknown helper"),
    (lambda r: generic(r, service="pagerduty_api"), "webhooks of service 'pagerduty_api' are not delivered to"),
])
async def test_an_undeliverable_target_sends_nothing(receiver: Receiver, target: Callable[[Receiver], WebhookTarget],
                                                     problem: str) -> None:
    outcome = await send(target(receiver))
    assert (outcome.delivered, outcome.attempts, outcome.status_code) == (False, 0, None)
    assert outcome.error is not None
    assert problem in outcome.error
    assert receiver.requests() == []


async def test_an_error_holds_no_secret_of_the_url(receiver: Receiver) -> None:
    receiver.answers = [Answer(401)]
    outcome = await send(generic(receiver, url=receiver.url("/hook/s3cret-path"), query_params={"token": "s3cret"}))
    assert outcome.error is not None
    assert "s3cret" not in outcome.error


def test_a_policy_needs_an_attempt() -> None:
    with pytest.raises(ValueError, match="at least one attempt"):
        DeliveryPolicy(attempts=0)


# URL checks.

@pytest.mark.parametrize(("service", "url"), [
    ("generic", "http://127.0.0.1:9000/hook"),
    ("generic", "https://example.com/hooks/1?x=1"),
    ("incidentio", "https://api.incident.io/v2/alert_events/http/abc"),
    ("generic", "http://[::1]:8080/hook"),
    ("slack", "https://hooks.slack.com/services/T0/B0/x"),
    ("slack", "https://slack.com/api"),
])
def test_good_urls(service: str, url: str) -> None:
    assert check_webhook_url(service, url) is None


@pytest.mark.parametrize(("service", "url", "problem"), [
    ("generic", "ftp://example.com/x", "must be http or https"),
    ("generic", "file:///etc/passwd", "must be http or https"),
    ("generic", "example.com/hook", "must be http or https"),
    ("generic", "https://user:pw@example.com/x", "must not hold credentials"),
    ("generic", "https://token@example.com/x", "must not hold credentials"),
    ("generic", "http:///hook", "has no host"),
    ("generic", "http://exa mple.com/", "neither a host name nor an IP address"),
    ("generic", "http://example.com:99999/", "port 99999 is out of range"),
    ("slack", "https://evilslack.com/services/x", "ends in slack.com"),
    ("slack", "https://hooks.slack.com.evil.io/x", "ends in slack.com"),
    ("slack", "http://127.0.0.1/x", "ends in slack.com"),
])
def test_bad_urls(service: str, url: str, problem: str) -> None:
    found = check_webhook_url(service, url)
    assert found is not None
    assert problem in found


@pytest.mark.parametrize(("url", "shown"), [
    ("https://hooks.slack.com/services/T0/B0/secret", "https://hooks.slack.com/…"),
    ("https://user:pw@example.com:8443/x?token=s3cret#f", "https://example.com:8443/…"),
    ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
    ("http://127.0.0.1:9000/?k=v", "http://127.0.0.1:9000/…"),
    ("http://[::1]:8080/hook", "http://[::1]:8080/…"),
])
def test_redact_keeps_the_origin_alone(url: str, shown: str) -> None:
    assert redact(url) == shown
