"""The suite runs once per store (scripts/test): on SQLite, then on PostgreSQL. A test that never opens the
metadata store (a runtime against its engine, a pure function) gives the same answer on both, so the PostgreSQL
run leaves it out and says how many it left: the SQLite run has it."""

from __future__ import annotations

import pytest

from tests.stores import on_postgres

# Unit-test modules that open a store of their own, without the `database` fixture.
_OPENS_A_STORE = ("tests/unit/test_leadership.py", "tests/unit/test_security_http.py")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "store_independent: the test never opens the metadata store, so the "
                                       "suite's PostgreSQL-store run leaves it to the SQLite one")


def _store_independent(item: pytest.Item) -> bool:
    if item.get_closest_marker("store_independent"):
        return True
    path = item.nodeid.split("::")[0]
    fixtures = set(getattr(item, "fixturenames", ()))
    return path.startswith("tests/unit/") and path not in _OPENS_A_STORE and not fixtures & {"database", "session"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not on_postgres():
        return
    left = [item for item in items if _store_independent(item)]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = [item for item in items if not _store_independent(item)]
        print(f"\n{len(left)} tests that never open the store are left to the SQLite run")
