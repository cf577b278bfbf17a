"""Delivery of a notification to a webhook, as HyperDX sends one (checkAlerts/transports/generic.ts, slack.ts).

A POST to the webhook's URL, its query parameters appended to the URL's own; `Content-Type: application/json`
unless the webhook's headers say otherwise, then those headers, then an `Idempotency-Key` that is the same on
every attempt, so that a receiver can drop the copies that retries bring. A Slack webhook gets Slack's message
payload; a generic or incident.io one its body template rendered (messages.py).

Delivery is at least once: a 5xx, 408 or 429 answer, a timeout or a failed connection is tried again with
backoff, up to the policy's attempts. A redirect is not followed (it could lead the request somewhere the URL
check never saw) and, like any other 4xx answer, fails at once: it will not get better by asking again.

URLs are shown only through `redact`: a webhook's URL often is its credential (Slack's is), so logs and recorded
outcomes keep its origin alone.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from clickplane.clickstack.messages import TemplateError, webhook_body

SERVICES = ("slack", "generic", "incidentio")
RETRIED_STATUSES = (408, 429)  # besides 5xx: the receiver was busy, not refusing
ANSWER_BYTES = 200  # of a failed answer's body, kept in its outcome
# A URL's host as httpx holds it (IDNA-encoded): a name, an IPv4 address or an IPv6 one (without its brackets).
HOST = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+")


@dataclass(frozen=True)
class WebhookTarget:
    """Where a notification goes: the webhook's URL and service, its (write-only) headers and query parameters,
    and, for generic and incident.io webhooks, its body template (None: the default)."""

    url: str
    service: str
    headers: Mapping[str, str] = field(default_factory=dict)
    query_params: Mapping[str, str] = field(default_factory=dict)
    body_template: str | None = None


@dataclass(frozen=True)
class Notification:
    """One notification: what it says, the window it is about, its state (ALERT, or OK for resolved), and the
    ids a receiver sees (messages.event_id and messages.idempotency_key)."""

    title: str
    body: str
    link: str
    state: str
    start: datetime
    end: datetime
    event_id: str
    idempotency_key: str


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard a delivery tries: each attempt's timeout, the attempts in all, and the waits between them (the
    first, multiplied by the factor after each retry, up to the cap)."""

    timeout_seconds: float = 30.0
    attempts: int = 4
    first_backoff_seconds: float = 1.0
    backoff_factor: float = 2.0
    max_backoff_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a delivery policy needs at least one attempt")


@dataclass(frozen=True)
class DeliveryOutcome:
    """How a delivery ended: whether the receiver took it, after how many attempts, its last answer's status
    (None when none came), and what went wrong (None when delivered). No URL appears in `error`."""

    delivered: bool
    attempts: int
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class _Attempt:
    delivered: bool
    retry: bool
    status_code: int | None = None
    error: str | None = None


def check_webhook_url(service: str, url: str) -> str | None:
    """What is wrong with a webhook's URL, or None: it must be http(s) with a host and no credentials in it (they
    would be shown wherever the URL is), and a Slack webhook's host must be slack.com's."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        return f"the URL cannot be read: {error}"
    if parsed.scheme not in ("http", "https"):
        return "the URL must be http or https"
    if parsed.userinfo:
        return "the URL must not hold credentials (user:password@); send them in the webhook's headers"
    host = parsed.raw_host.decode("ascii", "replace")
    if not host:
        return "the URL has no host"
    if not HOST.fullmatch(host):
        return f"the URL's host {host!r} is neither a host name nor an IP address"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return f"the URL's port {parsed.port} is out of range"
    if service == "slack" and not (host == "slack.com" or host.endswith(".slack.com")):
        return "a Slack webhook's URL must have a host that ends in slack.com"
    return None


def redact(url: str) -> str:
    """The URL as logs and outcomes may show it: scheme, host and port. The path goes too, not only the query and
    the userinfo: Slack's and many other webhooks carry their secret in it."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(an unreadable URL)"
    origin = f"{parsed.scheme}://{parsed.netloc.decode('ascii', 'replace')}"
    return f"{origin}/…" if parsed.path.strip("/") or parsed.query else origin


