"""LocalClickHouseRuntime against a real ClickHouse server binary (Debian's 18.16 here), in a temporary directory.

Set CLICKPLANE_CLICKHOUSE_BINARY to choose the binary; without one found, these tests are skipped.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from clickhouse_driver import Client

from clickplane.runtime.clickhouse.interface import Observation, ServiceSpec
from clickplane.runtime.clickhouse.local import LocalClickHouseRuntime
from clickplane.runtime.ports import port_is_free
from tests.processes import processes_mentioning


def find_binary() -> str | None:
    configured = os.environ.get("CLICKPLANE_CLICKHOUSE_BINARY")
    if configured:
        return configured
    candidates = ("clickhouse-server", "clickhouse", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse")
    return next((found for name in candidates if (found := shutil.which(name))), None)


BINARY = find_binary()
PASSWORD = "correct horse"
DEADLINE_SECONDS = 20.0

pytestmark = [
    pytest.mark.integration,
    pytest.mark.anyio,
    pytest.mark.store_independent,
    pytest.mark.skipif(
        BINARY is None, reason="no ClickHouse binary found (install one or set CLICKPLANE_CLICKHOUSE_BINARY)"
    ),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="clickplane-runtime-test-") as directory:
        yield Path(directory)


@pytest.fixture
async def runtime(data_dir: Path) -> AsyncIterator[LocalClickHouseRuntime]:
    local = new_runtime(data_dir)
    try:
        yield local
    finally:
        await local.stop_all()
        leftovers = processes_mentioning(data_dir)
        assert not leftovers, f"servers left running: {leftovers}"


def new_runtime(data_dir: Path) -> LocalClickHouseRuntime:
    assert BINARY is not None
    return LocalClickHouseRuntime(data_dir, BINARY, internal_password=lambda service_id: f"internal-{service_id}")


def spec(
    service_id: str = "svc-1",
    password: str = PASSWORD,
    ip_access_list: tuple[str, ...] = ("127.0.0.1",),
    max_memory_bytes: int | None = None,
) -> ServiceSpec:
    password_hash = hashlib.sha256(password.encode()).hexdigest()
    return ServiceSpec(service_id, password_hash, ip_access_list=ip_access_list, max_memory_bytes=max_memory_bytes)


def port(observation: Observation, protocol: str) -> int:
    return next(e.port for e in observation.endpoints if e.protocol == protocol)


async def query(
    observation: Observation, sql: str, password: str = PASSWORD, source: str | None = None
) -> httpx.Response:
    """Run `sql` as `default` over plain HTTP, from the local address `source` if given."""
    transport = httpx.AsyncHTTPTransport(local_address=source) if source else None
    async with httpx.AsyncClient(transport=transport, trust_env=False, timeout=10) as client:
        return await client.post(
            f"http://127.0.0.1:{port(observation, 'http')}/", content=sql, auth=("default", password)
        )


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `check` until it holds, failing after DEADLINE_SECONDS (users.xml reloads take seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_SECONDS
    while not await check():
        assert loop.time() < deadline, f"not within {DEADLINE_SECONDS} s: {what}"
        await asyncio.sleep(0.1)


async def answers(observation: Observation, password: str = PASSWORD, source: str | None = None) -> bool:
    response = await query(observation, "SELECT 1", password, source)
    return response.status_code == 200 and response.text == "1\n"


async def refused(observation: Observation, password: str = PASSWORD, source: str | None = None) -> bool:
    return (await query(observation, "SELECT 1", password, source)).status_code != 200


async def test_started_service_answers_and_reports_itself(runtime: LocalClickHouseRuntime) -> None:
    observation = await runtime.ensure_running(spec())

    assert observation.running
    assert observation.pid is not None
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.\d+)?", observation.clickhouse_version or "")
    assert [(e.protocol, e.secure) for e in observation.endpoints] == [
        ("https", True),
        ("nativesecure", True),
        ("http", False),
        ("native", False),
    ]
    assert {e.host for e in observation.endpoints} == {"127.0.0.1"}
    async with httpx.AsyncClient(trust_env=False) as client:
        ping = await client.get(f"http://127.0.0.1:{port(observation, 'http')}/ping")
    assert ping.text == "Ok.\n"
    assert await answers(observation)
    wrong = await query(observation, "SELECT 1", password="wrong")
    assert wrong.status_code != 200
    assert "password" in wrong.text.lower()
    assert await runtime.observe("svc-1") == observation


async def test_tls_endpoints_verify_against_the_runtime_ca(runtime: LocalClickHouseRuntime) -> None:
    observation = await runtime.ensure_running(spec())

    curl = await asyncio.to_thread(
        subprocess.run,
        ["curl", "-sS", "--cacert", str(runtime.ca_path), "-u", f"default:{PASSWORD}",
         "--data-binary", "SELECT 42", f"https://localhost:{port(observation, 'https')}/"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    client = Client(
        "127.0.0.1", port=port(observation, "nativesecure"), user="default", password=PASSWORD,
        secure=True, verify=True, ca_certs=str(runtime.ca_path),
    )  # fmt: skip
    try:
        rows = await asyncio.to_thread(client.execute, "SELECT 7")
    finally:
        client.disconnect()

    assert (curl.returncode, curl.stdout, curl.stderr) == (0, "42\n", "")
    assert rows == [(7,)]


async def test_plain_native_endpoint_answers(runtime: LocalClickHouseRuntime) -> None:
    observation = await runtime.ensure_running(spec())
    client = Client("127.0.0.1", port=port(observation, "native"), user="default", password=PASSWORD)
    try:
        assert await asyncio.to_thread(client.execute, "SELECT 1") == [(1,)]
    finally:
        client.disconnect()


async def test_a_running_server_is_adopted_not_restarted(runtime: LocalClickHouseRuntime, data_dir: Path) -> None:
    started = await runtime.ensure_running(spec())
    # A second runtime on the same directory: the control plane after a restart.
    successor = new_runtime(data_dir)

    adopted = await successor.ensure_running(spec())

    assert adopted == started
    assert (await successor.observe("svc-1")).pid == started.pid


async def test_a_new_advertised_host_restarts_the_server_with_a_certificate_naming_it(
    runtime: LocalClickHouseRuntime, data_dir: Path
) -> None:
    started = await runtime.ensure_running(spec())
    assert BINARY is not None
    successor = LocalClickHouseRuntime(
        data_dir, BINARY, advertised_host="db.clickplane.test", internal_password=lambda s: f"internal-{s}"
    )

    restarted = await successor.ensure_running(spec())
    again = await successor.ensure_running(spec())

    assert restarted.pid != started.pid
    assert {e.host for e in restarted.endpoints} == {"db.clickplane.test"}
    assert [e.port for e in restarted.endpoints] == [e.port for e in started.endpoints]
    assert again.pid == restarted.pid
    host, https_port = "db.clickplane.test", port(again, "https")
    curl = await asyncio.to_thread(
        subprocess.run,
        ["curl", "-sS", "--cacert", str(runtime.ca_path), "--resolve", f"{host}:{https_port}:127.0.0.1",
         f"https://{host}:{https_port}/ping"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (curl.returncode, curl.stdout) == (0, "Ok.\n")


async def test_stop_frees_the_ports_and_a_restart_reuses_them_with_the_data(runtime: LocalClickHouseRuntime) -> None:
    started = await runtime.ensure_running(spec())
    await query(started, "CREATE TABLE kept (n UInt8) ENGINE = MergeTree ORDER BY n")
    await query(started, "INSERT INTO kept VALUES (1), (2)")

    await runtime.stop("svc-1")
    stopped = await runtime.observe("svc-1")
    await runtime.stop("svc-1")  # a no-op now

    assert not stopped.running
    assert stopped.reason is None
    assert stopped.endpoints == started.endpoints
    assert all(port_is_free("127.0.0.1", e.port) for e in started.endpoints)
    restarted = await runtime.ensure_running(spec())
    assert restarted.pid != started.pid
    assert restarted.endpoints == started.endpoints
    assert (await query(restarted, "SELECT count() FROM kept")).text == "2\n"


async def test_delete_removes_the_service_directory(runtime: LocalClickHouseRuntime, data_dir: Path) -> None:
    await runtime.ensure_running(spec())
    assert await runtime.list_service_ids() == ["svc-1"]

    await runtime.delete("svc-1")
    await runtime.delete("svc-1")  # idempotent

    assert not (data_dir / "services" / "svc-1").exists()
    assert await runtime.list_service_ids() == []
    assert not (await runtime.observe("svc-1")).running


async def test_ip_access_list_is_enforced_and_changes_apply_without_restart(runtime: LocalClickHouseRuntime) -> None:
    started = await runtime.ensure_running(spec(ip_access_list=("127.0.0.2/32",)))

    # 127.0.0.1 would get in if the /32 were written as it is (18.16's IPv4 CIDR quirk).
    refusal = await query(started, "SELECT 1", source="127.0.0.1")
    assert refusal.status_code != 200
    assert "not allowed" in refusal.text
    assert await answers(started, source="127.0.0.2")

    await runtime.apply(spec(ip_access_list=("127.0.0.1",)))
    await eventually(lambda: answers(started, source="127.0.0.1"), "127.0.0.1 allowed after apply")
    assert await refused(started, source="127.0.0.2")

    await runtime.apply(spec(ip_access_list=()))
    await eventually(lambda: refused(started, source="127.0.0.1"), "everyone refused for an empty list")
    assert await refused(started, source="127.0.0.2")
    assert (await runtime.observe("svc-1")).pid == started.pid


async def test_password_and_memory_limit_apply_without_restart(runtime: LocalClickHouseRuntime) -> None:
    started = await runtime.ensure_running(spec())

    await runtime.apply(spec(password="new password", max_memory_bytes=123_456_789))

    await eventually(lambda: answers(started, password="new password"), "new password accepted")
    assert await refused(started, password=PASSWORD)
    limit = await query(
        started, "SELECT value FROM system.settings WHERE name = 'max_memory_usage'", password="new password"
    )
    assert limit.text == "123456789\n"
    assert (await runtime.observe("svc-1")).pid == started.pid


async def test_services_started_together_get_distinct_ports(runtime: LocalClickHouseRuntime) -> None:
    observations = await asyncio.gather(*(runtime.ensure_running(spec(f"svc-{i}")) for i in range(5)))

    ports = [e.port for observation in observations for e in observation.endpoints]
    assert all(observation.running for observation in observations)
    assert len(ports) == len(set(ports)) == 20
    assert len({observation.pid for observation in observations}) == 5
    assert all([await answers(observation) for observation in observations])


async def test_a_killed_server_is_seen_as_not_running_and_restarts(runtime: LocalClickHouseRuntime) -> None:
    started = await runtime.ensure_running(spec())
    assert started.pid is not None

    os.kill(started.pid, signal.SIGKILL)

    async def seen_down() -> bool:
        return not (await runtime.observe("svc-1")).running

    await eventually(seen_down, "killed server observed as not running")
    down = await runtime.observe("svc-1")
    assert down.reason is not None
    assert "exited unexpectedly" in down.reason
    restarted = await runtime.ensure_running(spec())
    assert restarted.running
    assert restarted.pid != started.pid
    assert await answers(restarted)
