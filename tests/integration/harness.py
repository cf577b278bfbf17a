"""Running `clickplane serve` for real: a subprocess on a free loopback port, over a temporary data dir and a
store of its own (SQLite in the data dir, or a database on the test PostgreSQL: tests/stores.py)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from clickplane import operations
from clickplane.members.service import DEFAULT_ADMIN_EMAIL
from clickplane.organizations.service import DEFAULT_ORGANIZATION_NAME, Bootstrap
from clickplane.settings import Settings
from clickplane.store.database import Database
from clickplane.store.models import Base
from tests.stores import drop_database, new_database_url

DEADLINE_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float = DEADLINE_SECONDS, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except (httpx.HTTPError, OSError) as error:
            last_error = error
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})")


def clickplane(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clickplane", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


@dataclass
class Credentials:
    organization_id: str
    key_id: str
    key_secret: str

    @classmethod
    def from_json(cls, text: str) -> Credentials:
        data = json.loads(text)
        return cls(data["organizationId"], data["keyId"], data["keySecret"])

    @classmethod
    def of(cls, made: Bootstrap) -> Credentials:
        return cls(str(made.organization_id), made.key_id, made.key_secret)


@dataclass
class ClickplaneServer:
    """A data dir, its first organization's credentials, and (while started) a serving process."""

    data_dir: Path
    database_url: str
    credentials: Credentials
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # Settings for this server beyond the defaults, as CLICKPLANE_* variables.
    settings: dict[str, str] = field(default_factory=dict)
    log_name: str = "serve.log"

    @property
    def tls(self) -> bool:
        return self.settings.get("CLICKPLANE_TLS") == "true"

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """How clients check the API's certificate: against clickplane's CA when it serves HTTPS."""
        return ssl.create_default_context(cafile=self.data_dir / "ca" / "ca.pem") if self.tls else True

    @property
    def env(self) -> dict[str, str]:
        return {**store_env(self.data_dir, self.database_url), "CLICKPLANE_PORT": str(self.port),
                "CLICKPLANE_RECONCILE_INTERVAL_SECONDS": "0.5", "CLICKPLANE_WATCH_INTERVAL_SECONDS": "1",
                **self.settings}

    def client(self, credentials: Credentials | None = None) -> httpx.Client:
        creds = credentials or self.credentials
        return httpx.Client(base_url=self.base_url, auth=(creds.key_id, creds.key_secret), timeout=30,
                            verify=self.verify)

    @contextmanager
    def store(self) -> Iterator[Session]:
        """One transaction on the store this server writes, to read (or tamper with) what it keeps."""
        database = Database(self.database_url)
        try:
            with database.transaction() as session:
                yield session
        finally:
            database.dispose()

    def org_path(self, suffix: str = "") -> str:
        return f"/v1/organizations/{self.credentials.organization_id}{suffix}"

    @property
    def operator_settings(self) -> Settings:
        """What an operator command on this server's data dir and store works with."""
        return Settings(data_dir=self.data_dir, database_url=self.database_url)

    def create_organization(self, name: str) -> Credentials:
        """Another organization with its own admin key, as the operator's `org create` makes it (called in this
        process: test_cli and test_members run the command itself)."""
        return Credentials.of(operations.create_organization(self.operator_settings, name, DEFAULT_ADMIN_EMAIL))

    def start(self, *serve_options: str) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "clickplane", "serve", *serve_options], env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._answers, what=f"clickplane serve on port {self.port}")

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"clickplane serve exited with {self.process.returncode}: {self.log_tail()}")
        return httpx.get(f"{self.base_url}/v1", timeout=2, verify=self.verify).status_code == 200

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        self.process = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / self.log_name

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def replica(self) -> ClickplaneServer:
        """Another `serve` (not started) on this one's store and data dir, on a port and log of its own."""
        port = free_port()
        return ClickplaneServer(self.data_dir, self.database_url, self.credentials, port=port,
                                settings=dict(self.settings), log_name=f"serve-{port}.log")

    def create_service(self, **fields: Any) -> dict[str, Any]:
        """POST a service (local-only access by default); returns the result: {service, password}."""
        body = {"name": "test", "provider": "aws", "region": "us-east-1",
                "ipAccessList": [{"source": "127.0.0.1"}], **fields}
        with self.client() as client:
            response = client.post(self.org_path("/services"), json=body)
        assert response.status_code == 200, response.text
        return response.json()["result"]  # type: ignore[no-any-return]

    def service(self, service_id: str) -> dict[str, Any]:
        with self.client() as client:
            response = client.get(self.org_path(f"/services/{service_id}"))
            response.raise_for_status()
            return response.json()["result"]  # type: ignore[no-any-return]

    def wait_for_state_in(self, credentials: Credentials, service_id: str, state: str,
                          timeout: float = DEADLINE_SECONDS) -> dict[str, Any]:
        """wait_for_state for a service of another organization, seen with that organization's key."""
        path = f"/v1/organizations/{credentials.organization_id}/services/{service_id}"

        def reached() -> dict[str, Any] | None:
            with self.client(credentials) as client:
                service: dict[str, Any] = client.get(path).json()["result"]
            return service if service["state"] == state else None

        return wait_until(reached, timeout, f"service {service_id} to be {state}")  # type: ignore[no-any-return]

    def wait_for_state(self, service_id: str, state: str, timeout: float = DEADLINE_SECONDS) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            service = self.service(service_id)
            if service["state"] == "failed" and state != "failed":
                raise AssertionError(f"service {service_id} failed: {self.log_tail()}")
            return service if service["state"] == state else None

        return wait_until(reached, timeout, f"service {service_id} to be {state}")  # type: ignore[no-any-return]

    def empty(self) -> None:
        """Throw the data dir and the store away and start both anew, as on a machine that never ran clickplane."""
        shutil.rmtree(self.data_dir)
        self.data_dir.mkdir()
        drop_database(self.database_url)
        self.database_url = new_database_url(self.data_dir / "clickplane.db")

    def destroy(self) -> None:
        """Stop serving, stop every ClickHouse it started, remove the data dir and the store."""
        self.stop()
        asyncio.run(operations.stop_all(self.operator_settings))  # `clickplane stop-all`, in this process
        shutil.rmtree(self.data_dir, ignore_errors=True)
        drop_database(self.database_url)


