"""The reconcile loop's controller of ClickStack alerts: in the serve that holds the lease, each alert is evaluated
once per closed window of its interval, on its service's ClickHouse, and what it decides is delivered to its
webhook.

One evaluation of an alert: the windows closed since the last one (after a pause, the missed ones, up to a
bound) are measured in one query, one value per window and group; each window moves the group's state (OK,
PENDING, ALERT: states.py) and, where it notifies, a delivery is written in the same transaction as the window
(an outbox). Deliveries are sent after the commit, and again after a restart if the commit was the last thing
done: a receiver sees each notification at least once, with the same Idempotency-Key every time, and none twice
but for a crash between its answer and our record of it.

An idle or stopped service is not woken: its windows pass unevaluated and the alert says why.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record_system
from clickplane.auth.secrets import SecretBox
from clickplane.clickstack.checks import Neighbours, neighbours_of, search_query, source_of, tile_query
from clickplane.clickstack.delivery import DeliveryOutcome, DeliveryPolicy, Notification, WebhookTarget, deliver
from clickplane.clickstack.messages import event_id, idempotency_key, notification_body, notification_title
from clickplane.clickstack.queries import ValueQuery, column_types, table_of
from clickplane.clickstack.repository import AlertRecords, ClickStackObjects
from clickplane.clickstack.states import next_state
from clickplane.clickstack.thresholds import describe, violates
from clickplane.clickstack.windows import interval_seconds, windows_due
from clickplane.kit.schemas import rfc3339
from clickplane.reconcile.loop import Work
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.interface import ClickHouseRuntime
from clickplane.runtime.pipes.destination import Destination
from clickplane.services.repository import Services
from clickplane.store.database import Database
from clickplane.store.models import ClickStackAlertStatus, ClickStackAlertWindow, ClickStackDelivery, utcnow

log = logging.getLogger(__name__)

# How long windows and deliveries are kept: a week of history to read back, bounded for a 1m alert.
HISTORY = timedelta(days=7)


@dataclass(frozen=True)
class AlertPolicy:
    minute_seconds: float = 60.0  # lowered only by tests, as the services' idle minute
    backfill_windows: int = 60
    retry_query_seconds: float = 30.0  # after a failed query, the next try
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    base_url: str = "http://127.0.0.1:8000"  # where a notification's link points: the alert in the API


@dataclass(frozen=True)
class AlertJob:
    """An alert as read for one evaluation, with what it needs from its neighbours, detached from the session."""

    alert_id: str
    organization_id: uuid.UUID
    service_id: uuid.UUID
    alert: dict[str, Any]
    neighbours: Neighbours
    evaluated_until: datetime | None


class AlertEvaluator:
    def __init__(self, database: Database, runtime: ClickHouseRuntime, box: SecretBox,
                 policy: AlertPolicy | None = None) -> None:
        self.database = database
        self.runtime = runtime
        self.box = box
        self.policy = policy or AlertPolicy()
        # No redirects: a webhook that answers 3xx failed (HyperDX does not follow them either).
        self.http = httpx.AsyncClient(follow_redirects=False, trust_env=False)

    async def prepare(self) -> None:
        """Nothing to recover: the store has each alert's windows and its deliveries not yet sent."""

    def due(self, busy: Callable[[Hashable], bool]) -> Iterator[tuple[Hashable, Work]]:
        now = utcnow()
        with self.database.looking() as session:
            waiting = AlertRecords(session).alerts_with_pending_deliveries()
            for alert, status in ClickStackObjects(session).alerts():
                key = ("clickstack-alert", alert.id)
                if busy(key):
                    continue
                if alert.id in waiting or self._windows(alert.document, status, now):
                    yield key, partial(self.evaluate, alert.id)

    def _step(self, alert: dict[str, Any]) -> int:
        return max(1, round(interval_seconds(alert["interval"]) * self.policy.minute_seconds / 60))

    def _windows(self, alert: dict[str, Any], status: ClickStackAlertStatus, now: datetime
                 ) -> list[tuple[datetime, datetime]]:
        if status.retry_at is not None and status.retry_at > now:
            return []
        offset = round((alert.get("scheduleOffsetMinutes") or 0) * self.policy.minute_seconds)
        start_at = alert.get("scheduleStartAt")
        return windows_due(status.evaluated_until, now, self._step(alert), offset,
                           datetime.fromisoformat(start_at) if start_at else None, self.policy.backfill_windows)

    # One evaluation.

    async def evaluate(self, alert_id: str) -> None:
        await self._send_pending(alert_id)
        job, windows, service_state = self._read(alert_id)
        if job is None or not windows:
            return
        if service_state != "running":
            self._pass_over(job, windows[-1][1], f"service is {service_state}; alerts do not wake a service, so "
                                                 "its windows pass unevaluated until it runs again")
            return
        try:
            destination = await self._destination(job.service_id)
            query = await self._query(job, destination)
            values = await query.values(destination, windows[0][0], windows[-1][1], self._step(job.alert))
        except (RuntimeFailure, httpx.HTTPError) as error:
            self._failed(job, "QUERY_ERROR", str(error))
            return
        decisions = self._decide(job, windows, values)
        try:
            notifications = await self._notifications(job, decisions, query, destination)
        except (RuntimeFailure, httpx.HTTPError) as error:
            self._failed(job, "QUERY_ERROR", str(error))
            return
        self._record(job, windows[-1][1], decisions, notifications)
        await self._send_pending(alert_id)

    def _read(self, alert_id: str) -> tuple[AlertJob | None, list[tuple[datetime, datetime]], str]:
        """The alert, the windows due and its service's state, read in one session."""
        with self.database.looking() as session:
            alert, status = ClickStackObjects(session).alert(alert_id), AlertRecords(session).status(alert_id)
            if alert is None or status is None:
                return None, [], "deleted"
            service = Services(session).get(alert.organization_id, alert.service_id)
            job = AlertJob(alert.id, alert.organization_id, alert.service_id, dict(alert.document),
                           neighbours_of(session, alert.service_id), status.evaluated_until)
            if not links_resolve(job):
                # What it measures went in a delete committed between these reads, which took the alert too.
                return None, [], "deleted"
            return job, self._windows(job.alert, status, utcnow()), service.state if service else "deleted"

    async def _destination(self, service_id: uuid.UUID) -> Destination:
        access = await self.runtime.sql_access(str(service_id))
        if access is None:
            raise RuntimeFailure("the service's ClickHouse is not answering")
        return Destination(self.http, access)

    async def _query(self, job: AlertJob, destination: Destination) -> ValueQuery:
        """What the alert measures: a saved search's matching rows counted, or a tile's value."""
        alert = job.alert
        if alert.get("source") == "saved_search":
            search = job.neighbours.saved_searches[alert["savedSearchId"]]
            query = await search_query(search, source_of(search.get("sourceId"), job.neighbours), destination)
            group_by = alert.get("groupBy") or None
            return ValueQuery(query.table, query.aggregate, query.conditions, group_by)
        dashboard = job.neighbours.dashboards[alert["dashboardId"]]
        tile = tile_of(dashboard, alert["tileId"])
        source = source_of((tile.get("config") or {}).get("sourceId"), job.neighbours)
        table = table_of(source)
        return tile_query(tile, source, await column_types(destination, table.database, table.table))

    def _decide(self, job: AlertJob, windows: list[tuple[datetime, datetime]], values: dict[tuple[int, str], float]
                ) -> list[Decision]:
        """Each window's value, state and notification, per group: the groups with rows in the window, and those
        whose last state was not OK (a group without rows counts 0, and so may resolve)."""
        alert = job.alert
        needed = max(1, int(alert.get("numConsecutiveWindows") or 1))
        with self.database.looking() as session:
            records = AlertRecords(session)
            carried = set(records.groups_not_ok(job.alert_id)) if self._grouped(job) else {""}
            history = {group: [window.state for window in records.recent_windows(job.alert_id, group, needed)]
                       for group in carried | {group for _, group in values}}
        decisions: list[Decision] = []
        for index, (start, end) in enumerate(windows):
            groups = {group for slot, group in values if slot == index} | {
                group for group in carried if history[group] and history[group][-1] != "OK"}
            for group in sorted(groups or ({""} if not self._grouped(job) else set())):
                value = values.get((index, group), 0.0)
                violating = violates(value, alert["thresholdType"], alert["threshold"], alert.get("thresholdMax"))
                step = next_state(history[group], violating, needed)
                history[group].append(step.state)
                carried.add(group)
                decisions.append(Decision(start, end, group, value, step.state, step.notify))
        return decisions

    def _grouped(self, job: AlertJob) -> bool:
        alert = job.alert
        if alert.get("source") == "saved_search":
            return bool(alert.get("groupBy"))
        tile = tile_of(job.neighbours.dashboards[alert["dashboardId"]], alert["tileId"])
        return bool((tile.get("config") or {}).get("groupBy"))

    async def _notifications(self, job: AlertJob, decisions: list[Decision], query: ValueQuery,
                             destination: Destination) -> dict[int, dict[str, Any]]:
        """The message of each decision that notifies (by its index): title, body, link and event id."""
        alert, channel = job.alert, job.alert.get("channel") or {}
        found: dict[int, dict[str, Any]] = {}
        for index, decision in enumerate(decisions):
            if decision.notify is None:
                continue
            samples: list[dict[str, Any]] = []
            if alert.get("source") == "saved_search" and decision.notify == "ALERT":
                search = job.neighbours.saved_searches[alert["savedSearchId"]]
                samples = await query.sample(destination, decision.start, decision.end, search.get("select"))
            view = self._view(job, decision)
            found[index] = {
                "title": notification_title(alert, view, resolved=decision.notify == "OK"),
                "body": notification_body(alert, view, samples),
                "link": f"{self.policy.base_url}/v1/organizations/{job.organization_id}/services/{job.service_id}"
                        f"/clickstack/alerts/{job.alert_id}",
                "eventId": event_id(job.alert_id, "webhook", str(channel.get("webhookId")), self._grouped(job),
                                    decision.group or None),
            }
        return found

    def _view(self, job: AlertJob, decision: Decision) -> dict[str, Any]:
        """What an alert's name template may use (HyperDX's view)."""
        alert = job.alert
        search = job.neighbours.saved_searches.get(alert.get("savedSearchId") or "")
        dashboard = job.neighbours.dashboards.get(alert.get("dashboardId") or "")
        tile = tile_of(dashboard, alert["tileId"]) if dashboard else None
        source_id = (search or {}).get("sourceId") or ((tile or {}).get("config") or {}).get("sourceId")
        return {"alert": alert | {"id": job.alert_id}, "savedSearch": search, "dashboard": dashboard, "tile": tile,
                "source": job.neighbours.sources.get(source_id or ""), "group": decision.group,
                "isGroupedAlert": self._grouped(job), "value": decision.value,
                "startTime": decision.start.isoformat(), "endTime": decision.end.isoformat(),
                "granularity": alert.get("interval"),
                "threshold": describe(alert["thresholdType"], alert["threshold"], alert.get("thresholdMax"))}

    def _record(self, job: AlertJob, evaluated_until: datetime, decisions: list[Decision],
                notifications: dict[int, dict[str, Any]]) -> None:
        """The windows, the deliveries they cause and the alert's new state, in one transaction; nothing if the
        alert was deleted or another evaluation got there first."""
        channel = job.alert.get("channel") or {}
        with self.database.transaction() as session:
            status = AlertRecords(session).status(job.alert_id)
            if status is None or status.evaluated_until != job.evaluated_until:
                return
            for index, decision in enumerate(decisions):
                session.add(ClickStackAlertWindow(
                    alert_id=job.alert_id, group_key=decision.group, window_start=decision.start,
                    window_end=decision.end, value=decision.value, state=decision.state, notified=decision.notify))
                message = notifications.get(index)
                if message is not None and decision.notify is not None:
                    key = idempotency_key(message["eventId"], decision.start, decision.end, decision.notify)
                    session.add(ClickStackDelivery(
                        alert_id=job.alert_id, webhook_id=str(channel.get("webhookId")), group_key=decision.group,
                        window_start=decision.start, window_end=decision.end, state=decision.notify,
                        idempotency_key=key, message=message))
            self._settle(session, job, status, evaluated_until, decisions)

    def _settle(self, session: Session, job: AlertJob, status: ClickStackAlertStatus, evaluated_until: datetime,
                decisions: list[Decision]) -> None:
        """The alert's state after its last window (the worst of its groups'), with an activity when it fires or
        resolves, and history older than a week forgotten."""
        last = {decision.group: decision.state for decision in decisions}
        state = next((worst for worst in ("ALERT", "PENDING") if worst in last.values()), "OK") if last \
            else status.state
        if state != status.state and {state, status.state} & {"ALERT"}:
            record_system(Activities(session), job.organization_id,
                          "clickstack_alert_fired" if state == "ALERT" else "clickstack_alert_resolved",
                          service_id=job.service_id, details={"clickStackId": job.alert_id})
        status.state, status.reason, status.retry_at = state, None, None
        status.evaluated_until = evaluated_until
        records = AlertRecords(session)
        records.forget_windows_before(job.alert_id, evaluated_until - HISTORY)
        records.forget_deliveries_before(job.alert_id, evaluated_until - HISTORY)

    def _pass_over(self, job: AlertJob, evaluated_until: datetime, reason: str) -> None:
        with self.database.transaction() as session:
            status = AlertRecords(session).status(job.alert_id)
            if status is not None:
                status.evaluated_until, status.reason = evaluated_until, reason

    def _failed(self, job: AlertJob, kind: str, message: str) -> None:
        """A failed evaluation: recorded in the alert's executionErrors, and tried again later."""
        log.warning("alert %s: %s: %s", job.alert_id, kind, message)
        with self.database.transaction() as session:
            records = AlertRecords(session)
            status = records.status(job.alert_id)
            if status is not None:
                records.add_error(status, {"timestamp": rfc3339(utcnow()), "type": kind, "message": message[:2000]})
                status.reason = f"{kind}: {message[:1900]}"
                status.retry_at = utcnow() + timedelta(seconds=self.policy.retry_query_seconds)

    # Deliveries.

    async def _send_pending(self, alert_id: str) -> None:
        """Send the alert's deliveries not yet sent, oldest first, each with its own Idempotency-Key."""
        with self.database.looking() as session:
            pending = [(item.id, item.webhook_id, item.state, item.window_start, item.window_end,
                        item.idempotency_key, dict(item.message))
                       for item in AlertRecords(session).pending_deliveries(alert_id)]
            targets = {webhook_id: self._target(session, webhook_id) for _, webhook_id, *_ in pending}
        for delivery_id, webhook_id, state, start, end, key, message in pending:
            target = targets[webhook_id]
            if target is None:
                self._delivered(alert_id, delivery_id, None, "the webhook was deleted")
                continue
            notification = Notification(title=message["title"], body=message["body"], link=message["link"],
                                        state=state, start=start, end=end, event_id=message["eventId"],
                                        idempotency_key=key)
            outcome = await deliver(self.http, target, notification, self.policy.delivery)
            self._delivered(alert_id, delivery_id, outcome, None)

    def _target(self, session: Session, webhook_id: str) -> WebhookTarget | None:
        row = ClickStackObjects(session).webhook(webhook_id)
        if row is None:
            return None
        hidden = json.loads(self.box.open(row.sealed_secrets)) if row.sealed_secrets else {}
        return WebhookTarget(url=row.document["url"], service=row.document["service"],
                             headers=hidden.get("headers") or {}, query_params=hidden.get("queryParams") or {},
                             body_template=row.document.get("body"))

    def _delivered(self, alert_id: str, delivery_id: int, outcome: DeliveryOutcome | None, problem: str | None
                   ) -> None:
        with self.database.transaction() as session:
            delivery = session.get(ClickStackDelivery, delivery_id)
            if delivery is None:
                return
            delivery.sent_at = utcnow()
            if outcome is not None:
                delivery.attempts, delivery.status_code = outcome.attempts, outcome.status_code
                delivery.outcome = "delivered" if outcome.delivered else "failed"
                problem = outcome.error
            else:
                delivery.outcome = "failed"
            delivery.error = problem
            status = AlertRecords(session).status(alert_id)
            if problem and status is not None:
                AlertRecords(session).add_error(status, {"timestamp": rfc3339(utcnow()), "type": "WEBHOOK_ERROR",
                                                         "message": problem[:2000]})


@dataclass(frozen=True)
class Decision:
    """One window of one group: its value, the state it leads to, and the notification it causes."""

    start: datetime
    end: datetime
    group: str
    value: float
    state: str
    notify: str | None


def links_resolve(job: AlertJob) -> bool:
    """Whether the saved search, or the dashboard and tile, that the alert measures are among its neighbours."""
    alert, neighbours = job.alert, job.neighbours
    if alert.get("source") == "saved_search":
        return alert.get("savedSearchId") in neighbours.saved_searches
    dashboard = neighbours.dashboards.get(alert.get("dashboardId") or "")
    return bool(tile_of(dashboard, alert.get("tileId") or ""))


def tile_of(dashboard: Mapping[str, Any] | None, tile_id: str) -> dict[str, Any]:
    return next((tile for tile in (dashboard or {}).get("tiles") or () if tile.get("id") == tile_id), {})
