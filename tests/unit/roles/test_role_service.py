"""RoleService on a real store: every change of a role is committed before this process forgets its verified
keys, so a request verified in between cannot cache the permissions that the change replaced."""

from __future__ import annotations

import uuid
from pathlib import Path

from clickplane.auth.authentication import Caller, VerifiedKeys
from clickplane.auth.permissions import ADMIN, SERVICE_VIEW
from clickplane.auth.secrets import SecretHasher
from clickplane.organizations.repository import Organizations
from clickplane.roles.repository import Roles
from clickplane.roles.schemas import RBACPolicyCreateRequest, RoleCreateRequest, RoleUpdateRequest
from clickplane.roles.service import RoleService
from clickplane.settings import Settings
from clickplane.store.database import Database
from clickplane.store.models import Organization
from tests.unit.fakes import app_context

HASHER = SecretHasher(b"k" * 32)


class CommittedRolesOnClear(VerifiedKeys):
    """Verified keys that note, each time they are forgotten, the role names another session sees committed."""

    def __init__(self, database: Database, organization_id: uuid.UUID) -> None:
        super().__init__(ttl_seconds=60)
        self.database, self.organization_id = database, organization_id
        self.seen_on_clear: list[list[str]] = []

    def clear(self) -> None:
        with self.database.looking() as session:
            self.seen_on_clear.append([role.name for role in Roles(session).list(self.organization_id)])
        super().clear()


def test_verified_keys_are_forgotten_only_once_each_role_change_is_committed(database: Database,
                                                                              tmp_path: Path) -> None:
    organization_id = uuid.uuid4()
    with database.transaction() as session:
        Organizations(session).add(Organization(id=organization_id, name="org"))
    verified_keys = CommittedRolesOnClear(database, organization_id)
    settings = Settings(data_dir=tmp_path, database_url=database.url)
    roles = RoleService(app_context(settings, database, HASHER, verified_keys))
    admin = Caller(uuid.uuid4(), "admin", organization_id, (str(ADMIN.id),), ADMIN.policies)
    policies = [RBACPolicyCreateRequest(allowDeny="ALLOW", permissions=[SERVICE_VIEW], resources=["*"])]

    role_id = uuid.UUID(roles.create(admin, organization_id,
                                     RoleCreateRequest(name="viewer", actors=[], policies=policies)).id)
    roles.update(admin, organization_id, role_id, RoleUpdateRequest(name="watcher"))
    roles.delete(admin, organization_id, role_id)

    assert verified_keys.seen_on_clear == [["viewer"], ["watcher"], []]