def store_contents(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to tell whether a command changed the store."""
    database = Database(database_url)
    try:
        with database.reading() as connection:
            return {table.name: sorted(map(tuple, connection.execute(select(table))), key=repr)
                    for table in Base.metadata.sorted_tables}
    finally:
        database.dispose()


def store_env(data_dir: Path, database_url: str) -> dict[str, str]:
    """The environment of a clickplane command working on this data dir and store."""
    return {**os.environ, "CLICKPLANE_DATA_DIR": str(data_dir), "CLICKPLANE_DATABASE_URL": database_url}


def new_store() -> tuple[Path, str]:
    """An empty data dir and a new store (the SQLite file in it, or a new PostgreSQL database)."""
    data_dir = Path(tempfile.mkdtemp(prefix="clickplane-test-"))
    return data_dir, new_database_url(data_dir / "clickplane.db")


def new_server(sqlite: bool = False) -> ClickplaneServer:
    """An initialized server (not started) on a new store; with `sqlite`, on SQLite whatever the run's store."""
    data_dir, database_url = new_store()
    if sqlite:
        drop_database(database_url)
        database_url = f"sqlite:///{data_dir / 'clickplane.db'}"
    # `clickplane init`, in this process (test_cli runs the command itself).
    made = operations.initialize(Settings(data_dir=data_dir, database_url=database_url), DEFAULT_ORGANIZATION_NAME,
                                 DEFAULT_ADMIN_EMAIL)
    return ClickplaneServer(data_dir=data_dir, database_url=database_url, credentials=Credentials.of(made))


def delete_services(server: ClickplaneServer) -> None:
    """Stop and delete every ClickHouse service (and so its pipes and endpoints) and wait until they are gone: a
    running service is not deleted (409)."""
    with server.client() as client:
        for service in client.get(server.org_path("/services")).json()["result"]:
            path = server.org_path(f"/services/{service['id']}")
            deleted = client.delete(path)
            if deleted.status_code == 409:
                assert client.patch(f"{path}/state", json={"command": "stop"}).status_code == 200
                server.wait_for_state(service["id"], "stopped")
                deleted = client.delete(path)
            assert deleted.status_code == 200, deleted.text
            wait_until(lambda path=path: client.get(path).status_code == 404,  # type: ignore[misc]
                       what=f"service {service['id']} to be deleted")