async def deliver(client: httpx.AsyncClient, target: WebhookTarget, message: Notification,
                  policy: DeliveryPolicy | None = None) -> DeliveryOutcome:
    """Send the notification, retrying what may succeed later; the outcome of the last attempt."""
    policy = policy or DeliveryPolicy()
    if problem := _undeliverable(target):
        return DeliveryOutcome(delivered=False, attempts=0, status_code=None, error=problem)
    try:
        content = _payload(target, message)
    except TemplateError as error:
        return DeliveryOutcome(delivered=False, attempts=0, status_code=None,
                               error=f"the webhook's body template: {error}")
    url = _with_query(target.url, target.query_params)
    headers = _headers(target.headers, message.idempotency_key)
    attempt, backoff = 1, policy.first_backoff_seconds
    while True:
        result = await _attempt(client, url, headers, content, policy.timeout_seconds)
        if result.delivered or not result.retry or attempt >= policy.attempts:
            return DeliveryOutcome(result.delivered, attempt, result.status_code, result.error)
        await asyncio.sleep(backoff)
        attempt, backoff = attempt + 1, min(backoff * policy.backoff_factor, policy.max_backoff_seconds)


def _undeliverable(target: WebhookTarget) -> str | None:
    # The URL was checked when the webhook was written; checked again, as what is sent must never be otherwise.
    if target.service not in SERVICES:
        return f"webhooks of service {target.service!r} are not delivered to; the services are {', '.join(SERVICES)}"
    return check_webhook_url(target.service, target.url)


def _payload(target: WebhookTarget, message: Notification) -> bytes:
    """The body: Slack's fixed message, or the webhook's template rendered."""
    if target.service == "slack":
        section = {"type": "mrkdwn", "text": f"*<{message.link} | {message.title}>*\n{message.body}"}
        return json.dumps({"text": message.title, "blocks": [{"type": "section", "text": section}]},
                          ensure_ascii=False).encode()
    return webhook_body(target.body_template, title=message.title, body=message.body, link=message.link,
                        state=message.state, start=message.start, end=message.end,
                        event_id=message.event_id).encode()


def _with_query(url: str, query_params: Mapping[str, str]) -> httpx.URL:
    """The URL with the webhook's query parameters appended: both the URL's own and these are sent."""
    merged = httpx.URL(url)
    for name, value in query_params.items():
        merged = merged.copy_add_param(name, value)
    return merged


def _headers(user_headers: Mapping[str, str], key: str) -> httpx.Headers:
    headers = httpx.Headers({"Content-Type": "application/json"})
    for name, value in user_headers.items():
        headers[name] = value  # replaces a header of the same name in any case, Content-Type included
    headers["Idempotency-Key"] = key  # last: a user header cannot break the deduplication retries rely on
    return headers


async def _attempt(client: httpx.AsyncClient, url: httpx.URL, headers: httpx.Headers, content: bytes,
                   timeout_seconds: float) -> _Attempt:
    """One POST, bounded as a whole by the timeout (httpx's own timeout bounds each read, not the whole answer).
    The answer is streamed so that only its beginning is read: a receiver cannot make us hold a huge one."""
    try:
        async with asyncio.timeout(timeout_seconds), client.stream(
                "POST", url, headers=headers, content=content, follow_redirects=False,
                timeout=timeout_seconds) as response:
            answer = "" if response.is_success else await _beginning(response)
    except (TimeoutError, httpx.TimeoutException):
        return _Attempt(delivered=False, retry=True, error=f"no answer within {timeout_seconds:g}s")
    except httpx.TransportError as error:
        return _Attempt(delivered=False, retry=True, error=f"the request failed: {_described(error)}")
    return _judged(response.status_code, response.reason_phrase, answer)


async def _beginning(response: httpx.Response) -> str:
    """The first ANSWER_BYTES of the answer's body, as text on one line."""
    received = bytearray()
    async for chunk in response.aiter_bytes():
        received += chunk
        if len(received) >= ANSWER_BYTES:
            break
    return " ".join(received[:ANSWER_BYTES].decode("utf-8", "replace").split())


def _judged(status: int, reason: str, answer: str) -> _Attempt:
    if 200 <= status < 300:
        return _Attempt(delivered=True, retry=False, status_code=status)
    if 300 <= status < 400:
        return _Attempt(delivered=False, retry=False, status_code=status,
                        error=f"HTTP {status}: a redirect, which webhook deliveries do not follow")
    return _Attempt(delivered=False, retry=status >= 500 or status in RETRIED_STATUSES, status_code=status,
                    error=f"HTTP {status} {reason}" + (f": {answer}" if answer else ""))


def _described(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
