"""Every change leaves one activity record, written in the same transaction as the change.
(This reads the store the server writes; test_activity_api.py reads it through the API.)"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select

from clickplane.store.models import Activity
from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer
from tests.integration.test_lifecycle import command, patch


def activities_of(server: ClickplaneServer, service_id: str) -> list[tuple[str, str, str | None]]:
    with server.store() as session:
        rows = session.execute(select(Activity.type, Activity.actor_type, Activity.actor_id)
                               .where(Activity.service_id == UUID(service_id)).order_by(Activity.created_at)).all()
    return [(row[0], row[1], row[2]) for row in rows]


@needs_clickhouse
def test_each_mutation_is_recorded_once_with_its_actor(server: ClickplaneServer) -> None:
    service_id = server.create_service(name="audited")["service"]["id"]
    server.wait_for_state(service_id, "running")
    patch(server, service_id, "", {"name": "audited-renamed", "tags": {"add": [{"key": "k", "value": "v"}]}})
    patch(server, service_id, "/password", {})
    patch(server, service_id, "/replicaScaling", {"maxReplicaMemoryGb": 12})
    command(server, service_id, "stop")
    server.wait_for_state(service_id, "stopped")
    recorded = activities_of(server, service_id)
    api = [kind for kind, actor, _ in recorded if actor == "api"]
    assert api == ["service_create", "service_update_name", "service_update_tags", "service_update_password",
                   "service_update_autoscaling_memory", "service_stop"]
    assert {actor_id for _, actor, actor_id in recorded if actor == "api"} != {None}
    assert ("service_running", "system", None) in recorded
