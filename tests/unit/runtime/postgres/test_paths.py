"""Where the Postgres runtime keeps its services: one directory per service id, which must be a UUID."""

from __future__ import annotations

from pathlib import Path

import pytest

from clickplane.runtime.postgres.paths import ServicePaths, ServiceTree

SERVICE_ID = "0b6f6a4e-4a8e-4f4c-9d0e-2f3c1a5b7d90"


@pytest.mark.parametrize("service_id", ["..", "a/b", "not-a-uuid", SERVICE_ID.upper(), f"{SERVICE_ID}/.."])
def test_only_a_canonical_uuid_is_a_service_id(tmp_path: Path, service_id: str) -> None:
    with pytest.raises(ValueError, match="invalid Postgres service id"):
        ServiceTree(tmp_path).of(service_id)


def test_the_services_are_the_directories_named_by_a_service_id(tmp_path: Path) -> None:
    tree = ServiceTree(tmp_path / "postgres")
    assert tree.service_ids() == []
    tree.of(SERVICE_ID).root.mkdir(parents=True)
    tree.config_check.mkdir()
    (tree.root / "7d1c0f4e-0000-4000-8000-000000000000").touch()  # a file, not a service
    assert tree.service_ids() == [SERVICE_ID]
    assert tree.of(SERVICE_ID).data == tmp_path / "postgres" / SERVICE_ID / "cluster"


def test_messages_tell_a_service_from_its_switchovers_successor(tmp_path: Path) -> None:
    service = ServicePaths(tmp_path / "0b7f3c52-8a1e-4c0e-9f43-6f1d2e3a4b5c")
    assert service.server == "service 0b7f3c52-8a1e-4c0e-9f43-6f1d2e3a4b5c"
    assert service.successor.server == "the successor of service 0b7f3c52-8a1e-4c0e-9f43-6f1d2e3a4b5c"
    assert service.successor.data == service.root / "successor" / "cluster"
